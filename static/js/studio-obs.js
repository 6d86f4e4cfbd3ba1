// The studio's "Broadcast from OBS" panel: the selected room's WHIP URL and the creator's own
// token to paste into OBS as its Bearer token. The token is shown masked (a screen shared
// during a show must not leak it) and only ever leaves the page through the clipboard.

import { getToken } from "./api.js";
import { $, copyText, flash } from "./dom.js";

const SHOWN_TAIL = 4; // characters of the token left visible, to tell two tokens apart

/** The token as shown: dots, then its last few characters. */
export function maskToken(token) {
  if (!token) return "";
  return `${"•".repeat(12)}${token.length > 2 * SHOWN_TAIL ? token.slice(-SHOWN_TAIL) : ""}`;
}

/** mountStudioObs() -> {select(room)}: the panel follows the selected room. */
export function mountStudioObs() {
  const url = $("#whip-url");
  const masked = $("#obs-token");
  const msg = $("#obs-msg");

  function showToken() {
    // the token can change under the page (a new login): read it each time it is shown
    masked.value = maskToken(getToken());
    masked.placeholder = getToken() ? "" : "log in to get a token";
  }

  async function copy(text, what, input) {
    if (!text) {
      flash(msg, `There is no ${what} to copy yet.`, "error", 6000);
      return;
    }
    const ok = await copyText(text, input);
    flash(msg, ok ? `The ${what} is on the clipboard.` : `Copying was refused: select the ${what} and copy it.`, ok ? "ok" : "error", 6000);
  }

  $("#obs-copy-url").addEventListener("click", () => copy(url.value, "WHIP URL", url));
  // the real token, never the masked text (no fallback input: selecting would copy the dots)
  $("#obs-copy-token").addEventListener("click", () => {
    showToken();
    copy(getToken(), "token", null);
  });

  return {
    select(room) {
      url.value = `${location.origin}/api/rooms/${encodeURIComponent(room.id)}/whip`;
      showToken();
    },
  };
}
