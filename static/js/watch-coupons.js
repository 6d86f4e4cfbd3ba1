// The viewer's side of coupons: the banner of the coupon the creator pinned, with its terms,
// the copies left (live from the `coupon` events) and a Claim button. The pinned card comes
// with the snapshot (`pinned_coupon`) and `coupon_pinned` events; the copies this viewer holds
// are read over HTTP (my_coupons). Choosing a coupon at checkout is the checkout sheet's job; it
// may use couponTerms() and describeCouponError() from here.

import { api, describeError } from "./api.js";
import { requireLogin } from "./auth.js";
import { $, el, replace, fmtDateTime, fmtTime } from "./dom.js";
import { fmtClock, fmtMoney, fmtPercent } from "./shelf.js";

const TICK_MS = 1000;
const CODES = {
  coupon_not_started: "This coupon cannot be claimed yet.",
  coupon_ended: "This coupon has ended.",
  coupon_gone: "Too late: every copy has been claimed.",
  coupon_limit: "You already hold this coupon.",
  coupon_stopped: "The host has stopped this coupon.",
};

export function describeCouponError(err) {
  return CODES[err && err.code] || describeError(err);
}

/** "¥5.00 off orders from ¥50.00" / "10% off, up to ¥30.00" (a coupon card's terms). */
export function couponTerms(c) {
  const off = c.kind === "percent"
    ? `${fmtPercent(c.percent_bp)} off, up to ${fmtMoney(c.max_off)}`
    : `${fmtMoney(c.amount_off)} off`;
  const min = c.min_spend > 0 ? ` on orders from ${fmtMoney(c.min_spend)}` : "";
  const scope = c.product_ids && c.product_ids.length ? " · selected products" : "";
  return `${off}${min}${scope}`;
}

/** mountWatchCoupons({socket, roomId, loggedIn(), openLogin(), notify(text, kind)}) */
export function mountWatchCoupons({ socket, roomId, loggedIn, openLogin, notify }) {
  const box = $("#coupon-banner");
  const held = new Map(); // coupon id -> {claimed, used} of this viewer
  let pinned = null; // the pinned coupon's public card (with left)
  let offset = 0; // server clock - local clock
  const ui = {
    title: el("strong", { className: "coupon-title" }),
    terms: el("span", { className: "coupon-terms" }),
    left: el("span", { className: "coupon-left badge" }),
    when: el("span", { className: "coupon-when muted small" }),
    btn: el("button", { type: "button", className: "btn btn-primary coupon-claim", text: "Claim", on: { click: () => claim() } }),
    result: el("p", { className: "coupon-result small", attrs: { role: "status" } }),
  };
  replace(box, el("div", { className: "row spread" }, ui.title, ui.left),
    el("div", { className: "row" }, ui.terms),
    el("div", { className: "row spread" }, ui.when, ui.btn), ui.result);

  const now = () => Date.now() + offset;

  function render() {
    box.hidden = !pinned;
    if (!pinned) return;
    const c = pinned;
    box.dataset.coupon = c.id;
    ui.title.textContent = c.title;
    ui.terms.textContent = couponTerms(c);
    tick();
  }

  function tick() {
    const c = pinned;
    if (!c) return;
    const t = now();
    const mine = held.get(c.id);
    const full = mine && mine.claimed >= c.per_user;
    let state = "open";
    if (t < c.start_at) state = "waiting";
    else if (t >= c.end_at) state = "ended";
    else if (c.left <= 0) state = "gone";
    box.dataset.state = state;
    ui.left.textContent = c.left > 0 ? `${c.left} left` : "all claimed";
    ui.when.textContent = state === "waiting" ? `claim in ${fmtClock(c.start_at - t)}`
      : state === "ended" ? "ended" : `valid until ${c.end_at - t < 86_400_000 ? fmtTime(c.end_at) : fmtDateTime(c.end_at)}`;
    ui.btn.disabled = state !== "open" || !!full;
    ui.btn.textContent = full ? "Claimed ✓" : state === "gone" ? "All claimed" : "Claim";
  }
  setInterval(tick, TICK_MS);

  async function claim() {
    const c = pinned;
    if (!c) return;
    if (!loggedIn()) return requireLogin(claim);
    ui.btn.disabled = true;
    try {
      const res = socket.open
        ? await socket.request("claim_coupon", { coupon_id: c.id })
        : await api("POST", `/api/rooms/${encodeURIComponent(roomId)}/coupons/${encodeURIComponent(c.id)}/claim`, {});
      held.set(c.id, res.mine);
      if (pinned && pinned.id === c.id) pinned.left = res.coupon.left;
      ui.result.textContent = "Claimed! It is applied at checkout.";
      ui.result.dataset.kind = "ok";
    } catch (err) {
      if (err && err.code === "coupon_limit") {
        const claimed = Number((err.details || err).claimed) || c.per_user;
        held.set(c.id, { ...(held.get(c.id) || { used: 0 }), claimed });
      } else if (err && err.code === "coupon_gone" && pinned && pinned.id === c.id) {
        pinned.left = 0;
      }
      ui.result.textContent = describeCouponError(err);
      ui.result.dataset.kind = "error";
    }
    render();
  }

  async function loadMine() {
    if (!loggedIn()) return;
    try {
      const res = await api("GET", `/api/rooms/${encodeURIComponent(roomId)}/my_coupons`);
      held.clear();
      for (const c of res.coupons || []) held.set(c.id, c.mine);
      render();
    } catch {
      /* the button still works: a refused claim says why */
    }
  }

  function events(list) {
    for (const ev of list) {
      const d = ev.data || {};
      if (ev.type === "coupon_pinned") {
        const before = pinned && pinned.id;
        pinned = d.coupon || null;
        if (pinned && pinned.id !== before) {
          ui.result.textContent = "";
          notify(`Coupon: ${pinned.title}`, "info");
        }
        render();
      } else if (ev.type === "coupon" && pinned && pinned.id === d.coupon_id) {
        pinned.left = d.left;
        tick();
      }
    }
  }

  return {
    snapshot(snap) {
      if (snap && snap.server_time) offset = snap.server_time - Date.now();
      pinned = (snap && snap.pinned_coupon) || null;
      render();
      loadMine();
    },
    events,
    /** The copies this viewer holds, by coupon id (for the checkout sheet). */
    held: () => new Map(held),
  };
}
