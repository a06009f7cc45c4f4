// Every call to the server: the public API, with the key the user signed in with.
// The key lives in sessionStorage only (gone when the tab closes) and travels in the
// Authorization header, never in a URL.

const KEY = "headrace.apiKey";

export const session = {
  get key() { return sessionStorage.getItem(KEY); },
  set(key) { sessionStorage.setItem(KEY, key); },
  clear() { sessionStorage.removeItem(KEY); },
};

export class ApiError extends Error {
  constructor(status, body) {
    const detail = (body && body.detail) || `the server answered ${status}`;
    super(detail);
    this.status = status;
    this.detail = detail;
    this.code = body && body.code;
    this.errors = (body && body.errors) || [];
  }
}

export function authHeaders(extra = {}) {
  return { Authorization: `Bearer ${session.key || ""}`, ...extra };
}

/**
 * apiPath`/datasets/${id}/rows/`: an API path with each value encoded as one path segment,
 * so that a value can never add segments or climb out of its place (a "/" or "%2F" in it is
 * sent as %2F; "." and ".." are refused, since URL parsing would resolve them).
 */
export function apiPath(strings, ...values) {
  return strings.reduce((out, text, i) => {
    if (i === values.length) return out + text;
    const value = String(values[i]);
    if (value === "" || value === "." || value === "..") throw new Error(`not a path segment: "${value}"`);
    return out + text + encodeURIComponent(value);
  }, "");
}

/** A URL of this origin with `query` appended (arrays repeat the parameter). */
export function apiUrl(path, query = {}) {
  const url = new URL(path, location.origin);
  for (const [name, value] of Object.entries(query)) {
    for (const v of Array.isArray(value) ? value : [value]) {
      if (v !== undefined && v !== null && v !== "") url.searchParams.append(name, v);
    }
  }
  return url;
}

/** The fetch Response of an API call; throws ApiError unless 2xx. A 401 also signs out. */
export async function call(path, { method = "GET", query, json, body, headers, signal } = {}) {
  const init = { method, headers: authHeaders(headers), signal, cache: "no-store" };
  if (json !== undefined) {
    init.body = JSON.stringify(json);
    init.headers["Content-Type"] = "application/json";
  } else if (body !== undefined) {
    init.body = body;
  }
  const res = await fetch(apiUrl(path, query), init);
  if (res.ok) return res;
  let payload = null;
  try { payload = await res.json(); } catch { /* not JSON */ }
  const err = new ApiError(res.status, payload);
  if (res.status === 401) {
    session.clear();
    window.dispatchEvent(new CustomEvent("headrace:signed-out", { detail: err.detail }));
  }
  throw err;
}

/** The next page's path+query from a `Link: <…>; rel="next"` header, or null. */
export function nextPage(res) {
  const link = res.headers.get("Link") || "";
  const m = link.match(/<([^>]+)>\s*;\s*rel="next"/);
  if (!m) return null;
  const url = new URL(m[1], location.origin);
  return url.pathname + url.search;
}

/** JSON of a GET plus the path of the next page (null on the last one). */
export async function getPage(path, opts = {}) {
  const res = await call(path, opts);
  return { items: await res.json(), next: nextPage(res) };
}

export async function getJson(path, opts = {}) {
  return (await call(path, opts)).json();
}

export async function postJson(path, json, opts = {}) {
  return (await call(path, { ...opts, method: "POST", json })).json();
}

/** Every item of a paged list, following Link headers (for short lists such as versions). */
export async function getAll(path, opts = {}) {
  const all = [];
  let page = await getPage(path, opts);
  all.push(...page.items);
  while (page.next) {
    page = await getPage(page.next, { signal: opts.signal });
    all.push(...page.items);
  }
  return all;
}
