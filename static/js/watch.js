// The viewer page: /watch/{room_id}.

import { api, currentUser, describeError, getToken } from "./api.js";
import { mountHeader, requireLogin } from "./auth.js";
import { $, el, flash, fmtDuration, fmtTime, toast } from "./dom.js";
import { indicatorFor } from "./reconnect.js";
import { RoomSocket, describeClose } from "./room-socket.js";
import { RoomView } from "./room-view.js";
import { mountWatchCohost } from "./watch-cohost.js";
import { mountEndScreen } from "./watch-end.js";
import { mountWatchAuction } from "./watch-auction.js";
import { mountWatchCharity } from "./watch-charity.js";
import { mountWatchCoupons } from "./watch-coupons.js";
import { mountWatchDraw } from "./watch-draw.js";
import { mountWatchFans } from "./watch-fans.js";
import { mountWatchGifts } from "./watch-gifts.js";
import { mountWatchPackets } from "./watch-packets.js";
import { mountWatchReminders } from "./watch-reminders.js";
import { mountWatchReplay } from "./watch-replay.js";
import { mountWatchShelf } from "./watch-shelf.js";
import { mountPlayer } from "./watch-player.js";
import { mountQuality } from "./watch-quality.js";
import { mountStage } from "./watch-stage.js";

const HEART_FLUSH_MS = 200;
const FANS_REFRESH_MS = 30000;

const auth = mountHeader("live", { resume: () => takeNewLogin() });

function roomIdFromUrl() {
  const m = location.pathname.match(/^\/watch\/([^/]+)\/?$/);
  if (m) return decodeURIComponent(m[1]);
  return new URLSearchParams(location.search).get("room");
}

const roomId = roomIdFromUrl();
const banner = $("#banner");
const conn = $("#conn");
const form = $("#chat-form");
const input = $("#chat-input");
const sendBtn = $("#chat-send");
const chatMsg = $("#chat-msg");
const loginBox = $("#chat-login");
const heartBtn = $("#heart");
const heartHint = $("#heart-hint");
const floats = $("#floats");
const slowBadge = $("#slow");
const modBadge = $("#mod");

$("#login-to-chat").addEventListener("click", () => requireLogin(() => input.focus()));
$("#player").dataset.room = roomId || "";

let standingNotice = ""; // shown whenever nothing more urgent is

function showBanner(text, kind = "warn") {
  if (!text && standingNotice) {
    text = standingNotice;
    kind = "warn";
  }
  banner.textContent = text;
  banner.dataset.kind = kind;
  banner.hidden = !text;
}

if (!roomId) {
  showBanner("No room given.", "error");
  $("#title").textContent = "No room";
  throw new Error("no room id");
}

// A token whose exp has passed would only be refused: watch as a guest and say so.
let me = currentUser();
let token = getToken();
if (me && me.expired) {
  standingNotice = "Your login has expired — you are watching as a guest. Log in again to chat.";
  showBanner("");
  token = null;
  me = null;
}

let finalClose = null; // set when the socket will not reconnect (banned, not found, ...)

const socket = new RoomSocket(roomId, { token });
const view = new RoomView(socket, {
  title: $("#title"),
  state: $("#state"),
  notice: $("#notice"),
  announcement: $("#announcement"),
  counters: { online: $("#c-online"), hearts: $("#c-hearts"), unique: $("#c-unique"), peak: $("#c-peak") },
  chatList: $("#chat"),
  chatScroll: $("#chat-scroll"),
  joins: $("#joins"),
  fans: $("#fans"),
}, {
  notify: (text, kind) => toast(text, kind),
  onChange: (_view, what) => {
    if (what === "counters") fansMaybeStale();
    else updateControls();
  },
});

const shelf = mountWatchShelf({
  socket,
  roomId,
  loggedIn: () => !!(socket.user || me),
  openLogin: () => auth.open(),
  notify: (text, kind) => toast(text, kind),
});

// live auctions: a card over the video; the winner pays through the checkout sheet
const auction = mountWatchAuction({
  stage: $(".stage-media"),
  socket,
  roomId,
  userId: () => (socket.user && socket.user.id) || (me && me.id) || null,
  loggedIn: () => !!(socket.user || me),
  notify: (text, kind) => toast(text, kind),
  pay: (order) => shelf.checkout.resume(order),
});

