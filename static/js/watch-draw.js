// The viewer's side of lucky draws (福袋): a card over the video for the room's latest draw with
// its prize, condition and countdown, one tap to enter (over the room socket: being connected is
// being present), then the result — the winners, "you won" or "not this time" — and a Verify
// button that recomputes the winners in this browser from the revealed seed and the published
// entrant list (draw-verify.js: the server's own rule), so nobody has to take the host's word.
// Draws are read over HTTP after each snapshot and kept current by the room's events.

import { api, describeError } from "./api.js";
import { requireLogin } from "./auth.js";
import { $, el, replace } from "./dom.js";
import { checkDraw } from "./draw-verify.js";
import { fmtClock, fmtMoney } from "./shelf.js";

const TICK_MS = 250;
const CONDITIONS = {
  anyone: "Everyone watching can enter",
  followers: "For followers of the host",
  fan_club: "For fan-club members",
  buyers: "For those who bought in this show",
};
const CODES = {
  draw_closed: "Entries have closed: the draw is being made.",
  forbidden: "The host cannot enter their own draw.",
  address_required: "Save a shipping address first (the shop's checkout asks for it), then claim.",
  banned: "You are banned from this room.",
};

/** The prize in words. */
export function prizeText(draw) {
  const p = draw.prize || {};
  const each = p.kind === "cash" ? `${fmtMoney(p.amount)} cash`
    : p.kind === "product" ? `“${p.title || "a product"}”` : `coupon “${p.coupon_title || ""}”`;
  return `${each} × ${draw.winners} winner${draw.winners === 1 ? "" : "s"}`;
}

/** Why an entry was refused, in words; a keyword draw names what to say. */
export function describeDrawError(err, draw = null) {
  if (err && err.code === "not_eligible") {
    const d = err.details || {};
    const keyword = d.keyword || (draw && draw.keyword);
    if ((d.condition || (draw && draw.condition)) === "keyword" && keyword) {
      return `Say “${keyword}” in the chat first, then enter.`;
    }
    return `${CONDITIONS[d.condition] || "This draw is not for you"}.`;
  }
  return CODES[err && err.code] || describeError(err);
}

