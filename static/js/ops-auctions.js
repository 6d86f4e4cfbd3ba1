// The ops console's live auctions: every auction running or awaiting its winner's payment,
// ending soonest first (GET /api/ops/auctions), with its room, price, bids and leader; refreshed
// with the live rooms.

import { api, describeError } from "./api.js";
import { el, replace, fmtTime } from "./dom.js";
import { fmtMoney } from "./shelf.js";

const STATES = { open: "live", awaiting: "awaiting payment" };

export function mountOpsAuctions(section) {
  const list = el("ul", { className: "list-plain ops-auctions" });
  replace(section, el("h2", { text: "Live auctions" }), list);
  let busy = false;

  async function refresh() {
    if (busy) return;
    busy = true;
    try {
      const data = await api("GET", "/api/ops/auctions");
      const auctions = Array.isArray(data.auctions) ? data.auctions : [];
      replace(list, ...(auctions.length ? auctions.map((a) => el("li", { dataset: { auction: a.id, state: a.state } },
        el("a", { href: `/watch/${encodeURIComponent(a.room_id)}`, text: a.title }),
        ` · ${STATES[a.state] || a.state}`,
        ` · ${a.bids ? `${fmtMoney(a.price, a.currency)}, ${a.bids} bid${a.bids === 1 ? "" : "s"}, ${a.leader_name}` : `starts at ${fmtMoney(a.start_price, a.currency)}`}`,
        el("span", { className: "muted small", text: a.state === "open" ? ` · ends ${fmtTime(a.end_at)}` : ` · buyer ${a.buyer_name || ""}` })))
        : [el("li", { className: "empty", text: "No auctions running." })]));
    } catch (err) {
      replace(list, el("li", { text: `Auctions unavailable: ${describeError(err)}` }));
    } finally {
      busy = false;
    }
  }
  return { refresh };
}
