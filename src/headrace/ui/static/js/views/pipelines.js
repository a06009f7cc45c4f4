// Pipelines: the list (with each one's last run) and a pipeline's page (its current
// version's DAG, a form to start a run, and a step-level diff between any two versions).

import { apiPath, getAll, getJson, getPage, postJson } from "../api.js";
import { drawDag } from "../dag.js";
import { diffLines, diffVersions } from "../diff.js";
import { errorBox, fmtTime, h, mount, statusBadge } from "../dom.js";

export async function pipelinesList(main, _params, { signal }) {
  let next = "/pipelines/";
  const body = h("tbody", {});
  const more = h("button", { type: "button", class: "secondary", hidden: true }, "More pipelines");
  const empty = h("p", { class: "muted", hidden: true },
    "No pipelines yet. Create one with `headrace pipelines create` or POST /pipelines/.");

  async function loadPage() {
    const page = await getPage(next, { signal });
    next = page.next;
    more.hidden = !next;
    empty.hidden = body.children.length + page.items.length > 0;
    // The last run of each pipeline: one small call each, in parallel.
    const lasts = await Promise.all(page.items.map((p) =>
      getJson(apiPath`/pipelines/${p.id}/runs/`, { query: { limit: 1 }, signal }).then((r) => r[0] || null)));
    page.items.forEach((p, i) => {
      const run = lasts[i];
      body.append(h("tr", { "data-pipeline": p.name },
        h("td", {}, h("a", { href: `#/pipelines/${p.id}` }, p.name),
          p.description ? h("div", { class: "muted small" }, p.description) : null),
        h("td", {}, p.current_version ? `v${p.current_version.number}` : "—"),
        h("td", {}, p.current_version ? p.current_version.steps.length : 0),
        h("td", { class: "last-run" }, run
          ? h("a", { href: `#/pipelines/${p.id}/runs/${run.id}` }, statusBadge(run.status))
          : statusBadge(null)),
        h("td", {}, run ? fmtTime(run.created_at) : "—"),
        h("td", {}, h("a", { href: `#/pipelines/${p.id}/runs` }, "runs"))));
    });
  }
  more.addEventListener("click", () => loadPage().catch((err) => more.after(errorBox(err))));

  await loadPage();
  mount(main,
    h("h1", {}, "Pipelines"),
    h("div", { class: "table-wrap" }, h("table", { id: "pipelines" },
      h("thead", {}, h("tr", {}, ["Pipeline", "Version", "Steps", "Last run", "Last run started", ""]
        .map((x) => h("th", { scope: "col" }, x)))),
      body)),
    empty, more);
}

/** A parameter's input, and how to read its value as the API takes it ("" = the default). */
function parameterInput(p) {
  const kind = { integer: "number", number: "number", date: "date", boolean: "checkbox" }[p.type] || "text";
  const input = h("input", { type: kind, name: `param-${p.name}`, "data-param": p.name,
    placeholder: "default" in p ? `default ${JSON.stringify(p.default)}` : "required",
    step: p.type === "number" ? "any" : undefined });
  if (kind === "checkbox") input.checked = Boolean(p.default);
  const value = () => {
    if (kind === "checkbox") return input.checked;
    if (input.value === "") return undefined;
    if (p.type === "integer") return Number.parseInt(input.value, 10);
    if (p.type === "number") return Number(input.value);
    return input.value;
  };
  return { label: h("label", {}, `${p.name} (${p.type}) `, input), value };
}

/** What a run would do, from POST …/runs/plan/: each step's action, why, what it reads. */
function planTable(plan) {
  const reads = (st) => Object.entries(st.reads).map(([n, v]) =>
    `${n}@${typeof v === "number" ? `v${v}` : v === null ? "none" : v}`).join(", ") || "—";
  const count = (action) => plan.steps.filter((st) => st.action === action).length;
  return [
    h("p", { class: "plan-summary" },
      `Version v${plan.version_number}: ${count("run")} to run, ${count("reuse")} reused, ${count("skip")} skipped`),
    h("div", { class: "table-wrap" }, h("table", { id: "run-plan" },
      h("thead", {}, h("tr", {}, ["Step", "Action", "Why", "Reads"].map((x) => h("th", { scope: "col" }, x)))),
      h("tbody", {}, plan.steps.map((st) => h("tr", { "data-step": st.name, "data-action": st.action },
        h("td", {}, st.name), h("td", {}, h("span", { class: `plan-action ${st.action}` }, st.action)),
        h("td", {}, st.reason), h("td", {}, reads(st))))))),
    plan.problems.length ? h("ul", { class: "plan-problems" },
      plan.problems.map((p) => h("li", {}, `${p.loc.join(".")}: ${p.msg}`))) : null,
  ];
}

