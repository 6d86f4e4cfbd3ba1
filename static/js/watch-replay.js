// The replay of a show that ended: "Watch the replay" on the end screen opens a player over the
// stage (hls.js, vendored, wherever Media Source Extensions exist; the browser's own HLS
// elsewhere) with the show's products as chapters. Tapping a chapter seeks there and shows
// that product's card. A replay's show has ended and the buy command refuses ended rooms, so
// the card says the product is no longer on sale instead of offering a purchase that would be
// refused. The replay is asked for once, when the show is known to have ended.

import { api } from "./api.js";
import { el, fmtDuration, replace, safeImageUrl } from "./dom.js";
import { loadHls } from "./hls-load.js";
import { fmtMoney } from "./money.js";

const PHONE = "(max-width: 600px)"; // the watch page's phone layout (app.css)

/** "1:05" or "1:02:03" for a chapter's offset in ms. */
export function chapterClock(ms) {
  const s = Math.max(0, Math.floor(Number(ms) / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
}

/** The chapter playing at `ms` (the last one starting at or before it), or null. */
export function chapterAt(chapters, ms) {
  let found = null;
  for (const c of chapters) if (c.t_ms <= ms) found = c;
  return found;
}

/**
 * mountWatchReplay({stage, roomId}) → {ended(endRoot)}: once the show ended, asks for its
 * replay and, when one is ready, adds "Watch the replay" to the end screen `endRoot`.
 */
export function mountWatchReplay({ stage, roomId }) {
  let asked = false;
  let box = null;
  let hls = null;

  async function ended(endRoot) {
    if (asked) return;
    asked = true;
    let replay;
    try {
      replay = await api("GET", `/api/rooms/${encodeURIComponent(roomId)}/replay`, undefined, { auth: false });
    } catch {
      return;
    }
    if (replay.state !== "ready" || !replay.playlist_url) return;
    const inner = endRoot.querySelector(".end-inner") || endRoot;
    const length = replay.duration_ms ? ` (${fmtDuration(replay.duration_ms)})` : "";
    inner.insertBefore(
      el("p", { className: "replay-open-row" },
        el("button", {
          type: "button", id: "replay-open", className: "btn btn-primary",
          text: `Watch the replay${length}`, on: { click: () => open(replay) },
        })),
      inner.children[2] || null);
  }

  function open(replay) {
    if (box) {
      box.hidden = false;
      stage.dataset.replay = "open";
      return;
    }
    const video = el("video", {
      id: "replay-video", className: "replay-video", controls: true, playsInline: true,
      attrs: { "aria-label": "Replay of the show" },
    });
    const card = el("div", { id: "replay-card", className: "replay-card", hidden: true, attrs: { "aria-live": "polite" } });
    const items = replay.chapters.map((c) => el("li", {},
      el("button", {
        type: "button", className: "replay-chapter", dataset: { product: c.product_id, t: c.t_ms },
        on: { click: () => seek(c) },
      }, el("span", { className: "replay-clock", text: chapterClock(c.t_ms) }), " ",
      el("span", { className: "replay-chapter-title", text: c.title || "Product" }))));
    const list = replay.chapters.length
      ? el("ol", { id: "replay-chapters", className: "replay-chapters", attrs: { "aria-label": "Products in this show" } }, items)
      : el("p", { className: "small muted", text: "No product was explained in this show." });
    box = el("section", { id: "replay", className: "replay", attrs: { "aria-label": "Replay" } },
      el("div", { className: "replay-head" },
        el("h2", { className: "replay-title", text: "Replay" }),
        el("button", { type: "button", id: "replay-close", className: "btn", text: "Close", on: { click: close } })),
      video,
      el("h3", { className: "replay-subtitle", text: "Products" }),
      list, card);
    // phones: over the whole page, the header included (the stage's own layers cannot rise
    // above the page's header); larger screens: in the stage, where the end screen was
    (window.matchMedia(PHONE).matches ? document.body : stage).appendChild(box);
    stage.dataset.replay = "open";
    attach(video, replay.playlist_url);

    function seek(chapter) {
      const go = () => { video.currentTime = chapter.t_ms / 1000; };
      if (video.readyState > 0) go();
      else video.addEventListener("loadedmetadata", go, { once: true });
      video.play().catch(() => {});
      showCard(chapter);
      for (const b of list.querySelectorAll(".replay-chapter")) {
        b.setAttribute("aria-current", b.dataset.product === chapter.product_id && Number(b.dataset.t) === chapter.t_ms ? "true" : "false");
      }
    }

    function showCard(c) {
      const image = safeImageUrl(c.image_url);
      const price = typeof c.live_price === "number" ? fmtMoney(c.live_price, c.currency || "") : "";
      replace(card,
        image ? el("img", { className: "replay-card-img", src: image, alt: "" }) : null,
        el("div", { className: "replay-card-body" },
          el("strong", { className: "replay-card-title", text: c.title || "Product" }),
          price ? el("span", { className: "replay-card-price", text: `Live price ${price}` }) : null,
          el("span", { className: "replay-card-note", text: "No longer on sale — this show has ended." })));
      card.hidden = false;
    }

    video.addEventListener("timeupdate", () => {
      const c = chapterAt(replay.chapters, video.currentTime * 1000);
      if (c && card.dataset.product !== `${c.product_id}@${c.t_ms}`) {
        card.dataset.product = `${c.product_id}@${c.t_ms}`;
        showCard(c);
      }
    });
  }

  async function attach(video, url) {
    const Hls = await loadHls();
    if (Hls) {
      // the chapters come from the replay's JSON: no metadata track of the playlist's
      // DATERANGEs (hls.js would load it from a data: URL, which the pages' CSP refuses)
      hls = new Hls({ enableWorker: false, enableDateRangeMetadataCues: false, enableID3MetadataCues: false });
      hls.loadSource(url);
      hls.attachMedia(video);
    } else {
      video.src = url; // the browser's own HLS (iOS Safari)
    }
  }

  function close() {
    if (!box) return;
    const video = box.querySelector("video");
    if (video) video.pause();
    box.hidden = true;
    delete stage.dataset.replay;
    const button = document.getElementById("replay-open");
    if (button) button.focus();
  }

  window.addEventListener("pagehide", () => {
    if (hls) hls.destroy();
    hls = null;
  });
  return { ended };
}
