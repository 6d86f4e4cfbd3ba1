// The viewer's side of a live auction: a card over the video with the item, the current price,
// who leads, a countdown that follows the server's `end_at` (against the server's clock, from
// the events' `now`), a quick-bid button for the next valid amount, an optional maximum (the
// server bids for you up to it), "You're winning" / "Outbid", and after the end the result —
// the winner's "Pay" goes into the checkout sheet with the reserved order. The card is read
// from the `auction` command and kept current from `auction_*` events.

import { api, describeError } from "./api.js";
import { requireLogin } from "./auth.js";
import { el } from "./dom.js";
import { fmtClock, fmtMoney, newIdempotencyKey, parseMoney } from "./shelf.js";

const TICK_MS = 250;
const HIDE_AFTER_MS = 20_000; // a finished auction's result stays this long
const CODES = {
  bid_too_low: "Someone bid first: the price moved.",
  auction_closed: "The auction has ended.",
  already_leading: "You are already winning. Raise your max to bid higher.",
};

/** The text of an auction refusal. */
export function describeBidError(err) {
  if (err && err.code === "bid_too_low" && (err.details || err).min) {
    return `${CODES.bid_too_low} The next bid is ${fmtMoney((err.details || err).min)}.`;
  }
  return CODES[err && err.code] || describeError(err);
}

/** What the viewer's line says: "winning", "outbid", "won", "lost" or "" (pure). */
export function standing(auction, me, bidAlready) {
  if (!auction || !me) return "";
  const open = auction.state === "open";
  if (open) return auction.leader === me ? "winning" : bidAlready ? "outbid" : "";
  if (auction.buyer === me && auction.state === "awaiting") return "won";
  if (auction.state === "paid" && auction.buyer === me) return "paid";
  return bidAlready ? "lost" : "";
}

