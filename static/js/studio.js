// The creator studio: create rooms, go live / end, edit, announce, slow mode, keywords,
// mutes and bans, live counters and chat.

import { api, currentUser, describeError, getToken } from "./api.js";
import { mountHeader } from "./auth.js";
import { $, el, replace, flash, fmtDateTime, fmtTime, copyText, stateBadge, toast } from "./dom.js";
import { RoomSocket, describeClose } from "./room-socket.js";
import { RoomView } from "./room-view.js";
import { mountStudioAuctions } from "./studio-auctions.js";
import { mountStudioCharity } from "./studio-charity.js";
import { mountStudioCohost } from "./studio-cohost.js";
import { mountStudioCoupons } from "./studio-coupons.js";
import { mountStudioDraws } from "./studio-draws.js";
import { mountStudioGifts } from "./studio-gifts.js";
import { mountStudioObs } from "./studio-obs.js";
import { mountStudioPackets } from "./studio-packets.js";
import { mountStudioReminders } from "./studio-reminders.js";
import { mountStudioReplay } from "./studio-replay.js";
import { mountStudioReport } from "./studio-report.js";
import { mountStudioShelf } from "./studio-shelf.js";
import { mountStudioVideo } from "./studio-video.js";
import { mountWebhooks } from "./studio-webhooks.js";

const KNOWN_KEY = "live_server.studio.rooms"; // ids of rooms this browser created or opened
const LIST_REFRESH_MS = 15000;

const auth = mountHeader("studio", { defaultRole: "creator" });
const me = currentUser();

function enc(id) {
  return encodeURIComponent(id);
}

// ---- access -------------------------------------------------------------------------------
if (!me || me.expired || (me.role !== "creator" && me.role !== "ops")) {
  $("#need-login").hidden = false;
  if (me && !me.expired) {
    $("#need-login-text").textContent = `You are logged in as ${me.name || me.id} (${me.role}). The studio needs a creator (or ops) login.`;
    $("#need-login-btn").textContent = "Switch user";
  } else if (me && me.expired) {
    $("#need-login-text").textContent = "Your login has expired. Log in again as a creator.";
  }
  $("#need-login-btn").addEventListener("click", () => auth.open());
} else {
  $("#studio").hidden = false;
  start();
}

