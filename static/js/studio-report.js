// A show's report (docs/PROTOCOL.md, "Show report"): the headline figures, per-minute charts
// (online, GMV, chat: Chart.js, vendored under /static/vendor/) and the per-product table,
// with CSV and JSON downloads. The studio shows it when a room ends and for any past show;
// the My shows page opens any of the creator's shows (ops: any room).
// Every text goes in through textContent (dom.js); Chart.js draws on canvases.

import { api, describeError, getToken, responseError } from "./api.js";
import { el, replace, flash, fmtCount, fmtDateTime, fmtDuration, stateBadge } from "./dom.js";
import { fmtMoney, fmtPercent } from "./shelf.js";

const enc = encodeURIComponent;
const LIVE_REFRESH_MS = 15000;

/** The headline figures in the order a creator reads them: [key, label, format]. */
const FIGURES = [
  ["gmv", "GMV", "money"],
  ["orders", "paid orders", "count"],
  ["buyers", "buyers", "count"],
  ["units", "units sold", "count"],
  ["conversion_bp", "conversion (buyers / viewers)", "percent"],
  ["gpm", "GPM (GMV per 1,000 viewers)", "money"],
  ["refunded", "refunded", "refunds"],
  ["pcu", "peak viewers (PCU)", "count"],
  ["acu", "average viewers (ACU)", "decimal"],
  ["unique_viewers", "unique viewers", "count"],
  ["avg_watch_ms", "average watch time", "duration"],
  ["duration_ms", "show length", "duration"],
  ["new_followers", "new followers", "count"],
  ["fan_club_joins", "fan-club joins", "count"],
  ["hearts", "hearts", "count"],
  ["chat_messages", "chat messages", "count"],
  ["card_views", "product card views", "views"],
  ["orders_placed", "orders placed", "count"],
  ["coupons_used", "coupons used", "coupons"],
  ["red_packets_spent", "red packets grabbed", "money"],
  ["reminded", "reminded when it went live", "count"],
  ["gifts", "gifts received", "count"],
  ["gift_income", "gift income", "money"],
  ["auctions", "auctions held", "count"],
  ["auctions_sold", "auctions sold", "count"],
  ["auction_revenue", "auction revenue", "money"],
  ["draws", "lucky draws drawn", "count"],
  ["draw_entrants", "lucky draw entries", "count"],
  ["draw_cash", "lucky draw cash given", "money"],
  ["draw_coupons", "lucky draw coupons given", "count"],
  ["draw_products", "lucky draw products given", "count"],
  ["charity", "earmarked for charity", "money"],
];

function figureText(key, kind, h, currency) {
  const v = h[key];
  switch (kind) {
    case "money": return fmtMoney(v, currency);
    case "percent": return fmtPercent(v);
    case "duration": return fmtDuration(v);
    case "decimal": return (Number(v) || 0).toFixed(1);
    case "refunds": return `${fmtMoney(v, currency)} (${fmtCount(h.refunds)})`;
    case "views": return `${fmtCount(v)} by ${fmtCount(h.card_viewers)}`;
    case "coupons": return h.discount ? `${fmtCount(v)} (−${fmtMoney(h.discount, currency)})` : fmtCount(v);
    default: return fmtCount(v);
  }
}

