// The viewer's side of red packets: a banner for the room's open packet with its countdown, a
// Grab button (over the websocket), the result, and the packet's record (who grabbed how much).
// Packets are not in the room snapshot (they live in the money slot): the page reads them over
// HTTP after each snapshot and keeps them current from the room events.
// "X grabbed" notices are sampled (one per `money.grab_sample_every` grabs), so the shares left
// come from the freshest source: the fewest any source reported (grab replies, notices, reads).
// Once a notice says grabs are going on, the packet is read again while it is open and its
// banner is seen: at most once per REREAD_MS per packet, less often while reads find nothing
// new (the notices in between are not sent), and not at all once a read REREAD_MAX_MS after the
// last change found none (the next notice starts again). Every viewer hears the same notice, so
// each waits a little longer at random (REREAD_JITTER_MS) rather than all reading at once.

import { api, describeError } from "./api.js";
import { requireLogin } from "./auth.js";
import { $, el, replace, fmtTime } from "./dom.js";
import { fmtClock, fmtMoney } from "./shelf.js";

const TICK_MS = 250;
const REREAD_MS = 2000;
const REREAD_MAX_MS = 30000;
const REREAD_JITTER_MS = 1000;
const CODES = {
  not_open: "Not open yet — wait for the countdown.",
  expired: "This red packet has expired.",
  none_left: "Too late: every share has been grabbed.",
  already_grabbed: "You already grabbed this red packet.",
  not_eligible: "This red packet is not for you: it needs its keyword in the chat, a follow or the fan club.",
  already_member: "You are already in the fan club.",
  insufficient_funds: "Not enough money in the wallet.",
};

/**
 * A refusal as text. packet: the packet grabbed, if known; a keyword packet's refusal names the
 * keyword to send (the error's own `keyword` first, else the packet's).
 */
export function describePacketError(err, packet = null) {
  if (err && err.code === "not_eligible") {
    const keyword = (err.details && err.details.keyword) || (packet && packet.condition === "keyword" && packet.keyword);
    if (keyword) return `Say “${keyword}” in the chat first, then grab.`;
  }
  return CODES[err && err.code] || describeError(err);
}

/** The luckiest grab is known only once nobody else can beat it: when the packet finished. */
export function luckiestOf(packet) {
  return packet && packet.state === "finished" && packet.luckiest ? packet.luckiest : null;
}

/** The shares left as the freshest of two reports: shares are only ever taken, so the fewer. */
export function freshestLeft(known, reported) {
  const r = Number(reported);
  if (reported === null || reported === undefined || !Number.isFinite(r)) return known;
  return known === null || known === undefined ? r : Math.min(Number(known), r);
}

/**
 * mountWatchPackets({socket, roomId, loggedIn(), openLogin(), notify(text, kind), onGrab()})
 * onGrab(): this viewer grabbed a share (intimacy and the wallet moved).
 */
