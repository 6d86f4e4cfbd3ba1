// The studio's gifts: two live counters (gifts received, the creator's gift income) and a feed
// of the latest gifts. The counters are read from the room's gift figures (every few seconds
// while a gift arrives, so a burst costs one read); the feed follows the room's `gift` events,
// one line per sender and gift updated with its combo.

import { api } from "./api.js";
import { $, el, fmtTime } from "./dom.js";
import { fmtMoney } from "./money.js";

const FEED_MAX = 30;
const READ_GAP_MS = 3000;

/** mountStudioGifts() -> {select(room), events(list)} */
export function mountStudioGifts() {
  const count = $("#c-gifts");
  const income = $("#c-gift-income");
  const feed = $("#gift-feed");
  const empty = $("#gift-feed-empty");
  let room = null;
  let readTimer = null;
  const lines = new Map(); // "from|gift" -> {li, combo}

  async function read() {
    readTimer = null;
    if (!room) return;
    const id = room.id;
    try {
      const figs = await api("GET", `/api/rooms/${encodeURIComponent(id)}/gifts`);
      if (!room || room.id !== id) return;
      count.textContent = String(figs.gifts);
      income.textContent = fmtMoney(figs.creator, figs.currency);
    } catch {
      /* keep the last figures */
    }
  }

  function readSoon() {
    if (readTimer === null) readTimer = setTimeout(read, READ_GAP_MS);
  }

  function line(ev) {
    const d = ev.data;
    const key = `${d.from}|${d.gift_id}`;
    let entry = lines.get(key);
    if (!entry) {
      const li = el("li", { className: "gift-feed-line" });
      entry = { li, combo: 0 };
      lines.set(key, entry);
    }
    if (Number(d.combo) < entry.combo) return;
    entry.combo = Number(d.combo) || 1;
    const gift = d.gift || {};
    entry.li.replaceChildren(
      el("span", { className: "muted small", text: `${fmtTime(ev.ts)} ` }),
      el("b", { text: String(d.name || d.from) }),
      el("span", { text: ` sent ${gift.name || d.gift_id} ` }),
      el("b", { className: "gift-combo", text: `×${entry.combo}` }));
    feed.prepend(entry.li);
    while (feed.children.length > FEED_MAX) {
      const last = feed.lastElementChild;
      for (const [k, v] of lines) if (v.li === last) lines.delete(k);
      last.remove();
    }
    empty.hidden = true;
  }

  return {
    select(next) {
      room = next;
      lines.clear();
      feed.replaceChildren();
      empty.hidden = false;
      count.textContent = "0";
      income.textContent = "—";
      read();
    },
    events(list) {
      let any = false;
      for (const ev of list) {
        if (ev.type === "gift" && ev.data) {
          line(ev);
          any = true;
        }
      }
      if (any) readSoon();
    },
  };
}
