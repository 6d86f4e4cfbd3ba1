// The landing page: what the site is, the live shows and the upcoming ones (GET /api/rooms with
// state=live and state=scheduled), refreshed every few seconds; each upcoming show has its
// "Remind me" toggle and subscriber count (reminder-button.js).

import { api, describeError } from "./api.js";
import { mountHeader } from "./auth.js";
import { loadMyReminders, reminderButton } from "./reminder-button.js";
import { $, el, replace, fmtCount, fmtDuration, fmtTime, fmtAgo, safeImageUrl, stateBadge } from "./dom.js";

const REFRESH_MS = 5000;

// a login asked for by "Remind me" resumes here (the button's click then counts); any other
// login or logout reads my reminders again
mountHeader("live", { resume: () => loadMyReminders(), onChange: () => loadMyReminders().then(refresh, refresh) });

const list = $("#rooms");
const empty = $("#empty");
const error = $("#error");
const updated = $("#updated");
const upcoming = $("#upcoming");
const upcomingEmpty = $("#upcoming-empty");

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

/** "Sat, Dec 6, 20:00 · in 3 h": the day and time, and how soon for a viewer deciding now. */
function showTime(ms) {
  const when = new Date(ms).toLocaleString([], { weekday: "short", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
  const wait = ms - Date.now();
  return wait > 0 ? `${when} · in ${fmtDuration(wait)}` : `${when} · starting soon`;
}

const remindButtons = new Map(); // room id → its button, kept across refreshes (focus stays)

function remindButton(room) {
  let button = remindButtons.get(room.id);
  if (!button) {
    button = reminderButton(room);
    remindButtons.set(room.id, button);
  }
  button.update(room);
  return button.node;
}

function upcomingItem(room) {
  return el("li", { className: "upcoming-item" },
    el("time", { className: "upcoming-time", text: showTime(room.scheduled_at), attrs: { datetime: new Date(room.scheduled_at).toISOString() } }),
    el("a", { className: "upcoming-title", href: `/watch/${encodeURIComponent(room.id)}`, text: room.title || "Untitled show" }),
    remindButton(room));
}

async function rooms(state) {
  const data = await api("GET", `/api/rooms?state=${state}&limit=50`, undefined, { auth: false });
  return Array.isArray(data.rooms) ? data.rooms : [];
}

async function refresh() {
  try {
    const [live, later] = await Promise.all([rooms("live"), rooms("scheduled")]);
    replace(list, live.map(card));
    empty.hidden = live.length > 0;
    replace(upcoming, later.map(upcomingItem));
    upcomingEmpty.hidden = later.length > 0;
    error.hidden = true;
    updated.textContent = `updated ${fmtTime(Date.now())}`;
  } catch (err) {
    error.textContent = describeError(err);
    error.hidden = false;
  } finally {
    list.setAttribute("aria-busy", "false");
    upcoming.setAttribute("aria-busy", "false");
  }
}

loadMyReminders().catch(() => {}).then(refresh);
setInterval(() => {
  if (!document.hidden) refresh();
}, REFRESH_MS);
document.addEventListener("visibilitychange", () => {
  if (!document.hidden) refresh();
});