const packets = mountWatchPackets({
  socket,
  roomId,
  loggedIn: () => !!(socket.user || me),
  openLogin: () => auth.open(),
  notify: (text, kind) => toast(text, kind),
  onGrab: () => fans.earned(),
});

const draw = mountWatchDraw({
  socket,
  roomId,
  loggedIn: () => !!(socket.user || me),
  userId: () => (socket.user && socket.user.id) || (me && me.id) || null,
  notify: (text, kind) => toast(text, kind),
});

const coupons = mountWatchCoupons({
  socket,
  roomId,
  loggedIn: () => !!(socket.user || me),
  openLogin: () => auth.open(),
  notify: (text, kind) => toast(text, kind),
});

const fans = mountWatchFans({
  loggedIn: () => !!(socket.user || me),
  userId: () => (socket.user && socket.user.id) || (me && me.id) || null,
  openLogin: () => auth.open(),
  notify: (text, kind) => toast(text, kind),
});

const gifts = mountWatchGifts({
  roomId,
  userId: () => (socket.user && socket.user.id) || (me && me.id) || null,
  loggedIn: () => !!(socket.user || me),
  openLogin: () => auth.open(),
  notify: (text, kind) => toast(text, kind),
  onSent: () => fans.earned(),
});

const reminders = mountWatchReminders({ root: $("#remind-box"), roomId });
const charity = mountWatchCharity({ root: $("#charity-badge"), roomId });
const replay = mountWatchReplay({ stage: $(".stage-media"), roomId });

const player = mountPlayer({ root: $("#player"), roomId, token: () => token,
  quality: mountQuality($("#quality")) });
const endScreen = mountEndScreen({ root: $("#end-screen"), roomId, follow: fans });
const stageMedia = $(".stage-media");
const cohost = mountWatchCohost({ root: $("#cohost"), stage: stageMedia, roomId, token: () => token,
  me: () => me, notify: (text, kind) => toast(text, kind) });

/**
 * The player follows the room's state: it starts once the room is known (so a missing room is
 * never asked for video) and stops for good when the show ends, which the end screen replaces.
 */
function followRoomState() {
  const state = view.room && view.room.state;
  player.room(state);
  if (state) charity.known();
  if (state === "ended") cohost.end();
  if (state !== "ended" || stageMedia.dataset.end) return;
  stageMedia.dataset.end = "ended";
  conn.hidden = true; // the state badge says "ended"; a green "live" beside it would not
  endScreen.ended(view.room);
  charity.ended($("#end-screen"));
  replay.ended($("#end-screen")); // "Watch the replay" when the show has one
}

function roomMissing() {
  player.end();
  cohost.end();
  stageMedia.dataset.end = "missing";
  $(".watch").dataset.end = "missing"; // no counters, hearts, shelf or chat of a show that is not there
  conn.hidden = true;
  $("#title").textContent = "Show not found";
  showBanner("");
  endScreen.notFound();
}

const viewHandlers = view.handlers();
socket.handlers = {
  ...viewHandlers,
  snapshot: (snap, info) => {
    viewHandlers.snapshot(snap, info);
    shelf.snapshot(snap);
    packets.snapshot(snap);
    auction.snapshot(snap);
    draw.snapshot(snap);
    coupons.snapshot(snap);
    fans.snapshot(snap);
    reminders.snapshot(snap);
    followRoomState();
    cohost.snapshot();
  },
  events: (list, frame) => {
    viewHandlers.events(list, frame);
    shelf.events(list);
    packets.events(list);
    auction.events(list);
    draw.events(list);
    coupons.events(list);
    fans.events(list);
    gifts.events(list);
    player.events(list);
    cohost.events(list);
    reminders.events(list);
    if (list.some((ev) => ev.type === "room_state")) followRoomState();
  },
  recovered: () => {
    if (!finalClose) showBanner("");
    shelf.recovered();
  },
  status: (state, info) => {
    onStatus(state, info);
    if (state === "open") shelf.opened();
  },
  error: (err) => {
    // Errors not tied to a request (e.g. the reason before a 4001 close).
    // Refusals at join are followed by a close; the banner says it then.
    const refusals = ["token_expired", "unauthorized", "banned", "guests_not_allowed", "not_found"];
    if (!refusals.includes(err.code)) toast(describeError(err), "error");
  },
};

