// The studio's reminder count: while the selected room is scheduled, how many viewers asked to be
// reminded when it goes live (the room's `reminders`), read again every 15 s.

import { api } from "./api.js";
import { fmtCount } from "./dom.js";

const REFRESH_MS = 15000;

export function mountStudioReminders({ node }) {
  let roomId = null;
  let timer = null;

  function render(n) {
    node.textContent = n === 1 ? "1 viewer waiting for a reminder" : `${fmtCount(n)} viewers waiting for a reminder`;
    node.hidden = false;
  }

  async function reload() {
    if (!roomId || document.hidden) return;
    const id = roomId;
    const room = await api("GET", `/api/rooms/${encodeURIComponent(id)}`).catch(() => null);
    if (room && id === roomId && room.state === "scheduled") render(Number(room.reminders || 0));
  }

  return {
    /** The room the studio shows now (its header was drawn). */
    show(room) {
      clearInterval(timer);
      timer = null;
      if (!room || room.state !== "scheduled") {
        roomId = null;
        node.hidden = true;
        return;
      }
      const changed = roomId !== room.id;
      roomId = room.id;
      if (typeof room.reminders === "number") render(room.reminders);
      else if (changed) reload();
      timer = setInterval(reload, REFRESH_MS);
    },
  };
}
