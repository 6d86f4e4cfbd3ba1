// Shared rendering of one room: title/state, pinned announcement, counters, chat list with
// per-message actions (report; delete / mute / ban for moderators), moderation notices.
// Used by the viewer page and the creator studio.

import { describeError } from "./api.js";
import { append, el, replace, setText, fmtTime, fmtCount, stateBadge } from "./dom.js";

const MAX_CHAT = 300;
const MUTE_SECONDS = 600;
const REASON_MAX = 200;

/**
 * askReason({title, label, send, required}) -> the trimmed reason, "" or null (cancelled).
 * A real modal dialog rather than window.prompt: labelled, keyboard-first (Escape and Cancel
 * close it), styled with the page, and it keeps focus inside while open.
 */
export function askReason({ title, label, send = "Send", required = true }) {
  return new Promise((resolve) => {
    const field = el("textarea", { name: "reason", rows: 3, maxLength: REASON_MAX, required, autocomplete: "off" });
    const heading = el("h2", { id: "reason-title", text: title });
    const cancel = el("button", { type: "button", className: "btn", text: "Cancel" });
    const form = el("form", { method: "dialog" },
      heading,
      el("label", {}, label, field),
      el("div", { className: "row" }, cancel, el("button", { type: "submit", className: "btn btn-primary", text: send })));
    const dialog = el("dialog", { className: "reason-dialog", attrs: { "aria-labelledby": "reason-title" } }, form);
    let done = false;
    // Settled from the action itself, not from the "close" event: a page in a background tab
    // may not get that event until it is shown again.
    const finish = (answer) => {
      if (done) return;
      done = true;
      if (dialog.open) dialog.close();
      dialog.remove();
      resolve(answer);
    };
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const text = field.value.trim().slice(0, REASON_MAX);
      if (required && !text) {
        field.focus();
        return;
      }
      finish(text);
    });
    cancel.addEventListener("click", () => finish(null));
    dialog.addEventListener("cancel", () => finish(null)); // Escape
    dialog.addEventListener("close", () => finish(null));
    document.body.appendChild(dialog);
    dialog.showModal();
    field.focus();
  });
}

export class RoomView {
  /**
   * els: {title, state, notice, announcement, counters: {online, hearts, unique, peak, chat},
   *       chatList, chatScroll, joins, fans}
   * notify(text, kind): show a short message to the user.
   * onChange(view, what): room / me / counters changed ("room" | "me" | "counters" | "moderation").
   */
  constructor(socket, els, { notify = () => {}, onChange = () => {} } = {}) {
    this.socket = socket;
    this.els = els;
    this.notify = notify;
    this.onChange = onChange;
    this.room = null;
    this.counters = {};
    this.announcement = null;
    this.me = null; // {id, name, role} or null (guest)
    this.moderator = false;
    this.mutedUntil = null;
    this.messages = new Map(); // seq -> li
    this.names = new Map(); // user id -> display name
    this.heartsPending = 0; // local clicks not yet in a counters event
  }

  // ---- socket plumbing ------------------------------------------------------------------
  handlers() {
    return {
      welcome: (frame) => {
        this.me = frame.user || null;
      },
      snapshot: (snap) => this.applySnapshot(snap),
      events: (list) => this.applyEvents(list),
    };
  }

  // ---- snapshot -------------------------------------------------------------------------
  applySnapshot(snap) {
    if (!snap || typeof snap !== "object") return;
    this.room = { ...(snap.room || {}) };
    this.announcement = snap.announcement && snap.announcement.text ? snap.announcement : null;
    this.counters = { ...(snap.counters || {}) };
    this.heartsShown = 0;
    const me = snap.me || {};
    this.moderator = !!me.moderator;
    this.mutedUntil = me.muted_until || null;
    this.renderRoom();
    this.renderAnnouncement();
    this.renderCounters();
    this.renderFans(snap.top_fans);
    // Rebuild the chat from the snapshot (fresh join, or recovery beyond retention).
    this.messages.clear();
    replace(this.els.chatList);
    for (const ev of snap.recent_chat || []) this.addChat(ev, { scroll: false });
    this.trimChat();
    this.scrollToEnd(true);
    this.onChange(this, "room");
    this.onChange(this, "me");
  }

  // ---- events ---------------------------------------------------------------------------
  applyEvents(list) {
    const stick = this.nearEnd();
    for (const ev of list) {
      try {
        this.applyEvent(ev);
      } catch (err) {
        console.error("room event", ev, err);
      }
    }
    this.trimChat();
    if (stick) this.scrollToEnd(true);
  }

