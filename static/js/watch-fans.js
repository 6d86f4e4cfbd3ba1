// Follow the room's creator and join their fan club (a fee paid from the wallet), with the
// counts; red packets for followers or fan-club members need one of these.

import { api } from "./api.js";
import { requireLogin } from "./auth.js";
import { $, el, replace } from "./dom.js";
import { fmtMoney } from "./shelf.js";
import { describePacketError } from "./watch-packets.js";

/**
 * mountWatchFans({loggedIn(), openLogin(), notify(text, kind)}) -> {snapshot(snap), followButton()}
 * followButton(): one more Follow button (the end screen's) that this module keeps current.
 */
export function mountWatchFans({ loggedIn, openLogin, notify }) {
  const box = $("#fan-box");
  let creator = null;
  const followBtn = el("button", { type: "button", className: "btn btn-small fan-follow", on: { click: () => toggleFollow() } });
  const clubBtn = el("button", { type: "button", className: "btn btn-small fan-join", on: { click: () => join() } });
  const counts = el("span", { className: "muted small fan-counts" });
  const intimacy = el("span", { className: "small fan-intimacy", attrs: { title: "Intimacy: watching, chat, hearts, buying, grabs and the fan club earn points, each capped per day" } });
  replace(box, followBtn, clubBtn, counts, intimacy);
  let card = null;
  const followBtns = [followBtn];

  function render() {
    box.hidden = !card;
    for (const b of followBtns) b.textContent = card && card.following ? "Following ✓" : "Follow";
    if (!card) return;
    clubBtn.textContent = card.fan_club_member ? "Fan club member ✓" : `Join fan club (${fmtMoney(card.fan_club_fee, card.currency)})`;
    clubBtn.disabled = !!card.fan_club_member;
    counts.textContent = `${card.followers} followers · ${card.fan_club_members} in the fan club`;
    intimacy.textContent = loggedIn() ? `♥ intimacy ${card.intimacy} (today ${card.intimacy_today}/${card.intimacy_daily_cap})` : "";
  }

  async function load() {
    if (!creator) return;
    try {
      card = await api("GET", `/api/creators/${encodeURIComponent(creator)}/fans`);
      render();
    } catch {
      /* keep the last card */
    }
  }

  async function toggleFollow() {
    if (!loggedIn()) return requireLogin(toggleFollow);
    try {
      card = await api(card && card.following ? "DELETE" : "POST", `/api/creators/${encodeURIComponent(creator)}/follow`, {});
      render();
    } catch (err) {
      notify(describePacketError(err), "error");
    }
  }

  async function join() {
    if (!loggedIn()) return requireLogin(join);
    try {
      card = await api("POST", `/api/creators/${encodeURIComponent(creator)}/fan-club`, {});
      notify("Welcome to the fan club!", "ok");
      render();
    } catch (err) {
      notify(err && err.code === "already_member" ? "You are already in the fan club." : describePacketError(err), "error");
    }
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
  };
}
