// A run's event stream (text/event-stream) read with fetch(), because EventSource cannot
// send the Authorization header. On a dropped connection it reconnects after the server's
// `retry:` delay and sends the last `id:` back as Last-Event-ID, so nothing is missed or
// repeated. It stops at the `end` event, on a 4xx answer, or when `signal` aborts.

import { ApiError, apiUrl, authHeaders } from "./api.js";

/** Feed text chunks in, get complete events out (the HTML standard's parsing rules). */
export class EventParser {
  constructor(onEvent) {
    this.onEvent = onEvent;
    this.buffer = "";
    this.reset();
    this.lastId = null;
    this.retry = null;
  }

  reset() {
    this.event = "";
    this.data = [];
  }

  push(chunk) {
    this.buffer += chunk;
    // A line ends at \r\n, \n or \r; a trailing \r may be the first half of \r\n.
    const lines = this.buffer.split(/\r\n|\n|\r(?!$)/);
    this.buffer = lines.pop();
    for (const line of lines) this.line(line);
  }

  line(line) {
    if (line === "") {
      if (this.data.length) {
        this.onEvent({ event: this.event || "message", data: this.data.join("\n"), id: this.lastId });
      }
      this.reset();
      return;
    }
    if (line.startsWith(":")) return; // comment (keep-alive)
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") this.event = value;
    else if (field === "data") this.data.push(value);
    else if (field === "id" && !value.includes("\0")) this.lastId = value;
    else if (field === "retry" && /^\d+$/.test(value)) this.retry = Number(value);
  }
}

const sleep = (ms, signal) => new Promise((resolve) => {
  const timer = setTimeout(resolve, ms);
  signal?.addEventListener("abort", () => { clearTimeout(timer); resolve(); }, { once: true });
});

/**
 * Follow `path` until the stream's `end` event. `onEvent({event, data, id})` gets each
 * event with `data` parsed as JSON; `onState("live" | "reconnecting" | "ended")` reports
 * the connection. Resolves when the stream has ended; rejects with ApiError on a 4xx.
 */
export async function follow(path, { onEvent, onState = () => {}, signal } = {}) {
  let lastId = null;
  let retry = 1000;
  let ended = false;
  while (!ended && !signal?.aborted) {
    const parser = new EventParser((ev) => {
      lastId = ev.id;
      if (ev.event === "end") ended = true;
      onEvent({ ...ev, data: JSON.parse(ev.data) });
    });
    try {
      const headers = authHeaders({ Accept: "text/event-stream" });
      if (lastId) headers["Last-Event-ID"] = lastId;
      const res = await fetch(apiUrl(path), { headers, signal, cache: "no-store" });
      if (res.status >= 400 && res.status < 500) {
        let body = null;
        try { body = await res.json(); } catch { /* not JSON */ }
        throw new ApiError(res.status, body);
      }
      if (!res.ok || !res.body) throw new Error(`stream answered ${res.status}`);
      onState("live");
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        parser.push(value);
        if (ended) { reader.cancel().catch(() => {}); break; }
      }
      if (parser.retry !== null) retry = parser.retry;
    } catch (err) {
      if (signal?.aborted) return;
      if (err instanceof ApiError) throw err;
      // A network error: fall through and reconnect.
    }
    if (!ended && !signal?.aborted) {
      onState("reconnecting");
      await sleep(retry, signal);
    }
  }
  if (ended) onState("ended");
}
