// hls.js (vendored) for every HLS player on the pages, loaded only when a page plays HLS: the
// live fallback (watch-player.js) and the replay (watch-replay.js). Where Media Source
// Extensions are missing (iOS Safari) there is no hls.js: the browser's own HLS plays instead.

const HLS_MODULE = "/static/vendor/hls.js-1.7.4/hls.light.min.mjs";

/** The hls.js class when this browser can use it, else null (play the URL natively). */
export async function loadHls() {
  if (!window.MediaSource) return null;
  try {
    const Hls = (await import(HLS_MODULE)).default;
    return Hls.isSupported() ? Hls : null;
  } catch {
    return null;
  }
}