  applyEvent(ev) {
    const d = ev.data || {};
    switch (ev.type) {
      case "chat":
        this.addChat(ev, { scroll: false });
        break;
      case "chat_deleted":
        this.removeChat(d.target_seq);
        break;
      case "counters":
        this.counters = { ...this.counters, ...d };
        this.heartsPending = 0;
        this.renderCounters();
        this.onChange(this, "counters");
        break;
      case "joins":
        this.renderJoins(d);
        break;
      case "room_state":
        if (this.room) {
          this.room.state = d.state;
          if ("started_at" in d) this.room.started_at = d.started_at;
          if ("ended_at" in d) this.room.ended_at = d.ended_at;
        }
        this.renderRoom();
        this.system(d.state === "live" ? "The live has started." : d.state === "ended" ? "The live has ended." : `The room is now ${d.state}.`);
        this.onChange(this, "room");
        break;
      case "room_updated":
        if (this.room) Object.assign(this.room, d);
        this.renderRoom();
        this.onChange(this, "room");
        break;
      case "announcement":
        this.announcement = d.text ? d : null;
        this.renderAnnouncement();
        this.system(d.text ? "New pinned announcement." : "The announcement was removed.");
        break;
      case "slow_mode":
        if (this.room) this.room.slow_mode_s = d.seconds;
        this.system(d.seconds > 0 ? `Slow mode on: one message every ${d.seconds} s.` : "Slow mode off.");
        this.onChange(this, "room");
        break;
      case "user_muted":
        this.system(`${this.nameOf(d.user_id)} was muted until ${fmtTime(d.until)}${d.reason ? ` (${d.reason})` : ""}.`, "mod");
        if (this.me && d.user_id === this.me.id) {
          this.mutedUntil = d.until;
          this.onChange(this, "me");
        }
        this.onChange(this, "moderation");
        break;
      case "user_unmuted":
        this.system(`${this.nameOf(d.user_id)} was unmuted.`, "mod");
        if (this.me && d.user_id === this.me.id) {
          this.mutedUntil = null;
          this.onChange(this, "me");
        }
        this.onChange(this, "moderation");
        break;
      case "user_banned":
        this.system(`${this.nameOf(d.user_id)} was banned${d.reason ? ` (${d.reason})` : ""}.`, "mod");
        this.onChange(this, "moderation");
        break;
      case "user_unbanned":
        this.system(`${this.nameOf(d.user_id)} was unbanned.`, "mod");
        this.onChange(this, "moderation");
        break;
      case "keywords_updated":
        if (this.moderator) this.system(`Keyword filter updated: ${d.count} words, ${d.action}.`, "mod");
        this.onChange(this, "moderation");
        break;
      default:
        break; // events of later features (shelf, red packets) are ignored here
    }
  }

  // ---- rendering ------------------------------------------------------------------------
  renderRoom() {
    const r = this.room || {};
    setText(this.els.title, r.title || "Untitled room");
    if (this.els.state) replace(this.els.state, stateBadge(r.state));
    if (this.els.notice) {
      setText(this.els.notice, r.notice || "");
      this.els.notice.hidden = !r.notice;
    }
    if (r.title) document.title = `${r.title} · live`;
  }

  renderAnnouncement() {
    const box = this.els.announcement;
    if (!box) return;
    const a = this.announcement;
    box.hidden = !a;
    if (a) {
      replace(box,
        el("span", { className: "badge pin", text: "pinned" }),
        el("span", { className: "announcement-text", text: a.text }),
        a.ts ? el("time", { className: "muted small", text: fmtTime(a.ts) }) : null);
    } else {
      replace(box);
    }
  }

  renderCounters() {
    const c = this.counters;
    const els = this.els.counters || {};
    for (const key of ["online", "hearts", "unique", "peak", "chat"]) {
      if (!els[key]) continue;
      let value = Number(c[key]) || 0;
      if (key === "hearts") {
        // Hearts only grow: show our own clicks at once and never step back while they travel.
        value = Math.max(value + this.heartsPending, this.heartsShown || 0);
        this.heartsShown = value;
      }
      setText(els[key], fmtCount(value));
    }
  }

  renderJoins(d) {
    const box = this.els.joins;
    if (!box || !d || !d.count) return;
    const names = (d.names || []).map(String);
    let text;
    if (!names.length) text = d.count === 1 ? "Someone joined" : `${d.count} people joined`;
    else {
      const rest = d.count - names.length;
      text = `${names.join(", ")}${rest > 0 ? ` and ${rest} more` : ""} joined`;
    }
    setText(box, text);
    box.classList.remove("fade");
    void box.offsetWidth; // restart the animation
    box.classList.add("fade");
  }

  renderFans(fans) {
    const box = this.els.fans;
    if (!box || !Array.isArray(fans)) return;
    replace(box, fans.length
      ? fans.slice(0, 10).map((f, i) => el("li", {},
          el("span", { className: "rank", text: `${i + 1}` }),
          el("span", { className: "fan-name", text: f.name || f.user_id }),
          el("span", { className: "muted", text: fmtCount(f.score) })))
      : el("li", { className: "muted", text: "No fans yet — send a heart!" }));
  }

  nameOf(userId) {
    return this.names.get(userId) || String(userId);
  }

  // ---- chat -----------------------------------------------------------------------------
  addChat(ev, { scroll = true } = {}) {
    const d = ev.data || {};
    const user = d.user || {};
    if (user.id && user.name) this.names.set(user.id, user.name);
    if (typeof ev.seq === "number" && this.messages.has(ev.seq)) return;
    const li = this.renderMessage(ev);
    if (typeof ev.seq === "number") this.messages.set(ev.seq, li);
    this.els.chatList.appendChild(li);
    if (scroll) {
      this.trimChat();
      this.scrollToEnd(false);
    }
  }

