// Money in the pages: the one formatter every amount goes through, so a price, a red packet, a
// wallet balance and a GMV figure read the same way ("¥69.90"). Amounts arrive as integer
// cents and are turned into decimal text by integer arithmetic on the digits; the text, not a
// float, is what Intl.NumberFormat formats (it reads a decimal string exactly), so no amount is
// ever rounded through binary floating point.
//
// No DOM here: the module is imported by the page modules and by `node --test` alike.

/** The pages are written in English; amounts follow them (grouping "1,234.50"). */
const LOCALE = "en";

/**
 * The currency of an amount that does not name one (a red packet, a wallet entry): the
 * shipped default of `shelf.currency` until a view names the deployment's. A server sells in
 * exactly one currency (domain/shelf.py refuses any other), so any currency a view names is it.
 */
let deploymentCurrency = "CNY";

const formatters = new Map(); // currency code -> Intl.NumberFormat, or null when not a code

/** Remember the deployment's currency from a view that names it ("CNY"); ignores anything else. */
export function noteCurrency(code) {
  const c = String(code ?? "").trim().toUpperCase();
  if (/^[A-Z]{3}$/.test(c)) deploymentCurrency = c;
}

/** The currency an amount without one is shown in. */
export function currentCurrency() {
  return deploymentCurrency;
}

/** 123450 -> "1234.50", -5 -> "-0.05": exact decimal text of integer cents. */
export function centsDecimal(cents) {
  const n = Math.trunc(Number(cents) || 0);
  const digits = String(Math.abs(n)).padStart(3, "0");
  return `${n < 0 ? "-" : ""}${digits.slice(0, -2)}.${digits.slice(-2)}`;
}

/** 123450 -> "1,234.50": the digits alone, grouped (for text that names no currency). */
export function centsText(cents) {
  const [whole, frac] = centsDecimal(cents).split(".");
  return `${whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",")}.${frac}`;
}

function formatter(code) {
  if (!formatters.has(code)) {
    let f = null;
    try {
      f = new Intl.NumberFormat(LOCALE, {
        style: "currency", currency: code, currencyDisplay: "narrowSymbol",
        minimumFractionDigits: 2, maximumFractionDigits: 2,
      });
    } catch {
      f = null; // not a well-formed currency code: shown as "XYZ 1.00" below
    }
    formatters.set(code, f);
  }
  return formatters.get(code);
}

/**
 * 6990, "CNY" -> "¥69.90"; 6990, "USD" -> "$69.90"; without a currency, the deployment's.
 * A currency named here is remembered as the deployment's (see noteCurrency).
 */
export function fmtMoney(cents, currency = "") {
  if (currency) noteCurrency(currency);
  const code = String(currency || deploymentCurrency).trim().toUpperCase();
  const f = formatter(code);
  return f ? f.format(centsDecimal(cents)) : `${code} ${centsText(cents)}`;
}
