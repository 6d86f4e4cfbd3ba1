// Follow the room's creator and join their fan club (a fee paid from the wallet), with the
// counts, the viewer's fan level and intimacy, and the wallet the fee comes from. Joining asks
// first (a dialog with the fee and the balance after), because it moves money; a wallet that
// is short says by how much and offers a top-up through the payment provider (the top-up
// sheet the gift tray uses, watch-topup.js).
// Intimacy moves with what the viewer does (chat, hearts, a paid order, a grab), so the card
// is read again shortly after each of those (debounced) and once a minute while watching.

import { api } from "./api.js";
import { requireLogin } from "./auth.js";
import { $, el, flash, replace } from "./dom.js";
import { fmtMoney } from "./money.js";
import { describePacketError } from "./watch-packets.js";
import { mountWatchTopup } from "./watch-topup.js";

const EARN_DELAY_MS = 2500; // intimacy from hearts is counted with the room's next report
const EARN_MIN_GAP_MS = 5000; // at most one read after actions per this long
const WATCH_REFRESH_MS = 60000;

/** "1 follower", "2 followers", "0 followers". */
export function plural(n, one, many = `${one}s`) {
  const count = Number(n) || 0;
  return `${count.toLocaleString("en")} ${count === 1 ? one : many}`;
}

/**
 * The fan-club confirmation's figures: {fee, balance, after, short} in cents; `short` is how
 * much more the wallet needs (0 when it has enough).
 */
export function clubFigures(fee, balance) {
  const f = Math.max(0, Math.trunc(Number(fee) || 0));
  const b = Math.trunc(Number(balance) || 0);
  return { fee: f, balance: b, after: b - f, short: Math.max(0, f - b) };
}

/**
 * mountWatchFans({loggedIn(), userId(), openLogin(), notify(text, kind)})
 * -> {snapshot(snap), events(list), earned(), followButton()}
 * earned(): the viewer did something that earns intimacy; the card is read again soon.
 * followButton(): one more Follow button (the end screen's) that this module keeps current.
 */
