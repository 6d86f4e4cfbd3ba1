// The ops console's lucky draws: every draw still to be drawn on the platform, ending soonest
// first (GET /api/ops/draws), with its room, prize, condition and entrants so far; refreshed
// with the live rooms.

import { api, describeError } from "./api.js";
import { el, replace, fmtTime } from "./dom.js";
import { prizeText } from "./watch-draw.js";

export function mountOpsDraws(section) {
  const list = el("ul", { className: "list-plain ops-draws" });
  replace(section, el("h2", { text: "Lucky draws" }), list);
  let busy = false;

  async function refresh() {
    if (busy) return;
    busy = true;
    try {
      const data = await api("GET", "/api/ops/draws");
      const draws = Array.isArray(data.draws) ? data.draws : [];
      replace(list, ...(draws.length ? draws.map((d) => el("li", { dataset: { draw: d.id, state: d.state } },
        el("a", { href: `/watch/${encodeURIComponent(d.room_id)}`, text: d.title || "Lucky draw" }),
        ` · ${prizeText(d)} · ${d.condition} · ${d.entrants} entered`,
        el("span", { className: "muted small", text: d.state === "open" ? ` · closes ${fmtTime(d.end_at)}` : " · drawing" })))
        : [el("li", { className: "empty", text: "No draws running." })]));
    } catch (err) {
      replace(list, el("li", { text: `Draws unavailable: ${describeError(err)}` }));
    } finally {
      busy = false;
    }
  }
  return { refresh };
}
