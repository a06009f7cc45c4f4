// Sign-in with an API key. The key is checked with one API call, then kept in this tab's
// sessionStorage; it never appears in a URL.

import { apiUrl, session } from "../api.js";
import { h, mount } from "../dom.js";

export function signIn(main, { notice, onSignedIn }) {
  const input = h("input", {
    id: "api-key", name: "api-key", type: "password", autocomplete: "off", required: true,
    spellcheck: "false", placeholder: "hr_…",
  });
  const message = h("p", { class: "form-message", role: "status" }, notice || "");
  const form = h("form", { class: "card sign-in", "aria-labelledby": "sign-in-title" },
    h("h1", { id: "sign-in-title" }, "Sign in"),
    h("p", { class: "muted" }, "Paste an API key of your organisation. ",
      "It stays in this browser tab and is sent only to this server's API."),
    h("label", { for: "api-key" }, "API key"),
    input,
    h("button", { type: "submit" }, "Sign in"),
    message);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const key = input.value.trim();
    if (!key) return;
    message.textContent = "Checking…";
    message.classList.remove("bad");
    // A plain fetch, not api.call(): a refused key here is an answer, not a sign-out.
    let res;
    try {
      res = await fetch(apiUrl("/pipelines/", { limit: 1 }), {
        headers: { Authorization: `Bearer ${key}` }, cache: "no-store",
      });
    } catch (err) {
      res = null;
    }
    if (!res || !res.ok) {
      message.classList.add("bad");
      message.textContent = !res ? "The server could not be reached."
        : res.status === 401 ? "That key was not accepted."
          : `The server answered ${res.status}.`;
      return;
    }
    session.set(key);
    onSignedIn();
  });
  mount(main, form);
  input.focus();
}
