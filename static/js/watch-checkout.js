// The checkout sheet of the watch page. One tap on "Buy" opens it; the buyer picks a variant and
// a quantity, checks the saved shipping address, picks a coupon and reads the price from the
// server's `quote`; one "Pay" button then reserves (`buy`) and pays. Reserve → pay is one flow:
// an order left reserved (a declined payment, a closed sheet) is resumed here, never paid from
// another place. Amounts are whatever the server says: the page never computes a discount.

import { api, describeError } from "./api.js";
import { requireLogin } from "./auth.js";
import { $, el, replace, flash, fmtTime, safeImageUrl } from "./dom.js";
import { UNSURE, fmtClock, fmtMoney, newIdempotencyKey } from "./shelf.js";
import { addressLine, mountAddress } from "./watch-address.js";
import { chosenVariant, firstChoice, matches, pick, unitsLeft as left, valueState } from "./variant-pick.js";

const QUOTE_DELAY_MS = 120;
const enc = encodeURIComponent;

/** Why a claimed coupon does not apply, in plain words (the buy script's reasons). */
const COUPON_REASONS = {
  not_claimed: "already used",
  stopped: "stopped by the creator",
  not_started: "not valid yet",
  ended: "expired",
  other_products: "not valid for this product",
  min_spend: "the order is below its minimum spend",
};

/** Refusals that concern the coupon: the sheet falls back to the best usable one. */
function isCouponError(code) {
  return typeof code === "string" && code.startsWith("coupon");
}

/**
 * mountCheckout({socket, roomId, state, loggedIn(), openLogin(), notify(text, kind), onOrder(order)})
 * -> {open(productId), resume(order), order(order), opened()}.
 * state is the page's ShelfState (sales, stock); onOrder(order) tells "My orders" of a change.
 */
