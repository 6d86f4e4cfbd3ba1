// The studio's camera: pick a camera and a microphone (both on by default: the first of each),
// see the preview and the microphone's level, broadcast to the room over WHIP (going live with
// it if the room is still scheduled), end the broadcast. Stopping the broadcast, ending the live
// or leaving the page stops every local track, so the camera light goes off.

import { describeError, getToken } from "./api.js";
import { $, el, flash, replace } from "./dom.js";
import { mountMicLevel } from "./mic-level.js";
import { publish } from "./webrtc.js";

const NO_MIC = "off"; // the "No microphone" option; "" is the browser's default device

/** mountStudioVideo({notify(text, kind)}) → {select(room), roomChanged(room)} */
export function mountStudioVideo({ notify }) {
  const preview = $("#preview");
  const previewOff = $("#preview-off");
  const camSel = $("#cam-select");
  const micSel = $("#mic-select");
  const codecSel = $("#codec-select");
  const camBtn = $("#cam-start");
  const goBtn = $("#broadcast-start");
  const stopBtn = $("#broadcast-stop");
  const msg = $("#video-msg");
  const state = $("#video-state");
  const level = mountMicLevel($("#mic-level"), $("#mic-level-bar"));
  let stream = null;
  let session = null;
  let room = null;
  let camOff = false; // while broadcasting: the picture is paused (black frames), sound goes on

  const ended = () => !!room && room.state === "ended";

  function render() {
    const on = !!session;
    goBtn.hidden = on;
    goBtn.disabled = !stream || !room || ended();
    stopBtn.hidden = !on;
    camBtn.textContent = !stream ? "Start camera" : on && camOff ? "Camera on" : "Camera off";
    camBtn.disabled = !stream && ended();
    const showing = !!stream && !camOff;
    previewOff.hidden = showing;
    previewOff.textContent = ended() ? "Camera off: the live has ended" : "Camera off";
    state.textContent = on ? (camOff ? "broadcasting, camera off" : "broadcasting") : stream ? "camera on" : "camera off";
    state.dataset.state = on ? "live" : "off";
  }

  async function listDevices() {
    let devices = [];
    try {
      devices = await navigator.mediaDevices.enumerateDevices();
    } catch {
      return;
    }
    for (const [sel, kind, name] of [[camSel, "videoinput", "Camera"], [micSel, "audioinput", "Microphone"]]) {
      const current = sel.value;
      // before permission is given, devices have no id ("" asks for the default one)
      const options = devices.filter((d) => d.kind === kind)
        .map((d, i) => el("option", { value: d.deviceId, text: d.label || `${name} ${i + 1}` }));
      if (kind === "audioinput") options.push(el("option", { value: NO_MIC, text: "No microphone" }));
      replace(sel, ...options);
      // the user's choice is kept while that device exists; otherwise the first device
      if (current && options.some((o) => o.value === current)) sel.value = current;
      else if (options.length) sel.value = options[0].value;
    }
  }

  function constraints(withAudio) {
    const mic = micSel.value;
    return {
      video: { deviceId: camSel.value ? { exact: camSel.value } : undefined, width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 30 } },
      audio: !withAudio || mic === NO_MIC ? false : mic ? { deviceId: { exact: mic } } : true,
    };
  }

  async function startCamera() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      flash(msg, "This browser cannot use a camera here (a secure origin is needed).", "error", 8000);
      return;
    }
    stopCamera();
    const wantsAudio = micSel.value !== NO_MIC;
    try {
      stream = await navigator.mediaDevices.getUserMedia(constraints(true));
    } catch (err) {
      stream = null;
      // a camera without its microphone is still a show: say so rather than fail
      if (wantsAudio) {
        try {
          stream = await navigator.mediaDevices.getUserMedia(constraints(false));
          flash(msg, `The microphone could not start (${err.message || err.name}): the broadcast has no sound.`, "error", 10000);
        } catch {
          stream = null;
        }
      }
      if (!stream) {
        flash(msg, `The camera could not start: ${err.message || err.name}`, "error", 8000);
        render();
        return;
      }
    }
    camOff = false;
    preview.srcObject = stream;
    level.watch(stream);
    await listDevices(); // labels are readable once permission is given
    render();
  }

  function stopCamera() {
    if (stream) for (const t of stream.getTracks()) t.stop();
    stream = null;
    camOff = false;
    level.stop();
    preview.srcObject = null;
    render();
  }

  /** While broadcasting, the picture pauses (the track sends black); otherwise the camera stops. */
  function toggleCamera() {
    if (!stream) {
      startCamera();
    } else if (session) {
      camOff = !camOff;
      for (const t of stream.getVideoTracks()) t.enabled = !camOff;
      render();
    } else {
      stopCamera();
    }
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
      const silent = !stream.getAudioTracks().length ? " (no microphone: no sound)" : "";
      // with golive the server makes the room live at the first frame it receives, not at the POST
      flash(msg, `${golive ? "You are broadcasting: the room goes live as soon as your video arrives" : "You are broadcasting"}${silent}.`, "ok");
    } catch (err) {
      session = null;
      flash(msg, describeError(err), "error", 8000);
    }
    render();
  }

  /** The broadcast ends and the camera and microphone with it. `endedByServer`: the room
   * ended, and the server ended its sessions with it. */
  async function endBroadcast(endedByServer = false) {
    const s = session;
    session = null;
    stopCamera();
    if (s) await s.close({ endedByServer });
  }

  camBtn.addEventListener("click", toggleCamera);
  goBtn.addEventListener("click", goLive);
  stopBtn.addEventListener("click", async () => {
    await endBroadcast();
    flash(msg, "The broadcast has ended and the camera is off. The room stays open.", "ok");
  });
  camSel.addEventListener("change", () => stream && !session && startCamera());
  micSel.addEventListener("change", () => stream && !session && startCamera());
  // ended, not just closed: a page restored from the page cache shows the camera off, not a broadcast
  window.addEventListener("pagehide", () => {
    endBroadcast();
  });
  listDevices();
  render();

  // the studio page exposes the session for its own checks (and the browser tests)
  $("#video-section").livePublisher = { get pc() { return session ? session.pc : null; } };

  function follow(next) {
    room = next;
    if (ended() && (session || stream)) endBroadcast(true);
    render();
  }

  return {
    async select(next) {
      if (session && room && next && next.id !== room.id) await endBroadcast();
      follow(next);
    },
    roomChanged: follow,
  };
}