  renderMessage(ev) {
    const d = ev.data || {};
    const user = d.user || {};
    const isHost = this.room && user.id === this.room.creator_id;
    const mine = this.me && user.id === this.me.id;
    const li = el("li", { className: `msg${mine ? " mine" : ""}`, dataset: { seq: ev.seq ?? "", user: user.id ?? "" } });
    const name = el("span", { className: "msg-name", text: user.name || user.id || "?", title: user.id ? `user id: ${user.id}` : "" });
    append(li, [
      el("time", { className: "msg-time", text: fmtTime(ev.ts) }),
      name,
      isHost ? el("span", { className: "badge role-creator", text: "host" }) : null,
      !isHost && user.fan_club ? el("span", { className: "badge fan-club", text: "club", title: "Fan club member" }) : null,
      !isHost && user.level > 0 ? el("span", { className: "badge fan-level", text: `Lv ${user.level}`, title: "Fan level (intimacy with the host)" }) : null,
      !isHost && user.role === "ops" ? el("span", { className: "badge role-ops", text: "staff" }) : null,
      el("span", { className: "msg-text", text: d.text ?? "" }),
    ]);
    if (d.masked && this.moderator) li.append(el("span", { className: "badge badge-warn", text: "filtered", title: "Words were masked by the keyword filter" }));
    const actions = this.messageActions(ev, user, { mine, isHost });
    if (actions.length) li.append(el("span", { className: "msg-actions" }, actions));
    return li;
  }

  messageActions(ev, user, { mine, isHost }) {
    const actions = [];
    const seq = ev.seq;
    if (typeof seq !== "number") return actions;
    if (this.me && !mine) {
      actions.push(el("button", { type: "button", className: "link", text: "report", title: "Report this message", on: { click: () => this.report(seq) } }));
    }
    if (this.moderator) {
      actions.push(el("button", { type: "button", className: "link danger", text: "delete", title: "Delete this message", on: { click: () => this.del(seq) } }));
      if (!mine && !isHost && user.id) {
        actions.push(el("button", { type: "button", className: "link", text: "mute 10 min", title: `Mute ${user.name || user.id} for 10 minutes`, on: { click: () => this.mute(user) } }));
        actions.push(el("button", { type: "button", className: "link danger", text: "ban", title: `Ban ${user.name || user.id} from this room`, on: { click: () => this.ban(user) } }));
      }
    }
    return actions;
  }

  removeChat(seq) {
    const li = this.messages.get(seq);
    if (li) {
      li.remove();
      this.messages.delete(seq);
    }
  }

  system(text, kind = "info") {
    const li = el("li", { className: `sys sys-${kind}` }, el("span", { text }));
    const stick = this.nearEnd();
    this.els.chatList.appendChild(li);
    this.trimChat();
    if (stick) this.scrollToEnd(true);
  }

  trimChat() {
    const list = this.els.chatList;
    while (list.childElementCount > MAX_CHAT) {
      const first = list.firstElementChild;
      const seq = Number(first.dataset.seq);
      if (first.dataset.seq && this.messages.get(seq) === first) this.messages.delete(seq);
      first.remove();
    }
  }

  scroller() {
    return this.els.chatScroll || this.els.chatList;
  }

  nearEnd() {
    const s = this.scroller();
    return s.scrollHeight - s.scrollTop - s.clientHeight < 80;
  }

  scrollToEnd(force) {
    const s = this.scroller();
    if (force || this.nearEnd()) s.scrollTop = s.scrollHeight;
  }

  // ---- actions --------------------------------------------------------------------------
  async report(seq) {
    const text = await askReason({ title: "Report this message", label: `Why? (up to ${REASON_MAX} characters)`, send: "Send report" });
    if (!text) return;
    try {
      await this.socket.request("report", { seq, reason: text });
      this.notify("Thank you — the report was sent.", "ok");
    } catch (err) {
      this.notify(describeError(err), "error");
    }
  }

  async del(seq) {
    try {
      await this.socket.request("delete", { seq });
      this.notify("Message deleted.", "ok");
    } catch (err) {
      this.notify(describeError(err), "error");
    }
  }

  async mute(user) {
    try {
      const data = await this.socket.request("mute", { user_id: user.id, duration_s: MUTE_SECONDS, reason: "muted by a moderator" });
      this.notify(`${user.name || user.id} is muted until ${fmtTime(data.until)}.`, "ok");
    } catch (err) {
      this.notify(describeError(err), "error");
    }
  }

  async ban(user) {
    const reason = await askReason({ title: `Ban ${user.name || user.id} from this room?`, label: "Reason (optional, seen by moderators)", send: "Ban", required: false });
    if (reason === null) return;
    const fields = { user_id: user.id };
    if (reason) fields.reason = reason;
    try {
      await this.socket.request("ban", fields);
      this.notify(`${user.name || user.id} is banned.`, "ok");
    } catch (err) {
      this.notify(describeError(err), "error");
    }
  }
}
