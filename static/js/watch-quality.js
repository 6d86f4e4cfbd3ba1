// The watch page's quality choice: when the room's publisher sends simulcast (several sizes of
// its picture), a menu Auto / High / Medium / Low over the video. Auto lets the server pick
// the layer the viewer's network carries (and says which: "Auto (Medium)"); a size is kept
// whatever the network does. Reads and sets the WHEP session's layer (GET / POST
// <session URL>/layer, docs/PROTOCOL.md); hidden for a single-stream room, HLS and no video.

import { el, replace } from "./dom.js";

const REFRESH_MS = 4000; // the layer Auto picked, and layers that appear or pause
const SWITCH_CHECK_MS = 1000;
const LABELS = { auto: "Auto", h: "High", m: "Medium", l: "Low" };

/**
 * mountQuality(root) → {attach(session), detach()}; root.liveQuality for tests
 * ({mode, layer, layers}). attach() follows one WHEP session (webrtc.js Session), detach()
 * hides the menu.
 */
export function mountQuality(root) {
  const select = el("select", { attrs: { "aria-label": "Video quality" } });
  const label = el("label", { className: "quality-label" }, "Quality ", select);
  replace(root, label);
  root.hidden = true;
  let session = null;
  let timer = null;
  const state = { mode: "auto", layer: null, layers: [] };
  root.liveQuality = state;

  function url() {
    return session && session.location ? `${session.location}/layer` : null;
  }

  function show(data) {
    state.mode = data.mode;
    state.layer = data.layer;
    state.layers = (data.layers || []).map((x) => x.name);
    if (state.layers.length < 2) {
      root.hidden = true;
      return;
    }
    const names = ["auto", ...state.layers];
    const current = Array.from(select.options, (o) => o.value);
    if (current.join() !== names.join()) {
      replace(select, ...names.map((n) => el("option", { value: n, text: LABELS[n] || n })));
    }
    const auto = select.options[0];
    auto.textContent = data.layer && data.mode === "auto" ? `Auto (${LABELS[data.layer]})` : "Auto";
    select.value = data.mode;
    root.dataset.layer = data.layer || "";
    root.dataset.mode = data.mode;
    root.hidden = false;
  }

  async function call(method, body) {
    const target = url();
    if (!target) return null;
    const init = { method, cache: "no-store" };
    if (body) {
      init.headers = { "Content-Type": "application/json" };
      init.body = JSON.stringify(body);
    }
    try {
      const resp = await fetch(target, init);
      return resp.ok ? await resp.json() : null;
    } catch {
      return null;
    }
  }

  async function refresh() {
    const mine = session;
    const data = await call("GET");
    if (data && mine === session) show(data);
  }

  select.addEventListener("change", async () => {
    const mine = session;
    const data = await call("POST", { layer: select.value });
    if (data && mine === session) show(data);
    // the switch happens at the new layer's next keyframe: look again soon
    if (data && data.switching_to) setTimeout(refresh, SWITCH_CHECK_MS);
  });

  function attach(s) {
    detach();
    session = s;
    refresh();
    timer = setInterval(refresh, REFRESH_MS);
  }

  function detach() {
    session = null;
    clearInterval(timer);
    timer = null;
    root.hidden = true;
  }

  return { attach, detach };
}
