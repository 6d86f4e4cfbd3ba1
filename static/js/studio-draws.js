// The creator's side of lucky draws (福袋): a form that opens a draw in the selected room (cash
// per winner from the wallet, or one of the room's coupons; winners; how long entries stay open;
// who may enter), and the room's draws with their live entrant count, the commitment published
// at the start and, once drawn, the winners and the revealed seed.

import { api, describeError } from "./api.js";
import { $, el, replace, flash, stateBadge } from "./dom.js";
import { fmtMoney, parseCount, parseMoney } from "./shelf.js";
import { describeDrawError, prizeText } from "./watch-draw.js";

const CONDITIONS = [["anyone", "anyone watching"], ["followers", "followers"],
  ["fan_club", "fan-club members"], ["keyword", "who says the keyword"],
  ["buyers", "who bought in this show"]];

function field(label, input) {
  return el("label", {}, label, " ", input);
}

/** mountStudioDraws({notify(text, kind)}) -> {select(room), events(list)} */
export function mountStudioDraws({ notify }) {
  const box = $("#studio-draws");
  const f = {
    title: el("input", { name: "title", maxLength: 60, placeholder: "e.g. Thank-you bag" }),
    kind: el("select", { name: "prize_kind" }, el("option", { value: "cash", text: "cash per winner" }),
      el("option", { value: "coupon", text: "a coupon of this room" }),
      el("option", { value: "product", text: "a product on the shelf" })),
    product: el("select", { name: "product_id" }),
    amount: el("input", { name: "amount", inputMode: "decimal", placeholder: "e.g. 8.88" }),
    coupon: el("select", { name: "coupon_id" }),
    winners: el("input", { name: "winners", inputMode: "numeric", value: "1" }),
    duration: el("input", { name: "duration_s", inputMode: "numeric", value: "60" }),
    condition: el("select", { name: "condition" }, CONDITIONS.map(([v, t]) => el("option", { value: v, text: t }))),
    keyword: el("input", { name: "keyword", maxLength: 20, placeholder: "for the keyword condition" }),
  };
  const amountLabel = field("Cash per winner", f.amount);
  const couponLabel = field("Coupon", f.coupon);
  couponLabel.hidden = true;
  const productLabel = field("Product (one each, free)", f.product);
  productLabel.hidden = true;
  const msg = el("span", { className: "msg", hidden: true, attrs: { role: "status" } });
  const form = el("form", { className: "draw-form", autocomplete: "off" },
    field("Title", f.title), field("Prize", f.kind), amountLabel, couponLabel, productLabel,
    field("Winners", f.winners), field("Entries open for (s)", f.duration),
    field("Who may enter", f.condition), field("Keyword", f.keyword),
    el("div", { className: "row" }, el("button", { type: "submit", className: "btn btn-primary draw-create", text: "Start lucky draw" }), msg));
  const list = el("ul", { className: "draw-list" });
  replace(box, el("h2", { text: "Lucky draws" }),
    el("p", { className: "small muted", text: "Viewers enter with one tap; winners are drawn when the countdown ends, and anyone can check the draw (Verify)." }),
    form, list);
  let room = null;
  const counts = new Map(); // draw id -> entrants (live)

  f.kind.addEventListener("change", () => {
    amountLabel.hidden = f.kind.value !== "cash";
    couponLabel.hidden = f.kind.value !== "coupon";
    productLabel.hidden = f.kind.value !== "product";
    if (f.kind.value === "coupon") loadCoupons();
    if (f.kind.value === "product") loadProducts();
  });

  async function loadProducts() {
    if (!room) return;
    try {
      const res = await api("GET", `/api/rooms/${encodeURIComponent(room.id)}/shelf`);
      // one option per variant: the prize is one unit of one variant
      replace(f.product, (res.products || []).filter(Boolean).flatMap((p) => (p.variants && p.variants.length ? p.variants : [{ id: "v0" }])
        .map((v) => el("option", { value: `${p.id}|${v.id}`, text: p.variants && p.variants.length > 1 ? `${p.title} (${Object.values(v.options || {}).join(", ")})` : p.title }))));
    } catch (err) {
      flash(msg, describeError(err), "error");
    }
  }

  async function loadCoupons() {
    if (!room) return;
    try {
      const res = await api("GET", `/api/rooms/${encodeURIComponent(room.id)}/coupons`);
      replace(f.coupon, (res.coupons || []).filter((c) => c.state === "active")
        .map((c) => el("option", { value: c.id, text: `${c.title} (${c.left} left)` })));
    } catch (err) {
      flash(msg, describeError(err), "error");
    }
  }

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!room) return;
    const body = {
      prize_kind: f.kind.value,
      winners: parseCount(f.winners.value, 1),
      duration_s: parseCount(f.duration.value, 1),
      condition: f.condition.value,
    };
    if (f.title.value.trim()) body.title = f.title.value.trim();
    if (body.prize_kind === "cash") {
      body.amount = parseMoney(f.amount.value);
      if (!body.amount) return flash(msg, "Enter the cash each winner gets, e.g. 8.88", "error");
    } else if (body.prize_kind === "coupon") {
      if (!f.coupon.value) return flash(msg, "Choose a coupon (create one under Coupons first).", "error");
      body.coupon_id = f.coupon.value;
    } else {
      if (!f.product.value) return flash(msg, "Choose a product (put one on the shelf first).", "error");
      [body.product_id, body.variant_id] = f.product.value.split("|");
    }
    if (!body.winners) return flash(msg, "Enter how many win.", "error");
    if (!body.duration_s) return flash(msg, "Enter how long entries stay open, in seconds.", "error");
    if (body.condition === "keyword") body.keyword = f.keyword.value.trim();
    try {
      const res = await api("POST", `/api/rooms/${encodeURIComponent(room.id)}/draws`, body);
      flash(msg, `Lucky draw started: ${prizeText(res.draw)}.`, "ok");
      load();
    } catch (err) {
      flash(msg, describeDrawError(err), "error", 10000);
    }
  });

  function line(d) {
    const entrants = Math.max(d.entrants || 0, counts.get(d.id) || 0);
    const r = d.result;
    return el("li", { className: "draw-line", dataset: { draw: d.id } },
      stateBadge(d.state), " ", el("strong", { text: d.title || "Lucky draw" }), " ",
      el("span", { text: prizeText(d) }), " · ",
      el("span", { className: "draw-entrants", text: `${r ? r.entrant_count : entrants} entered` }),
      r ? el("div", { className: "small", text: `Winners: ${(r.winner_names || r.winners).join(", ") || "none"}` }) : null,
      el("div", { className: "small muted", text: r ? `Seed ${r.seed}` : `Commitment ${d.commitment}` }),
      d.prize.kind === "cash" && r && r.winners.length < d.winners
        ? el("div", { className: "small muted", text: `${fmtMoney(d.prize.amount * (d.winners - r.winners.length))} back to your wallet` }) : null);
  }

  let shown = [];
  function render() {
    replace(list, shown.length ? shown.map(line) : el("li", { className: "muted small", text: "No lucky draws in this room yet." }));
  }

  async function load() {
    if (!room) return;
    const roomId = room.id;
    try {
      const res = await api("GET", `/api/rooms/${encodeURIComponent(roomId)}/draws`);
      if (!room || room.id !== roomId) return;
      shown = res.draws || [];
      render();
    } catch (err) {
      notify(describeError(err), "error");
    }
  }

  return {
    select(r) {
      room = r;
      box.hidden = !r;
      shown = [];
      counts.clear();
      render();
      load();
    },
    events(evs) {
      let again = false;
      for (const ev of evs) {
        const d = ev.data || {};
        if (ev.type === "draw_entrants") {
          counts.set(d.draw_id, Math.max(counts.get(d.draw_id) || 0, d.entrants));
          const node = list.querySelector(`[data-draw="${CSS.escape(d.draw_id)}"] .draw-entrants`);
          const known = shown.find((x) => x.id === d.draw_id);
          if (node && known && !known.result) node.textContent = `${counts.get(d.draw_id)} entered`;
        } else if (ev.type === "draw" || ev.type === "draw_result") {
          again = true;
        }
      }
      if (again) load();
    },
  };
}
