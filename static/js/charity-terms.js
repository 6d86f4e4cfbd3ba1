// Charity terms as a person reads them (no DOM): shared by the receipt, the watch badge and
// the studio panel.

export const SOURCE_NAMES = { orders: "Paid orders", gifts: "Gifts (the creator's share)", red_packets: "Red-packet remainders" };
const SHORT = { orders: "paid orders", gifts: "gifts", red_packets: "red-packet remainders" };

/** "10% of paid orders and gifts" from a receipt's terms ({percent, sources}). */
export function termsText(terms) {
  const names = terms.sources.map((s) => SHORT[s] || s);
  const list = names.length > 1 ? `${names.slice(0, -1).join(", ")} and ${names[names.length - 1]}` : names[0];
  return `${terms.percent} of ${list}`;
}