function minuteLabel(ms) {
  return new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

/** Save text as a file (the CSV needs the token, so it is fetched, then saved). */
function save(name, blob) {
  const url = URL.createObjectURL(blob);
  const a = el("a", { href: url, attrs: { download: name }, hidden: true });
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

/**
 * mountReport(root, {notify}) -> {open(roomId), close(), roomId}
 * Builds the report's parts inside root (a section), shown while a report is open.
 */
export function mountReport(root, { notify = () => {} } = {}) {
  const title = el("h2", { className: "grow", text: "Show report" });
  const status = el("span", { className: "row small muted" });
  const msg = el("p", { className: "msg", hidden: true, attrs: { role: "status" } });
  const headline = el("div", { className: "counters money-counters sr-figures", attrs: { "aria-label": "Headline figures" } });
  const chartBox = el("div", { className: "sr-charts" });
  const products = el("tbody");
  const minutes = el("tbody");
  const csvBtn = el("button", { type: "button", className: "btn btn-small", text: "Download CSV", on: { click: downloadCsv } });
  const jsonBtn = el("button", { type: "button", className: "btn btn-small", text: "JSON", on: { click: downloadJson } });
  const refreshBtn = el("button", { type: "button", className: "btn btn-small", text: "Refresh", on: { click: () => load() } });
  replace(root,
    el("div", { className: "row spread" }, title, el("span", { className: "row" }, refreshBtn, csvBtn, jsonBtn)),
    status, msg, headline, chartBox,
    el("h3", { text: "Products" }),
    el("div", { className: "table-wrap" }, el("table", { className: "sr-products" },
      el("thead", {}, el("tr", {}, el("th", { text: "Product" }), el("th", { className: "num", text: "Card views" }),
        el("th", { className: "num", text: "Viewers" }), el("th", { className: "num", text: "Orders" }),
        el("th", { className: "num", text: "Units" }), el("th", { className: "num", text: "GMV" }))),
      products)),
    el("details", { className: "sr-minutes" }, el("summary", { text: "Per-minute figures" }),
      el("div", { className: "table-wrap" }, el("table", {},
        el("thead", {}, el("tr", {}, el("th", { text: "Minute" }), el("th", { className: "num", text: "Online" }),
          el("th", { className: "num", text: "GMV" }), el("th", { className: "num", text: "Chat" }))),
        minutes))));

  let roomId = null;
  let report = null;
  let timer = null;
  let charts = [];

  async function open(id) {
    roomId = id;
    report = null;
    root.hidden = false;
    replace(headline);
    replace(status, "Loading…");
    await load();
  }

  function close() {
    roomId = null;
    report = null;
    clearTimeout(timer);
    destroyCharts();
    root.hidden = true;
  }

  async function load() {
    clearTimeout(timer);
    const id = roomId;
    if (!id) return;
    try {
      const data = await api("GET", `/api/rooms/${enc(id)}/report`);
      if (id !== roomId) return;
      report = data;
      render(data);
    } catch (err) {
      if (id !== roomId) return;
      replace(status);
      flash(msg, err.code === "invalid_state" ? "No report yet: the show has not started." : describeError(err), "error", 0);
    }
    if (report && report.live && roomId === id) {
      timer = setTimeout(() => {
        if (!document.hidden) load();
        else timer = setTimeout(load, LIVE_REFRESH_MS);
      }, LIVE_REFRESH_MS);
    }
  }

  function render(r) {
    flash(msg, "");
    const cur = r.currency || "";
    title.textContent = `Show report · ${r.title || "Untitled room"}`;
    replace(status, stateBadge(r.state),
      el("span", { text: `${fmtDateTime(r.started_at)} – ${r.ended_at ? fmtDateTime(r.ended_at) : "now"}` }),
      el("span", { className: "badge", text: r.live ? "live figures" : r.frozen ? "final" : "settling: reservations placed in the show may still be paid" }));
    const h = r.headline || {};
    replace(headline, FIGURES.map(([key, label, kind]) =>
      el("div", { className: key === "gmv" ? "counter gmv" : "counter", dataset: { figure: key } },
        el("b", { text: figureText(key, kind, h, cur) }), el("span", { text: label }))));
    replace(products, (r.products || []).length
      ? r.products.map((p) => el("tr", {},
          el("td", { className: "wrap", text: p.title || p.product_id }),
          el("td", { className: "num", text: fmtCount(p.views) }),
          el("td", { className: "num", text: fmtCount(p.viewers) }),
          el("td", { className: "num", text: fmtCount(p.orders) }),
          el("td", { className: "num", text: fmtCount(p.units) }),
          el("td", { className: "num", text: fmtMoney(p.gmv, cur) })))
      : el("tr", {}, el("td", { className: "muted", attrs: { colspan: 6 }, text: "No product was viewed or sold." })));
    const s = r.series || { online: [], gmv: [], chat: [], start: 0, step_ms: 60000 };
    const labels = s.online.map((_, i) => minuteLabel(s.start + i * s.step_ms));
    replace(minutes, labels.map((label, i) => el("tr", {},
      el("td", { text: label }), el("td", { className: "num", text: String(s.online[i]) }),
      el("td", { className: "num", text: fmtMoney(s.gmv[i], cur) }), el("td", { className: "num", text: fmtCount(s.chat[i]) }))));
    drawCharts(labels, s, cur);
  }

  function destroyCharts() {
    for (const c of charts) c.destroy();
    charts = [];
  }

  function drawCharts(labels, s, cur) {
    destroyCharts();
    const Chart = window.Chart;
    if (!Chart) {
      replace(chartBox, el("p", { className: "muted small", text: "Charts are unavailable; the per-minute figures are below." }));
      return;
    }
    const specs = [
      ["online", "Online viewers", "line", s.online, "#2456c9"],
      ["gmv", "GMV per minute", "bar", s.gmv, "#e0245e"], // cents: the axis and tooltips say them as money
      ["chat", "Chat messages per minute", "bar", s.chat, "#1f8a4c"],
    ];
    replace(chartBox, specs.map(([key, label]) =>
      el("figure", { className: "sr-chart", dataset: { chart: key } },
        el("figcaption", { className: "small muted", text: label }),
        el("div", { className: "sr-canvas" }, el("canvas", { attrs: { role: "img", "aria-label": label } })))));
    specs.forEach(([key, label, type, data, color]) => {
      const canvas = chartBox.querySelector(`[data-chart="${key}"] canvas`);
      charts.push(new Chart(canvas, {
        type,
        data: { labels, datasets: [{ label, data, borderColor: color, backgroundColor: type === "bar" ? color : `${color}33`, fill: type === "line", tension: 0.25, pointRadius: labels.length > 60 ? 0 : 2 }] },
        options: {
          responsive: true, maintainAspectRatio: false, animation: false,
          plugins: { legend: { display: false }, tooltip: key === "gmv" ? { callbacks: { label: (c) => fmtMoney(c.parsed.y, cur) } } : {} },
          scales: { y: { beginAtZero: true, ticks: { precision: 0, ...(key === "gmv" ? { callback: (v) => fmtMoney(v, cur) } : {}) } }, x: { ticks: { maxTicksLimit: 8 } } },
        },
      }));
    });
  }

  async function downloadCsv() {
    if (!roomId) return;
    csvBtn.disabled = true;
    try {
      const headers = {};
      const tok = getToken();
      if (tok) headers.Authorization = `Bearer ${tok}`;
      const res = await fetch(`/api/rooms/${enc(roomId)}/report.csv`, { headers, credentials: "same-origin" });
      if (!res.ok) {
        flash(msg, describeError(await responseError(res)), "error", 10000);
        return;
      }
      save(`report-${roomId}.csv`, await res.blob());
      notify(`Downloaded report-${roomId}.csv.`, "ok");
    } catch {
      flash(msg, "The server cannot be reached.", "error", 8000);
    } finally {
      csvBtn.disabled = false;
    }
  }

  function downloadJson() {
    if (!report) return;
    save(`report-${report.room_id}.json`, new Blob([JSON.stringify(report, null, 2)], { type: "application/json" }));
  }

  return { open, close, get roomId() { return roomId; } };
}

/**
 * The studio's report section (#report-section, button #report-open): opens by itself when the
 * selected room has ended after going live, and on demand while it is live.
 * mountStudioReport({notify}) -> {roomChanged(room)}
 */
export function mountStudioReport({ notify } = {}) {
  const section = document.getElementById("report-section");
  const button = document.getElementById("report-open");
  if (!section) return { roomChanged() {} };
  const view = mountReport(section, { notify });
  let seen = null; // "<room id>|<state>" last handled
  let room = null;
  if (button) {
    button.addEventListener("click", () => {
      if (!room) return;
      view.open(room.id).then(() => section.scrollIntoView({ behavior: "smooth", block: "start" }));
    });
  }
  function roomChanged(r) {
    room = r;
    const key = `${r.id}|${r.state}`;
    if (button) button.hidden = !r.started_at;
    if (key === seen) return;
    seen = key;
    if (r.state === "ended" && r.started_at) view.open(r.id);
    else if (view.roomId !== r.id || !r.started_at) view.close();
  }
  return { roomChanged };
}