function start() {
  const shelf = mountStudioShelf({ me, notify: (text, kind) => toast(text, kind) });
  const packets = mountStudioPackets({ notify: (text, kind) => toast(text, kind) });
  const report = mountStudioReport({ notify: (text, kind) => toast(text, kind) });
  const coupons = mountStudioCoupons({ notify: (text, kind) => toast(text, kind) });
  const auctions = mountStudioAuctions({ notify: (text, kind) => toast(text, kind) });
  const draws = mountStudioDraws({ notify: (text, kind) => toast(text, kind) });
  const gifts = mountStudioGifts();
  const charity = mountStudioCharity({ notify: (text, kind) => toast(text, kind) });
  const video = mountStudioVideo({ notify: (text, kind) => toast(text, kind) });
  const obs = mountStudioObs();
  const cohost = mountStudioCohost({ root: $("#cohost-panel"), notify: (text, kind) => toast(text, kind) });
  const replay = mountStudioReplay({ node: $("#replay-status") }); // "Recording", then the replay link
  const reminders = mountStudioReminders({ node: $("#reminders-count") });
  mountWebhooks($("#webhooks-section"));
  mountTabs($(".cr-tabs [role=tablist]"));
  // ---- known rooms (this browser) ---------------------------------------------------------
  function knownIds() {
    try {
      const all = JSON.parse(localStorage.getItem(KNOWN_KEY) || "{}");
      return Array.isArray(all[me.id]) ? all[me.id].filter((x) => typeof x === "string") : [];
    } catch {
      return [];
    }
  }
  function remember(id) {
    try {
      const all = JSON.parse(localStorage.getItem(KNOWN_KEY) || "{}");
      const ids = Array.isArray(all[me.id]) ? all[me.id] : [];
      all[me.id] = [id, ...ids.filter((x) => x !== id)].slice(0, 30);
      localStorage.setItem(KNOWN_KEY, JSON.stringify(all));
    } catch {
      /* storage off */
    }
  }
  function forget(id) {
    try {
      const all = JSON.parse(localStorage.getItem(KNOWN_KEY) || "{}");
      all[me.id] = (all[me.id] || []).filter((x) => x !== id);
      localStorage.setItem(KNOWN_KEY, JSON.stringify(all));
    } catch {
      /* storage off */
    }
  }

  // ---- room list ----------------------------------------------------------------------------
  const roomList = $("#room-list");
  let rooms = new Map(); // id -> room
  let selected = null;

  async function loadRooms() {
    const found = new Map();
    // The creator's own rooms (state=mine); a server without it: the live list, filtered.
    let own;
    try {
      own = (await api("GET", "/api/rooms?state=mine&limit=100")).rooms || [];
    } catch (err) {
      if (err.code === "network" || err.status === 401) {
        toast(describeError(err), "error");
        return;
      }
      try {
        own = ((await api("GET", "/api/rooms?state=live&limit=100")).rooms || []).filter((r) => r.creator_id === me.id);
      } catch {
        own = [];
      }
    }
    for (const r of own) if (r && r.id) found.set(r.id, r);
    // Rooms opened here by id before (e.g. someone else's room, for ops).
    const missing = knownIds().filter((id) => !found.has(id));
    const fetched = await Promise.allSettled(missing.map((id) => api("GET", `/api/rooms/${enc(id)}`)));
    fetched.forEach((res, i) => {
      if (res.status === "fulfilled" && res.value && res.value.id) found.set(res.value.id, res.value);
      else if (res.status === "rejected" && res.reason.code === "not_found") forget(missing[i]);
    });
    rooms = found;
    renderRoomList();
  }

  const ORDER = { live: 0, scheduled: 1, ended: 2 };
  function renderRoomList() {
    const sorted = [...rooms.values()].sort((a, b) =>
      (ORDER[a.state] ?? 3) - (ORDER[b.state] ?? 3) || (b.created_at || 0) - (a.created_at || 0));
    replace(roomList, sorted.length
      ? sorted.map((r) => el("li", {},
          el("button", {
            type: "button",
            attrs: { "aria-current": selected && selected.id === r.id ? "true" : "false" },
            on: { click: () => select(r.id) },
          },
          el("span", { className: "room-title", text: r.title || "Untitled room" }),
          el("span", { className: "row small muted" }, stateBadge(r.state),
            r.state === "scheduled" && r.scheduled_at ? el("span", { text: fmtDateTime(r.scheduled_at) }) : null,
            r.counters && r.state === "live" ? el("span", { text: `${r.counters.online ?? 0} watching` }) : null))))
      : el("li", { className: "muted small", text: "No rooms yet." }));
  }

  $("#rooms-refresh").addEventListener("click", loadRooms);
  setInterval(() => {
    if (!document.hidden) loadRooms();
  }, LIST_REFRESH_MS);

  $("#open-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const id = e.target.elements.room.value.trim();
    if (id) {
      e.target.reset();
      select(id);
    }
  });

  // ---- create -------------------------------------------------------------------------------
  const createForm = $("#create-form");
  createForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = createForm.elements;
    const body = { title: f.title.value.trim(), allow_guests: f.allow_guests.checked };
    if (f.notice.value.trim()) body.notice = f.notice.value.trim();
    if (f.scheduled_at.value) {
      const t = new Date(f.scheduled_at.value).getTime();
      if (!Number.isNaN(t)) body.scheduled_at = t;
    }
    try {
      const room = await api("POST", "/api/rooms", body);
      createForm.reset();
      f.allow_guests.checked = true;
      flash($("#create-msg"), "Room created.", "ok");
      remember(room.id);
      rooms.set(room.id, room);
      renderRoomList();
      select(room.id);
    } catch (err) {
      flash($("#create-msg"), describeError(err), "error", 8000);
    }
  });

  // ---- the selected room ----------------------------------------------------------------------
  let socket = null;
  let view = null;
  const conn = $("#conn");

  function roomPath(suffix = "") {
    return `/api/rooms/${enc(selected.id)}${suffix}`;
  }

  // After the end the counters stand still (the final figures): the room's counters events
  // are dropped, and a later snapshot (a reconnect) shows the figures kept at the end.
  let finalCounters = null;
  function freezeIfEnded() {
    if (view && !finalCounters && selected && selected.state === "ended") finalCounters = { ...view.counters };
  }
  function liveFigures(list) {
    let over = !!finalCounters || (selected && selected.state === "ended");
    return list.filter((ev) => {
      if (ev.type === "room_state") over = !!ev.data && ev.data.state === "ended";
      return !(over && ev.type === "counters");
    });
  }

  async function select(id) {
    if (socket) socket.stop();
    socket = null;
    view = null;
    finalCounters = null;
    let room;
    try {
      room = await api("GET", `/api/rooms/${enc(id)}`);
    } catch (err) {
      toast(err.code === "not_found" ? "No such room." : describeError(err), "error");
      return;
    }
    selected = room;
    if (room.creator_id === me.id || me.role === "ops") remember(room.id);
    rooms.set(room.id, { ...rooms.get(room.id), ...room });
    history.replaceState(null, "", `#room=${enc(room.id)}`);
    renderRoomList();

    $("#no-room").hidden = true;
    $("#room").hidden = false;
    $("#room-id").textContent = room.id;
    const link = `${location.origin}/watch/${enc(room.id)}`;
    $("#viewer-link").value = link;
    $("#open-link").href = link;
    obs.select(room);
    replay.select(room);
    replace($("#chat"));
    fillEditForm(room);
    renderHeader(room);

    socket = new RoomSocket(room.id, { token: getToken() });
    view = new RoomView(socket, {
      title: $("#title"),
      state: $("#state"),
      notice: $("#notice"),
      announcement: $("#announcement"),
      counters: { online: $("#c-online"), hearts: $("#c-hearts"), unique: $("#c-unique"), peak: $("#c-peak"), chat: $("#c-chat") },
      chatList: $("#chat"),
      chatScroll: $("#chat-scroll"),
      joins: $("#joins"),
    }, {
      notify: (text, kind) => toast(text, kind),
      onChange: (v, what) => {
        if (v !== view) return;
        if (what === "room") {
          selected = { ...selected, ...v.room };
          rooms.set(selected.id, { ...rooms.get(selected.id), ...v.room });
          renderHeader(selected);
          renderRoomList();
          shelf.roomChanged(selected);
          video.roomChanged(selected);
          replay.roomChanged(selected);
        } else if (what === "moderation") {
          scheduleModRefresh();
        } else if (what === "counters") {
          const r = rooms.get(selected.id);
          if (r) r.counters = v.counters;
        }
      },
    });
    const viewHandlers = view.handlers();
    const mine = socket;
    socket.handlers = {
      ...viewHandlers,
      snapshot: (snap, info) => {
        viewHandlers.snapshot(mine === socket && finalCounters ? { ...snap, counters: finalCounters } : snap, info);
        if (mine === socket) freezeIfEnded();
        if (mine === socket) shelf.snapshot(snap);
        if (mine === socket) coupons.snapshot(snap);
      },
      events: (list, frame) => {
        viewHandlers.events(mine === socket ? liveFigures(list) : list, frame);
        if (mine === socket) freezeIfEnded();
        if (mine === socket) shelf.events(list);
        if (mine === socket) packets.events(list);
        if (mine === socket) draws.events(list);
        if (mine === socket) coupons.events(list);
        if (mine === socket) auctions.events(list);
        if (mine === socket) gifts.events(list);
        if (mine === socket) cohost.events(list);
      },
      status: (state, info) => {
        conn.dataset.state = state;
        conn.textContent = state === "open" ? "connected" : state === "closed" ? "disconnected" : "connecting…";
        if (state === "closed" && info.final && info.code !== 1000) toast(describeClose(info.code, info.reason, info.error), "error", 10000);
      },
    };
    shelf.select(room, socket);
    packets.select(room);
    draws.select(room);
    coupons.select(room);
    auctions.select(room);
    gifts.select(room);
    charity.select(room);
    video.select(room);
    cohost.select(room);
    socket.start();
    loadKeywords();
    loadMutes();
    loadBans();
  }

  function renderHeader(room) {
    replace($("#state"), stateBadge(room.state));
    $("#title").textContent = room.title || "Untitled room";
    $("#notice").textContent = room.notice || "";
    $("#notice").hidden = !room.notice;
    $("#start").hidden = room.state !== "scheduled";
    reminders.show(room);
    $("#end").hidden = room.state === "ended";
    $("#end").textContent = room.state === "scheduled" ? "Cancel room" : "End live";
    const slow = Number(room.slow_mode_s) || 0;
    $("#slow").hidden = slow <= 0;
    $("#slow").textContent = slow > 0 ? `slow mode ${slow} s` : "";
    const sel = $("#slow-form").elements.seconds;
    if (![...sel.options].some((o) => Number(o.value) === slow)) sel.append(el("option", { value: String(slow), text: `${slow} s` }));
    sel.value = String(slow);
    const ended = room.state === "ended";
    $("#counters-final").hidden = !ended;
    $("#chat-input").disabled = ended;
    $("#chat-send").disabled = ended;
    report.roomChanged(room);
  }

  function fillEditForm(room) {
    const f = $("#edit-form").elements;
    f.title.value = room.title || "";
    f.notice.value = room.notice || "";
    f.cover.value = room.cover || "";
    f.allow_guests.checked = !!room.allow_guests;
  }

  // ---- start / end ----------------------------------------------------------------------------
  async function transition(action) {
    const msg = $("#room-msg");
    if (action === "end" && !confirm(selected.state === "scheduled" ? "Cancel this room?" : "End the live now? Viewers will see that it has ended.")) return;
    try {
      const room = await api("POST", roomPath(`/${action}`));
      selected = { ...selected, ...room };
      rooms.set(selected.id, { ...rooms.get(selected.id), ...room });
      renderHeader(selected);
      renderRoomList();
      video.roomChanged(selected); // ending the live stops the camera and microphone
      replay.roomChanged(selected);
      freezeIfEnded();
      flash(msg, action === "start" ? "You are live." : "The room has ended.", "ok");
      // after the end, the post-show report (opened by renderHeader) is what the creator sees
      if (selected.state === "ended" && !$("#report-section").hidden) $("#report-section").scrollIntoView({ block: "start" });
    } catch (err) {
      flash(msg, describeError(err), "error", 8000);
    }
  }
  $("#start").addEventListener("click", () => transition("start"));
  $("#end").addEventListener("click", () => transition("end"));

  $("#copy-link").addEventListener("click", async () => {
    const ok = await copyText($("#viewer-link").value, $("#viewer-link"));
    toast(ok ? "Viewer link copied." : "Select the link and copy it.", ok ? "ok" : "info");
  });

  // ---- edit -----------------------------------------------------------------------------------
  $("#edit-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = e.target.elements;
    const body = {
      title: f.title.value.trim(),
      notice: f.notice.value.trim(),
      cover: f.cover.value.trim(),
      allow_guests: f.allow_guests.checked,
    };
    try {
      const room = await api("PATCH", roomPath(), body);
      selected = { ...selected, ...room };
      renderHeader(selected);
      fillEditForm(selected);
      rooms.set(selected.id, { ...rooms.get(selected.id), ...room });
      renderRoomList();
      flash($("#edit-msg"), "Saved.", "ok");
    } catch (err) {
      flash($("#edit-msg"), describeError(err), "error", 8000);
    }
  });

  // ---- announcement -----------------------------------------------------------------------------
  const announceForm = $("#announce-form");
  async function announce(text) {
    try {
      await api("PUT", roomPath("/announcement"), { text });
      if (text) announceForm.reset();
      flash($("#announce-msg"), text ? "Pinned." : "Removed.", "ok");
    } catch (err) {
      flash($("#announce-msg"), describeError(err), "error", 8000);
    }
  }
  announceForm.addEventListener("submit", (e) => {
    e.preventDefault();
    const text = announceForm.elements.text.value.trim();
    if (text) announce(text);
  });
  $("#announce-clear").addEventListener("click", () => announce(null));

  // ---- slow mode -------------------------------------------------------------------------------
  $("#slow-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const seconds = Number(e.target.elements.seconds.value);
    try {
      await api("PUT", roomPath("/slow-mode"), { seconds });
      selected.slow_mode_s = seconds;
      renderHeader(selected);
      flash($("#slow-msg"), seconds ? `Slow mode: ${seconds} s.` : "Slow mode off.", "ok");
    } catch (err) {
      flash($("#slow-msg"), describeError(err), "error", 8000);
    }
  });

  // ---- keywords --------------------------------------------------------------------------------
  const kwForm = $("#kw-form");
  async function loadKeywords() {
    const roomId = selected.id;
    try {
      const data = await api("GET", roomPath("/keywords"));
      if (!selected || selected.id !== roomId) return;
      kwForm.elements.words.value = (data.words || []).join("\n");
      kwForm.elements.action.value = data.action === "block" ? "block" : "mask";
    } catch (err) {
      flash($("#kw-msg"), describeError(err), "error", 8000);
    }
  }
  kwForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    const words = [...new Set(kwForm.elements.words.value.split(/[\n,]/).map((w) => w.trim()).filter(Boolean))];
    const action = kwForm.elements.action.value;
    try {
      const data = await api("PUT", roomPath("/keywords"), { words, action });
      flash($("#kw-msg"), `Saved ${data.count ?? words.length} words.`, "ok");
    } catch (err) {
      flash($("#kw-msg"), describeError(err), "error", 8000);
    }
  });

  // ---- mutes and bans ------------------------------------------------------------------------
  let modTimer = null;
  function scheduleModRefresh() {
    clearTimeout(modTimer);
    modTimer = setTimeout(() => {
      loadMutes();
      loadBans();
    }, 300);
  }

  async function loadMutes() {
    const roomId = selected.id;
    try {
      const data = await api("GET", roomPath("/mutes"));
      if (!selected || selected.id !== roomId) return;
      const mutes = (data.mutes || []).filter((m) => !m.until || m.until > Date.now());
      replace($("#mutes"), mutes.length
        ? mutes.map((m) => el("li", {},
            el("span", { className: "grow" },
              el("strong", { text: m.user_id }),
              el("span", { className: "muted small", text: ` until ${fmtDateTime(m.until)}${m.reason ? ` · ${m.reason}` : ""}${m.by ? ` · by ${m.by}` : ""}` })),
            el("button", { type: "button", className: "btn btn-small", text: "Unmute", on: { click: () => unmute(m.user_id) } })))
        : el("li", { className: "muted small", text: "Nobody is muted." }));
    } catch (err) {
      flash($("#mute-msg"), describeError(err), "error", 8000);
    }
  }

  async function loadBans() {
    const roomId = selected.id;
    try {
      const data = await api("GET", roomPath("/bans"));
      if (!selected || selected.id !== roomId) return;
      const bans = data.bans || [];
      replace($("#bans"), bans.length
        ? bans.map((b) => el("li", {},
            el("span", { className: "grow" },
              el("strong", { text: b.user_id }),
              el("span", { className: "muted small", text: `${b.ts ? ` ${fmtDateTime(b.ts)}` : ""}${b.reason ? ` · ${b.reason}` : ""}${b.by ? ` · by ${b.by}` : ""}` })),
            el("button", { type: "button", className: "btn btn-small", text: "Unban", on: { click: () => unban(b.user_id) } })))
        : el("li", { className: "muted small", text: "Nobody is banned." }));
    } catch (err) {
      flash($("#ban-msg"), describeError(err), "error", 8000);
    }
  }

  async function unmute(userId) {
    try {
      await api("DELETE", roomPath(`/mutes/${enc(userId)}`));
      flash($("#mute-msg"), `${userId} can chat again.`, "ok");
      loadMutes();
    } catch (err) {
      flash($("#mute-msg"), describeError(err), "error", 8000);
    }
  }

  async function unban(userId) {
    try {
      await api("DELETE", roomPath(`/bans/${enc(userId)}`));
      flash($("#ban-msg"), `${userId} is no longer banned.`, "ok");
      loadBans();
    } catch (err) {
      flash($("#ban-msg"), describeError(err), "error", 8000);
    }
  }

  $("#mute-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = e.target.elements;
    const userId = f.user_id.value.trim();
    if (!userId) return;
    try {
      const data = await api("POST", roomPath("/mutes"), { user_id: userId, duration_s: Number(f.duration_s.value) });
      f.user_id.value = "";
      flash($("#mute-msg"), `${userId} is muted until ${fmtTime(data.until)}.`, "ok");
      loadMutes();
    } catch (err) {
      flash($("#mute-msg"), describeError(err), "error", 8000);
    }
  });

  $("#ban-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = e.target.elements;
    const userId = f.user_id.value.trim();
    if (!userId) return;
    const body = { user_id: userId };
    if (f.reason.value.trim()) body.reason = f.reason.value.trim();
    try {
      await api("POST", roomPath("/bans"), body);
      e.target.reset();
      flash($("#ban-msg"), `${userId} is banned.`, "ok");
      loadBans();
    } catch (err) {
      flash($("#ban-msg"), describeError(err), "error", 8000);
    }
  });

  $("#mutes-refresh").addEventListener("click", loadMutes);
  $("#bans-refresh").addEventListener("click", loadBans);

  // ---- the creator's own chat ----------------------------------------------------------------
  $("#chat-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const input = $("#chat-input");
    const text = input.value.trim();
    if (!text || !socket) return;
    try {
      await socket.request("chat", { text });
      input.value = "";
      flash($("#chat-msg"), "", "info", 0);
    } catch (err) {
      flash($("#chat-msg"), describeError(err), "error", 6000);
    }
  });

  // ---- boot ------------------------------------------------------------------------------------
  loadRooms();
  const m = location.hash.match(/^#room=(.+)$/);
  if (m) select(decodeURIComponent(m[1]));
}

/**
 * Tabs over panels that already exist (red packets, coupons, orders): only which one is shown
 * changes, so each panel's module keeps working whether its tab is open or not. Arrow keys move
 * between tabs, as the ARIA tabs pattern expects.
 */
function mountTabs(list) {
  const tabs = [...list.querySelectorAll("[role=tab]")];
  function show(tab, focus) {
    for (const t of tabs) {
      const on = t === tab;
      t.setAttribute("aria-selected", on ? "true" : "false");
      t.tabIndex = on ? 0 : -1;
      document.getElementById(t.getAttribute("aria-controls")).hidden = !on;
    }
    if (focus) tab.focus();
  }
  for (const tab of tabs) {
    tab.addEventListener("click", () => show(tab, false));
    tab.addEventListener("keydown", (e) => {
      const step = e.key === "ArrowRight" ? 1 : e.key === "ArrowLeft" ? -1 : 0;
      if (!step) return;
      e.preventDefault();
      show(tabs[(tabs.indexOf(tab) + step + tabs.length) % tabs.length], true);
    });
  }
}