// ---- the reconnect indicator: a small pill over the video while the socket is down; no banner
// or toast, since the page recovers the missed events by itself once it is back
const pill = $("#reconnect");
const pillText = $("#reconnect-text");
const retryBtn = $("#reconnect-now");
let socketState = "connecting";
let downSince = null; // when the socket stopped being open, after it had been open once
let pillTimer = null;

function renderPill() {
  const ind = indicatorFor({ state: socketState, downSince, now: Date.now(), final: !!finalClose });
  pill.hidden = !ind.visible;
  pill.dataset.lost = ind.lost ? "1" : "";
  if (pillText.textContent !== ind.text) pillText.textContent = ind.text;
  retryBtn.hidden = !ind.lost;
  const down = downSince !== null && !finalClose && socketState !== "open";
  if (down && !pillTimer) pillTimer = setInterval(renderPill, 500);
  else if (!down && pillTimer) {
    clearInterval(pillTimer);
    pillTimer = null;
  }
}

retryBtn.addEventListener("click", () => {
  pillText.textContent = "Reconnecting…";
  socket.retryNow();
});

function onStatus(state, info) {
  conn.dataset.state = state;
  if (state === "open") downSince = null;
  else if (socketState === "open") downSince = Date.now();
  socketState = state;
  if (state === "open") {
    conn.textContent = "live";
    if (!finalClose && banner.dataset.kind !== "error") showBanner("");
  } else if (state === "connecting") {
    conn.textContent = downSince === null ? "connecting…" : "reconnecting…";
  } else if (state === "reconnecting") {
    conn.textContent = info.code === 1012 ? "server restarting…" : "reconnecting…";
  } else if (state === "closed" && info.final && info.code !== 1000) {
    finalClose = info;
    conn.textContent = "disconnected";
    if (info.code === 4004) roomMissing();
    else showBanner(describeClose(info.code, info.reason, info.error), "error");
  }
  renderPill();
  updateControls();
}

/** After a login that an action asked for (requireLogin): the socket comes back as the new
 * user without a reload, so the action can run in the page the viewer is looking at. */
