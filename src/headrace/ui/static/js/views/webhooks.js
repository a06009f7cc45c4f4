// Webhooks (admin keys): the organisation's webhooks with a form to add one (its signing
// secret is shown once, right after), and each webhook's deliveries log (attempts, the
// receiver's last answer, when it is tried again, why it failed).

import { apiPath, call, getJson, getPage, postJson } from "../api.js";
import { errorBox, fmtTime, h, mount } from "../dom.js";

const EVENTS = ["run.started", "run.succeeded", "run.failed", "run.error", "run.cancelled", "dataset.version"];

/** A table over `body`, a tbody the caller keeps adding rows to. */
function table(headers, body, attrs) {
  return h("div", { class: "table-wrap" }, h("table", attrs,
    h("thead", {}, h("tr", {}, headers.map((x) => h("th", { scope: "col" }, x)))), body));
}

function createForm(onCreated) {
  const url = h("input", { id: "webhook-url", type: "text", inputmode: "url", placeholder: "https://example.com/hooks/headrace", size: 40 });
  const description = h("input", { id: "webhook-description", type: "text", placeholder: "what it is for" });
  const boxes = EVENTS.map((e) => h("input", { type: "checkbox", value: e, checked: e !== "run.started" && e !== "dataset.version" }));
  const message = h("div", { class: "form-message" });
  const button = h("button", { type: "submit" }, "Add webhook");
  const form = h("form", { class: "run-form", "aria-label": "Add a webhook" },
    h("label", {}, "URL ", url), h("label", {}, "Description ", description),
    h("fieldset", { class: "events" }, h("legend", {}, "Events"),
      boxes.map((b) => h("label", {}, b, ` ${b.value}`))),
    button, message);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    button.disabled = true;
    mount(message);
    try {
      const made = await postJson("/webhooks/", {
        url: url.value, description: description.value,
        events: boxes.filter((b) => b.checked).map((b) => b.value),
      });
      form.reset();
      onCreated(made);
    } catch (err) {
      mount(message, errorBox(err));
    } finally {
      button.disabled = false;
    }
  });
  return form;
}

function secretNotice(made) {
  return h("div", { class: "card", id: "new-secret", role: "status" },
    h("p", {}, "Webhook added. Its signing secret is shown only now: keep it where your receiver verifies signatures."),
    h("code", { class: "secret" }, made.secret));
}

export async function webhooksList(main, _params, { signal }) {
  const body = h("tbody", {});
  const notice = h("div", {});
  const empty = h("p", { class: "muted", hidden: true }, "No webhooks yet.");
  const row = (w) => {
    const remove = h("button", { type: "button", class: "secondary" }, "Delete");
    const tr = h("tr", { "data-webhook": w.id },
      h("td", {}, h("a", { href: `#/webhooks/${w.id}` }, w.url)),
      h("td", {}, w.events.join(", ")),
      h("td", {}, w.description),
      h("td", {}, fmtTime(w.created_at)),
      h("td", {}, remove));
    remove.addEventListener("click", async () => {
      remove.disabled = true;
      try {
        await call(apiPath`/webhooks/${w.id}/`, { method: "DELETE" });
        tr.remove();
        empty.hidden = body.children.length > 0;
      } catch (err) {
        remove.disabled = false;
        mount(notice, errorBox(err));
      }
    });
    return tr;
  };
  const page = await getPage("/webhooks/", { signal, query: { limit: 1000 } });
  body.append(...page.items.map(row));
  empty.hidden = body.children.length > 0;
  const form = createForm((made) => {
    body.append(row(made));
    empty.hidden = true;
    mount(notice, secretNotice(made));
  });
  mount(main, h("h1", {}, "Webhooks"),
    h("p", { class: "muted" }, "Each event is POSTed, signed as Standard Webhooks specifies, and tried again for 24 hours until the receiver answers 2xx."),
    form, notice,
    table(["URL", "Events", "Description", "Created", ""], body, { id: "webhooks" }),
    empty);
}

function state(d) {
  if (d.delivered_at) return h("span", { class: "badge", "data-status": "Succeeded" }, "delivered");
  if (d.next_attempt_at) return h("span", { class: "badge", "data-status": "Running" }, "retrying");
  return h("span", { class: "badge", "data-status": "Failed" }, "given up");
}

export async function webhookPage(main, [id], { signal }) {
  const w = await getJson(apiPath`/webhooks/${id}/`, { signal });
  const body = h("tbody", {});
  const more = h("button", { type: "button", class: "secondary", hidden: true }, "Older deliveries");
  const empty = h("p", { class: "muted", hidden: true }, "Nothing sent yet.");
  let next = apiPath`/webhooks/${id}/deliveries/`;
  const load = async () => {
    const page = await getPage(next, { signal });
    next = page.next;
    more.hidden = !next;
    body.append(...page.items.map((d) => h("tr", { "data-delivery": d.id, "data-event": d.event },
      h("td", {}, fmtTime(d.created_at)), h("td", {}, d.event), h("td", {}, state(d)),
      h("td", { class: "num" }, d.attempts), h("td", {}, d.status_code ?? "—"),
      h("td", {}, d.delivered_at ? fmtTime(d.delivered_at) : d.next_attempt_at ? `next ${fmtTime(d.next_attempt_at)}` : "—"),
      h("td", { class: "error-text" }, d.error || ""))));
    empty.hidden = body.children.length > 0;
  };
  more.addEventListener("click", () => load().catch((err) => more.after(errorBox(err))));
  await load();
  mount(main,
    h("nav", { class: "crumbs" }, h("a", { href: "#/webhooks" }, "Webhooks"), " / ", w.url),
    h("div", { class: "title-row" }, h("h1", {}, "Deliveries"), h("span", { class: "muted" }, w.events.join(", "))),
    w.description ? h("p", {}, w.description) : null,
    table(["Queued", "Event", "State", "Attempts", "Last answer", "Delivered / next try", "Error"], body, { id: "deliveries" }),
    empty, more);
}
