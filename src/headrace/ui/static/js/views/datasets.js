// Datasets: the list, and a dataset's page (schema, versions with the run and step that
// wrote each, a preview of rows of any version, download as CSV or Parquet).

import { apiPath, call, getJson, getPage } from "../api.js";
import { errorBox, fmtBytes, fmtNumber, fmtTime, h, mount, shortId } from "../dom.js";

const PREVIEW_ROWS = 50;

export async function datasetsList(main, _params, { signal }) {
  const body = h("tbody", {});
  const more = h("button", { type: "button", class: "secondary", hidden: true }, "More datasets");
  const empty = h("p", { class: "muted", hidden: true },
    "No datasets yet. Upload one with `headrace datasets upload` or POST /datasets/.");
  let next = "/datasets/";
  const load = async () => {
    const page = await getPage(next, { signal });
    next = page.next;
    more.hidden = !next;
    for (const d of page.items) {
      body.append(h("tr", { "data-dataset": d.name },
        h("td", {}, h("a", { href: `#/datasets/${d.id}` }, d.name)),
        h("td", {}, d.current_version === null
          ? h("span", { class: "muted not-written" }, "not written yet") : `v${d.current_version}`),
        h("td", { class: "num" }, fmtNumber(d.row_count)),
        h("td", {}, d.schema.length),
        h("td", {}, fmtTime(d.updated_at))));
    }
    empty.hidden = body.children.length > 0;
  };
  more.addEventListener("click", () => load().catch((err) => more.after(errorBox(err))));
  await load();
  mount(main, h("h1", {}, "Datasets"),
    h("div", { class: "table-wrap" }, h("table", { id: "datasets" },
      h("thead", {}, h("tr", {}, ["Dataset", "Version", "Rows", "Columns", "Updated"]
        .map((x) => h("th", { scope: "col" }, x)))),
      body)),
    empty, more);
}

function cellText(value) {
  if (value === null || value === undefined) return "null";
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}

function writtenBy(v) {
  if (v.run_id) {
    return h("span", {}, "run ", h("a", { href: `#/runs/${v.run_id}`, "data-run": v.run_id }, shortId(v.run_id)),
      v.step_name ? [" · step ", h("strong", { class: "step-name" }, v.step_name)] : null);
  }
  return v.written_by_key_id ? `key ${shortId(v.written_by_key_id)}` : "—";
}

