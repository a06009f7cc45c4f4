// Runs: a pipeline's runs (filterable by status and version), and a run's page (its DAG
// coloured by step status, live from the event stream while the run is active, each step's
// details and logs, cancel and retry).

import { apiPath, call, getAll, getJson, getPage, postJson } from "../api.js";
import { drawDag } from "../dag.js";
import { errorBox, fmtDuration, fmtNumber, fmtTime, h, mount, shortId, statusBadge } from "../dom.js";
import { follow } from "../sse.js";

const RUN_STATUSES = ["Pending", "Running", "Succeeded", "Failed", "Error", "Cancelled"];
const TERMINAL = new Set(["Succeeded", "Failed", "Error", "Cancelled", "Skipped", "Omitted"]);

function selection(run) {
  if (!run.start_job_name && !run.end_job_name) return "whole";
  return `${run.start_job_name || "first"} → ${run.end_job_name || "last"}`;
}

/** What started the run: by hand, a schedule's tick, new dataset versions, a retry. */
export function startedBy(run) {
  const t = run.trigger || { type: "manual" };
  if (t.type === "schedule") return `schedule, tick ${fmtTime(t.scheduled_for)}`;
  if (t.type === "dataset") {
    const versions = Object.entries(t.dataset_versions || {}).map(([n, v]) => `${n}@v${v}`);
    return `dataset ${versions.join(", ")}`;
  }
  if (t.type === "retry") return `retry of ${shortId(t.parent_run_id || "")}`;
  return "by hand";
}

/** Why a run waits (Pending and held back), or why it was skipped or ended in error. */
function why(run) {
  if (run.waiting_reason) return run.waiting_reason;
  if (run.status === "Cancelled" || run.status === "Error") return run.argo_metadata?.message || "";
  return "";
}

function parametersText(run) {
  return Object.entries(run.parameters || {}).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(", ");
}

export async function runsList(main, [pipelineId], { signal, query }) {
  const [pipeline, versions] = await Promise.all([
    getJson(apiPath`/pipelines/${pipelineId}/`, { signal }),
    getAll(apiPath`/pipelines/${pipelineId}/versions/`, { signal }),
  ]);
  const status = query.get("status") || "";
  const versionId = query.get("version") || "";
  // Filters live in the URL's hash, so a filtered list can be bookmarked and reloaded.
  const refilter = () => {
    const q = new URLSearchParams();
    if (statusSel.value) q.set("status", statusSel.value);
    if (versionSel.value) q.set("version", versionSel.value);
    location.hash = `#/pipelines/${pipelineId}/runs${q.size ? `?${q}` : ""}`;
  };
  const statusSel = h("select", { id: "filter-status", onchange: refilter },
    h("option", { value: "" }, "any status"),
    RUN_STATUSES.map((st) => h("option", { value: st, selected: st === status }, st)));
  const versionSel = h("select", { id: "filter-version", onchange: refilter },
    h("option", { value: "" }, "any version"),
    versions.map((v) => h("option", { value: v.id, selected: v.id === versionId }, `v${v.number}`)));

  const body = h("tbody", {});
  const more = h("button", { type: "button", class: "secondary", hidden: true }, "More runs");
  const empty = h("p", { class: "muted", hidden: true }, "No runs match.");
  let next = null;
  const addRows = (runs) => {
    for (const run of runs) {
      body.append(h("tr", { "data-run": run.id, "data-status": run.status },
        h("td", {}, h("a", { href: `#/pipelines/${pipelineId}/runs/${run.id}` }, run.name)),
        h("td", {}, statusBadge(run.status)),
        h("td", {}, `v${run.pipeline_version.number}`),
        h("td", {}, fmtTime(run.started_at || run.created_at)),
        h("td", {}, run.started_at ? fmtDuration(run.started_at, run.finished_at) : "—"),
        h("td", {}, selection(run)),
        h("td", { class: "num reused-count" }, String(run.run_steps.filter((st) => st.reused_from).length || "")),
        h("td", { class: "started-by" }, startedBy(run)),
        h("td", { class: "why" }, why(run))));
    }
    empty.hidden = body.children.length > 0;
  };
  const first = await getPage(apiPath`/pipelines/${pipelineId}/runs/`, {
    query: { status: status || undefined, version_id: versionId || undefined, limit: 50 }, signal,
  });
  addRows(first.items);
  next = first.next;
  more.hidden = !next;
  more.addEventListener("click", async () => {
    const page = await getPage(next, { signal });
    addRows(page.items);
    next = page.next;
    more.hidden = !next;
  });

  mount(main,
    h("nav", { class: "crumbs" }, h("a", { href: "#/pipelines" }, "Pipelines"), " / ",
      h("a", { href: `#/pipelines/${pipelineId}` }, pipeline.name), " / runs"),
    h("h1", {}, `Runs of ${pipeline.name}`),
    h("div", { class: "filters" }, h("label", {}, "Status ", statusSel), h("label", {}, "Version ", versionSel)),
    h("div", { class: "table-wrap" }, h("table", { id: "runs" },
      h("thead", {}, h("tr", {}, ["Run", "Status", "Version", "Started", "Duration", "Steps", "Reused", "Started by", "Why"]
        .map((x) => h("th", { scope: "col" }, x)))),
      body)),
    empty, more);
}

