// Webhooks panel: the caller's endpoints (a creator's: events of their rooms; ops': the
// platform's, every room). Add an endpoint (URL, event checkboxes), see its secret once, list
// endpoints with their status, turn them on or off, rotate the secret, delete, send a test,
// and read the delivery log (last answer, next retry) with a "Redeliver" button.
// The studio and the ops console both mount it; every text goes in through textContent.

import { api, describeError } from "./api.js";
import { el, replace, flash, fmtDateTime, copyText } from "./dom.js";

export const EVENT_TYPES = [
  "room.started", "room.ended", "order.reserved", "order.paid", "order.refunded",
  "order.expired", "coupon.claimed", "red_packet.finished", "report.filed",
];

const enc = encodeURIComponent;

// A refusal in words: the states this panel's actions are refused in are an endpoint's or a
// delivery's (the server's message says which), not a room's, as describeError's sentence says.
function explain(err) {
  if (err && err.code === "invalid_state" && err.message) {
    return `${err.message.charAt(0).toUpperCase()}${err.message.slice(1)}.`;
  }
  return describeError(err);
}

/** mountWebhooks(section, {title, scope}) builds the panel inside `section` and loads it. */
export function mountWebhooks(section, { title = "Webhooks", scope = "your rooms" } = {}) {
  const msg = el("p", { className: "msg", attrs: { role: "status", hidden: true } });
  const secretBox = el("div", { className: "panel secret-once", attrs: { hidden: true, "aria-live": "polite" } });
  const list = el("ul", { className: "webhook-list" });
  const url = el("input", { name: "url", type: "url", required: true, className: "grow", placeholder: "https://example.com/hooks/live", attrs: { "aria-label": "Endpoint URL", maxlength: 2000 } });
  const boxes = EVENT_TYPES.map((type) => el("label", { className: "check small" },
    el("input", { type: "checkbox", name: "events", value: type, checked: type.startsWith("order.") }), ` ${type}`));
  const form = el("form", { className: "stack", attrs: { autocomplete: "off" }, on: { submit: create } },
    el("div", { className: "row" }, url, el("button", { type: "submit", className: "btn btn-primary btn-small", text: "Add endpoint" })),
    el("fieldset", { className: "row wrap" }, el("legend", { className: "small muted", text: "Events" }), boxes));
  const refresh = el("button", { type: "button", className: "btn btn-small", text: "Refresh", on: { click: () => load() } });
  replace(section,
    el("div", { className: "row spread" }, el("h2", { text: title }), refresh),
    el("p", { className: "muted small", text: `Signed HTTP POSTs (Standard Webhooks) for events of ${scope}.` }),
    form, msg, secretBox, list);

  function showSecret(heading, secret) {
    const input = el("input", { className: "grow mono", readOnly: true, value: secret, attrs: { "aria-label": "Signing secret" } });
    replace(secretBox,
      el("strong", { text: heading }),
      el("p", { className: "small", text: "Copy it now: it is not shown again. Receivers verify the webhook-signature header with it." }),
      el("div", { className: "row" }, input,
        el("button", { type: "button", className: "btn btn-small", text: "Copy", on: { click: () => copyText(secret, input) } }),
        el("button", { type: "button", className: "btn btn-small", text: "Done", on: { click: () => { secretBox.hidden = true; replace(secretBox); } } })));
    secretBox.hidden = false;
  }

  async function create(e) {
    e.preventDefault();
    const events = boxes.map((b) => b.querySelector("input")).filter((i) => i.checked).map((i) => i.value);
    if (!events.length) return flash(msg, "Pick at least one event.", "error");
    try {
      const made = await api("POST", "/api/webhooks", { url: url.value.trim(), events });
      url.value = "";
      showSecret(`Secret of ${made.url}`, made.secret);
      flash(msg, "Endpoint added.", "ok");
      load();
    } catch (err) {
      flash(msg, describeError(err), "error");
    }
  }

  async function act(label, method, path, body) {
    try {
      const out = await api(method, path, body);
      flash(msg, label, "ok");
      return out;
    } catch (err) {
      flash(msg, explain(err), "error");
      return null;
    }
  }

  function status(w) {
    if (w.enabled) return el("span", { className: "badge", dataset: { state: "live" }, text: "enabled" });
    const why = w.disabled_reason === "failing" ? `disabled after ${w.consecutive_failures} failed deliveries` : "disabled";
    return el("span", { className: "badge", dataset: { state: "ended" }, text: why });
  }

  function attemptRow(w, d) {
    const answer = d.status === null || d.status === undefined ? (d.error || "no answer") : `HTTP ${d.status}`;
    const redeliver = d.outcome === "retry" ? null : el("button", {
      type: "button", className: "btn btn-small", text: "Redeliver",
      on: { click: async () => { if (await act("Sent again.", "POST", `/api/webhooks/${enc(w.id)}/deliveries/${enc(d.message_id)}/redeliver`)) setTimeout(() => showLog(w), 800); } },
    });
    return el("tr", {},
      el("td", { text: fmtDateTime(d.at) }),
      el("td", { text: d.type }),
      el("td", { className: "num", text: String(d.attempt) }),
      el("td", { text: `${answer} · ${d.outcome}` }),
      el("td", { className: "small mono", text: d.response || "" }),
      el("td", { text: d.next_retry_at ? fmtDateTime(d.next_retry_at) : "—" }),
      el("td", {}, redeliver));
  }

  const logs = new Map(); // webhook id → its log container
  async function showLog(w) {
    const box = logs.get(w.id);
    if (!box) return;
    try {
      const got = await api("GET", `/api/webhooks/${enc(w.id)}?limit=50`);
      const rows = got.deliveries.map((d) => attemptRow(w, d));
      replace(box, rows.length
        ? el("div", { className: "table-wrap" }, el("table", {},
            el("thead", {}, el("tr", {}, ["Time", "Event", "Attempt", "Result", "Answer (first 500 bytes)", "Next retry", ""].map((h) => el("th", { text: h })))),
            el("tbody", {}, rows)))
        : el("p", { className: "muted small", text: "No deliveries yet." }),
      el("p", { className: "muted small", text: `${got.queued} waiting in the queue.` }));
      box.hidden = false;
    } catch (err) {
      flash(msg, describeError(err), "error");
    }
  }

  function item(w) {
    const box = el("div", { className: "webhook-log", attrs: { hidden: true } });
    logs.set(w.id, box);
    const path = `/api/webhooks/${enc(w.id)}`;
    const button = (text, on, cls = "btn btn-small") => el("button", { type: "button", className: cls, text, on: { click: on } });
    return el("li", { className: "webhook" },
      el("div", { className: "row spread" },
        el("strong", { className: "mono grow", text: w.url }), status(w)),
      el("p", { className: "small muted", text: `${w.events.join(", ")} · ${w.queued} queued · added ${fmtDateTime(w.created_at)}` }),
      el("div", { className: "row wrap" },
        button(w.enabled ? "Disable" : "Enable", async () => { await act(w.enabled ? "Disabled." : "Enabled.", "PATCH", path, { enabled: !w.enabled }); load(); }),
        button("Send test", async () => { if (await act("Test event queued.", "POST", `${path}/test`)) setTimeout(() => showLog(w), 800); }),
        button("Deliveries", () => (box.hidden ? showLog(w) : (box.hidden = true))),
        button("Rotate secret", async () => {
          if (!confirm("Rotate the signing secret? The old one keeps signing for 24 hours.")) return;
          const out = await act("Secret rotated.", "POST", `${path}/rotate`);
          if (out) showSecret(`New secret of ${w.url}`, out.secret);
        }),
        button("Delete", async () => {
          if (!confirm(`Delete the endpoint ${w.url}? What is queued for it is dropped.`)) return;
          await act("Deleted.", "DELETE", path);
          load();
        }, "btn btn-small btn-danger")),
      box);
  }

  async function load() {
    try {
      const got = await api("GET", "/api/webhooks");
      logs.clear();
      replace(list, got.webhooks.length ? got.webhooks.map(item) : el("li", { className: "muted small", text: "No endpoints yet." }));
    } catch (err) {
      flash(msg, describeError(err), "error");
    }
  }

  load();
  return { load };
}