/** mountWatchAuction({stage, socket, roomId, userId(), loggedIn(), notify(text, kind), pay(order)}) */
export function mountWatchAuction({ stage, socket, roomId, userId, loggedIn, notify, pay }) {
  const enc = encodeURIComponent;
  let auction = null;
  let nextMin = 0;
  let offset = 0; // server clock - local clock
  let bid = false; // this viewer bid in this auction
  let busy = false;
  let dismissed = "";
  let finishedAt = 0;

  const ui = {
    title: el("strong", { className: "auction-title" }),
    price: el("span", { className: "auction-price price", attrs: { "aria-live": "polite" } }),
    leader: el("span", { className: "auction-leader small" }),
    clock: el("span", { className: "auction-clock badge", attrs: { role: "timer", "aria-live": "off" } }),
    state: el("p", { className: "auction-state small", attrs: { role: "status" } }),
    bid: el("button", { type: "button", className: "btn btn-primary auction-bid", on: { click: () => placeBid() } }),
    max: el("input", { id: "auction-max", className: "auction-max", inputMode: "decimal", placeholder: "max (optional)", attrs: { "aria-label": "Your maximum bid (optional)" } }),
    pay: el("button", { type: "button", className: "btn btn-primary auction-pay", text: "Pay", on: { click: () => payWin() } }),
    close: el("button", { type: "button", className: "btn btn-small auction-close", text: "×", attrs: { "aria-label": "Hide the auction" }, on: { click: () => { dismissed = auction ? auction.id : ""; render(); } } }),
  };
  const card = el("section", { id: "auction-card", className: "auction-card", attrs: { "aria-label": "Live auction" } },
    el("div", { className: "row spread" }, el("span", { className: "badge auction-tag", text: "Auction" }), ui.clock, ui.close),
    el("div", { className: "row" }, ui.title),
    el("div", { className: "row spread" }, ui.price, ui.leader),
    el("div", { className: "row auction-actions" }, ui.max, ui.bid, ui.pay),
    ui.state);
  card.hidden = true;
  stage.append(card);

  const now = () => Date.now() + offset;

  function render() {
    const a = auction;
    const gone = !a || a.id === dismissed
      || (a.state !== "open" && a.state !== "awaiting" && finishedAt && Date.now() - finishedAt > HIDE_AFTER_MS);
    card.hidden = !!gone;
    if (gone) return;
    card.dataset.auction = a.id;
    card.dataset.state = a.state;
    const variant = a.variant && typeof a.variant === "object" ? Object.values(a.variant).join(" / ") : "";
    ui.title.textContent = `${a.title}${variant ? ` (${variant})` : ""}`;
    ui.price.textContent = a.bids > 0 ? fmtMoney(a.price, a.currency) : `starts at ${fmtMoney(a.start_price, a.currency)}`;
    ui.leader.textContent = a.bids > 0 ? `${a.state === "open" ? "Leading" : "Won by"}: ${a.leader_name}` : "No bids yet";
    const open = a.state === "open";
    ui.bid.hidden = ui.max.hidden = !open;
    ui.bid.textContent = `Bid ${fmtMoney(nextMin, a.currency)}`;
    ui.bid.disabled = busy || (open && now() >= a.end_at);
    const me = userId();
    const s = standing(a, me, bid);
    card.dataset.standing = s;
    ui.pay.hidden = s !== "won";
    if (s === "won") ui.pay.textContent = `Pay ${fmtMoney(a.offer_price, a.currency)}`;
    ui.state.textContent = {
      winning: "You're winning!",
      outbid: "You've been outbid.",
      won: a.offers > 1 ? `The item is offered to you at your bid of ${fmtMoney(a.offer_price, a.currency)}.` : "You won! Pay to complete your order.",
      paid: "Paid — thank you!",
      lost: "",
    }[s] || ({ unsold: "Ended without bids.", cancelled: "The auction was cancelled.", paid: "Sold!", awaiting: "Sold — waiting for the winner to pay." }[a.state] || "");
    ui.state.dataset.kind = s;
    tick();
  }

  function tick() {
    const a = auction;
    if (!a || card.hidden) return;
    if (a.state === "open") {
      const left = a.end_at - now();
      ui.clock.textContent = left > 0 ? fmtClock(left) : "ending…";
      card.dataset.ending = left > 0 && left <= 10_000 ? "1" : "";
      ui.bid.disabled = busy || left <= 0;
    } else {
      ui.clock.textContent = a.state === "awaiting" || a.state === "paid" ? "sold" : "ended";
      card.dataset.ending = "";
    }
  }
  setInterval(tick, TICK_MS);

  async function load() {
    try {
      const view = socket.open ? await socket.request("auction", {}) : await api("GET", `/api/rooms/${enc(roomId)}/auction`);
      offset = view.server_time - Date.now();
      const before = auction && auction.id;
      auction = view.auction;
      nextMin = view.next_min || 0;
      if (auction && auction.id !== before) bid = !!view.you;
      if (auction && auction.state !== "open" && auction.state !== "awaiting" && !finishedAt) finishedAt = Date.now();
      render();
    } catch {
      /* no auction shown: the next event loads it again */
    }
  }

  async function placeBid() {
    const a = auction;
    if (!a || a.state !== "open") return;
    if (!loggedIn()) return requireLogin(placeBid);
    const amount = nextMin;
    const maxText = ui.max.value.trim();
    const body = { auction_id: a.id, amount, idempotency_key: newIdempotencyKey() };
    if (maxText) {
      const max = parseMoney(maxText);
      if (max === null || max < amount) {
        ui.state.textContent = `Your max must be at least ${fmtMoney(amount, a.currency)}.`;
        ui.state.dataset.kind = "error";
        return;
      }
      body.max_amount = max;
    }
    busy = true;
    render();
    try {
      const res = socket.open ? await socket.request("auction_bid", body)
        : await api("POST", `/api/rooms/${enc(roomId)}/auctions/${enc(a.id)}/bids`, body);
      bid = true;
      if (auction && auction.id === res.auction_id && res.bids >= auction.bids) {
        auction = { ...auction, price: res.price, end_at: res.end_at, bids: res.bids, leader: res.leading ? userId() : auction.leader };
        nextMin = res.next_min;
      }
      ui.max.value = "";
      busy = false;
      render();
    } catch (err) {
      busy = false;
      if (err && err.code === "bid_too_low" && (err.details || err).min) nextMin = Number((err.details || err).min);
      render();
      ui.state.textContent = describeBidError(err);
      ui.state.dataset.kind = "error";
    }
  }

  async function payWin() {
    const a = auction;
    if (!a || !a.order_id) return;
    try {
      pay(await api("GET", `/api/orders/${enc(a.order_id)}`));
    } catch (err) {
      notify(describeError(err), "error");
    }
  }

  function events(list) {
    for (const ev of list) {
      const d = ev.data || {};
      if (ev.type === "auction_started") {
        auction = d.auction;
        offset = Number(d.server_time) - Date.now();
        nextMin = auction.start_price;
        bid = false;
        finishedAt = 0;
        dismissed = "";
        notify(`Auction: ${auction.title}`, "info");
        render();
      } else if (ev.type === "auction_bid" && auction && auction.id === d.auction_id) {
        offset = Number(d.now) - Date.now();
        const leader = auction.leader;
        auction = { ...auction, price: d.price, leader: d.leader_id, leader_name: d.leader_name, bids: d.bids, end_at: d.end_at };
        nextMin = d.next_min;
        if (bid && leader === userId() && d.leader_id !== userId()) notify("You've been outbid!", "info");
        render();
      } else if ((ev.type === "auction_ended" || ev.type === "auction_updated") && d.auction) {
        auction = d.auction;
        offset = Number(d.server_time) - Date.now();
        if (auction.state !== "open" && auction.state !== "awaiting") finishedAt = Date.now();
        if (auction.state === "awaiting" && auction.buyer === userId()) notify("You won the auction! Pay to complete your order.", "ok");
        render();
      }
    }
  }

  return {
    snapshot() {
      load();
    },
    events,
    /** The current auction (tests and the page's other parts). */
    current: () => auction,
  };
}

