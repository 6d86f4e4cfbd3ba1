// The studio's camera: pick a camera and a microphone, see the preview, broadcast to the room
// over WHIP (going live with it if the room is still scheduled), end the broadcast.

import { describeError, getToken } from "./api.js";
import { $, el, flash, replace } from "./dom.js";
import { publish } from "./webrtc.js";

/** mountStudioVideo({notify(text, kind)}) → {select(room), roomChanged(room)} */
export function mountStudioVideo({ notify }) {
  const preview = $("#preview");
  const camSel = $("#cam-select");
  const micSel = $("#mic-select");
  const codecSel = $("#codec-select");
  const camBtn = $("#cam-start");
  const goBtn = $("#broadcast-start");
  const stopBtn = $("#broadcast-stop");
  const msg = $("#video-msg");
  const state = $("#video-state");
  let stream = null;
  let session = null;
  let room = null;

  function render() {
    const on = !!session;
    goBtn.hidden = on;
    goBtn.disabled = !stream || !room || room.state === "ended";
    stopBtn.hidden = !on;
    state.textContent = on ? "broadcasting" : stream ? "camera on" : "camera off";
    state.dataset.state = on ? "live" : "off";
  }

  async function listDevices() {
    let devices = [];
    try {
      devices = await navigator.mediaDevices.enumerateDevices();
    } catch {
      return;
    }
    for (const [sel, kind] of [[camSel, "videoinput"], [micSel, "audioinput"]]) {
      const current = sel.value;
      const options = devices.filter((d) => d.kind === kind)
        .map((d, i) => el("option", { value: d.deviceId, text: d.label || `${kind === "videoinput" ? "Camera" : "Microphone"} ${i + 1}` }));
      replace(sel, ...(kind === "audioinput" ? [el("option", { value: "", text: "No microphone" })] : []), ...options);
      if ([...sel.options].some((o) => o.value === current)) sel.value = current;
      else if (kind === "audioinput" && options.length) sel.value = options[0].value;
    }
  }

  async function startCamera() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      flash(msg, "This browser cannot use a camera here (a secure origin is needed).", "error", 8000);
      return;
    }
    stopCamera();
    try {
      stream = await navigator.mediaDevices.getUserMedia({
        video: { deviceId: camSel.value ? { exact: camSel.value } : undefined, width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 30 } },
        audio: micSel.value ? { deviceId: { exact: micSel.value } } : micSel.options.length <= 1 ? true : false,
      });
    } catch (err) {
      flash(msg, `The camera could not start: ${err.message || err.name}`, "error", 8000);
      stream = null;
      render();
      return;
    }
    preview.srcObject = stream;
    await listDevices(); // labels are readable once permission is given
    render();
  }

  function stopCamera() {
    if (stream) for (const t of stream.getTracks()) t.stop();
    stream = null;
    preview.srcObject = null;
  }

  async function goLive() {
    if (!stream || !room) return;
    goBtn.disabled = true;
    try {
      const golive = room.state === "scheduled" ? "?golive=1" : "";
      session = await publish(room.id, stream, getToken(), codecSel.value, golive);
      session.pc.addEventListener("connectionstatechange", () => {
        const st = session && session.pc.connectionState;
        if (st === "failed" || st === "closed") {
          notify("The broadcast connection was lost.", "error");
          endBroadcast();
        }
      });
      flash(msg, golive ? "You are broadcasting, and the room is live." : "You are broadcasting.", "ok");
    } catch (err) {
      session = null;
      flash(msg, describeError(err), "error", 8000);
    }
    render();
  }

  async function endBroadcast() {
    const s = session;
    session = null;
    render();
    if (s) await s.close();
  }

  camBtn.addEventListener("click", startCamera);
  goBtn.addEventListener("click", goLive);
  stopBtn.addEventListener("click", async () => {
    await endBroadcast();
    flash(msg, "The broadcast has ended. The room stays open.", "ok");
  });
  camSel.addEventListener("change", () => stream && !session && startCamera());
  micSel.addEventListener("change", () => stream && !session && startCamera());
  // ended, not just closed: a page restored from the page cache shows the camera, not a broadcast
  window.addEventListener("pagehide", () => {
    if (session) endBroadcast();
  });
  listDevices();
  render();

  // the studio page exposes the session for its own checks (and the browser tests)
  $("#video-section").livePublisher = { get pc() { return session ? session.pc : null; } };

  return {
    async select(next) {
      if (session && room && next && next.id !== room.id) await endBroadcast();
      room = next;
      render();
    },
    roomChanged(next) {
      room = next;
      if (room && room.state === "ended" && session) endBroadcast();
      render();
    },
  };
}
