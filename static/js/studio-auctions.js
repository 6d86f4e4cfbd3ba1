// The studio's auctions tab: start an auction of a shelf variant (start price, an increment
// preset, a duration, anti-snipe or sudden death), watch it live (price, leader, bids, the
// countdown against the server's clock) and cancel it before its first bid; below, the room's
// earlier auctions with their results.

import { api, describeError } from "./api.js";
import { $, el, replace, flash, fmtTime } from "./dom.js";
import { fmtClock, fmtMoney, parseMoney } from "./shelf.js";

const enc = encodeURIComponent;

/** Increment presets: the table sent with `auction_create` (null: the server's default). */
export const PRESETS = {
  standard: { label: "Standard: +1 under 100, +5 under 500, +10 above", table: null },
  fine: { label: "Fine: +0.10 under 10, +0.50 under 50, +1 above", table: [{ below: 1000, step: 10 }, { below: 5000, step: 50 }, { step: 100 }] },
  coarse: { label: "Coarse: +10 under 1,000, +50 above", table: [{ below: 100000, step: 1000 }, { step: 5000 }] },
};
const DURATIONS = [["15 s", 15000], ["30 s", 30000], ["1 min", 60000], ["2 min", 120000], ["5 min", 300000], ["10 min", 600000]];
const STATES = { open: "live", awaiting: "sold, awaiting payment", paid: "sold and paid", unsold: "no bids", cancelled: "cancelled" };

