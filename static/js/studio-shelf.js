// The creator's side of the live shelf: the product catalogue, a room's shelf (add, reorder,
// remove), the pinned "now explaining" product, flash sales, the room's orders with GMV and a
// CSV download, and the creator's earnings.

import { api, describeError, getToken, responseError } from "./api.js";
import { $, el, replace, flash, fmtDateTime, fmtTime, safeImageUrl, stateBadge } from "./dom.js";
import {
  ShelfState, currencyOf, fmtMoney, fmtPercent, localInputToMs, moneyInput, msToLocalInput, parseCount,
  parseMoney, parsePercent, percentInput, phaseText,
} from "./shelf.js";
import { defaultUnits, quickSaleUnits } from "./quick-sale.js";
import { mountVariantEditor, variantStockText } from "./studio-variants.js";

const ORDERS_REFRESH_MS = 5000; // the room's totals while live, besides the buy signals
const QUICK_SALE_MINUTES = [1, 3, 5, 10];
const QUICK_SALE_COUNTDOWN_MS = 10_000;
const enc = encodeURIComponent;

/**
 * mountStudioShelf({me, notify}) -> {select(room, socket), snapshot(snap), events(list)}
 * The catalogue and earnings are the creator's; the rest follows the selected room.
 */
export function mountStudioShelf({ me, notify }) {
  const isCreator = me.role === "creator";
  let room = null; // the selected room
  let socket = null;
  let catalogue = [];
  const state = new ShelfState(onShelfChange);

  $("#catalogue-section").hidden = !isCreator;
  $("#earnings-section").hidden = !isCreator;

  // ---- catalogue -----------------------------------------------------------------------------
  const productForm = $("#product-form");
  const productMsg = $("#product-msg");
  const variantEditor = mountVariantEditor({ root: $("#variant-editor"), stockInput: productForm.elements.stock });

  async function loadCatalogue() {
    if (!isCreator) return;
    try {
      const data = await api("GET", "/api/products");
      catalogue = Array.isArray(data.products) ? data.products : [];
      catalogue.sort((a, b) => (b.created_at || 0) - (a.created_at || 0));
      renderCatalogue();
      renderAddSelect();
    } catch (err) {
      flash(productMsg, describeError(err), "error", 8000);
    }
  }

  function renderCatalogue() {
    replace($("#catalogue"), catalogue.length
      ? catalogue.map((p) => {
          const src = safeImageUrl(p.image_url);
          const onShelf = state.products.some((c) => c.id === p.id);
          return el("tr", { dataset: { product: p.id } },
            el("td", {}, src ? el("img", { className: "thumb", src, alt: "", loading: "lazy", attrs: { referrerpolicy: "no-referrer" } }) : null),
            el("td", { className: "wrap" },
              el("strong", { text: p.title }),
              el("div", { className: "muted small mono", text: p.id }),
              p.description ? el("div", { className: "muted small clamp2", text: p.description }) : null),
            el("td", { className: "num", text: fmtMoney(p.list_price, p.currency) }),
            el("td", { className: "num", text: fmtMoney(p.live_price, p.currency) }),
            el("td", { className: "num" }, String(p.stock),
              variantStockText(p) ? el("div", { className: "muted small variant-stock-list", text: variantStockText(p) }) : null),
            el("td", { className: "num", text: String(p.per_buyer_limit) }),
            el("td", { className: "num", text: fmtPercent(p.commission_bp) }),
            el("td", {}, stateBadge(p.status), p.takedown && p.takedown.reason ? el("div", { className: "muted small", text: p.takedown.reason }) : null),
            el("td", {}, el("span", { className: "row" },
              el("button", { type: "button", className: "btn btn-small", text: "Edit", on: { click: () => editProduct(p) } }),
              room && room.state !== "ended" && p.status === "on_sale" && !onShelf
                ? el("button", { type: "button", className: "btn btn-small shelf-add", text: "Add to shelf", on: { click: () => addToShelf(p.id) } }) : null,
              p.status === "on_sale" ? el("button", { type: "button", className: "btn btn-small btn-danger", text: "Take down", on: { click: () => takeDown(p) } }) : null,
              p.status === "taken_down" && p.takedown && p.takedown.by === p.creator_id
                ? el("button", { type: "button", className: "btn btn-small product-restore", text: "Put back on sale", on: { click: () => restoreProduct(p) } }) : null,
              p.status === "taken_down" && p.takedown && p.takedown.by !== p.creator_id
                ? el("span", { className: "muted small", text: "taken down by ops" }) : null,
              el("button", { type: "button", className: "btn btn-small btn-danger", text: "Delete", on: { click: () => deleteProduct(p) } }))));
        })
      : el("tr", {}, el("td", { className: "muted", text: "No products yet: create one above.", attrs: { colspan: "9" } })));
  }

  function productBody(f) {
    const errors = [];
    const listPrice = parseMoney(f.list_price.value);
    const livePrice = parseMoney(f.live_price.value);
    const stock = parseCount(f.stock.value, 0);
    const limit = parseCount(f.per_buyer_limit.value, 1);
    const bp = f.commission.value.trim() === "" ? 0 : parsePercent(f.commission.value);
    const currency = f.currency.value.trim().toUpperCase();
    if (!f.title.value.trim()) errors.push("a title");
    if (listPrice === null) errors.push("the list price as an amount like 12.30");
    if (livePrice === null) errors.push("the live price as an amount like 9.90");
    if (listPrice !== null && livePrice !== null && livePrice > listPrice) errors.push("a live price not above the list price");
    if (!/^[A-Z]{3}$/.test(currency)) errors.push("a three-letter currency code");
    if (stock === null) errors.push("the stock as a whole number");
    if (limit === null) errors.push("a per-buyer limit of at least 1");
    if (bp === null) errors.push("the commission as a percentage from 0 to 100 (two decimals at most)");
    const variants = variantEditor.read();
    if (variants.error) errors.push(variants.error);
    if (errors.length) return { error: `Please give ${errors.join(", ")}.` };
    return {
      body: {
        title: f.title.value.trim(),
        description: f.description.value.trim(),
        image_url: f.image_url.value.trim(),
        list_price: listPrice,
        live_price: livePrice,
        currency,
        stock,
        per_buyer_limit: limit,
        commission_bp: bp,
        ...(variants.variants ? { options: variants.options, variants: variants.variants } : {}),
      },
    };
  }

  function resetProductForm() {
    productForm.reset();
    productForm.elements.id.value = "";
    $("#product-save").textContent = "Create product";
    $("#product-cancel").hidden = true;
    variantEditor.load(null);
  }

  function editProduct(p) {
    const f = productForm.elements;
    f.id.value = p.id;
    f.title.value = p.title || "";
    f.description.value = p.description || "";
    f.image_url.value = p.image_url || "";
    f.list_price.value = moneyInput(p.list_price);
    f.live_price.value = moneyInput(p.live_price);
    f.currency.value = p.currency || "CNY";
    f.stock.value = String(p.stock);
    f.per_buyer_limit.value = String(p.per_buyer_limit);
    f.commission.value = percentInput(p.commission_bp);
    variantEditor.load(p);
    $("#product-save").textContent = "Save changes";
    $("#product-cancel").hidden = false;
    productForm.scrollIntoView({ block: "nearest", behavior: "smooth" });
    f.title.focus();
  }

  productForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = productForm.elements;
    const { body, error } = productBody(f);
    if (error) {
      flash(productMsg, error, "error", 10000);
      return;
    }
    const id = f.id.value;
    if (body.variants) delete body.stock; // each variant's stock is in `variants`
    try {
      const saved = id
        ? await api("PATCH", `/api/products/${enc(id)}`, body)
        : await api("POST", "/api/products", body);
      flash(productMsg, id ? `Saved ${saved.title}.` : `Created ${saved.title}.`, "ok");
      resetProductForm();
      loadCatalogue();
    } catch (err) {
      flash(productMsg, describeError(err), "error", 10000);
    }
  });
  $("#product-cancel").addEventListener("click", resetProductForm);
  $("#catalogue-refresh").addEventListener("click", loadCatalogue);

  async function takeDown(p) {
    const reason = prompt(`Take "${p.title}" down everywhere? Purchases stop at once; you can put it back on sale later. Reason (optional):`, "");
    if (reason === null) return;
    try {
      await api("POST", `/api/products/${enc(p.id)}/takedown`, reason.trim() ? { reason: reason.trim().slice(0, 200) } : {});
      flash(productMsg, `${p.title} was taken down.`, "ok");
      loadCatalogue();
    } catch (err) {
      flash(productMsg, describeError(err), "error", 10000);
    }
  }

  async function restoreProduct(p) {
    try {
      await api("POST", `/api/products/${enc(p.id)}/restore`);
      flash(productMsg, `${p.title} is back on sale.`, "ok");
      loadCatalogue();
    } catch (err) {
      flash(productMsg, describeError(err), "error", 10000);
    }
  }

  async function deleteProduct(p) {
    if (!confirm(`Delete "${p.title}" from the catalogue? Orders already placed are kept.`)) return;
    try {
      await api("DELETE", `/api/products/${enc(p.id)}`);
      flash(productMsg, `${p.title} was deleted.`, "ok");
      if (productForm.elements.id.value === p.id) resetProductForm();
      loadCatalogue();
    } catch (err) {
      flash(productMsg, describeError(err), "error", 10000);
    }
  }

  // ---- the room's shelf ----------------------------------------------------------------------
  const shelfMsg = $("#shelf-msg");
  const shelfList = $("#studio-shelf");
  const statusRefs = new Map(); // product id -> status element

  function roomPath(suffix) {
    return `/api/rooms/${enc(room.id)}${suffix}`;
  }

  function canEdit() {
    return room && isCreator && room.creator_id === me.id;
  }

  function onShelfChange(what) {
    if (what === "bought") return scheduleOrders();
    if (what === "stock") {
      scheduleOrders();
      return refreshStatuses();
    }
    if (what === "sale") {
      scheduleOrders(500);
      return renderShelf();
    }
    renderShelf();
    renderAddSelect();
    renderCatalogue();
  }

  function renderAddSelect() {
    const sel = $("#shelf-add-form").elements.product_id;
    const onShelf = new Set(state.products.map((p) => p.id));
    const options = catalogue.filter((p) => p.status === "on_sale" && !onShelf.has(p.id));
    replace(sel, options.length
      ? options.map((p) => el("option", { value: p.id, text: `${p.title} · ${fmtMoney(p.live_price, p.currency)}` }))
      : el("option", { value: "", text: catalogue.length ? "every product is on the shelf" : "create a product in the catalogue first" }));
    $("#shelf-add-form").hidden = !canEdit();
  }

  function renderShelf() {
    statusRefs.clear();
    const pinned = state.pinned;
    $("#studio-pinned").textContent = pinned ? pinned.title : "nothing";
    $("#unpin").hidden = !pinned || !canEdit();
    const n = state.products.length;
    const edit = canEdit() && room.state !== "ended";
    replace(shelfList, n
      ? state.products.map((card, i) => {
          const st = state.status(card.id);
          const status = el("span", { className: "sale-status small" });
          statusRefs.set(card.id, status);
          const isPinned = pinned && pinned.id === card.id;
          const saleActive = st.sale && st.sale.state !== "closed";
          const src = safeImageUrl(card.image_url);
          return el("li", { className: "shelf-item studio-item", dataset: { product: card.id } },
            el("span", { className: "shelf-pos muted small", text: String(i + 1) }),
            src ? el("img", { className: "shelf-img", src, alt: "", loading: "lazy", attrs: { referrerpolicy: "no-referrer" }, on: { error: (e) => { e.target.style.visibility = "hidden"; } } })
              : el("div", { className: "shelf-img noimg", text: [...String(card.title || "?").trim()][0] || "?", attrs: { "aria-hidden": "true" } }),
            el("div", { className: "shelf-body" },
              el("div", { className: "row" },
                el("strong", { className: "shelf-title", text: card.title }),
                isPinned ? el("span", { className: "badge explaining", text: "now explaining", title: "讲解中" }) : null,
                card.status === "taken_down" ? stateBadge("taken_down") : null),
              el("div", { className: "row small" },
                el("span", { className: "price", text: fmtMoney(card.live_price, card.currency) }),
                el("s", { className: "muted", text: fmtMoney(card.list_price, card.currency) }),
                st.sale ? el("span", { className: "muted", text: `sale ${fmtMoney(st.sale.price, st.sale.currency)} · ${st.sale.stock} units · ${fmtDateTime(st.sale.start_at)} → ${fmtDateTime(st.sale.end_at)}` }) : null),
              status),
            edit ? el("span", { className: "row shelf-actions" },
              el("button", { type: "button", className: "btn btn-small", text: "↑", title: "Move up", disabled: i === 0, on: { click: () => move(card.id, i - 1) } }),
              el("button", { type: "button", className: "btn btn-small", text: "↓", title: "Move down", disabled: i === n - 1, on: { click: () => move(card.id, i + 1) } }),
              el("button", { type: "button", className: "btn btn-small", text: "Top", title: "Move to the top", disabled: i === 0, on: { click: () => toTop(card.id) } }),
              el("button", { type: "button", className: `btn btn-small pin-btn${isPinned ? "" : " btn-primary"}`, text: isPinned ? "Unpin" : "Pin", title: isPinned ? "Stop explaining" : "Pin: now explaining (讲解中)", on: { click: () => pin(isPinned ? null : card.id) } }),
              saleActive ? el("button", { type: "button", className: "btn btn-small btn-danger", text: "Cancel sale", on: { click: () => cancelSale(card) } }) : null,
              el("button", { type: "button", className: "btn btn-small btn-danger", text: "Remove", on: { click: () => removeFromShelf(card) } })) : null,
            edit && !saleActive ? quickSaleButtons(card) : null);
        })
      : el("li", { className: "muted small", text: "The shelf is empty." }));
    refreshStatuses();
  }

  function refreshStatuses() {
    const now = state.now();
    for (const [pid, node] of statusRefs) {
      const st = state.status(pid);
      let text = phaseText(st, now);
      if (st.left !== null && st.sale) text += ` · ${st.left} of ${st.sale.stock} left`;
      node.textContent = text;
      node.dataset.phase = st.phase;
    }
  }
  setInterval(refreshStatuses, 500);

  async function shelfCall(method, suffix, body, okText) {
    try {
      await api(method, roomPath(suffix), body);
      if (okText) flash(shelfMsg, okText, "ok");
      return true;
    } catch (err) {
      flash(shelfMsg, describeError(err), "error", 10000);
      return false;
    }
  }

  async function addToShelf(pid) {
    if (!room) return;
    const p = catalogue.find((x) => x.id === pid);
    await shelfCall("POST", "/shelf", { product_id: pid }, `${p ? p.title : pid} is on the shelf.`);
  }
  $("#shelf-add-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const pid = e.target.elements.product_id.value;
    if (pid) addToShelf(pid);
  });

  function move(pid, position) {
    return shelfCall("PATCH", `/shelf/${enc(pid)}`, { position });
  }

  function toTop(pid) {
    const ids = [pid, ...state.products.map((p) => p.id).filter((id) => id !== pid)];
    return shelfCall("PUT", "/shelf", { product_ids: ids });
  }

  function removeFromShelf(card) {
    if (!confirm(`Take "${card.title}" off the shelf?`)) return;
    shelfCall("DELETE", `/shelf/${enc(card.id)}`, undefined, `${card.title} is off the shelf.`);
  }

  /** Pin over the room socket when it is open (the `pin` op), else over HTTP. */
  async function pin(pid) {
    try {
      if (socket && socket.open) await socket.request("pin", { product_id: pid });
      else await api("PUT", roomPath("/pinned"), { product_id: pid });
      flash(shelfMsg, pid ? "Pinned: now explaining." : "Unpinned.", "ok");
    } catch (err) {
      flash(shelfMsg, describeError(err), "error", 10000);
    }
  }
  $("#unpin").addEventListener("click", () => pin(null));

  // ---- flash sales ---------------------------------------------------------------------------
  const unitsTyped = new Map(); // product id -> the units field's text, kept across re-renders

  /** The catalogue's product (or the variant with units, when there are several) a quick sale sells. */
  function quickSaleSource(card) {
    const catalogued = catalogue.find((p) => p.id === card.id);
    const variants = catalogued && Array.isArray(catalogued.variants) ? catalogued.variants : [];
    const variant = variants.length > 1 ? variants.find((v) => Number(v.stock) > 0) : null;
    const available = Number(variant ? variant.stock : catalogued ? catalogued.stock : card.stock) || 0;
    return { variant, available };
  }

  /** One click starts a sale of this product now (or in 10 s), for 1, 3, 5 or 10 minutes, of the
   * units in the field beside the buttons (all the catalogue has, unless the creator says fewer). */
  function quickSaleButtons(card) {
    const off = card.status !== "on_sale";
    const { available } = quickSaleSource(card);
    const units = el("input", {
      className: "num-input sale-units", value: unitsTyped.get(card.id) ?? String(defaultUnits(available)),
      disabled: off, attrs: { inputmode: "numeric", maxlength: "6", "aria-label": `Units for a flash sale of ${card.title}`, title: `At most ${available} (in the catalogue)` },
      on: { input: (e) => unitsTyped.set(card.id, e.target.value) },
    });
    return el("span", { className: "row quick-sale", attrs: { role: "group", "aria-label": `Flash sale of ${card.title}` } },
      el("span", { className: "quick-sale-label", text: "Flash sale" }),
      el("label", { className: "check quick-sale-units" }, units, el("span", { text: "units" })),
      ...QUICK_SALE_MINUTES.map((m) => el("button", {
        type: "button", className: "btn btn-small sale-preset", text: `${m} min`, disabled: off,
        title: `A flash sale of ${m} min at the quick-sale price`, dataset: { minutes: String(m) },
        on: { click: () => quickSale(card, m) },
      })),
      el("button", { type: "button", className: "btn btn-small sale-btn", text: "Custom…", title: "A flash sale with its own price, units and window", disabled: off, on: { click: () => openSaleForm(card) } }));
  }

  /** The quick sale's terms: the live price less the chosen percentage, the units in the field. */
  function quickSaleTerms(card) {
    const off = parseCount($("#quick-sale-off").value || "0", 0, 90);
    if (off === null) return { error: "Give the quick-sale discount as a whole percentage from 0 to 90." };
    const { variant, available } = quickSaleSource(card);
    const units = quickSaleUnits(unitsTyped.get(card.id) ?? "", available, card.title);
    if (units.error) return units;
    const price = Math.floor((Number(card.live_price) * (100 - off)) / 100);
    return { price, stock: units.units, variant };
  }

  async function quickSale(card, minutes) {
    const terms = quickSaleTerms(card);
    if (terms.error) {
      flash(shelfMsg, terms.error, "error", 10000);
      return;
    }
    const countdown = $("#quick-sale-countdown").checked;
    const start = state.now() + (countdown ? QUICK_SALE_COUNTDOWN_MS : 0);
    // the window exactly as long as the preset says, on the server's clock
    const body = { product_id: card.id, price: terms.price, stock: terms.stock, start_at: start, end_at: start + minutes * 60_000 };
    if (terms.variant) body.variant_id = terms.variant.id;
    try {
      await api("POST", roomPath("/sales"), body);
      unitsTyped.delete(card.id);
      const what = `${card.title}${terms.variant ? ` (${Object.values(terms.variant.options || {}).join(" / ")})` : ""}`;
      flash(shelfMsg, `Flash sale of ${what}: ${fmtMoney(terms.price, card.currency)}, ${terms.stock} units, ${minutes} min${countdown ? ", opening in 10 s" : ", open now"}.`, "ok", 8000);
    } catch (err) {
      flash(shelfMsg, describeError(err), "error", 10000);
    }
  }

  const saleForm = $("#sale-form");
  const saleMsg = $("#sale-msg");

  function openSaleForm(card) {
    const f = saleForm.elements;
    f.product_id.value = card.id;
    $("#sale-title").textContent = card.title;
    f.price.value = moneyInput(card.live_price);
    const catalogued = catalogue.find((p) => p.id === card.id);
    f.stock.value = String(catalogued ? catalogued.stock : card.stock);
    // a sale is of one variant: the creator picks it when there are several
    const variants = catalogued && Array.isArray(catalogued.variants) ? catalogued.variants : [];
    $("#sale-variant-label").hidden = variants.length < 2;
    replace(f.variant_id, variants.map((v) => el("option", {
      value: v.id, text: `${Object.values(v.options || {}).join(" / ") || v.id} (${v.stock ?? 0} in stock)`,
    })));
    const first = variants.find((v) => Number(v.stock) > 0) || variants[0];
    if (first && variants.length > 1) {
      f.variant_id.value = first.id;
      f.stock.value = String(first.stock ?? 0);
    }
    f.start.value = "";
    f.end.value = msToLocalInput(Date.now() + 3_600_000);
    flash(saleMsg, "", "info", 0);
    saleForm.hidden = false;
    saleForm.scrollIntoView({ block: "nearest", behavior: "smooth" });
    f.price.focus();
  }
  saleForm.elements.variant_id.addEventListener("change", () => {
    const f = saleForm.elements;
    const product = catalogue.find((p) => p.id === f.product_id.value);
    const v = product && (product.variants || []).find((x) => x.id === f.variant_id.value);
    if (v) f.stock.value = String(v.stock ?? 0);
  });
  $("#sale-cancel-form").addEventListener("click", () => {
    saleForm.hidden = true;
  });

  saleForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = saleForm.elements;
    const price = parseMoney(f.price.value);
    const stock = parseCount(f.stock.value, 1);
    const start = f.start.value ? localInputToMs(f.start.value) : null;
    const end = localInputToMs(f.end.value);
    let error = "";
    if (price === null) error = "Give the sale price as an amount like 9.90.";
    else if (stock === null) error = "Give the units in the sale as a whole number of at least 1.";
    else if (f.start.value && start === null) error = "The start is not a date and time.";
    else if (end === null) error = "Give the end of the sale.";
    else if (end <= (start ?? Date.now())) error = "The sale must end after it starts (and in the future).";
    if (error) {
      flash(saleMsg, error, "error", 10000);
      return;
    }
    const body = { product_id: f.product_id.value, price, stock, end_at: end };
    if (start !== null) body.start_at = start;
    if (!$("#sale-variant-label").hidden && f.variant_id.value) body.variant_id = f.variant_id.value;
    try {
      const sale = await api("POST", roomPath("/sales"), body);
      saleForm.hidden = true;
      flash(shelfMsg, sale.state === "open" ? "The sale is open." : `The sale opens at ${fmtTime(sale.start_at)}.`, "ok", 8000);
    } catch (err) {
      flash(saleMsg, describeError(err), "error", 10000);
    }
  });

  async function cancelSale(card) {
    if (!confirm(`Cancel the flash sale of "${card.title}"? Orders already placed are kept.`)) return;
    await shelfCall("DELETE", `/sales/${enc(card.id)}`, undefined, "The sale was cancelled.");
  }

  // ---- orders and GMV --------------------------------------------------------------------------
  const ordersMsg = $("#orders-msg");
  let ordersTimer = null;
  let ordersSoon = null;

  function scheduleOrders(ms = 1000) {
    if (ordersSoon) return;
    ordersSoon = setTimeout(() => {
      ordersSoon = null;
      loadOrders();
    }, ms);
  }

  function moneyCounters(box, totals, currency) {
    const t = totals || {};
    const item = (label, value, cls = "") => el("div", { className: `counter ${cls}` }, el("b", { text: value }), el("span", { text: label }));
    replace(box,
      item("GMV (paid)", fmtMoney(t.gmv || 0, currency), "gmv"),
      item("refunded", fmtMoney(t.refunded || 0, currency)),
      item("net", fmtMoney(t.net || 0, currency)),
      item("commission", fmtMoney(t.commission || 0, currency)),
      item("paid orders", String(t.paid_orders || 0)),
      item("refunded orders", String(t.refunded_orders || 0)));
  }

  async function loadOrders() {
    if (!room) return;
    const roomId = room.id;
    try {
      const data = await api("GET", roomPath("/orders?limit=200"));
      if (!room || room.id !== roomId) return;
      const orders = Array.isArray(data.orders) ? data.orders : [];
      const currency = currencyOf(orders.length ? orders : state.products);
      moneyCounters($("#gmv"), data.totals, currency);
      // the control room's figures, beside the audience counters
      $("#c-gmv").textContent = fmtMoney((data.totals && data.totals.gmv) || 0, currency);
      $("#c-orders").textContent = String((data.totals && data.totals.paid_orders) || 0);
      replace($("#room-orders"), orders.length
        ? orders.map((o) => el("tr", { dataset: { order: o.id, state: o.state } },
            el("td", { text: fmtDateTime(o.created_at) }),
            el("td", { className: "mono", text: o.buyer }),
            el("td", { className: "wrap", text: o.title || o.product_id }),
            el("td", { className: "num", text: String(o.quantity) }),
            el("td", { className: "num", text: fmtMoney(o.amount, o.currency) }),
            el("td", {}, stateBadge(o.state),
              o.state === "reserved" ? el("div", { className: "muted small", text: `until ${fmtTime(o.expires_at)}` }) : null),
            el("td", { className: "num", text: o.state === "paid" || o.state === "fulfilled" ? fmtMoney(o.commission, o.currency) : `${fmtPercent(o.commission_bp)}` }),
            el("td", {}, orderActions(o))))
        : el("tr", {}, el("td", { className: "muted", text: "No orders yet.", attrs: { colspan: "8" } })));
    } catch (err) {
      flash(ordersMsg, describeError(err), "error", 8000);
    }
  }

  function orderActions(o) {
    const act = (label, action, cls = "") => el("button", {
      type: "button", className: `btn btn-small ${cls}`, text: label,
      on: { click: () => orderAction(o, action) },
    });
    return el("span", { className: "row" },
      o.state === "paid" && room.creator_id === me.id ? act("Fulfil", "fulfil") : null,
      o.state === "paid" ? act("Refund", "refund", "btn-danger") : null,
      o.state === "reserved" ? act("Cancel", "cancel", "btn-danger") : null);
  }

  async function orderAction(o, action) {
    if (action !== "fulfil" && !confirm(`${action === "refund" ? "Refund" : "Cancel"} the order of ${o.buyer} for ${o.title}?`)) return;
    try {
      await api("POST", `/api/orders/${enc(o.id)}/${action}`);
      flash(ordersMsg, `Order ${action === "fulfil" ? "fulfilled" : action === "refund" ? "refunded" : "cancelled"}.`, "ok");
      loadOrders();
      loadEarnings();
    } catch (err) {
      flash(ordersMsg, describeError(err), "error", 10000);
    }
  }

  /** The CSV needs the token: fetch it and save the blob. */
  async function downloadCsv() {
    if (!room) return;
    const btn = $("#orders-csv");
    btn.disabled = true;
    try {
      const headers = {};
      const tok = getToken();
      if (tok) headers.Authorization = `Bearer ${tok}`;
      const res = await fetch(roomPath("/orders.csv"), { headers, credentials: "same-origin" });
      if (!res.ok) {
        flash(ordersMsg, describeError(await responseError(res)), "error", 10000);
        return;
      }
      const blob = await res.blob();
      const rows = Math.max(0, (await blob.text()).split("\r\n").filter(Boolean).length - 1);
      const url = URL.createObjectURL(blob);
      const a = el("a", { href: url, attrs: { download: `orders-${room.id}.csv` }, hidden: true });
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
      flash(ordersMsg, `Downloaded orders-${room.id}.csv (${rows} orders).`, "ok", 8000);
    } catch {
      flash(ordersMsg, "The server cannot be reached.", "error", 8000);
    } finally {
      btn.disabled = false;
    }
  }
  $("#orders-csv").addEventListener("click", downloadCsv);
  $("#orders-refresh").addEventListener("click", loadOrders);

  // ---- earnings ------------------------------------------------------------------------------------
  async function loadEarnings() {
    if (!isCreator) return;
    try {
      const data = await api("GET", "/api/me/earnings?limit=50");
      const currency = currencyOf(catalogue);
      moneyCounters($("#earnings"), data.totals, currency);
      // gift income (the creator's share of every gift sent in their rooms) beside the orders'
      const gifts = data.gifts || {};
      $("#earnings").append(
        el("div", { className: "counter gift-income" }, el("b", { text: fmtMoney(gifts.creator || 0, currency) }), el("span", { text: "gift income" })),
        el("div", { className: "counter gifts-received" }, el("b", { text: String(gifts.gifts || 0) }), el("span", { text: "gifts received" })));
      const ledger = Array.isArray(data.ledger) ? data.ledger : [];
      replace($("#ledger"), ledger.length
        ? ledger.map((e) => el("tr", {},
            el("td", { text: fmtDateTime(e.ts) }),
            el("td", { className: "mono small", text: e.room_id }),
            el("td", {}, el("span", { className: "badge", text: e.kind })),
            el("td", { className: "mono small wrap", text: e.order_id }),
            el("td", { className: "num", text: fmtMoney(e.amount, currency) }),
            el("td", { className: "num", text: fmtMoney(e.commission, currency) })))
        : el("tr", {}, el("td", { className: "muted", text: "No paid orders yet.", attrs: { colspan: "6" } })));
    } catch (err) {
      flash(productMsg, describeError(err), "error", 8000);
    }
  }
  $("#earnings-refresh").addEventListener("click", loadEarnings);

  // polled only while the room is live (its figures stand still otherwise); buys ask sooner
  setInterval(() => {
    if (document.hidden || !room || room.state !== "live") return;
    loadOrders();
  }, ORDERS_REFRESH_MS);
  setInterval(() => {
    if (!document.hidden) loadEarnings();
  }, ORDERS_REFRESH_MS * 6);

  loadCatalogue().then(loadEarnings);

  return {
    select(r, s) {
      room = r;
      socket = s;
      saleForm.hidden = true;
      state.applySnapshot({ products: [], pinned: null, sales: {} });
      replace($("#room-orders"));
      replace($("#gmv"));
      $("#c-gmv").textContent = "—";
      $("#c-orders").textContent = "0";
      clearTimeout(ordersTimer);
      loadOrders();
      // the shelf over HTTP at once; the socket's snapshot and events keep it current
      api("GET", roomPath("/shelf")).then((data) => {
        if (room && room.id === r.id) state.applySnapshot(data);
      }).catch(() => {});
    },
    roomChanged(r) {
      if (room && r.state !== room.state) scheduleOrders(); // the final figures after the end
      room = { ...room, ...r };
      renderShelf();
      renderAddSelect();
    },
    snapshot(snap) {
      state.applySnapshot(snap);
    },
    events(list) {
      state.applyEvents(list);
    },
  };
}
