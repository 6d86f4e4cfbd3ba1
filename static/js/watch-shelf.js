// The viewer's side of the live shelf: the shelf drawer, the pinned "now explaining" card, the
// flash-sale countdowns, "someone just bought" notices, the "Buy" buttons that open the
// checkout sheet (watch-checkout.js), and "my orders" as a list. A product taken down is not
// for sale, so viewers do not see it at all (the studio still does); once the show has ended
// nothing is being explained, so the pinned card goes.

import { api, describeError } from "./api.js";
import { $, el, replace, flash, fmtTime, safeImageUrl, stateBadge } from "./dom.js";
import { ShelfState, fmtClock, fmtMoney, phaseText } from "./shelf.js";
import { mountCheckout } from "./watch-checkout.js";

const TICK_MS = 250;
const ORDERS_REFRESH_MS = 30000;
const BOUGHT_SHOW_MS = 3500;

/**
 * mountWatchShelf({socket, roomId, loggedIn(), openLogin(), notify(text, kind)})
 * returns {state, snapshot(snap), events(list), opened(), recovered()} for the socket handlers.
 */
export function mountWatchShelf({ socket, roomId, loggedIn, openLogin, notify }) {
  const shelfList = $("#shelf");
  const pinnedBox = $("#pinned");
  const boughtBox = $("#bought");
  const panel = $("#shelf-panel");
  const toggle = $("#shelf-toggle");
  const ordersPanel = $("#orders-panel");
  const ordersList = $("#my-orders");
  const ordersMsg = $("#orders-msg");

  const state = new ShelfState(onChange);
  const refs = new Map(); // product id -> [{price, status, btn}] (shelf item and pinned card)
  let roomEnded = false;
  const checkout = mountCheckout({
    socket, roomId, state, loggedIn, openLogin, notify,
    onOrder: (order) => applyOrder(order),
  });

  // ---- the drawer (a bottom sheet on phones) ------------------------------------------------
  function openDrawer(open) {
    panel.classList.toggle("open", open);
    toggle.setAttribute("aria-expanded", String(open));
    if (open && !window.matchMedia("(max-width: 900px)").matches) panel.scrollIntoView({ block: "nearest", behavior: "smooth" });
  }
  toggle.addEventListener("click", () => openDrawer(!panel.classList.contains("open")));
  $("#shelf-close").addEventListener("click", () => openDrawer(false));

  // ---- rendering ------------------------------------------------------------------------------
  function onChange(what, ev) {
    if (what === "bought") return showBought(ev.data || {});
    if (what === "order") {
      applyOrder(ev.data || {});
      return checkout.order(ev.data || {});
    }
    if (what === "stock" || what === "sale" || what === "product") checkout.refresh();
    if (what === "stock" || what === "sale") return refreshAll();
    if (what === "all" || what === "shelf" || what === "product") renderShelf();
    if (what === "all" || what === "pinned" || what === "product" || what === "shelf") renderPinned();
    if (what === "pinned" && ev && visible(state.pinned) && !roomEnded) notify(`Now explaining: ${state.pinned.title}`, "info");
  }

  function image(card, className) {
    const src = safeImageUrl(card.image_url);
    return src
      ? el("img", {
          className, src, alt: "", loading: "lazy", attrs: { referrerpolicy: "no-referrer" },
          on: { error: (e) => e.target.replaceWith(placeholder()) },
        })
      : placeholder();
    function placeholder() {
      return el("div", { className: `${className} noimg`, attrs: { "aria-hidden": "true" }, text: initial(card.title) });
    }
  }

  function initial(title) {
    return [...String(title || "?").trim()][0] || "?";
  }

  function buyButton(card) {
    return el("button", {
      type: "button", className: "btn btn-primary buy-btn", text: "Buy",
      dataset: { product: card.id },
      on: { click: () => checkout.open(card.id) },
    });
  }

  function remember(pid, ref) {
    if (!refs.has(pid)) refs.set(pid, []);
    refs.get(pid).push(ref);
  }

  /** What a viewer may see: the state keeps taken-down cards, so a restore shows them again. */
  function visible(card) {
    return !!card && card.status !== "taken_down";
  }

  function renderShelf() {
    for (const [pid, list] of refs) refs.set(pid, list.filter((r) => r.where !== "shelf"));
    const cards = state.products.filter(visible);
    $("#shelf-count").textContent = String(cards.length);
    replace(shelfList, cards.length
      ? cards.map((card, i) => {
          const ref = {
            where: "shelf",
            price: el("span", { className: "price" }),
            list: el("s", { className: "muted small list-price" }),
            status: el("span", { className: "sale-status small" }),
            variants: el("span", { className: "variant-left small muted" }),
            btn: buyButton(card),
            pinned: el("span", { className: "badge pin-badge", text: "now explaining", hidden: true }),
          };
          remember(card.id, ref);
          return el("li", { className: "shelf-item", dataset: { product: card.id } },
            el("span", { className: "shelf-pos muted small", text: String(i + 1) }),
            image(card, "shelf-img"),
            el("div", { className: "shelf-body" },
              el("div", { className: "row" }, el("strong", { className: "shelf-title", text: card.title || "" }), ref.pinned),
              card.description ? el("p", { className: "shelf-desc muted small", text: card.description }) : null,
              el("div", { className: "row" }, ref.price, ref.list),
              ref.status, ref.variants),
            ref.btn);
        })
      : el("li", { className: "muted small empty", text: "Nothing on the shelf yet." }));
    refreshAll();
  }

  function renderPinned() {
    for (const [pid, list] of refs) refs.set(pid, list.filter((r) => r.where !== "pinned"));
    const card = visible(state.pinned) && !roomEnded ? state.pinned : null;
    pinnedBox.hidden = !card;
    if (!card) {
      replace(pinnedBox);
      return;
    }
    const ref = {
      where: "pinned",
      price: el("span", { className: "price" }),
      list: el("s", { className: "muted small list-price" }),
      status: el("span", { className: "sale-status small" }),
      variants: el("span", { className: "variant-left small muted" }),
      btn: buyButton(card),
    };
    remember(card.id, ref);
    replace(pinnedBox,
      image(card, "pinned-img"),
      el("div", { className: "pinned-body" },
        el("span", { className: "badge explaining", text: "Now explaining", title: "讲解中", attrs: { lang: "en" } }),
        el("strong", { className: "pinned-title", text: card.title || "" }),
        el("div", { className: "row" }, ref.price, ref.list),
        ref.status, ref.variants),
      ref.btn);
    pinnedBox.dataset.product = card.id;
    refreshAll();
  }

  /**
   * Prices, countdowns, stock and buttons: every tick, without rebuilding the lists. A shelf
   * product is buyable the whole show at its live price; an open flash sale shows its price and
   * countdown instead (the sheet then buys inside the sale).
   */
  function refreshAll() {
    const now = state.now();
    for (const [pid, list] of refs) {
      if (!list.length) continue;
      const card = state.product(pid) || {};
      const st = state.status(pid);
      const soldOut = state.soldOut(pid);
      const canBuy = st.phase !== "taken_down" && !soldOut && !roomEnded;
      let label = phaseText(st, now);
      if (st.left !== null && (st.phase === "open" || st.phase === "starting" || st.phase === "scheduled")) label += ` · ${st.left} left`;
      const variants = state.variantsText(pid);
      for (const ref of list) {
        ref.price.textContent = fmtMoney(st.price, st.currency || card.currency);
        const listPrice = Number(card.list_price) || 0;
        ref.list.textContent = listPrice > st.price ? fmtMoney(listPrice, card.currency) : "";
        ref.status.textContent = label;
        ref.status.dataset.phase = st.phase;
        if (ref.variants) ref.variants.textContent = variants;
        ref.btn.disabled = !canBuy;
        ref.btn.textContent = st.phase === "taken_down" ? "Unavailable"
          : soldOut ? "Sold out"
          : roomEnded ? "Live ended"
          : !loggedIn() ? "Log in to buy"
          : "Buy";
        if (ref.pinned) ref.pinned.hidden = roomEnded || !(state.pinned && state.pinned.id === pid);
      }
    }
  }
  setInterval(refreshAll, TICK_MS);

  let boughtTimer = null;
  function showBought(d) {
    const card = state.product(d.product_id);
    const qty = Number(d.quantity) || 1;
    boughtBox.textContent = `${d.name || "Someone"} just bought ${card ? card.title : "an item"}${qty > 1 ? ` ×${qty}` : ""}`;
    boughtBox.hidden = false;
    boughtBox.classList.remove("fade");
    void boughtBox.offsetWidth; // restart the animation
    boughtBox.classList.add("fade");
    clearTimeout(boughtTimer);
    boughtTimer = setTimeout(() => {
      boughtBox.hidden = true;
    }, BOUGHT_SHOW_MS);
  }

  // ---- my orders -----------------------------------------------------------------------------------
  let orders = [];
  const orderRefs = []; // {order, expiry}
  ordersPanel.hidden = !loggedIn();

  async function loadOrders() {
    if (!loggedIn()) return;
    try {
      const data = await api("GET", "/api/me/orders?limit=50");
      orders = Array.isArray(data.orders) ? data.orders : [];
      checkout.provider = data.payment_provider;
      renderOrders();
    } catch (err) {
      flash(ordersMsg, describeError(err), "error", 8000);
    }
  }

  /** An order update pushed to this viewer: replace it in the list (or add it) and redraw. */
  function applyOrder(order) {
    if (!order.id) return;
    const known = orders.findIndex((o) => o.id === order.id);
    if (known >= 0) orders[known] = { ...orders[known], ...order };
    else orders.unshift(order);
    renderOrders();
  }

  function renderOrders() {
    orderRefs.length = 0;
    replace(ordersList, orders.length
      ? orders.map((o) => {
          const reserved = o.state === "reserved";
          const expiry = el("span", { className: "small order-expiry" });
          if (reserved) orderRefs.push({ order: o, expiry });
          const other = o.room_id && o.room_id !== roomId;
          const variant = o.variant && typeof o.variant === "object" ? Object.values(o.variant).join(" / ") : "";
          return el("li", { className: "order", dataset: { order: o.id, state: o.state } },
            el("div", { className: "row" },
              stateBadge(o.state),
              el("strong", { className: "grow order-title", text: `${o.title || o.product_id}${variant ? ` (${variant})` : ""}${o.quantity > 1 ? ` ×${o.quantity}` : ""}` }),
              el("span", { className: "price", text: fmtMoney(o.amount, o.currency) })),
            el("div", { className: "muted small" },
              `ordered ${fmtTime(o.created_at)}`,
              o.discount ? ` · coupon −${fmtMoney(o.discount, o.currency)}` : "",
              o.paid_at ? ` · paid ${fmtTime(o.paid_at)}` : "",
              other ? el("span", {}, " · ", el("a", { href: `/watch/${encodeURIComponent(o.room_id)}`, text: o.room_title || "another live" })) : null),
            reserved ? el("div", { className: "row" },
              expiry,
              el("span", { className: "grow" }),
              // paying is the checkout sheet's job: this resumes it for the reserved order
              other ? null : el("button", { type: "button", className: "btn btn-small btn-primary resume-btn", text: "Complete payment", on: { click: () => checkout.resume(o) } }),
              el("button", { type: "button", className: "btn btn-small btn-danger cancel-btn", text: "Cancel", on: { click: (e) => cancel(o, e.target) } })) : null);
        })
      : el("li", { className: "muted small", text: "No orders yet." }));
    tickOrders();
  }

  const checking = new Set();
  function tickOrders() {
    const now = state.now();
    for (const { order, expiry } of orderRefs) {
      const left = Number(order.expires_at) - now;
      expiry.textContent = left > 0
        ? `reserved until ${fmtTime(order.expires_at)} (${fmtClock(left)} left to pay)`
        : "the reservation has expired";
      if (left <= -500 && !checking.has(order.id)) {
        checking.add(order.id);
        api("GET", `/api/orders/${encodeURIComponent(order.id)}`)
          .then((fresh) => updateOrder(fresh))
          .catch(() => {})
          .finally(() => setTimeout(() => checking.delete(order.id), 5000));
      }
    }
  }
  setInterval(tickOrders, 1000);

  function updateOrder(fresh) {
    if (!fresh || !fresh.id) return;
    orders = orders.map((o) => (o.id === fresh.id ? fresh : o));
    renderOrders();
  }

  async function cancel(order, btn) {
    if (!confirm(`Cancel the order for ${order.title}?`)) return;
    btn.disabled = true;
    try {
      updateOrder(await api("POST", `/api/orders/${encodeURIComponent(order.id)}/cancel`));
      flash(ordersMsg, "Order cancelled.", "ok", 6000);
    } catch (err) {
      flash(ordersMsg, describeError(err), "error", 10000);
      btn.disabled = false;
      if (err.code === "invalid_state") loadOrders();
    }
  }

  $("#orders-refresh").addEventListener("click", loadOrders);
  setInterval(() => {
    if (!document.hidden) loadOrders();
  }, ORDERS_REFRESH_MS);
  loadOrders();

  // ---- socket plumbing ------------------------------------------------------------------------
  return {
    state,
    checkout,
    loadOrders,
    snapshot(snap) {
      roomEnded = !!(snap && snap.room && snap.room.state === "ended");
      state.applySnapshot(snap);
      // the snapshot's cards do not say how many of each variant are left; the shelf op does
      const unknown = state.products.some((c) => (c.variants || []).some((v) => typeof v.left !== "number"));
      if (unknown && socket.open) this.recovered();
    },
    events(list) {
      const wasEnded = roomEnded;
      for (const ev of list) if (ev.type === "room_state") roomEnded = (ev.data || {}).state === "ended";
      state.applyEvents(list);
      if (roomEnded !== wasEnded) renderPinned();
    },
    opened() {
      checkout.opened();
    },
    /** After a recovery the unsequenced stock figures may be stale: ask for the shelf again. */
    async recovered() {
      try {
        state.applySnapshot(await socket.request("shelf"));
      } catch {
        /* the next events fix it */
      }
    },
  };
}
