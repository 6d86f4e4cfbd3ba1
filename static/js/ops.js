// The ops console: live rooms busiest first with their sales, and processes (every 2 s); the
// reports queue (resolve, dismiss, delete the message and ban its author, from the room or the
// whole platform); the alerts strip (with the rooms), platform suspensions and the moderation log
// with undo.

import { api, currentUser, describeError, getToken } from "./api.js";
import { mountHeader } from "./auth.js";
import { $, el, replace, setText, flash, fmtAgo, fmtCount, fmtDateTime, fmtTime, stateBadge, toast } from "./dom.js";
import { currencyOf, fmtMoney } from "./shelf.js";
import { sparkline } from "./sparkline.js";
import { mountWebhooks } from "./studio-webhooks.js";
import { mountAlerts } from "./ops-alerts.js";
import { mountOpsAuctions } from "./ops-auctions.js";
import { mountOpsCharity } from "./ops-charity.js";
import { mountOpsDraws } from "./ops-draws.js";
import { mountOpsReplays } from "./ops-replays.js";
import { durationOptions, mountSuspensions, suspend } from "./ops-suspensions.js";

const ROOMS_REFRESH_MS = 2000;
const SLOW_REFRESH_MS = 10000;
const THUMB_REFRESH_MS = 10000; // the server makes a new picture at most every 5 s

const auth = mountHeader("ops", { defaultRole: "ops" });
const me = currentUser();

if (!me || me.expired || me.role !== "ops") {
  $("#need-login").hidden = false;
  if (me && !me.expired) {
    $("#need-login-text").textContent = `You are logged in as ${me.name || me.id} (${me.role}). The ops console needs an ops login.`;
    $("#need-login-btn").textContent = "Switch user";
  }
  $("#need-login-btn").addEventListener("click", () => auth.open());
} else {
  $("#ops").hidden = false;
  start();
}

function enc(id) {
  return encodeURIComponent(id);
}

function userLabel(u) {
  if (u === null || u === undefined) return "—";
  if (typeof u === "object") return u.name && u.id && u.name !== u.id ? `${u.name} (${u.id})` : String(u.id ?? u.name ?? "?");
  return String(u);
}

