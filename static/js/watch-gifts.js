// Virtual gifts on the watch page: the gift button beside the heart opens a tray (the
// catalogue with prices, the wallet, a quantity, send); a short wallet opens the top-up sheet.
// Every gift sent in the room plays over the video with its sender and combo ("×12"): the
// server coalesces a burst into one `gift` event per sender and gift each tick, carrying the
// running combo, so the page only updates the one bubble per sender and gift. In a burst the room
// hears only the gifts on its stage (a few senders at once); a sender whose gift is not on it
// (`shown: false` in the answer) sees it played here from the answer.
// A send carries an idempotency key; a send whose answer was lost is retried with the same key,
// and the server charges it once.

import { api, describeError } from "./api.js";
import { $, el, flash, replace } from "./dom.js";
import { fmtMoney } from "./money.js";
import { mountWatchTopup } from "./watch-topup.js";

const ICONS = { rose: "🌹", heart: "💖", star: "⭐", crown: "👑", rocket: "🚀" };
const SHOW_MS = 3200; // a bubble stays this long after its latest combo
const MAX_BUBBLES = 4;

export function giftIcon(name) {
  return ICONS[name] || "🎁";
}

function newKey() {
  const bytes = new Uint8Array(12);
  crypto.getRandomValues(bytes);
  return "g-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * mountWatchGifts({roomId, userId(), loggedIn(), openLogin(), notify(text, kind), onSent()})
 * -> {events(list)}
 */
export function mountWatchGifts({ roomId, userId = () => null, loggedIn, openLogin, notify, onSent = () => {} }) {
  const button = $("#gift-btn");
  const dialog = $("#gift-tray");
  const stage = $("#gift-stage");
  let catalogue = null;
  let wallet = null;
  let chosen = null;
  let busy = false;
  const topup = mountWatchTopup({ notify, onPaid: (balance) => { if (wallet) wallet.balance = balance; render(); } });

  const ui = {
    list: el("div", { className: "gift-list", attrs: { role: "radiogroup", "aria-label": "Gifts" } }),
    balance: el("span", { className: "small gift-balance" }),
    topup: el("button", { type: "button", className: "btn btn-small gift-topup", text: "Top up" }),
    qty: el("input", { type: "number", className: "gift-qty", min: "1", value: "1", attrs: { "aria-label": "How many", inputmode: "numeric" } }),
    total: el("span", { className: "small gift-total" }),
    send: el("button", { type: "button", className: "btn btn-primary gift-send", text: "Send" }),
    close: el("button", { type: "button", className: "btn gift-close", text: "Close" }),
    msg: el("p", { className: "msg gift-msg", hidden: true, attrs: { role: "status" } }),
  };
  replace(dialog,
    el("h2", { id: "gift-title", text: "Send a gift" }),
    ui.list,
    el("div", { className: "row gift-wallet" }, ui.balance, ui.topup),
    el("div", { className: "row gift-order" },
      el("label", { className: "small", text: "Quantity " }, ui.qty), ui.total),
    ui.msg,
    el("div", { className: "row gift-actions" }, ui.close, ui.send));

  function quantity() {
    const max = (catalogue && catalogue.max_quantity) || 99;
    const n = Math.trunc(Number(ui.qty.value) || 1);
    return Math.min(max, Math.max(1, n));
  }

  function render() {
    if (!catalogue) return;
    const cur = catalogue.currency;
    ui.qty.max = String(catalogue.max_quantity || 99);
    for (const b of ui.list.querySelectorAll("button")) {
      const on = b.dataset.gift === (chosen && chosen.id);
      b.setAttribute("aria-checked", on ? "true" : "false");
      b.classList.toggle("chosen", on);
    }
    ui.balance.textContent = wallet ? `Wallet ${fmtMoney(wallet.balance, cur)}` : "Wallet —";
    ui.total.textContent = chosen ? `Total ${fmtMoney(chosen.price * quantity(), cur)}` : "";
    ui.send.disabled = busy || !chosen;
    ui.send.textContent = chosen ? `Send ${chosen.name}` : "Send";
  }

  async function load() {
    const reads = [api("GET", "/api/gifts").then((c) => { catalogue = c; })];
    if (loggedIn()) reads.push(api("GET", "/api/me/wallet").then((w) => { wallet = w; }));
    await Promise.allSettled(reads);
    if (!catalogue) return false;
    replace(ui.list, ...catalogue.gifts.map((g) => el("button", {
      type: "button", className: "gift-item", dataset: { gift: g.id },
      attrs: { role: "radio", "aria-checked": "false", "aria-label": `${g.name}, ${fmtMoney(g.price, catalogue.currency)}` },
      on: { click: () => { chosen = g; render(); } },
    }, el("span", { className: "gift-icon", text: giftIcon(g.icon), attrs: { "aria-hidden": "true" } }),
       el("span", { className: "gift-name", text: g.name }),
       el("span", { className: "gift-price small", text: fmtMoney(g.price, catalogue.currency) }))));
    if (!chosen && catalogue.gifts.length) chosen = catalogue.gifts[0];
    render();
    return true;
  }

  async function open() {
    if (!loggedIn()) return openLogin();
    flash(ui.msg, "", "info", 0);
    if (!(await load())) return notify("The gifts cannot be loaded right now.", "error");
    if (!dialog.open) dialog.showModal();
    const first = ui.list.querySelector(".chosen") || ui.list.querySelector("button");
    if (first) first.focus();
  }

  /** One send; a lost answer (network) is asked again once with the same key. */
  async function send() {
    if (!chosen || busy) return;
    busy = true;
    render();
    flash(ui.msg, "", "info", 0);
    const body = { gift_id: chosen.id, quantity: quantity(), idempotency_key: newKey() };
    const path = `/api/rooms/${encodeURIComponent(roomId)}/gifts`;
    try {
      let answer;
      try {
        answer = await api("POST", path, body);
      } catch (err) {
        if (err.code !== "network") throw err;
        answer = await api("POST", path, body);
      }
      if (wallet) wallet.balance = answer.balance;
      if (answer.shown === false) {
        show({ from: userId() || "me", name: "You", gift: { name: chosen.name, icon: chosen.icon }, gift_id: answer.gift_id, combo: answer.combo });
      }
      flash(ui.msg, `Sent ${answer.quantity} × ${chosen.name}${answer.combo > answer.quantity ? ` (combo ×${answer.combo})` : ""}.`, "ok", 3000);
      onSent();
    } catch (err) {
      if (err.code === "insufficient_funds") {
        if (wallet && err.details.balance !== undefined) wallet.balance = err.details.balance;
        const short = Math.max(0, (Number(err.details.needed) || 0) - (Number(err.details.balance) || 0));
        flash(ui.msg, `Not enough money in your wallet: ${fmtMoney(short, catalogue.currency)} more is needed.`, "error", 0);
        topup.open(catalogue, short);
      } else {
        flash(ui.msg, describeError(err), "error", 0);
      }
    }
    busy = false;
    render();
  }

  button.addEventListener("click", open);
  ui.close.addEventListener("click", () => dialog.close());
  ui.send.addEventListener("click", send);
  ui.qty.addEventListener("input", render);
  ui.topup.addEventListener("click", () => catalogue && topup.open(catalogue, 0));

  // ---- the animation over the video: one bubble per sender and gift, its combo updated ----
  const bubbles = new Map(); // "from|gift" -> {node, combo, timer}

  function show(data) {
    const key = `${data.from}|${data.gift_id}`;
    const gift = data.gift || {};
    let b = bubbles.get(key);
    if (!b) {
      while (bubbles.size >= MAX_BUBBLES) drop(bubbles.keys().next().value);
      const combo = el("b", { className: "gift-combo" });
      const node = el("div", { className: "gift-bubble" },
        el("span", { className: "gift-bubble-icon", text: giftIcon(gift.icon), attrs: { "aria-hidden": "true" } }),
        el("span", { className: "gift-bubble-text" },
          el("span", { className: "gift-sender", text: String(data.name || data.from || "") }),
          el("span", { className: "small", text: ` sent ${gift.name || data.gift_id}` })),
        combo);
      b = { node, comboNode: combo, combo: 0, timer: null };
      bubbles.set(key, b);
      stage.append(node);
    }
    if (Number(data.combo) < b.combo) return; // an older event of the same burst
    b.combo = Number(data.combo) || 1;
    b.comboNode.textContent = `×${b.combo}`;
    b.node.classList.remove("pop");
    void b.node.offsetWidth; // restart the pop for the new combo
    b.node.classList.add("pop");
    clearTimeout(b.timer);
    b.timer = setTimeout(() => drop(key), SHOW_MS);
  }

  function drop(key) {
    const b = bubbles.get(key);
    if (!b) return;
    clearTimeout(b.timer);
    b.node.remove();
    bubbles.delete(key);
  }

  return {
    events(list) {
      for (const ev of list) if (ev.type === "gift" && ev.data) show(ev.data);
    },
  };
}
