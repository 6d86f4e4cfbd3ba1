// Show reminders on the watch page: the "Remind me" toggle while the room is scheduled, and the
// `show_starting` notice (a show I asked to be reminded of went live, heard on this room's
// socket whatever room it is) as a toast with a link to it.

import { api } from "./api.js";
import { $, el } from "./dom.js";
import { loadMyReminders, reminderButton } from "./reminder-button.js";

const NOTICE_MS = 15000;

export function mountWatchReminders({ root, roomId }) {
  let button = null;
  let shown = "";

  async function scheduled() {
    const room = await api("GET", `/api/rooms/${encodeURIComponent(roomId)}`, undefined, { auth: false });
    if (room.state !== "scheduled") return;
    await loadMyReminders().catch(() => {});
    button = reminderButton(room);
    root.replaceChildren(el("span", { className: "muted small", text: "Not live yet." }), button.node);
    root.hidden = false;
  }

  function follow(state) {
    if (state === shown) return;
    shown = state;
    if (state === "scheduled") scheduled().catch(() => {});
    else {
      root.hidden = true;
      root.replaceChildren();
      button = null;
    }
  }

  function starting(data) {
    let box = $("#show-starting");
    if (!box) {
      box = el("div", { id: "show-starting", className: "show-starting", attrs: { role: "status", "aria-live": "polite" } });
      document.body.append(box);
    }
    const link = el("a", { className: "btn btn-small btn-primary", href: `/watch/${encodeURIComponent(data.room_id)}`, text: "Watch" });
    const close = el("button", { type: "button", className: "btn btn-small", text: "Dismiss" });
    close.addEventListener("click", () => { box.hidden = true; });
    box.replaceChildren(el("span", { className: "grow", text: `${data.title || "A show"} is live now —` }), link, close);
    box.hidden = false;
    clearTimeout(box._timer);
    box._timer = setTimeout(() => { box.hidden = true; }, NOTICE_MS);
  }

  return {
    snapshot(snap) {
      follow((snap.room && snap.room.state) || "");
    },
    events(list) {
      for (const ev of list) {
        if (ev.type === "show_starting" && ev.data && ev.data.room_id !== roomId) starting(ev.data);
        else if (ev.type === "room_state" && ev.data) follow(ev.data.state);
      }
    },
    loggedIn() {
      if (button) loadMyReminders().then(() => button && button.render()).catch(() => {});
    },
  };
}
