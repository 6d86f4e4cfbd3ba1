// The units of a studio quick sale (the 1/3/5/10-minute flash-sale buttons), without the DOM.

/** What a quick sale offers when the catalogue's count is not known. */
export const QUICK_SALE_UNITS = 10;

/** The units field's starting value: every unit the catalogue has left (a quick sale sells out
 * what is there unless the creator says fewer), or QUICK_SALE_UNITS when that is not known. */
export function defaultUnits(available) {
  if (available === null || available === undefined || available === "" || !Number.isFinite(Number(available))) {
    return QUICK_SALE_UNITS;
  }
  return Math.max(0, Math.floor(Number(available)));
}

/**
 * The creator's units for a quick sale, checked against what the catalogue holds:
 * {units} or {error} (the text to show). An empty field means the default.
 */
export function quickSaleUnits(text, available, title = "this product") {
  const left = Math.max(0, Math.floor(Number(available) || 0));
  if (left < 1) return { error: `${title} has no units left in the catalogue for a sale.` };
  const raw = String(text ?? "").trim();
  if (raw === "") return { units: defaultUnits(left) };
  if (!/^\d+$/.test(raw) || Number(raw) < 1) return { error: "Give the units for sale as a whole number of at least 1." };
  const units = Number(raw);
  if (units > left) return { error: `Only ${left} ${left === 1 ? "unit is" : "units are"} left of ${title}: give at most ${left}.` };
  return { units };
}