/** mountWatchDraw({socket, roomId, loggedIn(), userId(), notify(text, kind)}) */
export function mountWatchDraw({ socket, roomId, loggedIn, userId, notify }) {
  const box = $("#draw-card");
  const draws = new Map(); // id -> draw
  let offset = 0;
  let shown = null;
  const ui = {
    title: el("strong", { className: "draw-title" }),
    clock: el("span", { className: "draw-clock", attrs: { "aria-live": "off" } }),
    prize: el("p", { className: "draw-prize" }),
    cond: el("p", { className: "draw-cond small" }),
    count: el("span", { className: "draw-count small muted" }),
    btn: el("button", { type: "button", className: "btn btn-primary draw-enter", text: "Enter", on: { click: () => enter() } }),
    status: el("p", { className: "draw-status", attrs: { role: "status" } }),
    winners: el("ol", { className: "draw-winners small" }),
    claimBtn: el("button", { type: "button", className: "btn btn-primary draw-claim", text: "Claim prize", hidden: true, on: { click: () => claim() } }),
    verifyBtn: el("button", { type: "button", className: "btn btn-small draw-verify", text: "Verify", on: { click: () => verify() } }),
    verified: el("p", { className: "draw-verified small", attrs: { role: "status" } }),
    commit: el("p", { className: "draw-commit small muted" }),
    close: el("button", { type: "button", className: "popup-close", text: "×", attrs: { "aria-label": "Close the lucky draw" }, on: { click: () => { box.dataset.dismissed = "1"; } } }),
  };
  replace(box, ui.close, el("div", { className: "row spread" }, ui.title, ui.clock), ui.prize, ui.cond,
    el("div", { className: "row" }, ui.btn, ui.count), ui.status, ui.winners,
    el("div", { className: "row" }, ui.claimBtn, ui.verifyBtn), ui.verified, ui.commit);

  const now = () => Date.now() + offset;

  function current() {
    const list = [...draws.values()].sort((a, b) => b.created_at - a.created_at);
    return list.find((d) => d.state !== "drawn") || list[0] || null;
  }

  function render() {
    const d = current();
    box.hidden = !d;
    if (!d) return;
    if (!shown || shown.id !== d.id) {
      ui.status.textContent = "";
      ui.verified.textContent = "";
      delete box.dataset.dismissed;
    }
    shown = d;
    box.dataset.draw = d.id;
    box.dataset.state = d.state;
    ui.title.textContent = d.title || "Lucky draw";
    ui.prize.textContent = prizeText(d);
    ui.cond.textContent = d.condition === "keyword" ? `Say “${d.keyword}” in the chat, then enter`
      : CONDITIONS[d.condition] || "";
    ui.count.textContent = `${d.entrants || 0} entered`;
    ui.commit.textContent = `Commitment ${d.commitment.slice(0, 16)}…`;
    ui.commit.title = `sha256 of the secret seed, published before entries opened: ${d.commitment}`;
    const r = d.result;
    ui.verifyBtn.hidden = !r;
    if (r) {
      const me = userId();
      const names = r.winner_names || r.winners;
      replace(ui.winners, r.winners.length
        ? r.winners.map((w, i) => el("li", { dataset: { user: w }, text: names[i] || w }))
        : el("li", { className: "muted", text: "Nobody entered." }));
      const won = me && r.winners.includes(me);
      const entered = d.entered || (me && r.winners.includes(me));
      ui.status.textContent = won ? `You won! ${prizeText({ ...d, winners: 1 }).replace(/ × .*$/, "")}`
        : entered ? "Not this time — thanks for taking part." : `${r.entrant_count} entered · winners drawn`;
      ui.status.dataset.kind = won ? "ok" : "";
      ui.claimBtn.hidden = !(won && d.prize.kind === "product") || !!d.claimed;
    } else {
      ui.claimBtn.hidden = true;
      replace(ui.winners);
    }
    tick();
  }

  function tick() {
    const d = shown;
    if (!d) return;
    const left = d.end_at - now();
    if (d.state === "drawn") ui.clock.textContent = "drawn";
    else if (left > 0) ui.clock.textContent = `closes in ${fmtClock(left)}`;
    else ui.clock.textContent = "drawing…";
    const open = d.state === "open" && left > 0;
    ui.btn.hidden = d.state === "drawn";
    ui.btn.disabled = !open || !!d.entered;
    ui.btn.textContent = d.entered ? "Entered ✓" : "Enter";
  }
  setInterval(tick, TICK_MS);

  async function enter() {
    const d = shown;
    if (!d) return;
    if (!loggedIn()) return requireLogin(enter);
    ui.btn.disabled = true;
    try {
      if (!socket.open) throw { code: "not_present", message: "Reconnecting — enter once the show is back." };
      const res = await socket.request("draw_enter", { draw_id: d.id });
      d.entered = true;
      d.entrants = Math.max(d.entrants || 0, res.entrants);
      ui.status.textContent = res.already ? "You had already entered." : "You're in! Winners are drawn when the countdown ends.";
      ui.status.dataset.kind = "ok";
    } catch (err) {
      ui.status.textContent = err && err.code === "not_present" ? err.message : describeDrawError(err, d);
      ui.status.dataset.kind = "error";
    }
    render();
  }

  async function claim() {
    const d = shown;
    if (!d) return;
    ui.claimBtn.disabled = true;
    try {
      await api("POST", `/api/draws/${encodeURIComponent(d.id)}/claim`, {});
      d.claimed = true;
      ui.verified.dataset.kind = "ok";
      ui.verified.textContent = "Prize claimed: it is in your orders, free, and ships to your saved address.";
    } catch (err) {
      ui.verified.dataset.kind = "error";
      ui.verified.textContent = err && err.code === "invalid_state"
        ? "The time to claim this prize has passed." : describeDrawError(err, d);
    }
    ui.claimBtn.disabled = false;
    render();
  }

  async function verify() {
    const d = shown;
    if (!d || !d.result) return;
    ui.verified.textContent = "Checking…";
    try {
      const listed = await api("GET", `/api/draws/${encodeURIComponent(d.id)}/entrants`);
      const problems = checkDraw({ seedHex: d.result.seed, commitment: d.commitment,
        entrants: listed.entrants, wanted: d.winners, entrantsHash: d.result.entrants_hash,
        winners: d.result.winners });
      ui.verified.dataset.kind = problems.length ? "error" : "ok";
      ui.verified.textContent = problems.length ? `Does not check out: ${problems.join("; ")}`
        : `Verified ✓ sha256(seed) matches the commitment, ${listed.entrants.length} entrant${listed.entrants.length === 1 ? "" : "s"} hash to ${d.result.entrants_hash.slice(0, 12)}…, and the winners follow from them.`;
    } catch (err) {
      ui.verified.textContent = describeError(err);
      ui.verified.dataset.kind = "error";
    }
  }

  async function load() {
    try {
      const res = await api("GET", `/api/rooms/${encodeURIComponent(roomId)}/draws`);
      if (res.server_time) offset = res.server_time - Date.now();
      for (const d of res.draws || []) draws.set(d.id, { ...draws.get(d.id), ...d });
      render();
    } catch {
      /* the card stays as it was; events keep it current */
    }
  }

  function events(list) {
    for (const ev of list) {
      const data = ev.data || {};
      if (ev.type === "draw" && data.draw) {
        if (data.server_time) offset = data.server_time - Date.now();
        draws.set(data.draw.id, { ...data.draw });
        notify(`${data.draw.creator_name || "The host"} started a lucky draw!`, "info");
        render();
      } else if (ev.type === "draw_entrants" && draws.has(data.draw_id)) {
        const d = draws.get(data.draw_id);
        d.entrants = Math.max(d.entrants || 0, data.entrants);
        if (shown && shown.id === d.id) ui.count.textContent = `${d.entrants} entered`;
      } else if (ev.type === "draw_result" && draws.has(data.draw_id)) {
        Object.assign(draws.get(data.draw_id), { state: "drawn", result: data.result, entrants: data.result.entrant_count });
        render();
      }
    }
  }

  return {
    snapshot() {
      load();
    },
    events,
  };
}
