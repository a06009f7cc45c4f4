// The UI's shell: sign-in state, the navigation, and a hash router. Each view is an async
// function (main, params, ctx) that renders into <main>; ctx.signal aborts when the user
// navigates away (open event streams and pending calls stop with it).

import { session } from "./api.js";
import { errorBox, h, parseHash } from "./dom.js";
import { datasetPage, datasetsList } from "./views/datasets.js";
import { pipelinePage, pipelinesList } from "./views/pipelines.js";
import { findRun, runPage, runsList } from "./views/runs.js";
import { signIn } from "./views/signin.js";
import { webhookPage, webhooksList } from "./views/webhooks.js";

// Every id in a page's address is a UUID, matched as written: nothing is decoded, so a
// "%2F" or "../" in the address can never turn into another API path.
const ID = "([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})";
const route = (pattern) => new RegExp(`^${pattern.replaceAll("{id}", ID)}/?$`);

const ROUTES = [
  [route("/pipelines"), pipelinesList, "pipelines"],
  [route("/pipelines/{id}"), pipelinePage, "pipelines"],
  [route("/pipelines/{id}/runs"), runsList, "pipelines"],
  [route("/pipelines/{id}/runs/{id}"), runPage, "pipelines"],
  [route("/runs/{id}"), findRun, "pipelines"],
  [route("/datasets"), datasetsList, "datasets"],
  [route("/datasets/{id}"), datasetPage, "datasets"],
  [route("/webhooks"), webhooksList, "webhooks"],
  [route("/webhooks/{id}"), webhookPage, "webhooks"],
];

const main = document.getElementById("main");
const nav = document.getElementById("nav");
const signOut = document.getElementById("sign-out");
let current = null; // AbortController of the view on screen
let notice = null; // a message for the sign-in page (e.g. why the user was signed out)

function chrome(signedIn, section) {
  nav.hidden = !signedIn;
  signOut.hidden = !signedIn;
  for (const a of nav.querySelectorAll("a")) {
    if (a.dataset.section === section) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
}

async function render() {
  current?.abort();
  current = new AbortController();
  const ctx = { signal: current.signal, query: null };
  const { path, query } = parseHash(location.hash);
  ctx.query = query;
  if (!session.key) {
    chrome(false);
    signIn(main, { notice, onSignedIn: () => { notice = null; render(); } });
    return;
  }
  for (const [pattern, view, section] of ROUTES) {
    const m = path.match(pattern);
    if (!m) continue;
    chrome(true, section);
    try {
      await view(main, m.slice(1).map((id) => id.toLowerCase()), ctx);
    } catch (err) {
      if (ctx.signal.aborted || err.name === "AbortError") return;
      if (err.status === 401) return; // the signed-out handler renders the sign-in page
      main.replaceChildren(errorBox(err));
    }
    return;
  }
  chrome(true);
  main.replaceChildren(h("p", {}, "There is no such page. ", h("a", { href: "#/pipelines" }, "Pipelines")));
}

window.addEventListener("hashchange", render);
window.addEventListener("headrace:signed-out", (ev) => {
  notice = `Signed out: ${ev.detail}`;
  render();
});
signOut.addEventListener("click", () => {
  session.clear();
  notice = "Signed out.";
  render();
});

render();
