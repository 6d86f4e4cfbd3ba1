// The creator's side of money: the wallet balance and recent ledger entries, topping it up
// through the payment provider (the same sheet viewers use), and launching red packets in the
// selected room.

import { api, describeError } from "./api.js";
import { $, el, replace, flash, fmtTime, stateBadge } from "./dom.js";
import { UNSURE, fmtMoney, newIdempotencyKey, parseCount, parseMoney } from "./shelf.js";
import { describePacketError } from "./watch-packets.js";
import { mountWatchTopup } from "./watch-topup.js";

/** mountStudioPackets({notify(text, kind)}) -> {select(room), events(list)} */
export function mountStudioPackets({ notify }) {
  const balanceBox = $("#wallet-balance");
  const entriesList = $("#wallet-entries");
  const walletMsg = $("#wallet-msg");
  const form = $("#rp-form");
  const msg = $("#rp-msg");
  const list = $("#rp-list");
  let room = null;

  async function loadWallet() {
    try {
      const w = await api("GET", "/api/me/wallet");
      balanceBox.textContent = fmtMoney(w.balance, w.currency);
      replace(entriesList, (w.entries || []).slice(0, 10).map((e) => el("li", {},
        el("span", { className: "muted", text: fmtTime(e.ts) }), " ",
        el("span", { text: e.reason }), " ",
        el("strong", { text: `${e.to.startsWith("user:") ? "+" : "−"}${fmtMoney(e.amount)}` }))));
    } catch (err) {
      flash(walletMsg, describeError(err), "error");
    }
  }

  // red packets are funded from this wallet: topped up through the payment provider, as a
  // viewer's is (the wallet is credited once, by the server, when the payment is confirmed)
  const topup = mountWatchTopup({ notify, onPaid: () => loadWallet() });
  $("#wallet-topup").addEventListener("click", () => topup.open(null));

  let pendingLaunch = null; // {sig, key} of a launch whose answer was lost
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!room) return;
    const f = form.elements;
    const total = parseMoney(f.total.value);
    const shares = parseCount(f.shares.value, 1);
    if (!total) return flash(msg, "Enter the total, e.g. 88.88", "error");
    if (!shares) return flash(msg, "Enter the number of shares.", "error");
    const keyword = f.keyword.value.trim();
    const body = {
      total, shares, split: f.split.value,
      countdown_s: parseCount(f.countdown_s.value || "0", 0) ?? 0,
      duration_s: parseCount(f.duration_s.value || "86400", 1) ?? 86400,
      condition: f.condition.value,
    };
    if (body.condition === "keyword") body.keyword = keyword;
    // One launch key per packet, kept while its outcome is unknown: sending the same form again
    // after a lost answer is the same packet, debited once.
    const sig = JSON.stringify([room.id, body]);
    if (!pendingLaunch || pendingLaunch.sig !== sig) pendingLaunch = { sig, key: newIdempotencyKey() };
    body.idempotency_key = pendingLaunch.key;
    try {
      const res = await api("POST", `/api/rooms/${encodeURIComponent(room.id)}/red-packets`, body);
      pendingLaunch = null;
      const again = res.created === false ? " (it was already sent: not debited twice)" : "";
      flash(msg, `Red packet sent: ${fmtMoney(res.packet.total)} in ${res.packet.shares} shares${again}.`, "ok");
      loadWallet();
      loadPackets();
    } catch (err) {
      if (!UNSURE.has(err.code)) pendingLaunch = null;
      flash(msg, describePacketError(err), "error", 10000);
    }
  });

  async function loadPackets() {
    if (!room) return;
    const roomId = room.id;
    try {
      const res = await api("GET", `/api/rooms/${encodeURIComponent(roomId)}/red-packets`);
      if (!room || room.id !== roomId) return;
      replace(list, (res.packets || []).length
        ? res.packets.map((p) => el("li", { dataset: { packet: p.id } },
            stateBadge(p.state), " ",
            el("strong", { text: fmtMoney(p.total) }),
            el("span", { className: "muted small", text: ` · ${p.shares - p.shares_left}/${p.shares} grabbed · ${p.split}${p.condition === "keyword" ? ` · “${p.keyword}”` : ""}` }),
            p.refunded ? el("span", { className: "muted small", text: ` · ${fmtMoney(p.refunded)} back` }) : null,
            p.luckiest ? el("span", { className: "small", text: ` · luckiest ${p.luckiest.name || p.luckiest.user} ${fmtMoney(p.luckiest.amount)}` }) : null))
        : el("li", { className: "muted small", text: "No red packets in this room yet." }));
    } catch (err) {
      flash(msg, describeError(err), "error");
    }
  }

  loadWallet();
  return {
    select(r) {
      room = r;
      replace(list);
      loadPackets();
    },
    events(evs) {
      if (evs.some((ev) => ev.type === "red_packet_finished" || ev.type === "red_packet_opened")) {
        loadPackets();
        loadWallet();
      }
    },
  };
}
