// A charity show on the watch page: a badge under the title ("10% of gifts go to Clean Water
// Fund", with a link to the public receipt), its total kept current while the show is live,
// and one line on the end screen with what the show earmarked.

import { api } from "./api.js";
import { el } from "./dom.js";
import { fmtMoney } from "./money.js";
import { termsText } from "./charity-terms.js";

// The badge's total is read again about once a minute (jittered, so a full room does not ask at
// the same moment): every viewer of a big show polls, and "so far" needs no second precision.
const REFRESH_MS = 60000;
const refreshDelay = () => REFRESH_MS * (0.8 + Math.random() * 0.4);

/**
 * mountWatchCharity({root, roomId}) → {known(), ended(endScreen)}. Nothing is asked until the
 * page knows the room exists (known()): a show that is not there gets no requests.
 */
export function mountWatchCharity({ root, roomId }) {
  const url = `/api/rooms/${encodeURIComponent(roomId)}/charity`;
  let receipt = null;
  let timer = 0;

  async function load() {
    try {
      receipt = await api("GET", url, undefined, { auth: false });
    } catch {
      return;
    }
    if (!receipt.charity) {
      root.hidden = true;
      return;
    }
    const name = receipt.beneficiary.name || receipt.beneficiary.id;
    root.replaceChildren(
      el("span", { className: "charity-mark", text: "Charity show" }),
      el("span", { className: "charity-line grow", text: `${termsText(receipt.terms)} go to ${name}` }),
      el("span", { className: "charity-total", text: `${fmtMoney(receipt.total, receipt.currency)} so far` }),
      el("a", { className: "charity-link", href: `/charity/${encodeURIComponent(roomId)}`, text: "Receipt" }));
    root.hidden = false;
    clearTimeout(timer);
    if (receipt.state !== "ended") timer = setTimeout(load, refreshDelay());
  }

  async function ended(endScreen) {
    clearTimeout(timer);
    await load();
    if (!receipt || !receipt.charity) return;
    const inner = endScreen.querySelector(".end-inner") || endScreen;
    const line = el("p", { className: "end-charity" },
      `This charity show earmarked ${fmtMoney(receipt.total, receipt.currency)} for ${receipt.beneficiary.name}. `,
      el("a", { href: `/charity/${encodeURIComponent(roomId)}`, text: "See the receipt" }));
    const title = inner.querySelector(".end-title");
    if (title) title.after(line);
    else inner.append(line);
  }

  let started = false;
  function known() {
    if (started) return;
    started = true;
    load();
  }

  return { known, ended };
}
