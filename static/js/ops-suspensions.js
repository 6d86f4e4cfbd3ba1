// The ops console's platform suspensions: the ones in force with a "Lift" button, and the form
// that suspends a user everywhere (reason, 1 h / 24 h / 7 d / permanent). `suspend` is also
// what the ban dialog calls when ops choose "whole platform".

import { api, describeError } from "./api.js";
import { el, replace, flash, fmtDateTime, toast } from "./dom.js";

const DURATIONS = [["1h", "1 hour"], ["24h", "24 hours"], ["7d", "7 days"], ["permanent", "Permanent"]];

// the duration choices, for a <select> (the panel's form and the ban dialog's)
export function durationOptions() {
  return DURATIONS.map(([value, label]) => el("option", { value, text: label }));
}

export async function suspend(userId, reason, duration) {
  return api("POST", "/api/ops/suspensions", { user_id: userId, reason, duration });
}

export function mountSuspensions(root, { onChange = () => {} } = {}) {
  const list = root.querySelector("#suspensions");
  const empty = root.querySelector("#suspensions-empty");
  const form = root.querySelector("#suspend-form");
  const msg = root.querySelector("#suspend-msg");
  replace(form.elements.duration, ...durationOptions());

  async function lift(s) {
    try {
      await api("DELETE", `/api/ops/suspensions/${encodeURIComponent(s.user_id)}`, { reason: "lifted from the ops console" });
      toast(`${s.user_id}'s suspension is lifted.`, "ok");
      await refresh();
      onChange();
    } catch (err) {
      toast(describeError(err), "error");
    }
  }

  function row(s) {
    return el("tr", { dataset: { user: s.user_id } },
      el("td", { className: "mono", text: s.user_id }),
      el("td", { className: "wrap", text: s.reason }),
      el("td", { text: s.by }),
      el("td", { text: fmtDateTime(s.at) }),
      el("td", { text: s.until ? fmtDateTime(s.until) : "until lifted" }),
      el("td", {}, el("button", { type: "button", className: "btn btn-small suspension-lift", text: "Lift",
        attrs: { "aria-label": `Lift ${s.user_id}'s suspension` }, on: { click: () => lift(s) } })));
  }

  async function refresh() {
    try {
      const data = await api("GET", "/api/ops/suspensions");
      const items = Array.isArray(data.suspensions) ? data.suspensions : [];
      replace(list, items.map(row));
      empty.hidden = items.length > 0;
    } catch (err) {
      flash(msg, describeError(err), "error", 10000);
    }
  }

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = form.elements;
    const userId = f.user_id.value.trim();
    try {
      await suspend(userId, f.reason.value.trim(), f.duration.value);
      form.reset();
      flash(msg, `${userId} is suspended from the platform.`, "ok");
      await refresh();
      onChange();
    } catch (err) {
      flash(msg, describeError(err), "error", 10000);
    }
  });
  return { refresh };
}