function runForm(pipeline, steps, parameters = []) {
  const options = (label) => [h("option", { value: "" }, label),
    ...steps.map((st) => h("option", { value: st.name }, st.name))];
  const start = h("select", { id: "run-start", name: "start" }, options("first step"));
  const end = h("select", { id: "run-end", name: "end" }, options("last step"));
  const cache = h("input", { type: "checkbox", id: "run-use-cache", name: "use_cache", checked: true });
  const message = h("div", { class: "form-message" });
  const planned = h("div", { id: "plan", class: "plan" });
  const button = h("button", { type: "submit" }, "Start run");
  const planButton = h("button", { type: "button", class: "secondary", id: "plan-run" }, "Plan");
  const inputs = parameters.map(parameterInput);
  const form = h("form", { class: "run-form", "aria-label": "Start a run" },
    h("label", {}, "From ", start), h("label", {}, "to ", end), inputs.map((i) => i.label),
    h("label", { title: "Reuse the results of steps an earlier run computed from the same inputs" },
      cache, " reuse unchanged steps"),
    planButton, button, message, planned);
  const body = () => {
    const values = {};
    parameters.forEach((p, i) => {
      const v = inputs[i].value();
      if (v !== undefined) values[p.name] = v;
    });
    return {
      start_job_name: start.value || null, end_job_name: end.value || null, parameters: values,
      use_cache: cache.checked,
    };
  };
  planButton.addEventListener("click", async () => {
    planButton.disabled = true;
    mount(message);
    try {
      mount(planned, planTable(await postJson(apiPath`/pipelines/${pipeline.id}/runs/plan/`, body())));
    } catch (err) {
      mount(planned);
      mount(message, errorBox(err));
    }
    planButton.disabled = false;
  });
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    button.disabled = true;
    mount(message);
    try {
      const run = await postJson(apiPath`/pipelines/${pipeline.id}/runs/`, body());
      location.hash = `#/pipelines/${pipeline.id}/runs/${run.id}`;
    } catch (err) {
      mount(message, errorBox(err));
      button.disabled = false;
    }
  });
  return form;
}

/** Each step's SQL, and the columns it writes as binding inferred them when the version
 * was saved (`output_schemas`; none for a step whose inputs did not exist yet). */
function stepList(steps, outputSchemas = {}, onColumn = null) {
  return h("div", { class: "steps" }, steps.map((st) => h("details", { class: "step-config", "data-step": st.name },
    h("summary", {}, h("strong", {}, st.name), " ",
      h("span", { class: "muted small" },
        `${st.config.input_datasets.join(", ") || "no inputs"} → ${st.config.output_datasets.join(", ")}`)),
    h("pre", { class: "sql" }, st.config.query),
    Object.entries(outputSchemas[st.name] || {}).map(([dataset, columns]) =>
      h("div", { class: "output-schema small", "data-dataset": dataset }, h("strong", {}, dataset), ": ",
        columns.map((c, i) => [i ? ", " : "",
          h("button", { type: "button", class: "link column", "data-dataset": dataset, "data-column": c.name,
            onclick: onColumn ? () => onColumn(dataset, c.name) : null }, c.name),
          " ", h("span", { class: "muted" }, c.type)]))))));
}

/** The (dataset, column) pairs upstream of one, following the version's lineage edges. */
export function upstreamOf(edges, dataset, column) {
  const seen = new Set([`${dataset}\u0000${column}`]);
  const steps = new Set();
  const todo = [[dataset, column]];
  while (todo.length) {
    const [d, c] = todo.pop();
    for (const e of edges) {
      if (e.to.dataset !== d || e.to.column !== c) continue;
      steps.add(e.step);
      const key = `${e.from.dataset}\u0000${e.from.column}`;
      if (!seen.has(key)) { seen.add(key); todo.push([e.from.dataset, e.from.column]); }
    }
  }
  return { columns: seen, steps };
}