export function mountWatchPackets({ socket, roomId, loggedIn, openLogin, notify, onGrab = () => {} }) {
  const box = $("#rp-banner");
  const packets = new Map(); // id -> packet
  const mine = new Map(); // id -> amount grabbed by me
  let offset = 0; // server clock - local clock
  let shown = null;
  const ui = {
    title: el("strong", { className: "rp-title" }),
    info: el("span", { className: "rp-info small" }),
    clock: el("span", { className: "rp-clock" }),
    cond: el("span", { className: "rp-cond small" }),
    btn: el("button", { type: "button", className: "btn btn-primary rp-grab", text: "Grab", on: { click: () => grab() } }),
    result: el("p", { className: "rp-result", attrs: { role: "status" } }),
    recordBtn: el("button", { type: "button", className: "btn btn-small", text: "Record", on: { click: () => loadRecord() } }),
    record: el("ol", { className: "rp-record small" }),
    grabbed: el("p", { className: "rp-grabbed muted small" }),
  };
  replace(box, el("div", { className: "row spread" }, ui.title, ui.clock),
    el("div", { className: "row" }, ui.info, ui.cond),
    el("div", { className: "row" }, ui.btn, ui.recordBtn), ui.result, ui.grabbed, ui.record);

  const now = () => Date.now() + offset;
  const rereads = new Map(); // id -> {at: ms of the last read, gap: ms until the next, timer}

  /** A report of the shares left: kept only when fresher (fewer) than what is known. */
  function noteLeft(p, left) {
    const before = p.shares_left;
    p.shares_left = freshestLeft(before, left);
    return p.shares_left !== before;
  }

  function seen() {
    return !box.hidden && !document.hidden;
  }

  /** Read the packet again: soon when grabs were just seen (`fresh`), else after the gap. */
  function rereadSoon(id, fresh = true) {
    const p = packets.get(id);
    if (!p || p.state === "finished" || !shown || shown.id !== id) return;
    const r = rereads.get(id) || { at: 0, gap: REREAD_MS, timer: null };
    rereads.set(id, r);
    if (fresh) r.gap = REREAD_MS;
    const due = r.at + r.gap;
    if (r.timer && !fresh) return;
    clearTimeout(r.timer);
    r.timer = setTimeout(() => reread(id), Math.max(0, due - Date.now()) + Math.random() * REREAD_JITTER_MS);
  }

  async function reread(id) {
    const r = rereads.get(id);
    r.timer = null;
    const p = packets.get(id);
    if (!p || p.state === "finished" || !shown || shown.id !== id) return;
    if (!seen()) return; // read again when the banner is seen (visibilitychange)
    r.at = Date.now();
    let moved = false;
    try {
      const full = await api("GET", `/api/red-packets/${encodeURIComponent(id)}`);
      moved = noteLeft(p, full.shares_left);
      if (full.state === "finished") Object.assign(p, { state: "finished", reason: full.reason, luckiest: full.luckiest });
      if (full.mine !== null && full.mine !== undefined) mine.set(id, full.mine);
    } catch {
      return; // the next notice asks again
    }
    render();
    if (!moved && r.gap >= REREAD_MAX_MS) return; // quiet for long: wait for the next notice
    if (!moved) r.gap = Math.min(r.gap * 2, REREAD_MAX_MS); // quiet: look less often
    if (now() < p.expires_at) rereadSoon(id, moved);
  }

  document.addEventListener("visibilitychange", () => {
    if (shown && seen() && shown.state !== "finished") rereadSoon(shown.id);
  });

  function current() {
    const list = [...packets.values()].sort((a, b) => b.created_at - a.created_at);
    return list.find((p) => p.state !== "finished") || (shown && packets.get(shown.id)) || null;
  }

  function render() {
    const p = current();
    box.hidden = !p;
    if (!p) return;
    if (!shown || shown.id !== p.id) {
      ui.result.textContent = "";
      replace(ui.record);
      ui.grabbed.textContent = "";
    }
    shown = p;
    box.dataset.packet = p.id;
    ui.title.textContent = `${p.creator_name || "The host"}'s red packet`;
    ui.info.textContent = `${fmtMoney(p.total)} · ${p.shares} shares (${p.split}) · ${p.shares_left} left`;
    ui.cond.textContent = p.condition === "keyword" ? `Say “${p.keyword}” in the chat to take part`
      : p.condition === "followers" ? "For followers" : p.condition === "fan_club" ? "For fan-club members" : "";
    tick();
  }

  function tick() {
    const p = shown;
    if (!p) return;
    const t = now();
    let state = "open";
    if (p.state === "finished") state = "finished";
    else if (t < p.open_at) state = "waiting";
    else if (t >= p.expires_at) state = "finished";
    box.dataset.state = state;
    if (state === "waiting") ui.clock.textContent = `opens in ${fmtClock(p.open_at - t)}`;
    else if (state === "open") ui.clock.textContent = `open · ends ${fmtTime(p.expires_at)}`;
    else ui.clock.textContent = p.reason === "expired" ? "expired" : "all grabbed";
    const got = mine.get(p.id);
    ui.btn.disabled = state !== "open" || got !== undefined;
    ui.btn.textContent = got !== undefined ? `You got ${fmtMoney(got)}` : "Grab";
  }
  setInterval(tick, TICK_MS);

  async function grab() {
    const p = shown;
    if (!p) return;
    if (!loggedIn()) return requireLogin(grab);
    ui.btn.disabled = true;
    try {
      const res = socket.open
        ? await socket.request("grab", { packet_id: p.id })
        : await api("POST", `/api/red-packets/${encodeURIComponent(p.id)}/grab`, {});
      mine.set(p.id, res.amount);
      ui.result.textContent = `You grabbed ${fmtMoney(res.amount)}!`;
      ui.result.dataset.kind = "ok";
      noteLeft(packets.get(p.id) || p, res.shares_left);
      onGrab();
    } catch (err) {
      if (err && err.code === "already_grabbed" && err.details && err.details.amount !== undefined) {
        mine.set(p.id, Number(err.details.amount));
      }
      ui.result.textContent = describePacketError(err, p);
      ui.result.dataset.kind = "error";
    }
    render();
  }

  async function loadRecord() {
    const p = shown;
    if (!p) return;
    try {
      const full = await api("GET", `/api/red-packets/${encodeURIComponent(p.id)}`);
      packets.set(p.id, { ...p, ...full, shares_left: freshestLeft(p.shares_left, full.shares_left) });
      const luckiest = luckiestOf(full);
      if (full.mine !== null && full.mine !== undefined) mine.set(p.id, full.mine);
      replace(ui.record, full.record.length
        ? full.record.map((r) => el("li", { dataset: { user: r.user } }, el("span", { text: r.name || r.user }), " ",
            el("strong", { text: fmtMoney(r.amount) }), " ",
            el("span", { className: "muted", text: fmtTime(r.at) }),
            luckiest && luckiest.user === r.user ? luckyBadge() : null))
        : el("li", { className: "muted", text: "Nobody has grabbed it yet." }));
      render();
    } catch (err) {
      notify(describePacketError(err), "error");
    }
  }

  function luckyBadge() {
    return el("span", { className: "badge rp-luckiest", text: "luckiest" });
  }

  /** The packet finished while its record was open: badge the winner's line in place. */
  function markLuckiest(luckiest) {
    const line = [...ui.record.children].find((li) => li.dataset.user === luckiest.user);
    if (line && !line.querySelector(".rp-luckiest")) line.append(luckyBadge());
  }

  async function load() {
    try {
      const res = await api("GET", `/api/rooms/${encodeURIComponent(roomId)}/red-packets`);
      for (const p of res.packets || []) {
        const known = packets.get(p.id);
        packets.set(p.id, { ...known, ...p, shares_left: freshestLeft(known && known.shares_left, p.shares_left) });
      }
      render();
    } catch {
      /* the banner stays as it was; events keep it current */
    }
  }

  function events(list) {
    for (const ev of list) {
      const d = ev.data || {};
      if (ev.type === "red_packet" && d.packet) {
        if (d.server_time) offset = d.server_time - Date.now();
        packets.set(d.packet.id, d.packet);
        notify(`${d.packet.creator_name || "The host"} sent a red packet!`, "info");
        render();
      } else if (ev.type === "red_packet_opened" && packets.has(d.packet_id)) {
        packets.get(d.packet_id).state = "open";
        render();
      } else if (ev.type === "red_packet_finished" && packets.has(d.packet_id)) {
        Object.assign(packets.get(d.packet_id), {
          state: "finished", reason: d.reason, luckiest: d.luckiest, shares_left: d.shares_left,
        });
        if (shown && shown.id === d.packet_id && d.luckiest) {
          markLuckiest(d.luckiest);
          ui.grabbed.textContent = `Luckiest: ${d.luckiest.name || d.luckiest.user} with ${fmtMoney(d.luckiest.amount)}`;
        }
        render();
      } else if (ev.type === "red_packet_grabbed" && packets.has(d.packet_id)) {
        noteLeft(packets.get(d.packet_id), d.left);
        if (shown && shown.id === d.packet_id) {
          ui.grabbed.textContent = `${d.name} grabbed ${fmtMoney(d.amount)}`;
          render();
          rereadSoon(d.packet_id); // the notices in between are not sent
        }
      }
    }
  }

  return {
    snapshot(snap) {
      if (snap && snap.server_time) offset = snap.server_time - Date.now();
      load();
    },
    events,
  };
}