/** The run object after one event: fields replaced, run_steps merged by name. */
function applyPatch(run, patch) {
  const merged = { ...run, ...patch, run_steps: run.run_steps };
  if (patch.run_steps) {
    const byName = new Map(run.run_steps.map((st) => [st.name, st]));
    for (const st of patch.run_steps) byName.set(st.name, { ...byName.get(st.name), ...st });
    merged.run_steps = [...byName.values()];
  }
  return merged;
}

/** "2/4": steps ended of the steps selected, counted from run_steps, which every `step`
 * event patches (argo_metadata's own count changes only with the run's events). */
function progress(run) {
  const counted = run.run_steps.filter((st) => st.status !== "Skipped");
  return `${counted.filter((st) => TERMINAL.has(st.status)).length}/${counted.length}`;
}

/** The step panel's checks: one row per check, and under each that found violations, the
 * violating rows it sampled (at most 20) as a table of their columns. */
function checksSection(st) {
  const checks = st.checks || [];
  if (!checks.length) return null;
  const samples = checks.filter((c) => c.sample && c.sample.length).map((c) => {
    const columns = [...new Set(c.sample.flatMap((row) => Object.keys(row)))];
    return h("div", { class: "check-sample", "data-check": c.name },
      h("h4", {}, `Violating rows of ${c.name}`,
        c.violations > c.sample.length ? ` (${c.sample.length} of ${fmtNumber(c.violations)})` : ""),
      h("div", { class: "table-wrap" }, h("table", {},
        h("thead", {}, h("tr", {}, columns.map((col) => h("th", { scope: "col" }, col)))),
        h("tbody", {}, c.sample.map((row) => h("tr", {}, columns.map((col) =>
          h("td", {}, row[col] === null || row[col] === undefined ? "NULL"
            : typeof row[col] === "object" ? JSON.stringify(row[col]) : String(row[col])))))))));
  });
  return [
    h("h3", {}, "Checks"),
    h("div", { class: "table-wrap" }, h("table", { id: "step-checks" },
      h("thead", {}, h("tr", {}, ["Check", "Type", "Dataset", "Severity", "Result", "Violations"]
        .map((x) => h("th", { scope: "col" }, x)))),
      h("tbody", {}, checks.map((c) => h("tr", { "data-check": c.name, "data-result": c.status },
        h("td", {}, c.name), h("td", {}, c.type), h("td", {}, c.dataset), h("td", {}, c.severity),
        h("td", {}, h("span", { class: `check-result ${c.status}` }, c.status),
          c.error ? h("pre", { class: "check-error" }, c.error) : null),
        h("td", { class: "num" }, fmtNumber(c.violations))))))),
    samples,
  ];
}

/** "reused from <run>": the earlier run whose result a Skipped step reused. */
function reusedFrom(pipelineId, st) {
  if (!st.reused_from) return null;
  const from = st.reused_from;
  return h("span", { class: "reused", "data-reused-from": from.run_id },
    "reused from ", h("a", { href: `#/pipelines/${pipelineId}/runs/${from.run_id}` }, shortId(from.run_id)),
    from.step_name === st.name ? "" : ` (${from.step_name})`);
}

function inputsText(step) {
  const entries = Object.entries(step.input_versions || {});
  return entries.length ? entries.map(([name, v]) => `${name}@v${v}`).join(", ") : "—";
}

