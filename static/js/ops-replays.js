// The ops console's "Replays" panel: look a show's replay up by its room id (state, length,
// products) and delete it, with a reason kept in the moderation log. Deleting removes the
// files at once; a replay still recording cannot be deleted (the server says so).

import { api, describeError } from "./api.js";
import { el, fmtDuration, replace } from "./dom.js";

/** mountOpsReplays(root): draws the panel into `root` (a <section>). */
export function mountOpsReplays(root) {
  const roomInput = el("input", { id: "replay-room", name: "room", required: true, autocomplete: "off", attrs: { maxlength: 64 } });
  const reasonInput = el("input", { id: "replay-reason", name: "reason", attrs: { maxlength: 200 } });
  const result = el("div", { id: "replay-found", className: "small", attrs: { "aria-live": "polite" } });
  const msg = el("p", { id: "replay-msg", className: "msg", attrs: { role: "status" } });
  const form = el("form", { className: "ops-replays-form", on: { submit: (e) => { e.preventDefault(); look(); } } },
    el("div", { className: "row" },
      el("label", {}, "Room id ", roomInput),
      el("button", { type: "submit", className: "btn", text: "Look up" })));
  replace(root, el("h2", { text: "Replays" }),
    el("p", { className: "small muted", text: "A show's replay: look it up by its room id, and delete it if it must go." }),
    form, result, msg);

  async function look() {
    const roomId = roomInput.value.trim();
    replace(result);
    msg.textContent = "";
    if (!roomId) return;
    let replay;
    try {
      replay = await api("GET", `/api/rooms/${encodeURIComponent(roomId)}/replay`);
    } catch (err) {
      msg.textContent = describeError(err);
      return;
    }
    const products = replay.chapters.map((c) => c.title).filter(Boolean).join(", ");
    replace(result,
      el("p", { className: "replay-found-state", dataset: { state: replay.state } },
        `${replay.title || "Untitled show"}: ${replay.state}`,
        replay.duration_ms ? ` · ${fmtDuration(replay.duration_ms)}` : "",
        products ? ` · products: ${products}` : ""),
      replay.state === "ready" || replay.state === "none"
        ? el("div", { className: "row" },
          el("label", {}, "Reason ", reasonInput),
          el("button", { type: "button", id: "replay-delete", className: "btn btn-danger", text: "Delete replay", on: { click: () => remove(roomId) } }))
        : null);
  }

  async function remove(roomId) {
    if (!confirm("Delete this replay for good? Its video files are removed at once.")) return;
    try {
      await api("DELETE", `/api/rooms/${encodeURIComponent(roomId)}/replay`, { reason: reasonInput.value.trim() });
      msg.textContent = "Replay deleted.";
      await look();
      msg.textContent = "Replay deleted.";
    } catch (err) {
      msg.textContent = describeError(err);
    }
  }
}
