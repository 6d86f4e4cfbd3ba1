// A scheduled show's "Remind me" / "Reminder set" toggle with its subscriber count (the landing
// page's upcoming shows, the watch page of a scheduled room). Which shows *I* wait for comes from
// GET /api/me/reminders; a guest's click opens the login box and the click counts once logged in.

import { api, currentUser, describeError } from "./api.js";
import { requireLogin } from "./auth.js";
import { el, fmtCount, toast } from "./dom.js";

const mine = new Set(); // room ids the signed-in user asked to be reminded of

/** Read the signed-in user's reminders again (after a page load or a login). */
export async function loadMyReminders() {
  mine.clear();
  const me = currentUser();
  if (!me || me.expired) return;
  const data = await api("GET", "/api/me/reminders");
  for (const room of data.rooms || []) mine.add(room.id);
}

function waiting(n) {
  return n === 1 ? "1 waiting" : `${fmtCount(n)} waiting`;
}

/**
 * reminderButton(room) → { node, update(room), render() }. The click says what the viewer wants
 * ("remind me" or "cancel"); after a login it is done only if it is still needed.
 */
export function reminderButton(room, { title = room.title } = {}) {
  let count = Number(room.reminders || 0);
  const id = room.id;
  const btn = el("button", { type: "button", className: "btn btn-small remind-btn", attrs: { "data-room": id } });
  const label = el("span", { className: "muted small remind-count", attrs: { "aria-live": "polite" } });

  function render() {
    const on = mine.has(id);
    btn.textContent = on ? "Reminder set" : "Remind me";
    btn.setAttribute("aria-pressed", String(on));
    btn.setAttribute("aria-label", `${on ? "Reminder set for" : "Remind me of"} ${title || "this show"}`);
    label.textContent = waiting(count);
  }

  btn.addEventListener("click", () => {
    const want = !mine.has(id);
    requireLogin(async () => {
      if (mine.has(id) === want) {
        render();
        return;
      }
      btn.disabled = true;
      try {
        const path = `/api/rooms/${encodeURIComponent(id)}/reminder`;
        const answer = await api(want ? "POST" : "DELETE", path);
        if (answer.subscribed) mine.add(id);
        else mine.delete(id);
        count = Number(answer.reminders || 0);
        render();
        toast(answer.subscribed ? "We'll tell you when it starts." : "Reminder cancelled.");
      } catch (err) {
        toast(describeError(err), "error");
      } finally {
        btn.disabled = false;
      }
    });
  });
  render();
  return {
    node: el("span", { className: "remind" }, btn, label),
    update(next) {
      if (typeof next.reminders === "number") count = next.reminders;
      render();
    },
    render,
  };
}