function listText(value) {
  return Array.isArray(value) ? value.join(", ") || "(none)" : String(value);
}

function renderDiff(older, newer) {
  const rows = diffVersions(older, newer);
  const changed = rows.filter((r) => r.change !== "same");
  const items = rows.map((r) => {
    const details = [];
    for (const field of r.fields) {
      if (field === "query") {
        details.push(h("pre", { class: "diff" }, diffLines(r.before.config.query, r.after.config.query)
          .map(([mark, line]) => h("span", { class: `line ${{ "+": "add", "-": "del", " ": "ctx" }[mark]}` }, `${mark} ${line}\n`))));
      } else {
        details.push(h("div", { class: "small" }, `${field}: `,
          h("del", {}, listText(r.before.config[field])), " → ", h("ins", {}, listText(r.after.config[field]))));
      }
    }
    if (r.change === "added" || r.change === "removed") {
      const st = r.after || r.before;
      details.push(h("pre", { class: `diff ${r.change}` }, st.config.query));
    }
    return h("li", { class: `diff-step ${r.change}`, "data-step": r.name, "data-change": r.change },
      h("span", { class: "change" }, r.change), " ", h("strong", {}, r.name),
      r.fields.length ? h("span", { class: "muted small" }, ` (${r.fields.join(", ")})`) : null,
      details);
  });
  return h("div", { id: "diff-result" },
    h("p", { class: "muted" }, changed.length
      ? `${changed.length} step(s) differ between v${older.number} and v${newer.number}.`
      : `v${older.number} and v${newer.number} have the same steps.`),
    h("ul", { class: "diff-list" }, items));
}

/** Marks the diff's steps that break readers (the API's diff: a column removed, renamed or
 * retyped, with who reads it). */
async function markBreaking(out, pipelineId, older, newer) {
  const found = await getJson(
    `${apiPath`/pipelines/${pipelineId}/versions/${newer.id}/diff/`}?against=${encodeURIComponent(older.id)}`);
  for (const st of found.steps) {
    if (!st.breaking) continue;
    const item = out.querySelector(`li.diff-step[data-step="${CSS.escape(st.name)}"]`);
    if (!item) continue;
    item.dataset.breaking = "true";
    item.append(h("div", { class: "breaking" }, h("strong", {}, "Breaking: "),
      h("ul", {}, st.reasons.map((reason) => h("li", {}, reason)))));
  }
}

function versionsSection(versions, pipelineId) {
  if (versions.length < 2) {
    return h("section", { id: "versions" }, h("h2", {}, "Versions"),
      h("p", { class: "muted" }, `Only one version so far (v${versions[0]?.number ?? 1}).`));
  }
  const opts = (selected) => versions.map((v) =>
    h("option", { value: v.id, selected: v.id === selected }, `v${v.number} · ${fmtTime(v.created_at)}`));
  // Newest first: compare the previous version with the current one by default.
  const from = h("select", { id: "diff-from" }, opts(versions[1].id));
  const to = h("select", { id: "diff-to" }, opts(versions[0].id));
  const out = h("div", {});
  const show = () => {
    const a = versions.find((v) => v.id === from.value);
    const b = versions.find((v) => v.id === to.value);
    const [older, newer] = a.number <= b.number ? [a, b] : [b, a];
    mount(out, renderDiff(older, newer));
    markBreaking(out, pipelineId, older, newer).catch((err) => out.append(errorBox(err)));
  };
  from.addEventListener("change", show);
  to.addEventListener("change", show);
  show();
  return h("section", { id: "versions" }, h("h2", {}, "Versions"),
    h("ul", { class: "inline-list" }, versions.map((v) =>
      h("li", {}, `v${v.number}: ${v.steps.length} steps, ${fmtTime(v.created_at)}`))),
    h("div", { class: "diff-pick" }, h("label", {}, "Compare ", from), h("label", {}, " with ", to)),
    out);
}

/** A fire time in the schedule's own zone, as the API gives it (ISO 8601 with offset). */
function fireTime(iso) {
  return iso.replace("T", " ").replace(/:00(?=[+-Z])/, "").replace(/\.\d+/, "");
}

/** What runs the pipeline by itself: its schedules (with their next fire times), its
 * dataset triggers and its concurrency limit. */