export function mountCheckout({ socket, roomId, state, loggedIn, openLogin, notify, onOrder }) {
  const dialog = $("#checkout");
  let provider = null; // "dev" | "webhook", from GET /api/me/orders
  let co = null; // the sheet's current purchase (see reset())
  let quoteSeq = 0;
  let quoteTimer = null;

  // ---- the sheet's parts, built once ---------------------------------------------------------
  const ui = {
    img: el("div", { className: "co-img" }),
    title: el("h2", { id: "co-title", className: "co-title" }),
    price: el("span", { className: "price co-price" }),
    sale: el("span", { className: "sale-status small co-sale" }),
    variants: el("div", { className: "co-variants" }),
    variantNote: el("p", { className: "small co-variant-note", attrs: { "aria-live": "polite" } }),
    minus: el("button", { type: "button", className: "btn co-step", text: "−", attrs: { "aria-label": "One fewer" } }),
    qty: el("input", { id: "co-qty", className: "co-qty", type: "number", min: "1", value: "1", inputMode: "numeric" }),
    plus: el("button", { type: "button", className: "btn co-step", text: "+", attrs: { "aria-label": "One more" } }),
    qtyNote: el("span", { className: "muted small co-qty-note" }),
    coupon: el("select", { id: "co-coupon", className: "co-coupon" }),
    couponNote: el("span", { className: "muted small co-coupon-note" }),
    subtotal: el("dd", { className: "co-subtotal" }),
    discount: el("dd", { className: "co-discount" }),
    total: el("dd", { className: "co-total" }),
    msg: el("p", { className: "msg co-msg", hidden: true, attrs: { role: "alert" } }),
    result: el("div", { className: "co-result", hidden: true, attrs: { "aria-live": "polite" } }),
    pay: el("button", { type: "button", className: "btn btn-primary co-pay", text: "Pay" }),
    close: el("button", { type: "button", className: "btn btn-small co-close", text: "Close", attrs: { "aria-label": "Close checkout" } }),
  };
  const variantBox = el("section", { className: "co-section", attrs: { "aria-label": "Variant" } }, ui.variants, ui.variantNote);
  const chooseTop = el("div", { className: "co-choose" },
    variantBox,
    el("section", { className: "co-section co-qty-row" },
      el("label", { className: "co-qty-label", attrs: { for: "co-qty" }, text: "Quantity" }),
      el("div", { className: "row co-stepper" }, ui.minus, ui.qty, ui.plus, ui.qtyNote)));
  const address = mountAddress({ onSaved: () => ui.pay.focus() });
  const addressBox = address.node;
  const chooseBottom = el("div", { className: "co-choose" },
    el("section", { className: "co-section co-coupon-row" },
      el("label", { attrs: { for: "co-coupon" }, text: "Coupon" }), ui.coupon, ui.couponNote),
    el("dl", { className: "co-summary" },
      el("dt", { text: "Subtotal" }), ui.subtotal,
      el("dt", { text: "Coupon discount" }), ui.discount,
      el("dt", { className: "co-total-label", text: "Total" }), ui.total));

  replace(dialog,
    el("div", { className: "co-head" },
      ui.img,
      el("div", { className: "co-head-body" }, ui.title, el("div", { className: "row" }, ui.price, ui.sale)),
      ui.close),
    el("div", { className: "co-body" }, chooseTop, addressBox, chooseBottom, ui.result, ui.msg),
    el("div", { className: "co-foot" }, ui.pay));

  // ---- opening and closing ----------------------------------------------------------------
  function reset(pid) {
    return {
      pid,
      view: null, // the `product` op's answer
      selected: {}, // option name -> value
      quantity: 1,
      coupon: "best", // "best" | "" (none) | a coupon id the buyer picked
      quote: null,
      attempt: null, // {key, fields, order}: one purchase attempt, its key kept for retries
      phase: "choose", // "choose" | "busy" | "waiting" | "paid"
      resuming: false, // paying an order reserved earlier: its figures, not the choices
    };
  }

  async function open(pid) {
    if (!loggedIn()) return requireLogin(() => open(pid));
    const card = state.product(pid);
    co = reset(pid);
    const saved = loadAttempt();
    if (saved && saved.fields && saved.fields.product_id === pid) co.attempt = saved;
    show();
    renderAll(); // nothing of an earlier purchase stays on screen
    renderHead(card);
    ui.variantNote.textContent = "Loading…";
    variantBox.hidden = false;
    await Promise.all([loadView(), address.load(), loadProvider()]);
    if (!co || co.pid !== pid) return;
    const fields = co.attempt && co.attempt.fields;
    if (fields) {
      // a purchase whose answer was lost (the page reloaded): the same choices, the same key
      const v = variantsOf().find((x) => x.id === fields.variant_id);
      if (v) co.selected = { ...(v.options || {}) };
      co.quantity = Number(fields.quantity) || 1;
      co.coupon = fields.coupon_id || "";
    }
    co.saleId = (saleNow() || {}).id || null;
    renderAll();
    await quote();
    if (fields && co && co.attempt) {
      flash(ui.msg, "Your last tap on Pay got no answer: it is sent again with the same order key.", "info", 0);
      payNow({ retry: true });
    }
  }

  /** Continue an order reserved earlier: straight to paying it. */
  async function resume(order) {
    if (!loggedIn()) return requireLogin(() => resume(order));
    co = reset(order.product_id);
    co.attempt = { key: "", fields: null, order };
    co.resuming = true;
    show();
    renderHead(state.product(order.product_id) || { title: order.title, currency: order.currency });
    // the order as it is now (it may have been paid or have expired since the list was read)
    const [fresh] = await Promise.all([
      api("GET", `/api/orders/${enc(order.id)}`).catch(() => order), address.load(), loadProvider()]);
    if (!co || co.attempt?.order?.id !== order.id) return;
    order = { ...order, ...fresh };
    co.attempt.order = order;
    onOrder(order);
    renderAll();
    if (order.state !== "reserved") return orderChanged(order);
    if (provider === "webhook") return waitFor(order);
    flash(ui.msg, `Order ${order.title || ""} is reserved until ${fmtTime(order.expires_at)}: pay to complete it.`, "info", 0);
  }

  function show() {
    flash(ui.msg, "", "info", 0);
    address.reset();
    ui.result.dataset.state = "";
    replace(ui.result);
    layout();
    if (!dialog.open) dialog.showModal();
    ui.close.focus();
  }

  function close() {
    clearTimeout(quoteTimer);
    if (dialog.open) dialog.close();
  }
  ui.close.addEventListener("click", close);
  dialog.addEventListener("close", () => {
    // the event comes a task after the closing: a sheet opened again since keeps its purchase
    if (!dialog.open) co = null;
  });
  // a tap on the backdrop (outside the sheet's box) closes it, like Escape
  dialog.addEventListener("click", (e) => {
    if (e.target !== dialog) return;
    const r = dialog.getBoundingClientRect();
    const inside = e.clientX >= r.left && e.clientX <= r.right && e.clientY >= r.top && e.clientY <= r.bottom;
    if (!inside) close();
  });

  // ---- reads ------------------------------------------------------------------------------
  function request(op, method, path, fields) {
    return socket.open ? socket.request(op, fields) : api(method, path, fields);
  }

  async function loadView() {
    const pid = co.pid;
    try {
      const view = socket.open
        ? await socket.request("product", { product_id: pid })
        : await api("GET", `/api/rooms/${enc(roomId)}/products/${enc(pid)}`);
      if (!co || co.pid !== pid) return;
      co.view = view;
      // the flash sale's variant first while its sale is open, else the first with units left
      const sale = openSale();
      co.selected = firstChoice(variantsOf(), sale ? sale.variant_id || "v0" : null);
    } catch (err) {
      if (co && co.pid === pid) flash(ui.msg, describeError(err), "error", 0);
    }
  }

  async function loadProvider() {
    if (provider) return;
    try {
      const data = await api("GET", "/api/me/orders?limit=1");
      provider = data.payment_provider || null;
    } catch (err) {
      flash(ui.msg, describeError(err), "error", 0);
    }
  }

  // ---- variants -----------------------------------------------------------------------------
  function variantsOf() {
    const v = co && co.view;
    if (!v) return [];
    if (Array.isArray(v.variants)) return v.variants;
    return [];
  }

  function optionsOf() {
    const v = co && co.view;
    return v && Array.isArray(v.options) ? v.options : [];
  }

  /** The variant the buyer's choices name, or null (not every option chosen yet). */
  function currentVariant() {
    return chosenVariant(optionsOf(), variantsOf(), co.selected);
  }

  function pickValue(name, value) {
    co.selected = pick(variantsOf(), co.selected, name, value);
    co.saleId = (saleNow() || {}).id || null; // the quote below covers the sale's price
    co.attempt = null;
    saveAttempt();
    renderAll();
    requestQuote();
  }

  function renderVariants() {
    drawVariants();
    variantBox.hidden = !ui.variants.childElementCount && !ui.variantNote.textContent;
  }

  function drawVariants() {
    const options = optionsOf();
    const variants = variantsOf();
    if (!co.view) {
      ui.variants.replaceChildren();
      return;
    }
    ui.variantNote.textContent = "";
    if (variants.length <= 1 || !options.length) {
      ui.variants.replaceChildren();
      const v = variants[0];
      if (v && left(v) <= 0) ui.variantNote.textContent = "Sold out";
      return;
    }
    replace(ui.variants, options.map((o) => {
      return el("fieldset", { className: "co-option" },
        el("legend", { text: o.name }),
        el("div", { className: "row co-values" }, (o.values || []).map((value) => {
          const { soldOut, here } = valueState(variants, co.selected, o.name, value);
          const pressed = co.selected[o.name] === value;
          return el("button", {
            type: "button",
            className: `btn btn-small co-value${soldOut ? " sold-out" : ""}${here ? "" : " elsewhere"}`,
            disabled: soldOut,
            dataset: { option: o.name, value },
            attrs: { "aria-pressed": String(pressed) },
            on: { click: () => pickValue(o.name, value) },
          }, value, soldOut ? el("span", { className: "co-soldout", text: " · sold out" }) : null);
        })));
    }));
    const v = currentVariant();
    ui.variantNote.textContent = !v ? "Choose one of each option."
      : left(v) <= 0 ? "This variant is sold out."
      : `${left(v)} left`;
  }

  // ---- quantity -----------------------------------------------------------------------------
  /** How many the buyer may still take of the chosen variant (null: not known). */
  function maxQuantity() {
    const bounds = [];
    const v = currentVariant();
    if (v) bounds.push(left(v));
    const view = co.view || {};
    if (typeof view.limit_left === "number") bounds.push(view.limit_left);
    const sale = saleNow();
    if (sale) bounds.push(Number(state.left[co.pid] ?? sale.left ?? 0));
    if (co.quote && typeof co.quote.left === "number") bounds.push(co.quote.left);
    return bounds.length ? Math.max(0, Math.min(...bounds)) : null;
  }

  function setQuantity(n) {
    const max = maxQuantity();
    let q = Math.max(1, Math.trunc(Number(n) || 1));
    if (max !== null && max >= 1) q = Math.min(q, max);
    if (q !== co.quantity) {
      co.quantity = q;
      co.attempt = null;
      saveAttempt();
      requestQuote();
    }
    renderQuantity();
  }
  ui.minus.addEventListener("click", () => co && setQuantity(co.quantity - 1));
  ui.plus.addEventListener("click", () => co && setQuantity(co.quantity + 1));
  ui.qty.addEventListener("change", () => co && setQuantity(ui.qty.value));

  function renderQuantity() {
    const max = maxQuantity();
    ui.qty.value = String(co.quantity);
    ui.qty.max = max !== null ? String(Math.max(1, max)) : "";
    ui.minus.disabled = co.quantity <= 1 || co.phase !== "choose";
    ui.plus.disabled = (max !== null && co.quantity >= max) || co.phase !== "choose";
    ui.qty.disabled = co.phase !== "choose";
    const view = co.view || {};
    ui.qtyNote.textContent = max === null ? ""
      : max <= 0 && typeof view.limit_left === "number" && view.limit_left <= 0 ? "You have bought the most one buyer may."
      : max <= 0 ? ""
      : `up to ${max}`;
  }

  // ---- the sale, the price ------------------------------------------------------------------
  /** The product's flash sale when it is open now (it sells one variant). */
  function openSale() {
    if (!co) return null;
    const st = state.status(co.pid);
    return st.phase === "open" && st.sale ? st.sale : null;
  }

  /** The open sale when the chosen variant is the one it sells: the purchase carries its sale_id. */
  function saleNow() {
    const sale = openSale();
    const v = currentVariant();
    if (!sale) return null;
    if (!v) return variantsOf().length <= 1 ? sale : null;
    return (sale.variant_id || "v0") === v.id ? sale : null;
  }

  function renderHead(card) {
    card = card || {};
    const src = safeImageUrl((currentVariant() || {}).image_url) || safeImageUrl(card.image_url);
    replace(ui.img, src
      ? el("img", { className: "co-thumb", src, alt: "", attrs: { referrerpolicy: "no-referrer" } })
      : el("div", { className: "co-thumb noimg", attrs: { "aria-hidden": "true" }, text: [...String(card.title || "?")][0] || "?" }));
    ui.title.textContent = card.title || "";
    tickHead();
  }

  function tickHead() {
    if (!co) return;
    const card = state.product(co.pid) || {};
    const st = state.status(co.pid);
    const v = currentVariant();
    const unit = co.quote ? co.quote.unit_price : v && typeof v.price === "number" ? v.price : st.price;
    ui.price.textContent = fmtMoney(unit, st.currency || card.currency);
    ui.sale.dataset.phase = st.phase;
    const sale = openSale();
    const saleVariant = sale && variantsOf().find((x) => x.id === (sale.variant_id || "v0"));
    const saleName = saleVariant ? Object.values(saleVariant.options || {}).join(" / ") : "";
    ui.sale.textContent = !sale ? ""
      : saleNow() ? `Flash sale · ends in ${fmtClock(st.until - state.now())}`
      : `Flash sale on ${saleName || "another variant"} · ends in ${fmtClock(st.until - state.now())}`;
    const saleId = (saleNow() || {}).id || null;
    if (saleId !== co.saleId) {
      // the sale opened or closed while the sheet is open: the price is another one now
      co.saleId = saleId;
      if (co.phase === "choose" && !co.resuming) refresh();
    }
  }

  /**
   * Stock, sale or product changed while the sheet is open: read the view and quote again. Not
   * while a purchase's answer is unknown (the connection dropped after Pay): its retry sends the
   * same fields with the same key, and a fresh quote would only race it (and be refused once
   * the first try went through).
   */
  let refreshTimer = null;
  const settled = () => co && co.phase === "choose" && !co.resuming && !(co.attempt && !co.attempt.order);
  function refresh() {
    if (!settled()) return;
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(async () => {
      if (!settled()) return;
      const pid = co.pid;
      const keep = { ...co.selected };
      await loadView();
      if (!co || co.pid !== pid) return;
      if (variantsOf().some((v) => matches(v, keep))) co.selected = keep;
      renderAll();
      requestQuote(0);
    }, 400);
  }
  setInterval(tickHead, 500);

  function requestQuote(delay = QUOTE_DELAY_MS) {
    clearTimeout(quoteTimer);
    quoteTimer = setTimeout(quote, delay);
  }

  function purchaseFields() {
    const fields = { product_id: co.pid, quantity: co.quantity };
    const v = currentVariant();
    if (v && v.id) fields.variant_id = v.id;
    const sale = saleNow();
    if (sale && sale.id) fields.sale_id = sale.id;
    if (co.coupon) fields.coupon_id = co.coupon;
    return fields;
  }

  async function quote() {
    if (!co || co.phase !== "choose" || !co.view) return;
    const v = currentVariant();
    if (!v && variantsOf().length > 1) {
      co.quote = null;
      renderSummary();
      return;
    }
    const seq = ++quoteSeq;
    const pid = co.pid;
    try {
      const q = await request("quote", "POST", `/api/rooms/${enc(roomId)}/quote`, purchaseFields());
      if (!co || co.pid !== pid || seq !== quoteSeq) return;
      co.quote = q;
      if (co.msgFrom === "quote") flash(ui.msg, "", "info", 0);
    } catch (err) {
      if (!co || co.pid !== pid || seq !== quoteSeq) return;
      co.quote = null;
      if (isCouponError(err.code) && co.coupon !== "best") {
        co.coupon = "best";
        flash(ui.msg, couponRefusal(err), "error", 8000);
        requestQuote(0);
        return;
      }
      co.msgFrom = "quote";
      flash(ui.msg, refusal(err), "error", 0);
    }
    renderAll();
  }

  function renderCoupons() {
    const q = co.quote;
    const list = q && Array.isArray(q.coupons) ? q.coupons : [];
    const chosen = q ? q.coupon_id || "" : co.coupon === "best" ? "" : co.coupon;
    const opts = [el("option", { value: "", text: "No coupon" })];
    for (const c of list) {
      const text = c.usable
        ? `${c.title} (−${fmtMoney(c.discount, q.currency)})`
        : `${c.title} — ${COUPON_REASONS[c.reason] || "not usable here"}`;
      opts.push(el("option", { value: c.id, text, disabled: !c.usable }));
    }
    replace(ui.coupon, opts);
    ui.coupon.value = chosen;
    ui.coupon.disabled = co.phase !== "choose" || !q;
    ui.couponNote.textContent = !q ? ""
      : !list.length ? "You have no coupons for this live."
      : co.coupon === "best" && q.coupon_id ? "The best coupon you have is applied."
      : "";
  }
  ui.coupon.addEventListener("change", () => {
    if (!co) return;
    co.coupon = ui.coupon.value; // "" = no coupon
    co.attempt = null;
    saveAttempt();
    requestQuote(0);
  });

  function renderSummary() {
    const q = co.quote;
    const currency = (q && q.currency) || (state.product(co.pid) || {}).currency || "";
    ui.subtotal.textContent = q ? fmtMoney(q.subtotal, currency) : "—";
    ui.discount.textContent = q ? (q.discount ? `−${fmtMoney(q.discount, currency)}` : fmtMoney(0, currency)) : "—";
    ui.total.textContent = q ? fmtMoney(q.amount, currency) : "—";
  }

  // ---- pay: reserve, then pay ---------------------------------------------------------------
  const ATTEMPT_KEY = `live_server.checkout.${roomId}`;
  function loadAttempt() {
    try {
      const a = JSON.parse(sessionStorage.getItem(ATTEMPT_KEY) || "null");
      return a && typeof a.key === "string" && a.fields ? a : null;
    } catch {
      return null;
    }
  }
  function saveAttempt() {
    try {
      const a = co && co.attempt;
      if (a && a.key && !a.order) sessionStorage.setItem(ATTEMPT_KEY, JSON.stringify({ key: a.key, fields: a.fields }));
      else sessionStorage.removeItem(ATTEMPT_KEY);
    } catch {
      /* storage off: the key lives in this page only */
    }
  }

  function renderPay() {
    const q = co.quote;
    const order = co.attempt && co.attempt.order;
    const max = maxQuantity();
    ui.pay.hidden = co.phase === "paid" || co.phase === "waiting";
    if (order) {
      ui.pay.textContent = co.phase === "busy" ? "Paying…" : `Pay ${fmtMoney(order.amount, order.currency)}`;
      ui.pay.disabled = co.phase === "busy";
      return;
    }
    ui.pay.disabled = co.phase !== "choose" || !q || (max !== null && max <= 0);
    ui.pay.textContent = co.phase === "busy" ? "Paying…"
      : max !== null && max <= 0 && currentVariant() && left(currentVariant()) <= 0 ? "Sold out"
      : q ? `Pay ${fmtMoney(q.amount, q.currency)}`
      : "Pay";
  }

  /** Which parts show: choosing, resuming a reserved order, or the outcome. */
  function layout() {
    if (!co) return;
    const done = co.phase === "paid" || co.phase === "waiting";
    chooseTop.hidden = done || co.resuming;
    chooseBottom.hidden = done || co.resuming;
    addressBox.hidden = done;
    for (const part of [chooseTop, chooseBottom]) part.classList.toggle("locked", co.phase !== "choose");
    ui.result.hidden = !(done || co.resuming);
    if (co.resuming && !done && co.attempt && co.attempt.order) {
      ui.result.dataset.state = "reserved";
      replace(ui.result, orderLines(co.attempt.order));
    }
  }

  function renderAll() {
    if (!co) return;
    renderHead(state.product(co.pid) || (co.attempt && co.attempt.order) || {});
    renderVariants();
    renderQuantity();
    address.render(co.phase === "busy" || co.phase === "paid");
    renderCoupons();
    renderSummary();
    renderPay();
    layout();
  }

  ui.pay.addEventListener("click", () => payNow());

  async function payNow({ retry = false } = {}) {
    if (!co || co.phase === "busy") return;
    if (!address.get()) {
      address.edit(true);
      flash(ui.msg, "Add a shipping address first.", "error", 0);
      return;
    }
    const order = co.attempt && co.attempt.order;
    if (order) return payOrder(order);
    if (!co.attempt) {
      if (retry || !co.quote) return;
      const fields = { ...purchaseFields(), idempotency_key: newIdempotencyKey(), expected_amount: co.quote.amount };
      if (co.quote.coupon_id) fields.coupon_id = co.quote.coupon_id;
      else delete fields.coupon_id;
      co.attempt = { key: fields.idempotency_key, fields, order: null };
      saveAttempt();
    }
    co.phase = "busy";
    flash(ui.msg, "", "info", 0);
    renderAll();
    const attempt = co.attempt;
    try {
      const res = await request("buy", "POST", `/api/rooms/${enc(roomId)}/buy`, attempt.fields);
      attempt.order = res.order || null;
      saveAttempt();
      if (typeof res.left === "number" && saleNow()) state.left[attempt.fields.product_id] = res.left;
      if (attempt.order) onOrder(attempt.order);
      if (co && co.attempt === attempt) {
        co.phase = "choose";
        await payOrder(attempt.order);
      }
    } catch (err) {
      if (!co || co.attempt !== attempt) return;
      co.phase = "choose";
      if (UNSURE.has(err.code)) {
        // The outcome is unknown: keep the key. The retry (after the reconnect, or the next
        // tap) sends the same one, so the server answers with the same order.
        flash(ui.msg, "Connection trouble while reserving: it is retried with the same order key when the room reconnects.", "error", 0);
        renderAll();
        return;
      }
      co.attempt = null;
      saveAttempt();
      if (err.code === "price_changed") {
        co.quote = null;
        renderAll();
        await quote();
        const q = co && co.quote;
        flash(ui.msg, q ? `The price changed: the total is now ${fmtMoney(q.amount, q.currency)}. Check it and tap Pay again.`
          : "The price changed. Check the total and tap Pay again.", "error", 0);
        return;
      }
      if (isCouponError(err.code)) {
        co.coupon = "best";
        flash(ui.msg, couponRefusal(err), "error", 0);
      } else {
        flash(ui.msg, refusal(err), "error", 0);
      }
      await loadView();
      renderAll();
      requestQuote(0);
    }
  }

  async function payOrder(order) {
    if (!co) return;
    if (order.state === "paid" || order.state === "fulfilled") return showPaid(order); // a repeated key
    if (provider === "webhook") return waitFor(order);
    if (!provider) {
      flash(ui.msg, "How payments work here is not known yet: reload the page and try again.", "error", 0);
      return;
    }
    co.phase = "busy";
    renderAll();
    try {
      const paid = await api("POST", `/api/orders/${enc(order.id)}/pay`, { outcome: "confirm" });
      onOrder(paid);
      showPaid(paid);
    } catch (err) {
      if (!co) return;
      co.phase = "choose";
      if (err.code === "address_required") {
        renderAll();
        address.edit(true);
        flash(ui.msg, "A shipping address is needed before paying: add it, then tap Pay again.", "error", 0);
        return;
      }
      if (err.code === "invalid_state") {
        co.attempt = null;
        saveAttempt();
        flash(ui.msg, `${refusal(err)} Start again to buy.`, "error", 0);
        renderAll();
        requestQuote(0);
        return;
      }
      flash(ui.msg, refusal(err), "error", 0);
      renderAll();
    }
  }

  /** The sheet's outcome in place of the choices: "paid" or "waiting" (for the gateway). */
  function showOutcome(phase, order, title, note, doneText) {
    co.phase = phase;
    co.attempt = phase === "paid" ? null : { key: "", fields: null, order };
    saveAttempt();
    layout();
    flash(ui.msg, "", "info", 0);
    ui.result.dataset.state = phase;
    replace(ui.result,
      el("p", { className: "co-result-title", text: title }),
      note ? el("p", { className: "muted small", text: note }) : null,
      orderLines(order),
      el("button", { type: "button", className: "btn co-done", text: doneText, on: { click: close } }));
    renderPay();
  }

  function showPaid(order) {
    if (!co) return;
    showOutcome("paid", order, "Paid", "", "Done");
    ui.result.querySelector(".co-done").focus();
    notify(`Paid ${fmtMoney(order.amount, order.currency)} for ${order.title || "your order"}.`, "ok");
  }

  function waitFor(order) {
    if (!co) return;
    showOutcome("waiting", order, "Waiting for payment",
      `Complete the payment with the payment provider before ${fmtTime(order.expires_at)}; this sheet updates when it is confirmed.`,
      "Close");
  }

  function orderLines(order) {
    const c = order.currency || "";
    const variant = order.variant && typeof order.variant === "object"
      ? Object.entries(order.variant).map(([k, v]) => `${k}: ${v}`).join(", ") : "";
    return el("dl", { className: "co-summary co-order" },
      el("dt", { text: "Order" }), el("dd", { className: "mono small co-order-id", text: order.id || "" }),
      el("dt", { text: "Item" }), el("dd", { text: `${order.title || ""}${variant ? ` (${variant})` : ""} ×${order.quantity || 1}` }),
      order.discount ? [el("dt", { text: "Coupon discount" }), el("dd", { text: `−${fmtMoney(order.discount, c)}` })] : null,
      el("dt", { text: "Total" }), el("dd", { className: "co-order-amount", text: fmtMoney(order.amount, c) }),
      order.address ? [el("dt", { text: "Ship to" }), el("dd", { className: "co-order-address", text: addressLine(order.address) })] : null);
  }

  /** An order pushed to this buyer (the `order` event): the sheet follows the one it waits for. */
  function orderChanged(order) {
    const mine = co && co.attempt && co.attempt.order;
    if (!mine || !order || order.id !== mine.id) return;
    const merged = { ...mine, ...order };
    co.attempt.order = merged;
    if (merged.state === "paid" || merged.state === "fulfilled") showPaid(merged);
    else if ((co.phase === "waiting" || co.resuming) && merged.state !== "reserved") {
      co.phase = "choose";
      co.attempt = null;
      co.resuming = false;
      flash(ui.msg, `The order is ${merged.state}.`, "error", 0);
      renderAll();
    }
  }

  // ---- refusals in plain words ---------------------------------------------------------------
  function refusal(err) {
    switch (err.code) {
      case "address_required":
        return "A shipping address is needed before paying.";
      case "price_changed":
        return "The price changed. Check the total and tap Pay again.";
      case "unknown_op":
        return "This server cannot quote or sell this yet (unknown action).";
      default:
        return describeError(err);
    }
  }

  function couponRefusal(err) {
    const why = COUPON_REASONS[(err.details || {}).reason];
    return `That coupon cannot be used${why ? `: ${why}` : " here"}. The best one you have is applied instead.`;
  }

  return {
    open,
    resume,
    refresh,
    order: orderChanged,
    /** After a reconnect: a reservation whose answer was lost is sent again with its key. */
    opened() {
      if (!co || !co.attempt || !dialog.open) return;
      if (!co.attempt.order && co.phase === "choose") payNow({ retry: true });
      else if (co.phase === "waiting") {
        // an `order` event sent while the socket was down is not replayed: read the order
        api("GET", `/api/orders/${enc(co.attempt.order.id)}`).then(orderChanged).catch(() => {});
      }
    },
    get provider() {
      return provider;
    },
    set provider(p) {
      provider = p || provider;
    },
  };
}
