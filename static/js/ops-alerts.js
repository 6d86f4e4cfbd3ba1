// The ops console's alerts strip: what GET /api/ops/alerts says needs attention now (slow
// consumers, error rates, Valkey latency, silent processes), critical first; "All clear" when
// nothing does. Refreshed with the live rooms, so it is never older than the table below it.

import { api, describeError } from "./api.js";
import { el, replace, fmtAgo } from "./dom.js";

const LABELS = {
  slow_consumers: "Slow consumers cut",
  error_rate: "Errors per minute",
  valkey_latency: "Valkey round trip (ms)",
  stale_process: "Process silent (ms)",
};

function fmtValue(v) {
  const n = Number(v);
  return Number.isInteger(n) ? String(n) : n.toFixed(1);
}

export function alertItem(a) {
  return el("li", { className: "alert-item", dataset: { severity: a.severity, kind: a.kind } },
    el("span", { className: "badge alert-severity", text: a.severity }),
    el("strong", { text: ` ${LABELS[a.kind] || a.kind}` }),
    el("span", { className: "mono", text: ` ${a.subject}` }),
    el("span", { text: `: ${fmtValue(a.value)} (threshold ${fmtValue(a.threshold)})` }),
    el("span", { className: "muted small", text: ` since ${fmtAgo(a.since)}` }));
}

export function mountAlerts(strip) {
  let busy = false;
  async function refresh() {
    if (busy) return;
    busy = true;
    try {
      const data = await api("GET", "/api/ops/alerts");
      const alerts = Array.isArray(data.alerts) ? data.alerts : [];
      strip.dataset.state = alerts.some((a) => a.severity === "critical") ? "critical"
        : alerts.length ? "warning" : "clear";
      replace(strip, alerts.length
        ? el("ul", { className: "alert-list" }, ...alerts.map(alertItem))
        : el("p", { className: "alert-clear", text: "All clear" }));
    } catch (err) {
      strip.dataset.state = "unknown";
      replace(strip, el("p", { text: `Alerts unavailable: ${describeError(err)}` }));
    } finally {
      busy = false;
    }
  }
  return { refresh };
}