function automationSection(pipeline, schedules, triggers) {
  const limit = pipeline.max_active_runs == null
    ? "no limit on active runs"
    : `at most ${pipeline.max_active_runs} active run(s); past it a new run is ${pipeline.on_limit === "skip" ? "skipped" : "queued"}`;
  const scheduleRows = schedules.map((s) => h("tr", { "data-schedule": s.id },
    h("td", {}, h("code", {}, s.cron)),
    h("td", {}, s.timezone),
    h("td", {}, s.enabled ? "on" : "off"),
    h("td", {}, s.catchup),
    h("td", {}, Object.entries(s.parameters || {}).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(", ")),
    h("td", { class: "next-fires" }, s.next_fire_times.length
      ? h("ul", { class: "plain" }, s.next_fire_times.map((t) => h("li", {}, fireTime(t))))
      : "—")));
  const triggerRows = triggers.map((t) => h("tr", { "data-trigger": t.id },
    h("td", {}, t.datasets.join(", ")),
    h("td", {}, t.mode),
    h("td", {}, `${t.debounce_seconds} s`),
    h("td", {}, t.pending_since ? `window open since ${fmtTime(t.pending_since)}` : "waiting for new versions")));
  return h("section", { id: "automation" }, h("h2", {}, "Schedules and triggers"),
    h("p", { class: "muted", id: "limits" }, limit),
    schedules.length ? h("div", { class: "table-wrap" }, h("table", { id: "schedules" },
      h("thead", {}, h("tr", {}, ["Cron", "Zone", "State", "Catch-up", "Parameters", "Next fire times"]
        .map((x) => h("th", { scope: "col" }, x)))),
      h("tbody", {}, scheduleRows))) : h("p", { class: "muted" }, "No schedules."),
    triggers.length ? h("div", { class: "table-wrap" }, h("table", { id: "triggers" },
      h("thead", {}, h("tr", {}, ["Datasets", "Mode", "Debounce", "State"]
        .map((x) => h("th", { scope: "col" }, x)))),
      h("tbody", {}, triggerRows))) : h("p", { class: "muted" }, "No dataset triggers."));
}

export async function pipelinePage(main, [id], { signal }) {
  const [pipeline, versions, schedules, triggers] = await Promise.all([
    getJson(apiPath`/pipelines/${id}/`, { signal }),
    getAll(apiPath`/pipelines/${id}/versions/`, { signal }),
    getJson(apiPath`/pipelines/${id}/schedules/`, { signal }),
    getJson(apiPath`/pipelines/${id}/triggers/`, { signal }),
  ]);
  const version = pipeline.current_version;
  const graph = h("div", { class: "graph", id: "graph" });
  let edges = null;
  // Click a column: it and every column it comes from are highlighted, with their steps.
  const highlight = async (dataset, column) => {
    edges ??= await getJson(apiPath`/pipelines/${id}/versions/${version.id}/lineage/`, { signal });
    const found = upstreamOf(edges, dataset, column);
    for (const el of main.querySelectorAll("button.column")) {
      el.classList.toggle("lineage-hit", found.columns.has(`${el.dataset.dataset}\u0000${el.dataset.column}`));
    }
    for (const el of graph.querySelectorAll("g.node.step")) {
      el.classList.toggle("lineage-hit", found.steps.has(el.dataset.step));
    }
  };
  mount(main,
    h("nav", { class: "crumbs" }, h("a", { href: "#/pipelines" }, "Pipelines"), " / ", pipeline.name),
    h("div", { class: "title-row" },
      h("h1", {}, pipeline.name),
      h("span", { class: "muted" }, version ? `current version v${version.number}` : "no version"),
      h("a", { class: "button secondary", href: `#/pipelines/${id}/runs` }, "Runs")),
    pipeline.description ? h("p", {}, pipeline.description) : null,
    version ? runForm(pipeline, version.steps, version.parameters || []) : null,
    automationSection(pipeline, schedules, triggers),
    h("section", {}, h("h2", {}, "Graph"), graph),
    version ? h("section", {}, h("h2", {}, "Steps"), stepList(version.steps, version.output_schemas, highlight)) : null,
    versionsSection(versions, id));
  if (version) drawDag(graph, version.steps);
}

