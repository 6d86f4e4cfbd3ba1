// The list of live rooms: GET /api/rooms, refreshed every few seconds.

import { api, describeError } from "./api.js";
import { mountHeader } from "./auth.js";
import { $, el, replace, fmtCount, fmtTime, fmtAgo, safeImageUrl, stateBadge } from "./dom.js";

const REFRESH_MS = 5000;

mountHeader("live");

const list = $("#rooms");
const empty = $("#empty");
const error = $("#error");
const updated = $("#updated");

function card(room) {
  const c = room.counters || {};
  const cover = el("div", { className: "room-cover" });
  const src = safeImageUrl(room.cover);
  if (src) cover.append(el("img", { src, alt: "", loading: "lazy", referrerPolicy: "no-referrer" }));
  cover.append(stateBadge(room.state), el("span", { className: "badge", text: `${fmtCount(c.online)} watching` }));
  return el("li", {},
    el("a", { className: "room-card", href: `/watch/${encodeURIComponent(room.id)}` },
      cover,
      el("div", { className: "room-body" },
        el("span", { className: "room-title", text: room.title || "Untitled room" }),
        room.notice ? el("span", { className: "muted small", text: room.notice.length > 90 ? `${room.notice.slice(0, 90)}…` : room.notice }) : null,
        el("span", { className: "stats" },
          el("span", { text: `${fmtCount(c.online)} watching` }),
          el("span", { text: `❤ ${fmtCount(c.hearts)}` }),
          room.started_at ? el("span", { text: `started ${fmtAgo(room.started_at)}` }) : null))));
}

async function refresh() {
  try {
    const data = await api("GET", "/api/rooms?state=live&limit=50", undefined, { auth: false });
    const rooms = Array.isArray(data.rooms) ? data.rooms : [];
    replace(list, rooms.map(card));
    empty.hidden = rooms.length > 0;
    error.hidden = true;
    updated.textContent = `updated ${fmtTime(Date.now())}`;
  } catch (err) {
    error.textContent = describeError(err);
    error.hidden = false;
  } finally {
    list.setAttribute("aria-busy", "false");
  }
}

refresh();
setInterval(() => {
  if (!document.hidden) refresh();
}, REFRESH_MS);
document.addEventListener("visibilitychange", () => {
  if (!document.hidden) refresh();
});
