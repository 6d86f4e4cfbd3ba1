// The viewer's side of the live shelf: the shelf drawer, the pinned "now explaining" card, the
// flash-sale countdowns, "someone just bought" notices, buying over the websocket with an
// idempotency key per click, and "my orders" with the development payment provider.

import { api, describeError } from "./api.js";
import { $, el, replace, flash, fmtTime, safeImageUrl, stateBadge } from "./dom.js";
import { ShelfState, UNSURE, fmtClock, fmtMoney, newIdempotencyKey, phaseText } from "./shelf.js";

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
  const buyMsg = $("#buy-msg");
  const panel = $("#shelf-panel");
  const toggle = $("#shelf-toggle");
  const ordersPanel = $("#orders-panel");
  const ordersList = $("#my-orders");
  const ordersMsg = $("#orders-msg");

  const state = new ShelfState(onChange);
  const refs = new Map(); // product id -> [{price, status, btn}] (shelf item and pinned card)
  const busy = new Set(); // product ids with a purchase on the way
  let roomEnded = false;

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
    if (what === "order") return applyOrder(ev.data || {});
    if (what === "stock" || what === "sale") return refreshAll();
    if (what === "all" || what === "shelf" || what === "product") renderShelf();
    if (what === "all" || what === "pinned" || what === "product" || what === "shelf") renderPinned();
    if (what === "pinned" && ev && state.pinned) notify(`Now explaining: ${state.pinned.title}`, "info");
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
      on: { click: () => buy(card.id) },
    });
  }

  function remember(pid, ref) {
    if (!refs.has(pid)) refs.set(pid, []);
    refs.get(pid).push(ref);
  }

  function renderShelf() {
    for (const [pid, list] of refs) refs.set(pid, list.filter((r) => r.where !== "shelf"));
    const cards = state.products;
    $("#shelf-count").textContent = String(cards.length);
    replace(shelfList, cards.length
      ? cards.map((card, i) => {
          const ref = {
            where: "shelf",
            price: el("span", { className: "price" }),
            list: el("s", { className: "muted small list-price" }),
            status: el("span", { className: "sale-status small" }),
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
              ref.status),
            ref.btn);
        })
      : el("li", { className: "muted small empty", text: "Nothing on the shelf yet." }));
    refreshAll();
  }

  function renderPinned() {
    for (const [pid, list] of refs) refs.set(pid, list.filter((r) => r.where !== "pinned"));
    const card = state.pinned;
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
      btn: buyButton(card),
    };
    remember(card.id, ref);
    replace(pinnedBox,
      image(card, "pinned-img"),
      el("div", { className: "pinned-body" },
        el("span", { className: "badge explaining", text: "Now explaining", title: "讲解中", attrs: { lang: "en" } }),
        el("strong", { className: "pinned-title", text: card.title || "" }),
        el("div", { className: "row" }, ref.price, ref.list),
        ref.status),
      ref.btn);
    pinnedBox.dataset.product = card.id;
    refreshAll();
  }

  /** Prices, countdowns, stock and buttons: every tick, without rebuilding the lists. */
  function refreshAll() {
    const now = state.now();
    for (const [pid, list] of refs) {
      if (!list.length) continue;
      const card = state.product(pid) || {};
      const st = state.status(pid);
      const canBuy = (st.phase === "open" || st.phase === "starting") && !roomEnded;
      let label = phaseText(st, now);
      if (st.left !== null && (st.phase === "open" || st.phase === "starting" || st.phase === "scheduled")) label += ` · ${st.left} left`;
      for (const ref of list) {
        ref.price.textContent = fmtMoney(st.price, st.currency || card.currency);
        const listPrice = Number(card.list_price) || 0;
        ref.list.textContent = listPrice > st.price ? fmtMoney(listPrice, card.currency) : "";
        ref.status.textContent = label;
        ref.status.dataset.phase = st.phase;
        ref.btn.disabled = busy.has(pid) || !canBuy;
        ref.btn.textContent = busy.has(pid) ? "Buying…"
          : st.phase === "sold_out" ? "Sold out"
          : st.phase === "scheduled" ? `Starts in ${fmtClock(st.until - now)}`
          : st.phase === "taken_down" ? "Unavailable"
          : st.phase === "ended" || st.phase === "cancelled" ? "Sale ended"
          : st.phase === "none" ? "Not on sale"
          : roomEnded ? "Live ended"
          : loggedIn() ? "Buy" : "Log in to buy";
        if (canBuy && !loggedIn()) ref.btn.disabled = false;
        if (ref.pinned) ref.pinned.hidden = !(state.pinned && state.pinned.id === pid);
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

  // ---- buying: one idempotency key per click, kept until the answer is known -------------------
  const PENDING_KEY = `live_server.buy.${roomId}`;
  const pending = new Map(loadPending()); // product id -> {key, quantity}
  function loadPending() {
    try {
      const v = JSON.parse(sessionStorage.getItem(PENDING_KEY) || "[]");
      return Array.isArray(v) ? v.filter((e) => Array.isArray(e) && e[1] && typeof e[1].key === "string") : [];
    } catch {
      return [];
    }
  }
  function savePending() {
    try {
      if (pending.size) sessionStorage.setItem(PENDING_KEY, JSON.stringify([...pending]));
      else sessionStorage.removeItem(PENDING_KEY);
    } catch {
      /* storage off: the key lives in this page only */
    }
  }

  async function buy(pid, { retry = false } = {}) {
    if (!loggedIn()) {
      openLogin();
      return;
    }
    if (busy.has(pid)) return;
    let p = pending.get(pid);
    if (!p) {
      if (retry) return;
      p = { key: newIdempotencyKey(), quantity: 1 };
      pending.set(pid, p);
      savePending();
    }
    busy.add(pid);
    refreshAll();
    const title = state.product(pid)?.title || "the product";
    const fields = { product_id: pid, quantity: p.quantity, idempotency_key: p.key };
    try {
      const res = socket.open
        ? await socket.request("buy", fields)
        : await api("POST", `/api/rooms/${encodeURIComponent(roomId)}/buy`, fields);
      pending.delete(pid);
      savePending();
      const o = res.order || {};
      const text = res.created === false
        ? `You already ordered ${title} with this click (order ${o.id}).`
        : `Reserved ${title} for ${fmtMoney(o.amount, o.currency)} — pay before ${fmtTime(o.expires_at)}.`;
      flash(buyMsg, text, "ok", 10000);
      notify(text, "ok");
      if (typeof res.left === "number") {
        state.left[pid] = res.left;
      }
      loadOrders();
    } catch (err) {
      if (UNSURE.has(err.code)) {
        // The outcome is unknown: keep the key; the retry (automatic after the reconnect, or
        // the next click) sends the same one, so the server answers with the same order.
        flash(buyMsg, `Connection trouble while buying ${title}; it is retried with the same order key when the room reconnects.`, "error", 0);
        buyMsg.dataset.pending = "1";
      } else {
        pending.delete(pid);
        savePending();
        const text = describeError(err);
        flash(buyMsg, text, "error", 10000);
        notify(text, "error");
      }
    } finally {
      busy.delete(pid);
      refreshAll();
    }
  }

  function retryPending() {
    if (!pending.size || !loggedIn()) return;
    for (const pid of pending.keys()) buy(pid, { retry: true });
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
      provider = data.payment_provider || "dev";
      renderOrders();
    } catch (err) {
      flash(ordersMsg, describeError(err), "error", 8000);
    }
  }

  let provider = "dev";

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
          return el("li", { className: "order", dataset: { order: o.id, state: o.state } },
            el("div", { className: "row" },
              stateBadge(o.state),
              el("strong", { className: "grow order-title", text: `${o.title || o.product_id}${o.quantity > 1 ? ` ×${o.quantity}` : ""}` }),
              el("span", { className: "price", text: fmtMoney(o.amount, o.currency) })),
            el("div", { className: "muted small" },
              `ordered ${fmtTime(o.created_at)}`,
              o.paid_at ? ` · paid ${fmtTime(o.paid_at)}` : "",
              other ? el("span", {}, " · ", el("a", { href: `/watch/${encodeURIComponent(o.room_id)}`, text: o.room_title || "another live" })) : null),
            reserved ? el("div", { className: "row" },
              expiry,
              el("span", { className: "grow" }),
              provider === "dev" ? el("button", { type: "button", className: "btn btn-small btn-primary pay-btn", text: "Pay", title: "Pay with the development provider (confirm)", on: { click: (e) => pay(o, "confirm", e.target) } }) : el("span", { className: "muted small", text: "awaiting payment" }),
              provider === "dev" ? el("button", { type: "button", className: "btn btn-small decline-btn", text: "Decline", title: "Development provider: the payment is declined", on: { click: (e) => pay(o, "decline", e.target) } }) : null,
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

  async function pay(order, outcome, btn) {
    btn.disabled = true;
    try {
      const fresh = await api("POST", `/api/orders/${encodeURIComponent(order.id)}/pay`, { outcome });
      updateOrder(fresh);
      flash(ordersMsg, `Paid ${fmtMoney(fresh.amount, fresh.currency)} for ${fresh.title}.`, "ok", 8000);
    } catch (err) {
      flash(ordersMsg, describeError(err), "error", 10000);
      btn.disabled = false;
      if (err.code === "invalid_state") loadOrders();
    }
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
    buy,
    loadOrders,
    snapshot(snap) {
      roomEnded = !!(snap && snap.room && snap.room.state === "ended");
      state.applySnapshot(snap);
    },
    events(list) {
      for (const ev of list) if (ev.type === "room_state") roomEnded = (ev.data || {}).state === "ended";
      state.applyEvents(list);
    },
    opened() {
      if (buyMsg.dataset.pending && !pending.size) {
        flash(buyMsg, "", "info", 0);
        buyMsg.dataset.pending = "";
      }
      retryPending();
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
