// The watch page's video: WebRTC (WHEP) when the browser can and the server has room for it,
// else HLS (native where the browser plays it, hls.js otherwise). It follows the room's
// video_started / video_stopped events, so a viewer who came early sees the show start. It
// starts once the room is known to exist and not to have ended (room(state)), and end() stops
// it for good: an ended or missing room must not be asked for video again.

import { api } from "./api.js";
import { el, replace } from "./dom.js";
import { loadHls } from "./hls-load.js";
import { play, webrtcSupported } from "./webrtc.js";

const RETRY_MS = 10000; // look again this often while waiting, in case an event was missed
const ICE_GIVE_UP_MS = 8000; // no media path by then: try HLS

/**
 * mountPlayer({root, roomId, token(), quality?}) → {room(state), events(list), stop(), start(),
 * end()}; root.livePlayer for tests. Nothing is fetched until room() says the room is not
 * ended. `quality` (watch-quality.js) follows the WebRTC session: a simulcast room's sizes.
 */
export function mountPlayer({ root, roomId, token, quality = null }) {
  const video = el("video", { attrs: { autoplay: true, playsinline: true, muted: true, controls: true } });
  video.muted = true; // autoplay needs it; the controls unmute
  const status = el("div", { className: "player-status", attrs: { role: "status" } });
  replace(root, video, status);
  let session = null;
  let hls = null;
  let retry = null;
  let iceTimer = null;
  let generation = 0; // a newer start() makes older async steps stand down
  let ended = false; // end() was called: no start, poll or retry any more

  const handle = { mode: "idle", pc: null, video };
  root.livePlayer = handle;

  function setMode(mode, text) {
    handle.mode = mode;
    root.dataset.mode = mode;
    status.textContent = text || "";
    status.hidden = !text;
  }

  function clearTimers() {
    clearTimeout(retry);
    clearTimeout(iceTimer);
    retry = iceTimer = null;
  }

  async function stopMedia() {
    clearTimers();
    if (quality) quality.detach();
    if (hls) {
      hls.destroy();
      hls = null;
    }
    if (session) {
      const s = session;
      session = null;
      handle.pc = null;
      await s.close();
    }
    video.removeAttribute("src");
    video.srcObject = null;
  }

  function waiting(text = "The creator is not broadcasting right now.") {
    if (ended) return;
    setMode("waiting", text);
    clearTimeout(retry);
    retry = setTimeout(() => start(), RETRY_MS);
  }

  async function start() {
    if (ended) return;
    const mine = ++generation;
    await stopMedia();
    if (mine !== generation) return;
    let info = null;
    try {
      info = await api("GET", `/api/rooms/${encodeURIComponent(roomId)}/video`);
    } catch {
      info = null; // not known (the server is older or unreachable): try WebRTC
    }
    if (mine !== generation) return;
    if (info && !info.publishing) {
      waiting();
      return;
    }
    const h264 = !info || !info.codecs || info.codecs.video === "H264";
    if (!webrtcSupported()) {
      if (h264) await startHls(mine);
      else waiting("This video needs WebRTC, which this browser does not have.");
      return;
    }
    setMode("connecting", "Connecting…");
    try {
      const s = await play(roomId, token(), (stream) => {
        if (video.srcObject !== stream) video.srcObject = stream;
      });
      if (mine !== generation) {
        await s.close();
        return;
      }
      session = s;
      handle.pc = s.pc;
      if (quality) quality.attach(s);
      s.pc.addEventListener("connectionstatechange", () => {
        if (mine !== generation) return;
        const st = s.pc.connectionState;
        if (st === "connected") {
          clearTimeout(iceTimer);
          setMode("webrtc", "");
        } else if (st === "failed") {
          startHls(mine); // no path to the media server: HLS over plain HTTP
        }
      });
      iceTimer = setTimeout(() => {
        if (mine === generation && s.pc.connectionState !== "connected") startHls(mine);
      }, ICE_GIVE_UP_MS);
    } catch (err) {
      if (mine !== generation) return;
      if (err.status === 409) waiting();
      else if (err.status === 503 || err.status === 404) await startHls(mine); // full, or video off
      else waiting(`The video could not start: ${err.message}`);
    }
  }

  async function startHls(mine) {
    if (mine !== generation) return;
    await stopMedia();
    const url = `/hls/${encodeURIComponent(roomId)}/index.m3u8`;
    const head = await fetch(url, { method: "GET", cache: "no-store" }).catch(() => null);
    if (mine !== generation) return;
    if (!head || !head.ok) {
      waiting();
      return;
    }
    // hls.js where Media Source Extensions exist (the same player everywhere); the browser's
    // own HLS only where they do not (iOS Safari).
    const Hls = await loadHls();
    if (mine !== generation) return;
    if (Hls) {
      // Low-Latency HLS (parts, blocking reloads) when the playlist offers it
      const lowLatencyMode = /^#EXT-X-PART-INF:/m.test(await head.text().catch(() => ""));
      if (mine !== generation) return;
      hls = new Hls({ enableWorker: false, lowLatencyMode });
      hls.on(Hls.Events.ERROR, (_e, data) => {
        if (data && data.fatal && mine === generation) waiting();
      });
      hls.loadSource(url);
      hls.attachMedia(video);
    } else if (video.canPlayType("application/vnd.apple.mpegurl")) {
      video.src = url;
    } else {
      waiting("This browser cannot play the video.");
      return;
    }
    setMode("hls", "");
  }

  function events(list) {
    if (ended) return;
    for (const ev of list) {
      if (ev.type === "video_started" && handle.mode !== "webrtc" && handle.mode !== "hls") start();
      else if (ev.type === "video_stopped") {
        generation++;
        if (session) session.location = null; // the server ended the viewers' sessions itself
        stopMedia().then(() => waiting());
      }
    }
  }

  function stop() {
    generation++;
    stopMedia();
  }

  /** For good: the room ended or does not exist. The element leaves the page's focus order. */
  function end() {
    ended = true;
    stop();
    setMode("ended", "");
    video.controls = false;
  }

  /** The room's state from the snapshot or a room_state event. */
  function room(state) {
    if (state === "ended") end();
    else if (handle.mode === "idle") start();
  }

  window.addEventListener("pagehide", stop);
  // back from the page cache: the media was stopped at pagehide, so look again
  window.addEventListener("pageshow", (e) => {
    if (e.persisted && handle.mode !== "idle") start();
  });
  return { room, events, stop, start, end };
}
