// The live shelf in the pages: money as integer cents, percent as basis points, local
// date-times, buy refusals as text, and ShelfState — a room's shelf, pinned product and flash
// sales kept current from the snapshot and the room events (docs/PROTOCOL.md, the shelf).

import { fmtDuration, fmtTime } from "./dom.js";
import { centsDecimal, centsText, fmtMoney } from "./money.js";

// the one money formatter (money.js), re-exported for the modules that import it from here
export { centsText, fmtMoney };

// ---- money: integer cents, never floats -----------------------------------------------------

/**
 * "12.30" -> 1230, "12.3" -> 1230, "12" -> 1200, "0,99" -> 99, "1 234.50" -> 123450.
 * null when the text is not an amount with at most two decimals.
 */
export function parseMoney(text) {
  const s = String(text ?? "").trim().replace(/[\s_']/g, "");
  const m = /^(\d{1,12})(?:[.,](\d{0,2}))?$/.exec(s);
  if (!m) return null;
  const cents = Number(m[1]) * 100 + Number((m[2] || "").padEnd(2, "0"));
  return Number.isSafeInteger(cents) ? cents : null;
}

/** The one currency of a list of orders or products, or "" when they mix (or have none). */
export function currencyOf(list) {
  const codes = new Set(list.map((x) => x.currency).filter(Boolean));
  return codes.size === 1 ? [...codes][0] : "";
}

/** A money amount for an input field: 1230 -> "12.30". */
export function moneyInput(cents) {
  return centsDecimal(cents);
}

/** "12.5" (%) -> 1250 basis points; null when not 0-100 with at most two decimals. */
export function parsePercent(text) {
  const s = String(text ?? "").trim().replace(/%$/, "").trim();
  const m = /^(\d{1,3})(?:[.,](\d{0,2}))?$/.exec(s);
  if (!m) return null;
  const bp = Number(m[1]) * 100 + Number((m[2] || "").padEnd(2, "0"));
  return bp <= 10000 ? bp : null;
}

/** 1250 -> "12.5%" */
export function fmtPercent(bp) {
  const n = Math.max(0, Math.trunc(Number(bp) || 0));
  const frac = String(n % 100).padStart(2, "0").replace(/0+$/, "");
  return `${Math.floor(n / 100)}${frac ? `.${frac}` : ""}%`;
}

/** 1250 -> "12.5" for an input field */
export function percentInput(bp) {
  return fmtPercent(bp).slice(0, -1);
}

/** A whole number in [lo, hi] from an input, or null. */
export function parseCount(text, lo = 0, hi = Number.MAX_SAFE_INTEGER) {
  const s = String(text ?? "").trim();
  if (!/^\d{1,15}$/.test(s)) return null;
  const n = Number(s);
  return n >= lo && n <= hi ? n : null;
}

// ---- time -------------------------------------------------------------------------------------

/** A datetime-local value ("2025-01-31T20:15" or with seconds) -> ms since the epoch, or null. */
export function localInputToMs(value) {
  if (!value) return null;
  const t = new Date(value).getTime();
  return Number.isNaN(t) ? null : t;
}

/** ms -> a datetime-local value with seconds, in local time. */
export function msToLocalInput(ms) {
  const d = new Date(ms);
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** 65_000 -> "1:05", 3_725_000 -> "1:02:05" (rounded up: a countdown never shows 0:00 early). */
export function fmtClock(ms) {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

/** Refusals after which the outcome is unknown: the same idempotency key must be sent again. */
export const UNSURE = new Set(["disconnected", "timeout", "network", "internal", "not_ready", "bad_response"]);

/** An idempotency key: 1-64 of letters, digits, '_', '-', '.', '@'. */
export function newIdempotencyKey() {
  if (crypto.randomUUID) return `k-${crypto.randomUUID()}`;
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return `k-${[...bytes].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
}

// ---- refusals ---------------------------------------------------------------------------------

/** The precise reason a purchase, payment or order action was refused, or null (not one). */
export function describeShelfError(err) {
  if (!err) return null;
  const d = err.details || err;
  switch (err.code) {
    case "not_started":
      return d.start_at ? `The sale has not started yet — it opens at ${fmtTime(Number(d.start_at))}.` : "This product is not on sale yet.";
    case "sale_ended":
      return d.end_at ? `The sale has ended (at ${fmtTime(Number(d.end_at))}).` : "The sale has ended.";
    case "sold_out":
      return "Sold out.";
    case "insufficient_stock":
      return `Not that many left${d.left !== undefined ? ` — only ${d.left} left` : ""}.`;
    case "limit_reached": {
      const may = Number(d.may_buy);
      return may > 0 ? `Limit reached: you may buy only ${may} more.` : "Limit reached: you have already bought the most one buyer may.";
    }
    case "taken_down":
      return "This product has been taken down and cannot be bought.";
    case "payment_declined":
      return `The payment was declined${err.message ? ` (${err.message})` : ""}.`;
    case "invalid_state":
      return err.message ? `Not possible now: ${err.message}.` : null;
    case "replayed":
      return "This payment notice was already received.";
    default:
      return null;
  }
}

// ---- a room's shelf ----------------------------------------------------------------------------

/**
 * The shelf of one room as the events describe it.
 * products: cards in shelf order; pinned: card or null; sales: product id -> sale (with left);
 * left: product id -> units left in the sale. onChange(what, event) after every change:
 * "all" | "shelf" | "pinned" | "product" | "sale" | "stock" | "bought" | "order".
 */
export class ShelfState {
  constructor(onChange = () => {}) {
    this.onChange = onChange;
    this.products = [];
    this.pinned = null;
    this.sales = {};
    this.left = {};
    this.variantLeft = {}; // product id -> {variant id -> units left to buy here}, when told
    this.offset = 0; // server clock - local clock, from server_time fields
  }

  now() {
    return Date.now() + this.offset;
  }

  noteServerTime(t) {
    if (typeof t === "number" && t > 0) this.offset = t - Date.now();
  }

  /** From a snapshot ({shelf, pinned, sales}) or the shelf op / GET shelf ({products, ...}). */
  applySnapshot(snap) {
    if (!snap || typeof snap !== "object") return;
    this.products = Array.isArray(snap.shelf) ? snap.shelf : Array.isArray(snap.products) ? snap.products : [];
    this.pinned = snap.pinned || null;
    this.sales = {};
    this.left = {};
    this.variantLeft = {};
    for (const [pid, sale] of Object.entries(snap.sales || {})) {
      this.sales[pid] = sale;
      this.left[pid] = Number(sale.left) || 0;
    }
    this.onChange("all");
  }

  product(pid) {
    return this.products.find((p) => p.id === pid) || (this.pinned && this.pinned.id === pid ? this.pinned : null);
  }

  applyEvents(list) {
    for (const ev of list) {
      try {
        this.applyEvent(ev);
      } catch (err) {
        console.error("shelf event", ev, err);
      }
    }
  }

  applyEvent(ev) {
    const d = ev.data || {};
    switch (ev.type) {
      case "shelf_updated":
        this.products = Array.isArray(d.products) ? d.products.filter(Boolean) : [];
        if (this.pinned) this.pinned = this.products.find((p) => p.id === this.pinned.id) || this.pinned;
        this.onChange("shelf", ev);
        break;
      case "product_pinned":
        this.pinned = d.product || null;
        this.onChange("pinned", ev);
        break;
      case "product_updated": {
        const card = d.product;
        if (!card || !card.id) break;
        this.products = this.products.map((p) => (p.id === card.id ? card : p));
        if (this.pinned && this.pinned.id === card.id) this.pinned = card;
        this.onChange("product", ev);
        break;
      }
      case "sale_countdown":
      case "sale_started":
      case "sale_ended": {
        const sale = d.sale;
        if (!sale || !sale.product_id) break;
        if (ev.type !== "sale_ended" && typeof ev.seq === "number") this.noteServerTime(d.server_time);
        const left = Number(d.left ?? sale.left ?? 0);
        this.sales[sale.product_id] = { ...sale, left };
        this.left[sale.product_id] = left;
        this.onChange("sale", ev);
        break;
      }
      case "stock": {
        // units left of one variant: a sale's (the event names it) or what ordinary buying can
        // still take (the room's allotment and the catalogue)
        const pid = d.product_id;
        if (!pid) break;
        const vid = d.variant_id || "v0";
        const sale = this.sales[pid];
        const left = Number(d.left) || 0;
        if (d.sale_id) {
          if (!sale || sale.id !== d.sale_id) break;  // an older sale's figure
          this.left[pid] = left;
          sale.left = left;
        } else {
          this.variantLeft[pid] = { ...this.variantLeft[pid], [vid]: left };
        }
        this.onChange("stock", ev);
        break;
      }
      case "bought":
        this.onChange("bought", ev);
        break;
      case "order": // addressed to this viewer only: one of their orders changed
        this.onChange("order", ev);
        break;
      default:
        break;
    }
  }

  /** Units left per variant as far as the events told, with the card's variants: [{variant, left|null}]. */
  variantStock(pid) {
    const card = this.product(pid) || {};
    const variants = Array.isArray(card.variants) ? card.variants : [];
    const known = this.variantLeft[pid] || {};
    return variants.map((v) => ({
      variant: v,
      left: v.id in known ? known[v.id] : typeof v.left === "number" ? v.left : null,
    }));
  }

  /** True when every variant of the product is known to have nothing left here. */
  soldOut(pid) {
    const list = this.variantStock(pid);
    return list.length > 0 && list.every((x) => x.left !== null && x.left <= 0);
  }

  /** "S · M · L sold out": which variants are left (empty for a product with one variant). */
  variantsText(pid) {
    const list = this.variantStock(pid);
    if (list.length < 2) return "";
    return list.map(({ variant, left }) => {
      const name = Object.values(variant.options || {}).join(" / ") || variant.id;
      return left !== null && left <= 0 ? `${name} sold out` : name;
    }).join(" · ");
  }

  /**
   * What a viewer can do with a product now:
   * {phase: "none"|"scheduled"|"starting"|"open"|"sold_out"|"ended"|"cancelled"|"taken_down",
   *  price, currency, left, sale, until (ms of the next change or null)}
   */
  status(pid) {
    const card = this.product(pid) || {};
    const sale = this.sales[pid] || null;
    const left = sale ? Number(this.left[pid] ?? sale.left ?? 0) : null;
    const base = { price: Number(card.live_price) || 0, currency: card.currency || "", left, sale, until: null };
    if (card.status === "taken_down") return { ...base, phase: "taken_down" };
    if (!sale) return { ...base, phase: "none" };
    const now = this.now();
    const start = Number(sale.start_at);
    const end = Number(sale.end_at);
    const salePrice = { price: Number(sale.price), currency: sale.currency || card.currency || "" };
    // outside an open sale the product sells at its live price; the sale's price stays known
    // so the card can say which price went away (never a silent change of price)
    const after = { ...base, salePrice: salePrice.price };
    if (sale.state === "closed") {
      const phase = sale.reason === "sold_out" ? "sold_out" : sale.reason === "cancelled" ? "cancelled" : "ended";
      return { ...after, phase };
    }
    if (now >= end) return { ...after, phase: "ended" };
    if (sale.state === "scheduled" && now < start) return { ...base, phase: "scheduled", until: start, salePrice: salePrice.price };
    if (left !== null && left <= 0) return { ...after, phase: "sold_out" };
    if (sale.state === "scheduled") return { ...base, ...salePrice, phase: "starting", until: end };
    return { ...base, ...salePrice, phase: "open", until: end };
  }
}

/**
 * A short label for a product's sale phase. After a flash sale (sold out, ended, cancelled)
 * the product sells at its live price again: the label names the sale's price that went away
 * and the price now, so the card's price never changes without a word.
 */
export function phaseText(st, now = Date.now()) {
  const sale = st.salePrice !== undefined ? ` at ${fmtMoney(st.salePrice, st.currency)}` : "";
  const nowPrice = ` · now ${fmtMoney(st.price, st.currency)}`;
  switch (st.phase) {
    case "scheduled":
      return `flash sale${sale} in ${fmtClock(st.until - now)}`;
    case "starting":
      return "the sale is opening…";
    case "open":
      return `on sale · ends in ${st.until - now > 3_600_000 ? fmtDuration(st.until - now) : fmtClock(st.until - now)}`;
    case "sold_out":
      return `flash sale${sale} sold out${nowPrice}`;
    case "ended":
      return `flash sale${sale} ended${nowPrice}`;
    case "cancelled":
      return `flash sale${sale} cancelled${nowPrice}`;
    case "taken_down":
      return "taken down";
    default:
      return "live price";
  }
}
