// The creator's coupons in the selected room: create one (amount or percentage off, minimum
// spend, products, quota, per-user cap, window), the list with claimed / used / left, stop,
// and pin / unpin the one viewers see as a "Claim" banner.

import { api, describeError } from "./api.js";
import { $, el, replace, flash, fmtDateTime, stateBadge } from "./dom.js";
import { localInputToMs, parseCount, parseMoney, parsePercent } from "./shelf.js";
import { couponTerms, describeCouponError } from "./watch-coupons.js";

const DAY_MS = 86_400_000;

/** mountStudioCoupons({notify(text, kind)}) -> {select(room), snapshot(snap), events(list)} */
export function mountStudioCoupons({ notify }) {
  const form = $("#coupon-form");
  const msg = $("#coupon-msg");
  const list = $("#coupon-list");
  const productsBox = form.elements.product_ids;
  let room = null;
  let coupons = [];
  let pinnedId = null;

  const path = (suffix = "") => `/api/rooms/${encodeURIComponent(room.id)}/coupons${suffix}`;

  function showKind() {
    const percent = form.elements.kind.value === "percent";
    for (const node of form.querySelectorAll("[data-kind]")) node.hidden = node.dataset.kind !== (percent ? "percent" : "amount");
  }
  form.elements.kind.addEventListener("change", showKind);
  showKind();

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!room) return;
    const f = form.elements;
    const body = { title: f.title.value.trim(), kind: f.kind.value };
    const minSpend = f.min_spend.value.trim() ? parseMoney(f.min_spend.value) : 0;
    if (minSpend === null) return flash(msg, "Enter the minimum spend, e.g. 50.00", "error");
    body.min_spend = minSpend;
    if (body.kind === "amount") {
      body.amount_off = parseMoney(f.amount_off.value);
      if (!body.amount_off) return flash(msg, "Enter the amount off, e.g. 5.00", "error");
    } else {
      body.percent_bp = parsePercent(f.percent.value);
      body.max_off = parseMoney(f.max_off.value);
      if (!body.percent_bp) return flash(msg, "Enter the percentage off, e.g. 10", "error");
      if (!body.max_off) return flash(msg, "Enter the most it takes off, e.g. 30.00", "error");
    }
    body.quota = parseCount(f.quota.value, 1);
    if (!body.quota) return flash(msg, "Enter how many copies there are.", "error");
    body.per_user = parseCount(f.per_user.value || "1", 1) ?? 1;
    body.product_ids = [...productsBox.selectedOptions].map((o) => o.value);
    const start = localInputToMs(f.start.value);
    if (start) body.start_at = start;
    body.end_at = localInputToMs(f.end.value) ?? (start || Date.now()) + DAY_MS;
    try {
      const made = await api("POST", path(), body);
      flash(msg, `Coupon “${made.title}” created.`, "ok");
      form.reset();
      showKind();
      load();
    } catch (err) {
      flash(msg, describeError(err), "error", 10000);
    }
  });

  async function act(coupon, what) {
    try {
      if (what === "stop") {
        if (!confirm(`Stop “${coupon.title}”? Nobody can claim it any more; copies already claimed stay usable.`)) return;
        await api("POST", path(`/${encodeURIComponent(coupon.id)}/stop`), {});
        notify("Coupon stopped.", "ok");
      } else {
        const id = what === "pin" ? coupon.id : null;
        await api("PUT", `/api/rooms/${encodeURIComponent(room.id)}/coupon_pin`, { coupon_id: id });
        pinnedId = id;
        notify(id ? "Coupon pinned: viewers see the Claim banner." : "Coupon unpinned.", "ok");
      }
      load();
    } catch (err) {
      flash(msg, describeCouponError(err), "error", 8000);
    }
  }

  function render() {
    const now = Date.now();
    replace(list, coupons.length
      ? coupons.map((c) => {
          const ended = now >= c.end_at;
          const usable = c.state === "active" && !ended;
          return el("li", { dataset: { coupon: c.id } },
            stateBadge(ended ? "ended" : c.state), " ",
            el("strong", { text: c.title }), " ",
            pinnedId === c.id ? el("span", { className: "badge", text: "pinned" }) : null,
            el("div", { className: "small", text: couponTerms(c) }),
            el("div", { className: "muted small", text: `${c.claimed}/${c.quota} claimed · ${c.used} used · ${c.left} left · ${c.per_user} per user · ${fmtDateTime(c.start_at)} – ${fmtDateTime(c.end_at)}` }),
            el("div", { className: "row" },
              usable && pinnedId !== c.id ? el("button", { type: "button", className: "btn btn-small", text: "Pin", on: { click: () => act(c, "pin") } }) : null,
              pinnedId === c.id ? el("button", { type: "button", className: "btn btn-small", text: "Unpin", on: { click: () => act(c, "unpin") } }) : null,
              c.state === "active" ? el("button", { type: "button", className: "btn btn-small btn-danger", text: "Stop", on: { click: () => act(c, "stop") } }) : null));
        })
      : el("li", { className: "muted small", text: "No coupons in this room yet." }));
  }

  async function load() {
    if (!room) return;
    const roomId = room.id;
    try {
      const [res, shelf] = await Promise.all([api("GET", path()), api("GET", `/api/rooms/${encodeURIComponent(roomId)}/shelf`)]);
      if (!room || room.id !== roomId) return;
      coupons = res.coupons || [];
      const chosen = new Set([...productsBox.selectedOptions].map((o) => o.value));
      replace(productsBox, (shelf.products || []).map((p) => el("option", { value: p.id, text: p.title, selected: chosen.has(p.id) })));
      render();
    } catch (err) {
      flash(msg, describeError(err), "error");
    }
  }

  return {
    select(r) {
      room = r;
      coupons = [];
      pinnedId = null;
      replace(list);
      load();
    },
    snapshot(snap) {
      pinnedId = snap && snap.pinned_coupon ? snap.pinned_coupon.id : null;
      render();
    },
    events(evs) {
      let again = false;
      for (const ev of evs) {
        const d = ev.data || {};
        if (ev.type === "coupon_pinned") {
          pinnedId = d.coupon ? d.coupon.id : null;
          again = true;
        } else if (ev.type === "coupon") {
          const c = coupons.find((x) => x.id === d.coupon_id);
          if (c) {
            c.left = d.left;
            c.claimed = c.quota - d.left;
            render();
          }
        } else if (ev.type === "shelf_updated") {
          again = true;
        }
      }
      if (again) load();
    },
  };
}