export function mountWatchFans({ loggedIn, userId = () => null, openLogin, notify }) {
  const box = $("#fan-box");
  let creator = null;
  let card = null;
  let wallet = null; // GET /api/me/wallet, for a logged-in viewer
  let loadedAt = 0;
  let earnTimer = null;

  const followBtn = el("button", { type: "button", className: "btn btn-small fan-follow", on: { click: () => toggleFollow() } });
  const clubBtn = el("button", { type: "button", className: "btn btn-small fan-join", on: { click: () => askToJoin() } });
  const level = el("span", { className: "badge fan-level", attrs: { title: "Your fan level toward the host: intimacy raises it" } });
  const counts = el("span", { className: "muted small fan-counts" });
  const intimacy = el("span", { className: "small fan-intimacy", attrs: { title: "Intimacy: watching, chat, hearts, buying, grabs and the fan club earn points, each capped per day" } });
  const balance = el("span", { className: "small fan-wallet" });
  const topupBtn = el("button", { type: "button", className: "btn btn-small fan-topup", text: "Top up", on: { click: () => topup(0) } });
  const walletBox = el("span", { className: "row fan-wallet-box" }, balance, topupBtn);
  replace(box, followBtn, clubBtn, level, counts, intimacy, walletBox);
  const followBtns = [followBtn];
  const club = mountClubDialog();

  function render() {
    box.hidden = !card;
    for (const b of followBtns) b.textContent = card && card.following ? "Following ✓" : "Follow";
    if (!card) return;
    const mine = loggedIn();
    clubBtn.textContent = card.fan_club_member ? "Fan club member ✓" : `Join fan club (${fmtMoney(card.fan_club_fee, card.currency)})`;
    clubBtn.disabled = !!card.fan_club_member;
    counts.textContent = `${plural(card.followers, "follower")} · ${plural(card.fan_club_members, "member")} in the fan club`;
    level.hidden = !mine;
    level.textContent = `Fan level ${Number(card.level) || 0}`;
    intimacy.textContent = mine ? `♥ intimacy ${card.intimacy} (today ${card.intimacy_today}/${card.intimacy_daily_cap})` : "";
    walletBox.hidden = !mine || !wallet;
    if (wallet) {
      balance.textContent = `Wallet ${fmtMoney(wallet.balance, wallet.currency)}`;
    }
    club.render();
  }

  async function load() {
    if (!creator) return;
    loadedAt = Date.now();
    const reads = [api("GET", `/api/creators/${encodeURIComponent(creator)}/fans`).then((c) => { card = c; })];
    if (loggedIn()) reads.push(loadWallet());
    await Promise.allSettled(reads); // a failed read keeps the last figures
    render();
  }

  async function loadWallet() {
    try {
      wallet = await api("GET", "/api/me/wallet");
    } catch {
      /* keep the last balance */
    }
    return wallet;
  }

  /** Debounced: one read EARN_DELAY_MS after the last action, never within EARN_MIN_GAP_MS. */
  function earned() {
    if (!creator || !loggedIn()) return;
    clearTimeout(earnTimer);
    const wait = Math.max(EARN_DELAY_MS, loadedAt + EARN_MIN_GAP_MS - Date.now());
    earnTimer = setTimeout(() => {
      earnTimer = null;
      load();
    }, wait);
  }

  setInterval(() => {
    if (!document.hidden && creator) load();
  }, WATCH_REFRESH_MS);

  async function toggleFollow() {
    if (!loggedIn()) return requireLogin(toggleFollow);
    try {
      card = await api(card && card.following ? "DELETE" : "POST", `/api/creators/${encodeURIComponent(creator)}/follow`, {});
      render();
    } catch (err) {
      notify(describePacketError(err), "error");
    }
  }

  // the page's one top-up sheet (payment provider); any top-up on it moves this wallet too
  const sheet = mountWatchTopup({ notify, onPaid: (paidBalance) => {
    wallet = { ...(wallet || {}), balance: paidBalance };
    render();
    club.paid();
  } });

  /** Opens the top-up sheet; `short`: how much more the wallet needs (0: just topping up). */
  function topup(short) {
    if (!loggedIn()) return requireLogin(() => topup(short));
    return sheet.open(null, short);
  }

  async function askToJoin() {
    if (!loggedIn()) return requireLogin(askToJoin);
    if (!card || card.fan_club_member) return;
    await loadWallet();
    club.open();
  }

  async function join() {
    try {
      const res = await api("POST", `/api/creators/${encodeURIComponent(creator)}/fan-club`, {});
      card = res;
      if (wallet && typeof res.balance === "number") wallet = { ...wallet, balance: res.balance };
      club.close();
      notify("Welcome to the fan club!", "ok");
      render();
    } catch (err) {
      if (err && err.code === "insufficient_funds") await loadWallet(); // the balance moved
      else if (err && err.code === "already_member") await load();
      club.refused(err);
      render();
    }
  }

  /** The confirmation: fee, balance, balance after; Escape or Cancel close it unchanged. */
  function mountClubDialog() {
    const dialog = $("#fan-club-dialog");
    const ui = {
      fee: el("dd", { className: "fc-fee" }),
      balance: el("dd", { className: "fc-balance" }),
      after: el("dd", { className: "fc-after" }),
      short: el("p", { className: "fc-short", hidden: true, attrs: { role: "alert" } }),
      msg: el("p", { className: "msg fc-msg", hidden: true, attrs: { role: "status" } }),
      cancel: el("button", { type: "button", className: "btn fc-cancel", text: "Cancel" }),
      topup: el("button", { type: "button", className: "btn fc-topup" }),
      confirm: el("button", { type: "button", className: "btn btn-primary fc-confirm" }),
    };
    replace(dialog,
      el("h2", { id: "fc-title", text: "Join the fan club?" }),
      el("p", { className: "small fc-why", text: "Members wear the fan-club badge in chat and can grab fan-club red packets. The fee goes to the host." }),
      el("dl", { className: "fc-figures" },
        el("dt", { text: "Fee" }), ui.fee,
        el("dt", { text: "Your wallet" }), ui.balance,
        el("dt", { text: "After joining" }), ui.after),
      ui.short, ui.msg,
      el("div", { className: "row fc-actions" }, ui.cancel, ui.topup, ui.confirm));
    let busy = false;

    function figures() {
      return clubFigures(card && card.fan_club_fee, wallet && wallet.balance);
    }

    function render() {
      if (!dialog.open || !card) return;
      const cur = (wallet && wallet.currency) || card.currency;
      const f = figures();
      ui.fee.textContent = fmtMoney(f.fee, cur);
      ui.balance.textContent = wallet ? fmtMoney(f.balance, cur) : "—";
      ui.after.textContent = wallet && !f.short ? fmtMoney(f.after, cur) : "—";
      ui.short.hidden = !f.short;
      ui.short.textContent = f.short
        ? `Not enough money in your wallet: you need ${fmtMoney(f.short, cur)} more. Top up first.`
        : "";
      ui.topup.hidden = !(f.short && wallet);
      ui.topup.textContent = "Top up";
      ui.confirm.textContent = `Join for ${fmtMoney(f.fee, cur)}`;
      ui.confirm.disabled = busy || !!f.short;
    }

    ui.cancel.addEventListener("click", () => dialog.close());
    ui.topup.addEventListener("click", () => topup(figures().short));
    ui.confirm.addEventListener("click", async () => {
      busy = true;
      render();
      flash(ui.msg, "", "info", 0);
      await join();
      busy = false;
      render();
    });

    return {
      open() {
        flash(ui.msg, "", "info", 0);
        if (!dialog.open) dialog.showModal();
        render();
        (ui.confirm.disabled ? (ui.topup.hidden ? ui.cancel : ui.topup) : ui.confirm).focus();
      },
      close() {
        if (dialog.open) dialog.close();
      },
      render,
      /** A top-up was paid (here or in the gift tray): join is possible once it suffices. */
      paid() {
        if (!dialog.open) return;
        render();
        if (!ui.confirm.disabled) {
          flash(ui.msg, "Topped up: you can join now.", "ok", 0);
          ui.confirm.focus();
        }
      },
      refused(err) {
        if (!dialog.open) return notify(describePacketError(err), "error");
        if (err && err.code === "insufficient_funds" && figures().short) flash(ui.msg, "", "info", 0); // the figures say it
        else flash(ui.msg, err && err.code === "already_member" ? "You are already in the fan club." : describePacketError(err), "error", 0);
        render();
      },
    };
  }

  return {
    followButton() {
      const b = el("button", { type: "button", className: "btn btn-primary fan-follow", on: { click: () => toggleFollow() } });
      followBtns.push(b);
      render();
      return b;
    },
    snapshot(snap) {
      const id = snap && snap.room && snap.room.creator_id;
      if (id && id !== creator) creator = id;
      load();
    },
    /** Room events that mean this viewer earned intimacy: their own chat, their order paid. */
    events(list) {
      const me = userId();
      if (!me) return;
      for (const ev of list) {
        const d = ev.data || {};
        if ((ev.type === "chat" && d.user && d.user.id === me) || (ev.type === "order" && d.state === "paid")) {
          earned();
          return;
        }
      }
    },
    earned,
  };
}
