// My shows: the creator's shows, newest first, with their headline figures; a chart comparing
// GMV and peak viewers from show to show; any show's full report below (studio-report.js).
// Ops, who own no show, open any room's report by id (the ops console links here: ?room=<id>).

import { api, currentUser, describeError } from "./api.js";
import { mountHeader } from "./auth.js";
import { $, el, replace, flash, fmtCount, fmtDateTime, fmtDuration, stateBadge, toast } from "./dom.js";
import { fmtMoney, fmtPercent } from "./shelf.js";
import { mountReport } from "./studio-report.js";

const PAGE = 20;
const enc = encodeURIComponent;

const auth = mountHeader("shows", { defaultRole: "creator" });
const me = currentUser();

if (!me || me.expired || (me.role !== "creator" && me.role !== "ops")) {
  $("#need-login").hidden = false;
  if (me && !me.expired) {
    $("#need-login-text").textContent = `You are logged in as ${me.name || me.id} (${me.role}). My shows needs a creator (or ops) login.`;
    $("#need-login-btn").textContent = "Switch user";
  }
  $("#need-login-btn").addEventListener("click", () => auth.open());
} else {
  $("#shows").hidden = false;
  start();
}

function start() {
  const report = mountReport($("#report-section"), { notify: (text, kind) => toast(text, kind) });
  const list = $("#shows-list");
  const more = $("#shows-more");
  let shows = [];
  let next = 0;
  let currency = "";
  let chart = null;

  async function load(append = false) {
    const offset = append ? next : 0;
    try {
      const data = await api("GET", `/api/me/shows?limit=${PAGE}&offset=${offset}`);
      shows = append ? [...shows, ...(data.shows || [])] : data.shows || [];
      next = data.next_offset;
      currency = data.currency || currency;
      $("#shows-total").textContent = `${fmtCount(data.total)} ${data.total === 1 ? "show" : "shows"}`;
      render();
    } catch (err) {
      flash($("#shows-msg"), describeError(err), "error", 10000);
    }
  }

  function render() {
    more.hidden = next === null || next === undefined;
    replace(list, shows.length
      ? shows.map((s) => {
          const h = s.headline || {};
          const cur = s.currency || currency;
          return el("tr", { dataset: { room: s.room_id }, attrs: { "aria-current": report.roomId === s.room_id ? "true" : "false" } },
            el("td", { text: fmtDateTime(s.started_at) }),
            el("td", { className: "wrap" }, el("div", { text: s.title || "Untitled room" }), stateBadge(s.state)),
            el("td", { className: "num", text: fmtDuration(h.duration_ms) }),
            el("td", { className: "num", text: fmtCount(h.pcu) }),
            el("td", { className: "num", text: fmtCount(h.unique_viewers) }),
            el("td", { className: "num", text: fmtCount(h.orders) }),
            el("td", { className: "num", text: fmtMoney(h.gmv, cur) }),
            el("td", { className: "num", text: fmtMoney(h.gpm, cur) }),
            el("td", { className: "num", text: fmtPercent(h.conversion_bp) }),
            el("td", {}, el("button", { type: "button", className: "btn btn-small", text: "Report", on: { click: () => openReport(s.room_id) } })));
        })
      : el("tr", {}, el("td", { className: "muted", attrs: { colspan: 10 },
          text: me.role === "ops" ? "Ops own no shows: open any room's report by its id below." : "No shows yet: go live from the studio." })));
    drawChart();
  }

  function drawChart() {
    const box = $("#shows-compare");
    box.hidden = shows.length === 0;
    if (chart) chart.destroy();
    chart = null;
    const Chart = window.Chart;
    if (!Chart || shows.length === 0) return;
    const ordered = [...shows].reverse();
    const labels = ordered.map((s) => {
      const day = new Date(s.started_at).toLocaleDateString([], { month: "short", day: "numeric" });
      const t = s.title || "Untitled";
      return `${day} · ${t.length > 18 ? `${t.slice(0, 17)}…` : t}`;
    });
    chart = new Chart($("#shows-canvas"), {
      data: {
        labels,
        datasets: [
          { type: "bar", label: "GMV", data: ordered.map((s) => s.headline?.gmv || 0), backgroundColor: "#e0245e", yAxisID: "y" }, // cents
          { type: "line", label: "Peak viewers", data: ordered.map((s) => s.headline?.pcu || 0), borderColor: "#2456c9", backgroundColor: "#2456c9", yAxisID: "y1", tension: 0.25 },
        ],
      },
      options: {
        responsive: true, maintainAspectRatio: false, animation: false,
        plugins: { tooltip: { callbacks: { label: (c) => `${c.dataset.label}: ${c.dataset.yAxisID === "y" ? fmtMoney(c.parsed.y, currency) : fmtCount(c.parsed.y)}` } } },
        scales: {
          y: { beginAtZero: true, position: "left", ticks: { precision: 0, callback: (v) => fmtMoney(v, currency) } },
          y1: { beginAtZero: true, position: "right", grid: { drawOnChartArea: false }, ticks: { precision: 0 } },
          x: { ticks: { maxTicksLimit: 10 } },
        },
      },
    });
  }

  async function openReport(id) {
    history.replaceState(null, "", `?room=${enc(id)}`);
    for (const tr of list.querySelectorAll("tr[data-room]")) tr.setAttribute("aria-current", tr.dataset.room === id ? "true" : "false");
    await report.open(id);
    $("#report-section").scrollIntoView({ behavior: "smooth", block: "start" });
  }

  more.addEventListener("click", () => load(true));
  $("#shows-refresh").addEventListener("click", () => load());
  $("#report-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const id = e.target.elements.room.value.trim();
    if (id) openReport(id);
  });
  const wanted = new URLSearchParams(location.search).get("room");
  load().then(() => {
    if (wanted) openReport(wanted);
  });
}