function start() {
  mountWebhooks($("#webhooks-section"), { title: "Platform webhooks", scope: "every room" });
  const opsError = $("#ops-error");
  function showError(err) {
    if (err) {
      opsError.textContent = describeError(err);
      opsError.hidden = false;
    } else {
      opsError.hidden = true;
    }
  }

  // ---- live rooms: rows are kept by room id and updated in place ---------------------------
  const tbody = $("#rooms");
  const rows = new Map(); // room id -> {tr, cells}
  let roomsBusy = false;

  function makeRow(room) {
    const cells = {
      room: el("td", { className: "room-cell" }),
      creator: el("td", { className: "mono" }),
      state: el("td"),
      online: el("td", { className: "num" }),
      cpm: el("td", { className: "num" }),
      gmv: el("td", { className: "num" }),
      orders: el("td", { className: "num" }),
      gifts: el("td", { className: "num" }),
      reports: el("td", { className: "num" }),
      load: el("td", { className: "load-cell" }),
      hearts: el("td", { className: "num" }),
      unique: el("td", { className: "num" }),
      peak: el("td", { className: "num" }),
      chat: el("td", { className: "num" }),
      video: el("td"),
      procs: el("td", { className: "procs" }),
      actions: el("td", { className: "room-actions" }),
    };
    const id = room.id;
    replace(cells.actions,
      el("span", { className: "row" },
        el("a", { className: "btn btn-small", href: `/watch/${enc(id)}`, target: "_blank", rel: "noopener", text: "Open" }),
        el("a", { className: "btn btn-small", href: `/shows?room=${enc(id)}`, target: "_blank", rel: "noopener", text: "Report" }),
        el("button", { type: "button", className: "btn btn-small", text: "Ban user…", on: { click: () => openBan(id, rows.get(id)?.title) } }),
        el("button", { type: "button", className: "btn btn-small", text: "Shelf & orders", on: { click: () => showCommerce(id) } }),
        el("button", { type: "button", className: "btn btn-small btn-danger", text: "End", on: { click: () => endRoom(id, rows.get(id)?.title) } })));
    const tr = el("tr", { dataset: { room: id } }, Object.values(cells));
    return { tr, cells, title: "", thumb: el("div", { className: "thumb-box" }), thumbAt: 0, thumbBusy: false };
  }

  // The stream thumbnail: fetched with the ops token (an <img> cannot send it) and shown as a
  // data: URL, every THUMB_REFRESH_MS while the room has video; a placeholder otherwise.
  function showThumb(row, room) {
    const cell = row.thumb;
    let img = cell.querySelector("img.thumb");
    if (!room.video?.publishing || !room.video.picture) {
      // no video, or no picture of it here yet (its first keyframe has not arrived)
      row.thumbAt = 0;
      const text = room.video?.publishing ? "No picture yet" : "No video";
      const empty = cell.querySelector(".thumb-empty");
      if (!empty || empty.textContent !== text) replace(cell, el("span", { className: "thumb thumb-empty", text }));
      return;
    }
    if (!img) {
      img = el("img", { className: "thumb", attrs: { width: "80", height: "45", decoding: "async" } });
      replace(cell, img);
    }
    img.alt = room.title || "Untitled room";
    if (row.thumbBusy || Date.now() - row.thumbAt < THUMB_REFRESH_MS) return;
    row.thumbBusy = true;
    row.thumbAt = Date.now();
    fetch(`/api/rooms/${enc(room.id)}/thumbnail.jpg`, { headers: { Authorization: `Bearer ${getToken()}` } })
      .then((resp) => (resp.ok ? resp.blob() : null))
      .then((blob) => blob && new Promise((resolve, reject) => {
        const reader = new FileReader();
        reader.onload = () => resolve(reader.result);
        reader.onerror = () => reject(reader.error);
        reader.readAsDataURL(blob);
      }))
      .then((url) => {
        if (typeof url === "string" && url.startsWith("data:image/jpeg")) img.src = url;
        img.classList.toggle("thumb-missing", !img.src);
      })
      .catch(() => img.classList.add("thumb-missing"))
      .finally(() => { row.thumbBusy = false; });
  }

  function showLoad(row, room) {
    const s = room.series || {};
    const interval = Number(s.interval_ms) || 30000;
    replace(row.cells.load, el("div", { className: "sparks" },
      sparkline(s.online, { name: "online viewers", intervalMs: interval, className: "sparkline spark-online", height: 14 }),
      sparkline(s.chat_per_min, { name: "chat per minute", intervalMs: interval, className: "sparkline spark-chat", height: 14 }),
      sparkline(s.gmv, { name: "GMV", intervalMs: interval, format: (c) => fmtMoney(c), className: "sparkline spark-gmv", height: 14 })));
  }

  function updateRow(row, room) {
    const c = room.counters || {};
    row.title = room.title || "";
    replace(row.cells.room, row.thumb,
      el("a", { className: "room-title", href: `/watch/${enc(room.id)}`, text: room.title || "Untitled room", attrs: { title: room.title || "" } }),
      el("div", { className: "room-id muted small mono", text: room.id, attrs: { title: room.id } }));
    setText(row.cells.creator, room.creator_id);
    replace(row.cells.state, stateBadge(room.state),
      room.started_at ? el("div", { className: "muted small", text: `since ${fmtDateTime(room.started_at)}` }) : null);
    setText(row.cells.online, fmtCount(c.online));
    setText(row.cells.hearts, fmtCount(c.hearts));
    setText(row.cells.unique, fmtCount(c.unique));
    setText(row.cells.peak, fmtCount(c.peak));
    setText(row.cells.chat, fmtCount(c.chat));
    setText(row.cells.gmv, fmtMoney(Number(room.gmv) || 0));
    setText(row.cells.orders, fmtCount(room.paid_orders ?? 0));
    setText(row.cells.gifts, fmtMoney(Number(room.gift_spent) || 0));
    setText(row.cells.reports, fmtCount(room.reports ?? 0));
    row.cells.reports.classList.toggle("has-reports", Number(room.reports) > 0);
    showLoad(row, room);
    showThumb(row, room);
    setText(row.cells.cpm, room.chat_per_min === undefined ? "—" : fmtCount(Math.round(Number(room.chat_per_min) * 10) / 10));
    const video = room.video || {};
    const codecs = video.codecs && typeof video.codecs === "object" ? Object.values(video.codecs).join(" + ") : "";
    setText(row.cells.video, video.publishing ? `on · ${codecs || "?"}` : "—");
    row.cells.video.title = video.publishing && video.home ? `media home ${video.home}` : "";
    const procs = room.processes && typeof room.processes === "object" ? Object.entries(room.processes) : [];
    replace(row.cells.procs, procs.length
      ? procs.sort((a, b) => b[1] - a[1]).map(([p, n]) => el("div", {}, el("span", { className: "mono", text: p }), `: ${fmtCount(n)}`))
      : "—");
  }

  async function refreshRooms() {
    if (roomsBusy) return;
    roomsBusy = true;
    try {
      const data = await api("GET", "/api/ops/rooms");
      const list = Array.isArray(data.rooms) ? data.rooms : [];
      const seen = new Set();
      list.forEach((room, i) => {
        if (!room || !room.id) return;
        seen.add(room.id);
        let row = rows.get(room.id);
        if (!row) {
          row = makeRow(room);
          rows.set(room.id, row);
        }
        updateRow(row, room);
        if (tbody.children[i] !== row.tr) tbody.insertBefore(row.tr, tbody.children[i] || null);
      });
      for (const [id, row] of rows) {
        if (!seen.has(id)) {
          row.tr.remove();
          rows.delete(id);
        }
      }
      $("#rooms-empty").hidden = list.length > 0;
      const online = list.reduce((n, r) => n + (Number(r.counters?.online) || 0), 0);
      const gmv = list.reduce((n, r) => n + (Number(r.gmv) || 0), 0);
      setText($("#rooms-total"), `${list.length} rooms · ${fmtCount(online)} watching · ${fmtMoney(gmv)} GMV`);
      renderProcs(Array.isArray(data.processes) ? data.processes : []);
      setText($("#rooms-updated"), `updated ${fmtTime(Date.now())}`);
      showError(null);
    } catch (err) {
      showError(err);
    } finally {
      roomsBusy = false;
    }
  }

  function renderProcs(procs) {
    replace($("#procs"), procs.length
      ? procs.map((p) => el("tr", {},
          el("td", { className: "mono", text: p.id }),
          el("td", { className: "mono", text: `${p.host ?? ""}${p.port ? `:${p.port}` : ""}` }),
          el("td", { className: "num", text: p.pid ?? "" }),
          el("td", { className: "num", text: fmtCount(p.connections) }),
          el("td", { className: "num", text: fmtCount(Array.isArray(p.rooms) ? p.rooms.length : p.rooms) }),
          el("td", { text: fmtAgo(p.started_at) }),
          el("td", { text: fmtAgo(p.seen_at) })))
      : el("tr", {}, el("td", { className: "muted", text: "No processes reported.", attrs: { colspan: "7" } })));
  }

  async function endRoom(id, title) {
    if (!confirm(`End the room "${title || id}" now?`)) return;
    try {
      await api("POST", `/api/rooms/${enc(id)}/end`);
      toast("The room has ended.", "ok");
      refreshRooms();
    } catch (err) {
      toast(describeError(err), "error", 8000);
    }
  }

  // ---- alerts strip and platform suspensions -------------------------------------------------
  const alerts = mountAlerts($("#alerts"));
  const auctions = mountOpsAuctions($("#auctions-section"));
  const draws = mountOpsDraws($("#draws-section"));
  mountOpsCharity($("#charity-section"));
  mountOpsReplays($("#replays-section"));
  const suspensions = mountSuspensions($("#suspensions-section"), { onChange: () => refreshLog() });

  // ---- ban dialog (a room's row, or a report: then it can delete the message too) -----------
  // "this room" bans from the room; "the whole platform" suspends the user everywhere
  const dialog = $("#ban-dialog");
  const banForm = $("#ban-form");
  replace(banForm.elements.duration, ...durationOptions());
  const platformScope = () => banForm.elements.scope.value === "platform";
  for (const radio of banForm.elements.scope) {
    radio.addEventListener("change", () => { $("#ban-duration").hidden = !platformScope(); });
  }
  let banRoom = null;
  let banReport = null; // the report being acted on, if any
  function openBan(roomId, title, userId = "", reason = "", report = null) {
    banRoom = roomId;
    banReport = report;
    setText($("#ban-room"), title || "an untitled room");
    setText($("#ban-room-id"), roomId);
    banForm.elements.user_id.value = userId;
    banForm.elements.reason.value = reason;
    banForm.elements.scope.value = "room";
    $("#ban-duration").hidden = true;
    const msg = report?.message;
    $("#ban-message").hidden = !msg;
    banForm.elements.delete_message.checked = Boolean(msg);
    setText($("#ban-message-text"), msg ? `${userLabel(msg.data?.user)}: ${msg.data?.text ?? ""}` : "");
    setText($("#ban-submit"), msg ? "Delete message + ban" : "Ban");
    flash($("#ban-msg"), "", "info", 0);
    if (dialog.showModal) dialog.showModal();
    else dialog.setAttribute("open", "");
    (userId ? $("#ban-submit") : banForm.elements.user_id).focus();
  }
  banForm.elements.delete_message.addEventListener("change", () => {
    setText($("#ban-submit"), banReport && banForm.elements.delete_message.checked ? "Delete message + ban" : "Ban");
  });
  $("#ban-cancel").addEventListener("click", () => dialog.close());
  banForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    const userId = banForm.elements.user_id.value.trim();
    if (!userId || !banRoom) return;
    const reason = banForm.elements.reason.value.trim();
    const report = banReport;
    const seq = report?.message?.seq;
    const deleting = Boolean(report) && typeof seq === "number" && banForm.elements.delete_message.checked;
    try {
      const platform = platformScope();
      if (platform) await suspend(userId, reason, banForm.elements.duration.value);
      if (deleting) await deleteMessage(banRoom, seq, reason);
      if (!platform) {
        await api("POST", `/api/rooms/${enc(banRoom)}/bans`, reason ? { user_id: userId, reason } : { user_id: userId });
      }
      const what = platform ? "suspended from the platform" : "banned";
      if (report) {
        await handleReport(report, "resolved", deleting ? `message deleted, author ${what}` : `author ${what}`, true);
      }
      dialog.close();
      toast(deleting ? `Message deleted and ${userId} ${what}.` : `${userId} is ${what}.`, "ok");
      refreshLog();
      if (platform) suspensions.refresh();
    } catch (err) {
      flash($("#ban-msg"), describeError(err), "error", 0);
    }
  });

  /** Delete a chat message; one already deleted (by the creator, or another ops) is fine. */
  async function deleteMessage(roomId, seq, reason) {
    try {
      await api("DELETE", `/api/rooms/${enc(roomId)}/messages/${seq}`, reason ? { reason: reason.slice(0, 200) } : {});
    } catch (err) {
      if (err?.code !== "not_found") throw err;
    }
  }

  // ---- reports: open ones by default; resolve, dismiss, delete + ban ---------------------------
  const showHandled = $("#reports-handled");

  async function refreshReports() {
    try {
      const state = showHandled.checked ? "all" : "open";
      const data = await api("GET", `/api/ops/reports?limit=100&state=${state}`);
      const reports = Array.isArray(data.reports) ? data.reports : [];
      replace($("#reports"), reports.map(reportRow));
      setText($("#reports-empty"), showHandled.checked ? "No reports." : "No open reports.");
      $("#reports-empty").hidden = reports.length > 0;
      setText($("#reports-updated"), `updated ${fmtTime(Date.now())}`);
    } catch (err) {
      showError(err);
    }
  }
  showHandled.addEventListener("change", refreshReports);

  /** Record a report's outcome; ``quiet`` when part of a bigger action that says it is done. */
  async function handleReport(r, outcome, note = "", quiet = false) {
    try {
      await api("POST", `/api/ops/reports/${enc(r.id)}/resolve`, note ? { outcome, note } : { outcome });
      if (!quiet) toast(outcome === "dismissed" ? "Report dismissed." : "Report resolved.", "ok");
    } catch (err) {
      if (err?.code !== "invalid_state") throw err; // someone else handled it first: fine
      if (!quiet) toast("Someone already handled this report.", "info");
    }
    refreshReports();
    refreshLog();
  }

  function reportState(r) {
    const state = r.state || "open";
    const badge = el("span", { className: `badge report-state state-${state.replace(/[^a-z_]/g, "")}`, text: state });
    if (state === "open") return badge;
    const who = `${userLabel(r.handled_by)}${r.handled_at ? ` · ${fmtDateTime(r.handled_at)}` : ""}`;
    return [badge, el("div", { className: "muted small", text: who }),
      r.note ? el("div", { className: "small wrap-text", text: r.note }) : null];
  }

  function reportRow(r) {
    const msg = r.message || {};
    const md = msg.data || {};
    const author = md.user || {};
    const seq = typeof msg.seq === "number" ? msg.seq : null;
    const open = (r.state || "open") === "open";
    const act = (label, cls, fn, disabled = false) =>
      el("button", { type: "button", className: `btn btn-small ${cls}`, text: label, disabled: disabled || !open, on: { click: fn } });
    const failed = (err) => toast(describeError(err), "error", 8000);
    const actions = open
      ? el("span", { className: "row report-actions" },
          act("Delete message", "report-delete", async () => {
            try {
              await deleteMessage(r.room_id, seq, `report: ${r.reason || ""}`);
              await handleReport(r, "resolved", "message deleted", true);
              toast("Message deleted; report resolved.", "ok");
            } catch (err) { failed(err); }
          }, seq === null),
          act("Delete message + ban author…", "btn-danger report-delete-ban", () =>
            openBan(r.room_id, r.room_title, author.id, `report: ${r.reason || ""}`.slice(0, 200), r), !author.id),
          act("Resolve", "report-resolve", () => handleReport(r, "resolved").catch(failed)),
          act("Dismiss", "report-dismiss", () => handleReport(r, "dismissed").catch(failed)))
      : null;
    return el("tr", { dataset: { report: r.id, state: r.state || "open" } },
      el("td", { text: fmtDateTime(r.ts) }),
      el("td", { className: "room-cell" },
        el("a", { className: "room-title", href: `/watch/${enc(r.room_id)}`, text: r.room_title || "Untitled room" }),
        el("div", { className: "room-id muted small mono", text: r.room_id })),
      el("td", { text: userLabel(r.reporter) }),
      el("td", { className: "wrap", text: r.reason || "" }),
      el("td", { className: "wrap report-msg" },
        msg.data
          ? [el("strong", { text: userLabel(author) }), ": ", el("span", { text: md.text ?? "" }),
             el("div", { className: "muted small", text: `seq ${seq ?? "?"}${msg.ts ? ` · ${fmtDateTime(msg.ts)}` : ""}` })]
          : el("span", { className: "muted", text: "(message not available)" })),
      el("td", { className: "report-state-cell" }, reportState(r)),
      el("td", { className: "report-actions-cell" }, actions));
  }

  // ---- moderation log ---------------------------------------------------------------------------
  let logRoom = "";
  async function refreshLog() {
    const q = new URLSearchParams({ limit: "100" });
    if (logRoom) q.set("room", logRoom);
    try {
      const data = await api("GET", `/api/ops/moderation?${q}`);
      const actions = Array.isArray(data.actions) ? data.actions : [];
      replace($("#log"), actions.map((a) => el("tr", {},
        el("td", { text: fmtDateTime(a.ts) }),
        el("td", {}, a.room_id ? el("a", { className: "mono", href: `/watch/${enc(a.room_id)}`, text: a.room_id }) : "—"),
        el("td", { text: userLabel(a.by) }),
        el("td", {}, el("span", { className: "badge", text: a.action || "?" })),
        el("td", { text: userLabel(a.target) }),
        el("td", { className: "wrap", text: a.reason || "" }),
        el("td", { className: "wrap" }, a.data && Object.keys(a.data).length ? el("code", { text: JSON.stringify(a.data) }) : ""),
        el("td", { className: "log-undo" }, undoCell(a)))));
      $("#log-empty").hidden = actions.length > 0;
    } catch (err) {
      showError(err);
    }
  }
  function undoCell(a) {
    if (a.undone) {
      return el("span", { className: "muted small log-undone", text: `undone by ${userLabel(a.undone.by)} at ${fmtDateTime(a.undone.at)}` });
    }
    if (!a.undoable || !a.id) return "";
    return el("button", { type: "button", className: "btn btn-small log-undo-btn", text: "Undo",
      attrs: { "aria-label": `Undo ${a.action} of ${userLabel(a.target)}` }, on: { click: () => undo(a) } });
  }
  async function undo(a) {
    try {
      const res = await api("POST", `/api/ops/moderation/${enc(a.id)}/undo`);
      toast(res.undone ? `Undone: ${a.action} of ${userLabel(a.target)}.` : `Nothing to undo: ${res.reason}.`, res.undone ? "ok" : "info");
    } catch (err) {
      toast(describeError(err), "error");
    }
    refreshLog();
    if (a.action === "suspend") suspensions.refresh();
  }
  $("#log-form").addEventListener("submit", (e) => {
    e.preventDefault();
    logRoom = e.target.elements.room.value.trim();
    refreshLog();
  });
  $("#reports-refresh").addEventListener("click", refreshReports);

  // ---- a room's shelf and orders; taking products down ---------------------------------------
  const commerceMsg = $("#commerce-msg");
  let commerceRoom = "";

  async function showCommerce(roomId) {
    commerceRoom = roomId;
    $("#commerce-form").elements.room.value = roomId;
    try {
      const [shelf, orders] = await Promise.all([
        api("GET", `/api/rooms/${enc(roomId)}/shelf`),
        api("GET", `/api/rooms/${enc(roomId)}/orders?limit=200`),
      ]);
      if (commerceRoom !== roomId) return;
      $("#commerce-room").hidden = false;
      setText($("#commerce-room-id"), roomId);
      setText($("#commerce-pinned"), shelf.pinned ? shelf.pinned.title : "nothing");
      const products = Array.isArray(shelf.products) ? shelf.products : [];
      const sales = shelf.sales || {};
      replace($("#commerce-shelf"), products.length
        ? products.map((p) => {
            const sale = sales[p.id];
            return el("tr", { dataset: { product: p.id } },
              el("td", { className: "wrap" }, el("strong", { text: p.title }), el("div", { className: "muted small mono", text: p.id })),
              el("td", { className: "mono", text: p.creator_id }),
              el("td", { className: "num", text: fmtMoney(p.live_price, p.currency) }),
              el("td", { className: "small" }, sale
                ? [stateBadge(sale.state), ` ${fmtMoney(sale.price, sale.currency)} · ${sale.left} of ${sale.stock} left · ends ${fmtDateTime(sale.end_at)}`]
                : "—"),
              el("td", {}, stateBadge(p.status)),
              el("td", {}, p.status === "on_sale"
                ? el("button", { type: "button", className: "btn btn-small btn-danger", text: "Take down", on: { click: () => takeDown(p.id, p.title) } })
                : el("button", { type: "button", className: "btn btn-small product-restore", text: "Restore", on: { click: () => restoreProduct(p.id, p.title) } })));
          })
        : el("tr", {}, el("td", { className: "muted", text: "The shelf is empty.", attrs: { colspan: "6" } })));
      const list = Array.isArray(orders.orders) ? orders.orders : [];
      const t = orders.totals || {};
      const cur = currencyOf(list.length ? list : products);
      const item = (label, value) => el("div", { className: "counter" }, el("b", { text: value }), el("span", { text: label }));
      replace($("#commerce-gmv"),
        item("GMV (paid)", fmtMoney(t.gmv || 0, cur)), item("refunded", fmtMoney(t.refunded || 0, cur)),
        item("net", fmtMoney(t.net || 0, cur)), item("commission", fmtMoney(t.commission || 0, cur)),
        item("paid orders", fmtCount(t.paid_orders)), item("refunded orders", fmtCount(t.refunded_orders)));
      replace($("#commerce-orders"), list.length
        ? list.map((o) => el("tr", { dataset: { order: o.id } },
            el("td", { text: fmtDateTime(o.created_at) }),
            el("td", { className: "mono", text: o.buyer }),
            el("td", { className: "wrap", text: o.title || o.product_id }),
            el("td", { className: "num", text: String(o.quantity) }),
            el("td", { className: "num", text: fmtMoney(o.amount, o.currency) }),
            el("td", {}, stateBadge(o.state)),
            el("td", {}, el("span", { className: "row" },
              o.state === "paid" ? el("button", { type: "button", className: "btn btn-small btn-danger", text: "Refund", on: { click: () => orderAction(o, "refund") } }) : null,
              o.state === "reserved" ? el("button", { type: "button", className: "btn btn-small btn-danger", text: "Cancel", on: { click: () => orderAction(o, "cancel") } }) : null))))
        : el("tr", {}, el("td", { className: "muted", text: "No orders.", attrs: { colspan: "7" } })));
      flash(commerceMsg, "", "info", 0);
    } catch (err) {
      flash(commerceMsg, describeError(err), "error", 10000);
    }
    $("#commerce").scrollIntoView({ block: "nearest" });
  }

  async function orderAction(o, action) {
    if (!confirm(`${action === "refund" ? "Refund" : "Cancel"} the order of ${o.buyer} for ${o.title}?`)) return;
    try {
      await api("POST", `/api/orders/${enc(o.id)}/${action}`);
      toast(action === "refund" ? "Order refunded." : "Order cancelled.", "ok");
      showCommerce(commerceRoom);
    } catch (err) {
      toast(describeError(err), "error", 8000);
    }
  }

  const takedownForm = $("#takedown-form");
  const takedownMsg = $("#takedown-msg");

  async function takeDown(productId, title, reason = null) {
    if (reason === null) {
      reason = prompt(`Take "${title || productId}" down everywhere? Reason (recorded):`, "");
      if (reason === null) return;
    }
    const body = reason.trim() ? { reason: reason.trim().slice(0, 200) } : {};
    try {
      const p = await api("POST", `/api/products/${enc(productId)}/takedown`, body);
      flash(takedownMsg, `${p.title} (${p.id}) is taken down: purchases are refused.`, "ok", 10000);
      toast("Product taken down.", "ok");
      if (commerceRoom) showCommerce(commerceRoom);
      refreshLog();
    } catch (err) {
      flash(takedownMsg, describeError(err), "error", 10000);
    }
  }

  async function restoreProduct(productId, title) {
    if (!confirm(`Put "${title || productId}" back on sale?`)) return;
    try {
      const p = await api("POST", `/api/products/${enc(productId)}/restore`);
      flash(takedownMsg, `${p.title} (${p.id}) is back on sale.`, "ok", 10000);
      toast("Product restored.", "ok");
      if (commerceRoom) showCommerce(commerceRoom);
      refreshLog();
    } catch (err) {
      flash(takedownMsg, describeError(err), "error", 10000);
    }
  }

  $("#commerce-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const id = e.target.elements.room.value.trim();
    if (id) showCommerce(id);
  });
  takedownForm.addEventListener("submit", (e) => {
    e.preventDefault();
    const f = takedownForm.elements;
    const pid = f.product_id.value.trim();
    if (pid) takeDown(pid, "", f.reason.value);
  });
  $("#takedown-lookup").addEventListener("click", async () => {
    const pid = takedownForm.elements.product_id.value.trim();
    const box = $("#takedown-product");
    if (!pid) return;
    try {
      const p = await api("GET", `/api/products/${enc(pid)}`);
      replace(box, el("strong", { text: p.title }), " · ", el("span", { className: "mono", text: p.creator_id }), " · ",
        fmtMoney(p.live_price, p.currency), " · ", stateBadge(p.status),
        p.takedown && p.takedown.reason ? el("span", { className: "muted", text: ` (${p.takedown.reason})` }) : null,
        p.status === "taken_down"
          ? el("button", { type: "button", className: "btn btn-small product-restore", text: "Restore", on: { click: () => restoreProduct(p.id, p.title) } })
          : null);
      box.hidden = false;
      flash(takedownMsg, "", "info", 0);
    } catch (err) {
      box.hidden = true;
      flash(takedownMsg, describeError(err), "error", 10000);
    }
  });

  // ---- timers --------------------------------------------------------------------------------
  const auto = $("#auto");
  setInterval(() => {
    if (auto.checked && !document.hidden) {
      refreshRooms();
      alerts.refresh();
      auctions.refresh();
      draws.refresh();
    }
  }, ROOMS_REFRESH_MS);
  setInterval(() => {
    if (auto.checked && !document.hidden) {
      refreshReports();
      refreshLog();
      suspensions.refresh();
    }
  }, SLOW_REFRESH_MS);
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) refreshRooms();
  });
  refreshRooms();
  alerts.refresh();
  auctions.refresh();
  draws.refresh();
  refreshReports();
  refreshLog();
  suspensions.refresh();
}