/** mountStudioAuctions({notify(text, kind)}) -> {select(room), events(list)} */
export function mountStudioAuctions({ notify }) {
  const root = $("#auction-section");
  let room = null;
  let shelf = [];
  let current = null;
  let offset = 0;

  const form = el("form", { className: "auction-form", attrs: { autocomplete: "off" } });
  const f = {
    product: el("select", { name: "product_id", required: true }),
    variant: el("select", { name: "variant_id" }),
    start: el("input", { name: "start", inputMode: "decimal", required: true, placeholder: "e.g. 10.00" }),
    preset: el("select", { name: "preset" }, ...Object.entries(PRESETS).map(([k, p]) => el("option", { value: k, text: p.label }))),
    duration: el("select", { name: "duration" }, ...DURATIONS.map(([t, ms]) => el("option", { value: String(ms), text: t }))),
    mode: el("select", { name: "mode" },
      el("option", { value: "anti_snipe", text: "Anti-snipe: a late bid extends the end" }),
      el("option", { value: "sudden_death", text: "Sudden death: no extension" })),
    submit: el("button", { type: "submit", className: "btn btn-primary", text: "Start auction" }),
    msg: el("span", { className: "msg", attrs: { role: "status" } }),
  };
  f.duration.value = "60000";
  f.msg.hidden = true;
  replace(form,
    el("label", {}, "Product", f.product), el("label", {}, "Variant", f.variant),
    el("label", {}, "Start price", f.start), el("label", {}, "Increments", f.preset),
    el("label", {}, "Duration", f.duration), el("label", {}, "End rule", f.mode),
    el("div", { className: "row" }, f.submit, f.msg));
  const live = el("div", { className: "auction-live", attrs: { "aria-live": "polite" } });
  const past = el("ul", { className: "list-plain auction-past" });
  replace(root, el("h2", { text: "Auctions" }), form, live, el("h3", { text: "This show's auctions" }), past);

  function renderVariants() {
    const p = shelf.find((x) => x.id === f.product.value);
    const variants = (p && p.variants) || [];
    replace(f.variant, ...variants.map((v) => el("option", { value: v.id, text: Object.values(v.options || {}).join(" / ") || "the only variant" })));
    f.variant.disabled = variants.length <= 1;
  }
  f.product.addEventListener("change", renderVariants);

  async function loadShelf() {
    if (!room) return;
    try {
      const data = await api("GET", `/api/rooms/${enc(room.id)}/shelf`);
      shelf = data.products || [];
      const keep = f.product.value;
      replace(f.product, ...shelf.map((p) => el("option", { value: p.id, text: p.title })));
      if (shelf.some((p) => p.id === keep)) f.product.value = keep;
      renderVariants();
      f.submit.disabled = !shelf.length;
    } catch (err) {
      flash(f.msg, describeError(err), "error", 8000);
    }
  }

  async function loadAuctions() {
    if (!room) return;
    try {
      const data = await api("GET", `/api/rooms/${enc(room.id)}/auctions`);
      const list = data.auctions || [];
      const latest = list[list.length - 1] || null;
      current = latest && (latest.state === "open" || latest.state === "awaiting") ? latest : null;
      offset = 0;
      renderPast(list);
      renderLive();
    } catch (err) {
      flash(f.msg, describeError(err), "error", 8000);
    }
  }

  function renderPast(list) {
    replace(past, ...(list.length ? list.slice().reverse().map((a) => el("li", { className: "auction-row", dataset: { auction: a.id, state: a.state } },
      el("strong", { text: a.title }), " · ",
      el("span", { text: STATES[a.state] || a.state }),
      a.bids ? ` · ${a.bids} bid${a.bids === 1 ? "" : "s"} · ${fmtMoney(a.offer_price || a.price, a.currency)}` : "",
      a.buyer_name ? ` · ${a.buyer_name}` : "",
      ` · ${fmtTime(a.start_at)}`)) : [el("li", { className: "muted small", text: "No auctions yet." })]));
  }

  function renderLive() {
    const a = current;
    live.hidden = !a;
    f.submit.disabled = !!(a && a.state === "open") || !shelf.length;
    if (!a) return replace(live);
    const cancel = el("button", { type: "button", className: "btn btn-small btn-danger auction-cancel", text: "Cancel auction", on: { click: () => cancelAuction(a) } });
    cancel.hidden = a.state !== "open" || a.bids > 0;
    replace(live,
      el("div", { className: "row spread" }, el("strong", { text: a.title }), el("span", { className: "badge auction-studio-clock", text: "" })),
      el("div", { className: "row" },
        el("span", { className: "price auction-studio-price", text: a.bids ? fmtMoney(a.price, a.currency) : `starts at ${fmtMoney(a.start_price, a.currency)}` }),
        el("span", { className: "muted small", text: a.bids ? ` · ${a.bids} bid${a.bids === 1 ? "" : "s"} · leading: ${a.leader_name}` : " · no bids yet" })),
      el("div", { className: "row" }, el("span", { className: "small", text: STATES[a.state] || a.state }), cancel));
    tick();
  }

  function tick() {
    const a = current;
    const clock = live.querySelector(".auction-studio-clock");
    if (!a || !clock) return;
    clock.textContent = a.state === "open" ? fmtClock(a.end_at - (Date.now() + offset)) : "ended";
  }
  setInterval(tick, 500);

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const start = parseMoney(f.start.value);
    if (!start) return flash(f.msg, "Give a start price, e.g. 10.00.", "error", 6000);
    const body = { product_id: f.product.value, start_price: start, duration_ms: Number(f.duration.value), mode: f.mode.value };
    if (f.variant.value && !f.variant.disabled) body.variant_id = f.variant.value;
    const table = PRESETS[f.preset.value].table;
    if (table) body.increments = table;
    f.submit.disabled = true;
    try {
      current = await api("POST", `/api/rooms/${enc(room.id)}/auctions`, body);
      flash(f.msg, "The auction is live.", "ok", 5000);
      renderLive();
    } catch (err) {
      flash(f.msg, describeError(err), "error", 10000);
      f.submit.disabled = false;
    }
  });

  async function cancelAuction(a) {
    try {
      current = await api("DELETE", `/api/rooms/${enc(room.id)}/auctions/${enc(a.id)}`);
      notify("Auction cancelled.", "info");
      loadAuctions();
    } catch (err) {
      notify(describeError(err), "error");
    }
  }

  return {
    select(next) {
      room = next;
      current = null;
      loadShelf().then(loadAuctions);
    },
    events(list) {
      for (const ev of list) {
        const d = ev.data || {};
        if (ev.type === "shelf_updated") loadShelf();
        else if (ev.type === "auction_bid" && current && current.id === d.auction_id) {
          offset = Number(d.now) - Date.now();
          current = { ...current, price: d.price, bids: d.bids, leader: d.leader_id, leader_name: d.leader_name, end_at: d.end_at };
          renderLive();
        } else if (ev.type === "auction_started" || ev.type === "auction_ended" || ev.type === "auction_updated") {
          loadAuctions();
        }
      }
    },
  };
}