async function takeNewLogin() {
  me = currentUser();
  token = getToken();
  standingNotice = "";
  showBanner("");
  socket.token = token;
  socket.stop();
  socket.start();
  const deadline = Date.now() + 10000;
  while (!(socket.open && socket.user && me && socket.user.id === me.id) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  updateControls();
}

// ---- chat input ---------------------------------------------------------------------------
let mutedTimer = null;

function updateControls() {
  const room = view.room || {};
  const loggedIn = !!(socket.user || me);
  const ended = room.state === "ended";
  const mutedUntil = view.mutedUntil && view.mutedUntil > Date.now() ? view.mutedUntil : null;
  const blocked = !!finalClose;

  form.hidden = !loggedIn || blocked;
  loginBox.hidden = loggedIn || blocked;
  modBadge.hidden = !view.moderator;

  const slow = Number(room.slow_mode_s) || 0;
  slowBadge.hidden = slow <= 0;
  slowBadge.textContent = slow > 0 ? `slow mode ${fmtDuration(slow * 1000)}` : "";

  let reason = "";
  if (ended) reason = "The live has ended.";
  else if (mutedUntil) reason = `You are muted until ${fmtTime(mutedUntil)}.`;
  input.disabled = !!reason;
  sendBtn.disabled = !!reason;
  if (reason) flash(chatMsg, reason, mutedUntil ? "error" : "info", 0);
  else if (chatMsg.dataset.sticky) flash(chatMsg, "", "info", 0);
  chatMsg.dataset.sticky = reason ? "1" : "";

  clearTimeout(mutedTimer);
  if (mutedUntil) mutedTimer = setTimeout(updateControls, Math.min(mutedUntil - Date.now() + 200, 2 ** 31 - 1));

  heartBtn.disabled = !loggedIn || ended || blocked;
  heartHint.textContent = !loggedIn ? "Log in to send hearts" : ended ? "The live has ended" : "Tap to send hearts";
}

form.addEventListener("submit", async (e) => {
  e.preventDefault();
  const text = input.value.trim();
  if (!text) {
    flash(chatMsg, "Type a message first.", "info", 3000);
    return;
  }
  sendBtn.disabled = true;
  try {
    await socket.request("chat", { text });
    input.value = "";
    if (!chatMsg.dataset.sticky) flash(chatMsg, "", "info", 0);
  } catch (err) {
    if (err.code === "muted") {
      const until = Number(err.details.until) || (Number(err.details.retry_after_ms) ? Date.now() + Number(err.details.retry_after_ms) : null);
      if (until) view.mutedUntil = until;
    }
    flash(chatMsg, describeError(err), "error", err.code === "muted" ? 0 : 6000);
  } finally {
    updateControls();
  }
  input.focus();
});

// ---- hearts: clicks are counted and sent as one frame every HEART_FLUSH_MS ----------------
let heartMax = 50; // lowered on invalid_field when the server's hearts.max_per_frame is smaller
let heartsUnsent = 0;
let heartTimer = null;

function flushHearts() {
  heartTimer = null;
  if (heartsUnsent <= 0) return;
  if (socket.open) {
    const count = Math.min(heartsUnsent, heartMax);
    heartsUnsent -= count;
    socket.request("heart", { count }).catch((err) => {
      if (err.code === "invalid_field" && heartMax > 1) {
        heartMax = Math.max(1, Math.floor(heartMax / 2));
        heartsUnsent += count; // try again with smaller frames
      } else if (err.code !== "disconnected" && err.code !== "timeout") {
        view.heartsPending = Math.max(0, view.heartsPending - count);
        toast(describeError(err), "error");
      }
    });
  }
  if (heartsUnsent > 0) heartTimer = setTimeout(flushHearts, HEART_FLUSH_MS);
}

function floatHeart() {
  if (floats.childElementCount > 12) return;
  const h = el("span", { text: "❤" });
  h.style.setProperty("--dx", `${Math.round(Math.random() * 40 - 20)}px`);
  h.addEventListener("animationend", () => h.remove());
  floats.appendChild(h);
}

/** One heart from the button or a double tap on the video; false when none may be sent. */
function sendHeart() {
  if (heartBtn.disabled || heartsUnsent >= 1000) return false;
  heartsUnsent += 1;
  view.heartsPending += 1;
  view.renderCounters();
  floatHeart();
  fans.earned();
  if (!heartTimer) heartTimer = setTimeout(flushHearts, HEART_FLUSH_MS);
  return true;
}
heartBtn.addEventListener("click", sendHeart);
mountStage({ player: $("#player"), sendHeart });

// ---- top fans -----------------------------------------------------------------------------
let fansFetchedAt = 0;
let fansHearts = null;

// Hearts move the fan ranking: look again when they changed, at most every 5 s.
function fansMaybeStale() {
  const hearts = Number(view.counters.hearts) || 0;
  if (fansHearts !== null && hearts !== fansHearts && Date.now() - fansFetchedAt > 5000) refreshFans();
  if (fansHearts === null) fansHearts = hearts;
}

async function refreshFans() {
  if (document.hidden || finalClose) return;
  fansFetchedAt = Date.now();
  fansHearts = Number(view.counters.hearts) || 0;
  try {
    const data = await api("GET", `/api/rooms/${encodeURIComponent(roomId)}/fans/top?limit=10`, undefined, { auth: false });
    view.renderFans(data.fans);
  } catch {
    /* keep the last list */
  }
}
setInterval(refreshFans, FANS_REFRESH_MS);

// For debugging in the console and for the browser tests.
window.liveRoom = { socket, view, shelf, coupons };

window.addEventListener("pagehide", () => socket.stop());
window.addEventListener("pageshow", (e) => {
  if (e.persisted && !finalClose) socket.start(); // back from the page cache: reconnect with `since`
});
updateControls();
socket.start();
