// What takes the player's place when there is nothing left to watch: the end screen of a show
// that ended (how long it lasted, follow the host, other shows live now) and the page of a
// show that does not exist. Both are drawn once and fetch at most the list of live rooms once,
// so a finished page stays quiet.

import { api } from "./api.js";
import { el, fmtDuration, replace } from "./dom.js";

const OTHER_ROOMS = 6;

/** "1 h 5 min" from the room's started_at → ended_at, or "" when either is missing. */
export function showLength(room) {
  const start = Number(room && room.started_at);
  const end = Number(room && room.ended_at);
  return start > 0 && end >= start ? fmtDuration(end - start) : "";
}

/**
 * mountEndScreen({root, roomId, follow}) → {ended(room), notFound()}.
 * follow: {followButton(): a Follow button the fans module keeps current} or null.
 */
export function mountEndScreen({ root, roomId, follow }) {
  let shown = null; // "ended" | "missing"

  function show(kind, ...children) {
    shown = kind;
    root.dataset.kind = kind;
    replace(root, el("div", { className: "end-inner" }, ...children));
    root.hidden = false;
  }

  function ended(room) {
    if (shown) return;
    const length = showLength(room);
    const others = el("ul", { className: "end-rooms", attrs: { "aria-label": "Live now" } });
    const othersNote = el("p", { className: "end-note small", text: "Looking for other shows live now…" });
    show("ended",
      el("h2", { className: "end-title", text: "This show has ended" }),
      el("p", { className: "end-length", text: length ? `It lasted ${length}.` : "Thank you for watching." }),
      follow ? el("div", { className: "row end-follow" }, follow.followButton()) : null,
      el("h3", { className: "end-subtitle", text: "Live now" }),
      othersNote, others,
      el("p", { className: "small" }, el("a", { className: "end-home", href: "/", text: "All live shows" })));
    listOthers(others, othersNote);
  }

  async function listOthers(list, note) {
    try {
      const data = await api("GET", `/api/rooms?state=live&limit=${OTHER_ROOMS + 1}`, undefined, { auth: false });
      const rooms = (Array.isArray(data.rooms) ? data.rooms : []).filter((r) => r.id !== roomId).slice(0, OTHER_ROOMS);
      replace(list, ...rooms.map((r) => el("li", {},
        el("a", { className: "end-room", href: `/watch/${encodeURIComponent(r.id)}`, text: r.title || "Untitled show" }))));
      note.textContent = rooms.length ? "" : "No other show is live right now.";
      note.hidden = rooms.length > 0;
    } catch {
      note.textContent = "The other shows could not be listed.";
    }
  }

  function notFound() {
    if (shown === "missing") return;
    show("missing",
      el("h2", { className: "end-title", text: "This show does not exist" }),
      el("p", { className: "end-note", text: "The link may be mistyped, or the show was removed." }),
      el("p", {}, el("a", { className: "btn btn-primary end-home", href: "/", text: "See the live shows" })));
  }

  return { ended, notFound };
}