/** Save a download fetched with the key (a plain link could not send the header). */
async function download(id, version, format, button, message) {
  button.disabled = true;
  mount(message);
  try {
    const res = await call(apiPath`/datasets/${id}/download/`, { query: { version, format } });
    const disposition = res.headers.get("Content-Disposition") || "";
    const name = (disposition.match(/filename="([^"]+)"/) || [])[1] || `dataset.${format}`;
    const url = URL.createObjectURL(await res.blob());
    const a = h("a", { href: url, download: name, hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  } catch (err) {
    mount(message, errorBox(err));
  } finally {
    button.disabled = false;
  }
}

/** A dataset no step or upload has written yet (the output of a step that failed): its name
 * is known, but there is nothing to preview or download. */
function notWritten(main, d) {
  mount(main,
    h("nav", { class: "crumbs" }, h("a", { href: "#/datasets" }, "Datasets"), " / ", d.name),
    h("div", { class: "title-row" }, h("h1", {}, d.name),
      h("span", { class: "muted not-written" }, "not written yet")),
    h("p", { id: "not-written" }, "Nothing has been written to this dataset yet: the step that ",
      "writes it has not succeeded so far. It gets its first version when that step succeeds ",
      "or when a file is uploaded under this name."));
}

export async function datasetPage(main, [id], { signal }) {
  const d = await getJson(apiPath`/datasets/${id}/`, { signal });
  if (d.current_version === null || !d.versions.length) {
    notWritten(main, d);
    return;
  }
  const versionSel = h("select", { id: "preview-version" },
    d.versions.map((v) => h("option", { value: v.version, selected: v.version === d.current_version }, `v${v.version}`)));
  const formatSel = h("select", { id: "download-format" },
    h("option", { value: "csv" }, "CSV"), h("option", { value: "parquet" }, "Parquet"));
  const downloadBtn = h("button", { type: "button", id: "download" }, "Download");
  const downloadMsg = h("div", {});
  downloadBtn.addEventListener("click", () =>
    download(id, versionSel.value, formatSel.value, downloadBtn, downloadMsg));

  const preview = h("div", { id: "preview" });
  const prev = h("button", { type: "button", class: "secondary" }, "← Previous");
  const next = h("button", { type: "button", class: "secondary" }, "Next →");
  const where = h("span", { class: "muted small" });
  let offset = 0;
  async function loadRows() {
    const version = Number(versionSel.value);
    const meta = d.versions.find((v) => v.version === version);
    mount(preview, h("p", { class: "muted" }, "Loading rows…"));
    try {
      const rows = await getJson(apiPath`/datasets/${id}/rows/`, {
        query: { version, limit: PREVIEW_ROWS, offset }, signal,
      });
      const columns = meta ? meta.schema.map((c) => c.name) : Object.keys(rows[0] || {});
      mount(preview, h("div", { class: "table-wrap" }, h("table", { id: "rows", class: "data" },
        h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c)))),
        h("tbody", {}, rows.map((r) => h("tr", {}, columns.map((c) => h("td", {}, cellText(r[c])))))))));
      const total = meta ? meta.row_count : rows.length;
      where.textContent = rows.length
        ? `rows ${offset + 1}–${offset + rows.length} of ${fmtNumber(total)}` : "no rows";
      prev.disabled = offset === 0;
      next.disabled = offset + rows.length >= total;
    } catch (err) {
      if (!signal.aborted) mount(preview, errorBox(err));
    }
  }
  versionSel.addEventListener("change", () => { offset = 0; loadRows(); });
  prev.addEventListener("click", () => { offset = Math.max(0, offset - PREVIEW_ROWS); loadRows(); });
  next.addEventListener("click", () => { offset += PREVIEW_ROWS; loadRows(); });

  mount(main,
    h("nav", { class: "crumbs" }, h("a", { href: "#/datasets" }, "Datasets"), " / ", d.name),
    h("div", { class: "title-row" }, h("h1", {}, d.name),
      h("span", { class: "muted" }, `v${d.current_version} · ${fmtNumber(d.row_count)} rows`),
      h("div", { class: "actions" }, h("label", {}, "Format ", formatSel), downloadBtn)),
    downloadMsg,
    h("div", { class: "two-col" },
      h("section", {}, h("h2", {}, "Schema"),
        h("div", { class: "table-wrap" }, h("table", { id: "schema" },
          h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Column"), h("th", { scope: "col" }, "Type"))),
          h("tbody", {}, d.schema.map((c) => h("tr", { "data-column": c.name },
            h("td", {}, c.name), h("td", {}, h("code", {}, c.type)))))))),
      h("section", {}, h("h2", {}, "Versions"),
        h("div", { class: "table-wrap" }, h("table", { id: "versions" },
          h("thead", {}, h("tr", {}, ["Version", "Operation", "Rows", "Size", "Written", "By"]
            .map((x) => h("th", { scope: "col" }, x)))),
          h("tbody", {}, d.versions.map((v) => h("tr", { "data-version": v.version },
            h("td", {}, `v${v.version}`), h("td", {}, v.operation),
            h("td", { class: "num" }, fmtNumber(v.row_count)), h("td", {}, fmtBytes(v.bytes)),
            h("td", {}, fmtTime(v.created_at)), h("td", {}, writtenBy(v))))))))),
    h("section", {}, h("div", { class: "title-row" }, h("h2", {}, "Preview"),
      h("label", {}, "Version ", versionSel), prev, next, where), preview));
  await loadRows();
}