export async function runPage(main, [pipelineId, runId], { signal }) {
  const base = apiPath`/pipelines/${pipelineId}/runs/${runId}/`;
  let run = await getJson(base, { signal });
  const pipeline = await getJson(apiPath`/pipelines/${pipelineId}/`, { signal });
  let selected = (run.run_steps.find((st) => ["Failed", "Error"].includes(st.status)) || {}).name || null;

  const header = h("div", { class: "run-summary" });
  const live = h("span", { id: "live", class: "live", "data-state": "idle" });
  const actionMsg = h("div", { class: "form-message" });
  const cancelBtn = h("button", { type: "button", id: "cancel", class: "danger" }, "Cancel");
  const retryBtn = h("button", { type: "button", id: "retry" }, "Retry");
  const currentBtn = h("button", { type: "button", id: "run-current", class: "secondary", hidden: true },
    "Run the current version");
  const retryNote = h("p", { id: "retry-note", class: "small muted" });
  const graph = h("div", { class: "graph", id: "graph" });
  const stepsBody = h("tbody", {});
  const panel = h("section", { id: "step-panel", class: "card", hidden: true });
  let logsFor = null; // "step:status" the logs on screen belong to

  const select = (name) => {
    selected = name;
    dag.select(name);
    logsFor = null;
    renderAll();
  };
  const dag = drawDag(graph, run.pipeline_version.steps, { onSelect: select });

  function renderHeader() {
    const terminal = TERMINAL.has(run.status);
    mount(header, h("dl", {},
      h("dt", {}, "Status"), h("dd", { id: "run-status", "data-status": run.status }, statusBadge(run.status)),
      h("dt", {}, "Version"), h("dd", {}, `v${run.pipeline_version.number}`),
      h("dt", {}, "Steps"), h("dd", {}, selection(run)),
      h("dt", {}, "Started by"), h("dd", { id: "run-trigger" }, startedBy(run)),
      run.waiting_reason ? [h("dt", {}, "Waiting"), h("dd", { id: "run-waiting" }, run.waiting_reason)] : null,
      Object.keys(run.parameters || {}).length ? [h("dt", {}, "Parameters"),
        h("dd", { id: "run-parameters" }, parametersText(run))] : null,
      h("dt", {}, "Created"), h("dd", {}, fmtTime(run.created_at)),
      h("dt", {}, "Started"), h("dd", {}, fmtTime(run.started_at)),
      h("dt", {}, "Finished"), h("dd", {}, fmtTime(run.finished_at)),
      h("dt", {}, "Duration"), h("dd", {}, fmtDuration(run.started_at, run.finished_at)),
      run.retry_of ? [h("dt", {}, "Retry of"),
        h("dd", {}, h("a", { href: `#/pipelines/${pipelineId}/runs/${run.retry_of}` }, shortId(run.retry_of)))] : null,
      h("dt", {}, "Progress"), h("dd", { id: "run-progress" }, progress(run))));
    cancelBtn.disabled = terminal;
    retryBtn.disabled = !terminal || run.status === "Succeeded";
    // A retry reruns the run's own version; say so, and offer the current one when newer.
    const current = pipeline.current_version;
    const newer = current && current.id !== run.pipeline_config_version_id;
    currentBtn.hidden = retryBtn.disabled || !newer;
    mount(retryNote, retryBtn.disabled ? null : [
      `Retry reruns version v${run.pipeline_version.number}.`,
      newer ? ` The pipeline has a newer version, v${current.number}: running it reuses every step that did not change.` : "",
    ]);
  }

  function renderSteps() {
    mount(stepsBody, run.run_steps.map((st) => h("tr", {
      "data-step": st.name, "data-status": st.status,
      class: st.name === selected ? "selected" : null,
      onclick: () => select(st.name),
    },
      h("td", {}, h("button", { type: "button", class: "link" }, st.name)),
      h("td", {}, statusBadge(st.status), " ", reusedFrom(pipelineId, st)),
      h("td", {}, fmtTime(st.started_at)),
      h("td", {}, fmtTime(st.finished_at)),
      h("td", {}, st.started_at ? fmtDuration(st.started_at, st.finished_at) : "—"),
      h("td", { class: "num" }, fmtNumber(st.rows_written)),
      h("td", {}, inputsText(st)),
      h("td", { class: "error-cell" }, st.error ? st.error.split("\n")[0] : ""))));
  }

  async function renderPanel() {
    const st = run.run_steps.find((x) => x.name === selected);
    panel.hidden = !st;
    if (!st) return;
    const key = `${st.name}:${st.status}`;
    if (logsFor === key) return;
    logsFor = key;
    const logs = h("pre", { class: "logs", id: "step-logs" }, "Loading logs…");
    mount(panel, [
      h("h2", {}, "Step ", st.name, " ", statusBadge(st.status)),
      h("dl", {},
        h("dt", {}, "Started"), h("dd", {}, fmtTime(st.started_at)),
        h("dt", {}, "Finished"), h("dd", {}, fmtTime(st.finished_at)),
        h("dt", {}, "Rows written"), h("dd", {}, fmtNumber(st.rows_written)),
        h("dt", {}, "Inputs read"), h("dd", {}, inputsText(st)),
        h("dt", {}, "Outputs written"), h("dd", {}, Object.entries(st.output_versions || {})
          .map(([n, v]) => `${n}@v${v}`).join(", ") || "—"),
        st.reused_from ? [h("dt", {}, "Reused"), h("dd", { id: "step-reused" }, reusedFrom(pipelineId, st),
          st.saved_seconds != null ? `, saved ${st.saved_seconds.toFixed(2)} s` : "")] : null),
      st.error ? [h("h3", {}, "Error"), h("pre", { class: "step-error", id: "step-error" }, st.error)] : null,
      checksSection(st),
      h("h3", {}, "Logs"), logs]);
    try {
      const res = await call(`${base}steps/${encodeURIComponent(st.name)}/logs/`, { signal });
      const text = await res.text();
      logs.textContent = text || "(no log lines yet)";
    } catch (err) {
      if (!signal.aborted) logs.textContent = `Logs could not be read: ${err.message}`;
    }
  }

  function renderAll() {
    renderHeader();
    renderSteps();
    dag.setStatuses(Object.fromEntries(run.run_steps.map((st) => [st.name, st.status])));
    dag.setChecks(Object.fromEntries(run.run_steps.map((st) => [st.name, st.checks || []])));
    dag.setReused(new Set(run.run_steps.filter((st) => st.reused_from).map((st) => st.name)));
    dag.select(selected);
    renderPanel();
  }

  cancelBtn.addEventListener("click", async () => {
    mount(actionMsg);
    try {
      run = await postJson(`${base}cancel/`, undefined);
      renderAll();
    } catch (err) { mount(actionMsg, errorBox(err)); }
  });
  currentBtn.addEventListener("click", async () => {
    mount(actionMsg);
    try {
      // the run's parameters that the current version still declares
      const declared = new Set((pipeline.current_version.parameters || []).map((p) => p.name));
      const parameters = Object.fromEntries(Object.entries(run.parameters || {}).filter(([k]) => declared.has(k)));
      const fresh = await postJson(apiPath`/pipelines/${pipelineId}/runs/`, { parameters });
      location.hash = `#/pipelines/${pipelineId}/runs/${fresh.id}`;
    } catch (err) { mount(actionMsg, errorBox(err)); }
  });
  retryBtn.addEventListener("click", async () => {
    mount(actionMsg);
    try {
      const again = await postJson(`${base}retry/`, undefined);
      location.hash = `#/pipelines/${pipelineId}/runs/${again.id}`;
    } catch (err) { mount(actionMsg, errorBox(err)); }
  });

  mount(main,
    h("nav", { class: "crumbs" }, h("a", { href: "#/pipelines" }, "Pipelines"), " / ",
      h("a", { href: `#/pipelines/${pipelineId}` }, pipeline.name), " / ",
      h("a", { href: `#/pipelines/${pipelineId}/runs` }, "runs"), " / ", run.name),
    h("div", { class: "title-row" }, h("h1", {}, run.name), live,
      h("div", { class: "actions" }, cancelBtn, retryBtn, currentBtn)),
    retryNote, actionMsg, header,
    h("section", {}, h("h2", {}, "Graph"), graph),
    h("section", {}, h("h2", {}, "Steps"), h("div", { class: "table-wrap" }, h("table", { id: "run-steps" },
      h("thead", {}, h("tr", {}, ["Step", "Status", "Started", "Finished", "Duration", "Rows written", "Inputs read", "Error"]
        .map((x) => h("th", { scope: "col" }, x)))),
      stepsBody))),
    panel);
  renderAll();

  if (TERMINAL.has(run.status)) {
    live.dataset.state = "ended";
    return;
  }
  // Active: follow the event stream; durations of running steps tick once a second.
  const tick = setInterval(() => { renderHeader(); renderSteps(); }, 1000);
  signal.addEventListener("abort", () => clearInterval(tick), { once: true });
  const labels = { live: "● live", reconnecting: "reconnecting…", ended: "" };
  follow(`${base}events/`, {
    signal,
    onState: (state) => { live.dataset.state = state; live.textContent = labels[state]; },
    onEvent: ({ event, data }) => {
      if (event === "end") return;
      run = applyPatch(run, data);
      renderAll();
    },
  }).then(async () => {
    clearInterval(tick);
    if (signal.aborted) return;
    run = await getJson(base, { signal }); // the final state, in full
    renderAll();
  }).catch((err) => {
    clearInterval(tick);
    if (!signal.aborted) mount(actionMsg, errorBox(err));
  });
}

/** #/runs/{id}: a run known only by its id (e.g. from a dataset version) → its page. */
export async function findRun(main, [runId], { signal }) {
  mount(main, h("p", { class: "muted" }, "Looking for run ", shortId(runId), "…"));
  const pipelines = await getAll("/pipelines/", { signal });
  const found = await Promise.any(pipelines.map((p) =>
    getJson(apiPath`/pipelines/${p.id}/runs/${runId}/`, { signal }).then(() => p.id)))
    .catch(() => null);
  if (signal.aborted) return;
  if (!found) {
    mount(main, h("p", {}, `There is no run ${runId} in this organisation any more.`));
    return;
  }
  location.replace(`#/pipelines/${found}/runs/${runId}`);
}
