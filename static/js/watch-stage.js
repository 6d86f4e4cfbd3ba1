// The watch page's stage on a phone: what the viewer does on the video itself rather than
// through the panels around it. A double tap sends a heart (a finger on a full-screen video
// has no button to aim for), a muted autoplay says "tap to unmute" (browsers only autoplay
// muted, and a silent show looks broken), the red-packet and coupon pop-ups over the video can
// be closed until the next one, and the shelf's bottom sheet behaves as a dialog (Escape, focus).

import { $, el } from "./dom.js";

const DOUBLE_TAP_MS = 350; // the second tap of a double tap comes within this
const DOUBLE_TAP_PX = 40; // and this close to the first
const SHEET = "(max-width: 900px)"; // where the shelf is a bottom sheet (app.css)
const PHONE = "(max-width: 600px)"; // where the stage is the whole screen (app.css)

/**
 * Two taps close in time and place on the layer over the video call onDoubleTap(x, y) (page
 * coordinates inside the layer); every further quick tap counts again, as on the heart button.
 */
function onDoubleTap(layer, handler) {
  let last = null;
  layer.addEventListener("click", (e) => {
    const now = performance.now();
    const near = last && now - last.at <= DOUBLE_TAP_MS
      && Math.hypot(e.clientX - last.x, e.clientY - last.y) <= DOUBLE_TAP_PX;
    last = { at: now, x: e.clientX, y: e.clientY };
    if (!near) return;
    const box = layer.getBoundingClientRect();
    handler(e.clientX - box.left, e.clientY - box.top);
  });
  layer.addEventListener("dblclick", (e) => e.preventDefault()); // no zoom, no fullscreen
}

/** A heart that pops where the finger was, then goes (its animation ends it). */
function popHeart(layer, x, y) {
  if (layer.childElementCount > 8) return;
  const h = el("span", { className: "tap-heart", text: "❤" });
  h.style.left = `${Math.round(x)}px`;
  h.style.top = `${Math.round(y)}px`;
  h.addEventListener("animationend", () => h.remove());
  layer.appendChild(h);
}

/** The cue shows while the video plays without sound; one tap turns the sound on. */
function unmuteCue(button, video) {
  function update() {
    const playing = !video.paused && !video.ended && video.readyState >= 2;
    button.hidden = !(playing && video.muted);
  }
  for (const type of ["playing", "pause", "volumechange", "emptied", "ended", "loadeddata"]) {
    video.addEventListener(type, update);
  }
  button.addEventListener("click", () => {
    video.muted = false;
    video.play().catch(() => {
      video.muted = true; // the browser still wants a muted video: keep it playing
    });
    update();
  });
  update();
}

/**
 * On a phone the layer over the video takes the taps (hearts, the unmute cue), so the video's
 * own controls would only sit under the chat; they come back on a wider screen. A player that
 * ended (data-mode "ended") keeps them off for good.
 */
function nativeControls(player, video) {
  const phone = window.matchMedia(PHONE);
  function update() {
    if (player.dataset.mode !== "ended") video.controls = !phone.matches;
  }
  phone.addEventListener("change", update);
  update();
}

/**
 * A pop-up's close button: it stays closed until the pop-up shows another packet or coupon
 * (its data-packet / data-coupon changes), so a closed one never hides the next.
 */
function closable(box, key, label) {
  const close = el("button", {
    type: "button", className: "popup-close", text: "✕",
    attrs: { "aria-label": label, title: label },
  });
  close.addEventListener("click", () => {
    box.dataset.dismissed = box.dataset[key] || "1";
  });
  box.prepend(close);
  new MutationObserver(() => {
    if (box.dataset.dismissed && box.dataset.dismissed !== box.dataset[key]) delete box.dataset.dismissed;
  }).observe(box, { attributes: true, attributeFilter: [`data-${key}`] });
}

/** The shelf's bottom sheet as a dialog: its role where it is one, Escape and focus. */
function shelfSheet(panel, toggle, closeBtn) {
  const sheet = window.matchMedia(SHEET);
  function role() {
    if (sheet.matches) {
      panel.setAttribute("role", "dialog");
      panel.setAttribute("aria-modal", "false");
    } else {
      panel.removeAttribute("role");
      panel.removeAttribute("aria-modal");
    }
  }
  sheet.addEventListener("change", role);
  role();
  const isOpen = () => sheet.matches && panel.classList.contains("open");
  // The sheet slides in from hidden (its visibility eases too), so focus is taken once it can be.
  function focusInside(tries) {
    if (!isOpen() || panel.contains(document.activeElement)) return;
    closeBtn.focus({ preventScroll: true });
    if (document.activeElement !== closeBtn && tries > 0) setTimeout(() => focusInside(tries - 1), 50);
  }
  let wasOpen = false;
  new MutationObserver(() => {
    const open = isOpen();
    if (open && !wasOpen) focusInside(10);
    wasOpen = open;
  }).observe(panel, { attributes: true, attributeFilter: ["class"] });
  document.addEventListener("keydown", (e) => {
    if (e.key !== "Escape" || !isOpen() || document.querySelector("dialog[open]")) return;
    e.preventDefault();
    closeBtn.click();
    toggle.focus({ preventScroll: true });
  });
}

/**
 * mountStage({player, sendHeart}): player is the mounted player's root (root.livePlayer.video);
 * sendHeart() counts one heart as the heart button does and says whether it was sent.
 */
export function mountStage({ player, sendHeart }) {
  const layer = $("#tap-layer");
  onDoubleTap(layer, (x, y) => {
    if (sendHeart()) popHeart(layer, x, y);
  });
  const video = player.livePlayer && player.livePlayer.video;
  if (video) {
    unmuteCue($("#unmute"), video);
    nativeControls(player, video);
  }
  closable($("#rp-banner"), "packet", "Close the red packet");
  closable($("#coupon-banner"), "coupon", "Close the coupon");
  shelfSheet($("#shelf-panel"), $("#shelf-toggle"), $("#shelf-close"));
}
