// The wallet's top-up sheet: the packs the server offers, each paid through the payment
// provider. With the development provider the page confirms (or declines) the payment; with a
// real gateway the sheet waits for the gateway's signed notice and shows the new balance once
// the server has credited it. The wallet is credited by the server exactly once either way.

import { api, describeError } from "./api.js";
import { $, el, flash, replace } from "./dom.js";
import { fmtMoney } from "./money.js";

const POLL_MS = 2000;

let mounted = null; // one sheet per page, shared by every part that offers a top-up

/**
 * mountWatchTopup({notify(text, kind), onPaid(balance)}) -> {open(catalogue, shortCents)}
 * catalogue: GET /api/gifts (its `topup`: packs, min, max, provider; its currency), or null to
 * have the sheet read it. Every part of the page that tops up (the gift tray, the fan club)
 * mounts it: the page has one sheet, and each caller's onPaid hears every top-up, so every
 * balance shown stays the same.
 */
export function mountWatchTopup({ notify, onPaid }) {
  if (mounted) {
    mounted.listeners.push(onPaid);
    return mounted.sheet;
  }
  const listeners = [onPaid];
  const sheet = mountSheet(notify, (balance) => { for (const hear of listeners) hear(balance); });
  mounted = { listeners, sheet };
  return sheet;
}

function mountSheet(notify, onPaid) {
  const dialog = $("#topup-sheet");
  const ui = {
    why: el("p", { className: "small topup-why" }),
    packs: el("div", { className: "topup-packs", attrs: { role: "group", "aria-label": "Top-up packs" } }),
    pay: el("div", { className: "topup-pay", hidden: true }),
    msg: el("p", { className: "msg topup-msg", hidden: true, attrs: { role: "status" } }),
    close: el("button", { type: "button", className: "btn topup-close", text: "Close" }),
  };
  replace(dialog,
    el("h2", { id: "topup-title", text: "Top up your wallet" }),
    ui.why, ui.packs, ui.pay, ui.msg,
    el("div", { className: "row topup-actions" }, ui.close));
  ui.close.addEventListener("click", () => dialog.close());
  let pollTimer = null;
  let currency = "";
  dialog.addEventListener("close", () => {
    clearTimeout(pollTimer);
    pollTimer = null;
  });

  async function start(amount) {
    for (const b of ui.packs.querySelectorAll("button")) b.disabled = true;
    flash(ui.msg, "", "info", 0);
    try {
      const made = await api("POST", "/api/me/topups", { amount });
      const topup = made.topup;
      if (made.confirm === "page") confirmInPage(topup);
      else waitForGateway(topup);
    } catch (err) {
      flash(ui.msg, describeError(err), "error", 0);
      for (const b of ui.packs.querySelectorAll("button")) b.disabled = false;
    }
  }

  /** The development provider: the page says confirm or decline. */
  function confirmInPage(topup) {
    const confirm = el("button", { type: "button", className: "btn btn-primary topup-confirm", text: `Pay ${fmtMoney(topup.amount, currency)}` });
    const decline = el("button", { type: "button", className: "btn topup-decline", text: "Decline" });
    replace(ui.pay,
      el("p", { className: "small", text: "Development payments: confirm to pay, decline to see a refused payment." }),
      el("div", { className: "row" }, decline, confirm));
    ui.pay.hidden = false;
    const pay = async (outcome) => {
      confirm.disabled = decline.disabled = true;
      try {
        const done = await api("POST", `/api/me/topups/${encodeURIComponent(topup.id)}/pay`, { outcome });
        paid(done.balance, topup.amount);
      } catch (err) {
        flash(ui.msg, describeError(err), "error", 0);
        confirm.disabled = decline.disabled = false;
      }
    };
    confirm.addEventListener("click", () => pay("confirm"));
    decline.addEventListener("click", () => pay("decline"));
    confirm.focus();
  }

  /** A real gateway: its webhook credits the wallet; the sheet asks until it is paid. */
  function waitForGateway(topup) {
    replace(ui.pay, el("p", { className: "small topup-waiting", text: `Waiting for the payment gateway to confirm ${fmtMoney(topup.amount, currency)}…` }));
    ui.pay.hidden = false;
    const poll = async () => {
      pollTimer = null;
      try {
        const seen = await api("GET", `/api/me/topups/${encodeURIComponent(topup.id)}`);
        if (seen.state === "paid") {
          const wallet = await api("GET", "/api/me/wallet");
          return paid(wallet.balance, topup.amount);
        }
        if (seen.state === "lapsed") return flash(ui.msg, "The payment was not completed in time.", "error", 0);
      } catch {
        /* ask again */
      }
      if (dialog.open) pollTimer = setTimeout(poll, POLL_MS);
    };
    pollTimer = setTimeout(poll, POLL_MS);
  }

  function paid(balance, amount) {
    dialog.close();
    notify(`Topped up ${fmtMoney(amount, currency)}: your wallet has ${fmtMoney(balance, currency)}.`, "ok");
    onPaid(balance);
  }

  let offered = null; // the catalogue read when a caller has none
  async function readCatalogue(catalogue) {
    if (catalogue) return catalogue;
    if (!offered) offered = api("GET", "/api/gifts").catch((err) => { offered = null; throw err; });
    return offered;
  }

  return {
    async open(given, shortCents = 0) {
      let catalogue;
      try {
        catalogue = await readCatalogue(given);
      } catch (err) {
        notify(describeError(err), "error");
        return;
      }
      const offer = catalogue.topup || { packs: [] };
      currency = catalogue.currency || "";
      ui.why.textContent = shortCents > 0
        ? `Your wallet needs ${fmtMoney(shortCents, currency)} more. Choose a pack:`
        : "Choose a pack:";
      replace(ui.packs, ...offer.packs.map((cents) => el("button", {
        type: "button", className: "btn topup-pack", text: fmtMoney(cents, currency),
        dataset: { amount: cents }, on: { click: () => start(cents) },
      })));
      ui.pay.hidden = true;
      flash(ui.msg, "", "info", 0);
      if (!dialog.open) dialog.showModal();
      const first = ui.packs.querySelector("button");
      if (first) first.focus();
    },
  };
}
