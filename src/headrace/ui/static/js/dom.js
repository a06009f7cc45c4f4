// Small DOM helpers: every piece of data goes into the page as text, never as HTML.

const SVG_NS = "http://www.w3.org/2000/svg";

function fill(el, attrs, children) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      el.addEventListener(name.slice(2), value);
    } else if (name === "dataset") {
      Object.assign(el.dataset, value);
    } else {
      el.setAttribute(name, value === true ? "" : String(value));
    }
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** h("a", {href: "#/x"}, "text", otherNode): an HTML element. */
export function h(tag, attrs, ...children) {
  return fill(document.createElement(tag), attrs, children);
}

/** s("rect", {...}): an SVG element. */
export function s(tag, attrs, ...children) {
  return fill(document.createElementNS(SVG_NS, tag), attrs, children);
}

export function statusBadge(status) {
  if (!status) return h("span", { class: "badge", "data-status": "none" }, "no runs");
  return h("span", { class: "badge", "data-status": status }, status);
}

export function fmtTime(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  return d.toLocaleString(undefined, {
    year: "numeric", month: "short", day: "numeric",
    hour: "2-digit", minute: "2-digit", second: "2-digit",
  });
}

/** The time between two ISO instants, "1.2 s" / "3 min 4 s"; an open end counts to now. */
export function fmtDuration(start, end) {
  if (!start) return "—";
  const ms = (end ? new Date(end) : new Date()) - new Date(start);
  if (ms < 0) return "—";
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const min = Math.floor(ms / 60_000);
  if (min < 60) return `${min} min ${Math.round((ms % 60_000) / 1000)} s`;
  return `${Math.floor(min / 60)} h ${min % 60} min`;
}

export function fmtBytes(n) {
  if (n === null || n === undefined) return "—";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${i ? n.toFixed(1) : n} ${units[i]}`;
}

export function fmtNumber(n) {
  return n === null || n === undefined ? "—" : Number(n).toLocaleString("en-US");
}

export const shortId = (id) => (id ? String(id).slice(0, 8) : "");

/** A table whose wrapper scrolls sideways on narrow screens instead of the page. */
export function table(headers, rows, attrs = {}) {
  return h("div", { class: "table-wrap" },
    h("table", attrs,
      h("thead", {}, h("tr", {}, headers.map((x) => h("th", { scope: "col" }, x)))),
      h("tbody", {}, rows)));
}

/** A problem's location as the user wrote it ("steps.clean.config.query", "file"): the
 * "body" every request field sits in is left out. The Python client says it the same way. */
export function where(loc) {
  const parts = loc && loc[0] === "body" ? loc.slice(1) : loc || [];
  return parts.join(".");
}

const MORE = /\s*\(and \d+ more problem\(s\)\)$/;
const cut = (text, end) => text.slice(0, text.length - end.length).trimEnd().replace(/:$/, "").trimEnd();

/** The detail without the problem it repeats at its end (the server's detail often names its
 * first problem: "the file is not valid: the file is empty"), so each problem shows once. */
export function errorHead(detail, errors) {
  const text = detail.replace(MORE, "");
  for (const e of errors) {
    if (!e.msg || !text.endsWith(e.msg)) continue;
    let head = cut(text, e.msg);
    for (const loc of [(e.loc || []).join("."), where(e.loc)]) {
      if (loc && head.endsWith(loc)) head = cut(head, loc);
    }
    return head;
  }
  return detail;
}

export function errorBox(err) {
  const detail = err && err.detail ? err.detail : String(err && err.message ? err.message : err);
  const list = ((err && err.errors) || []).map((e) => (where(e.loc) ? `${where(e.loc)}: ${e.msg}` : e.msg));
  const head = errorHead(detail, (err && err.errors) || []);
  const alone = !head && list.length === 1;
  return h("div", { class: "error", role: "alert" },
    h("strong", {}, alone ? list[0] : head || "The request was refused:"),
    list.length && !alone ? h("ul", {}, list.map((x) => h("li", { class: "problem" }, x))) : null);
}

/** Parse "#/a/b?x=1&x=2" into its path and its query. */
export function parseHash(hash) {
  const raw = hash.replace(/^#/, "") || "/pipelines";
  const [path, query = ""] = raw.split("?");
  return { path, query: new URLSearchParams(query) };
}

/** Replace `el`'s children; like h(), skips null/false and flattens arrays. */
export function mount(el, ...children) {
  el.replaceChildren();
  return fill(el, {}, children);
}
