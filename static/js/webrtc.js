// WHIP and WHEP from the browser: one offer with every candidate in it (the server also takes
// trickled candidates by PATCH on the session URL, but the pages do not trickle), POSTed as
// application/sdp, the answer applied, and the session URL (Location) kept for the DELETE that
// ends it.

import { responseError } from "./api.js";

const GATHER_MS = 3000; // an offer goes out with what was gathered by then

function waitForCandidates(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      pc.removeEventListener("icegatheringstatechange", check);
      resolve();
    };
    const check = () => {
      if (pc.iceGatheringState === "complete") done();
    };
    const timer = setTimeout(done, GATHER_MS);
    pc.addEventListener("icegatheringstatechange", check);
  });
}

async function post(url, sdp, token) {
  const headers = { "Content-Type": "application/sdp" };
  if (token) headers.Authorization = `Bearer ${token}`;
  let resp = await fetch(url, { method: "POST", headers, body: sdp });
  if (resp.redirected && (resp.status === 401 || resp.status === 403) && token) {
    // Another process holds the room's media (307). Browsers drop Authorization when a redirect
    // crosses origins (another port), so ask the process it pointed to directly.
    resp = await fetch(resp.url, { method: "POST", headers, body: sdp });
  }
  if (resp.status !== 201) throw await responseError(resp);
  const location = new URL(resp.headers.get("Location"), resp.url).toString();
  return { answer: await resp.text(), location };
}

/** A WebRTC session with the server: `pc`, and `close()` that also DELETEs it. */
class Session {
  constructor(pc, location, token) {
    this.pc = pc;
    this.location = location;
    this.token = token;
  }

  /** `endedByServer`: the server already ended the session (its room ended), so there is no
   * session URL left to DELETE (it would only answer 404). */
  async close({ endedByServer = false } = {}) {
    // DELETE first: the server then ends the session on purpose, rather than noticing a
    // vanished peer (and the session URL still exists for the browser's CORS preflight).
    const url = this.location;
    this.location = null;
    if (url && !endedByServer) {
      const headers = this.token ? { Authorization: `Bearer ${this.token}` } : {};
      try {
        await fetch(url, { method: "DELETE", headers, keepalive: true });
      } catch {
        /* the server ends it by itself when the connection goes */
      }
    }
    try {
      this.pc.close();
    } catch {
      /* already closed */
    }
  }
}

async function negotiate(pc, url, token) {
  await pc.setLocalDescription(await pc.createOffer());
  await waitForCandidates(pc);
  try {
    const { answer, location } = await post(url, pc.localDescription.sdp, token);
    await pc.setRemoteDescription({ type: "answer", sdp: answer });
    return new Session(pc, location, token);
  } catch (err) {
    pc.close();
    throw err;
  }
}

/** Publish `stream` to the room (WHIP). `codec`: "H264", "VP8" or "" (the browser's choice);
 * `query`: "?golive=1" moves a scheduled room to live when the video is up. */
export async function publish(roomId, stream, token, codec = "", query = "") {
  return publishTo(`/api/rooms/${encodeURIComponent(roomId)}/whip${query}`, stream, token, codec);
}

/** Publish `stream` to a WHIP endpoint (a co-host guest's: `/api/rooms/<id>/guests/<user>/whip`). */
export async function publishTo(url, stream, token, codec = "") {
  const pc = new RTCPeerConnection({ bundlePolicy: "max-bundle" });
  for (const track of stream.getTracks()) {
    const tr = pc.addTransceiver(track, { direction: "sendonly", streams: [stream] });
    if (track.kind === "video" && codec && RTCRtpSender.getCapabilities) {
      const caps = RTCRtpSender.getCapabilities("video").codecs;
      const wanted = caps.filter((c) => c.mimeType.toLowerCase() === `video/${codec.toLowerCase()}`
        && (codec !== "H264" || /packetization-mode=1/.test(c.sdpFmtpLine || "")));
      if (wanted.length) {
        // constrained baseline first (what HLS players and OBS expect)
        wanted.sort((a, b) => Number(/profile-level-id=42e0/.test(b.sdpFmtpLine || ""))
          - Number(/profile-level-id=42e0/.test(a.sdpFmtpLine || "")));
        tr.setCodecPreferences(wanted);
      }
    }
  }
  return negotiate(pc, url, token);
}

/** Watch the room (WHEP); `onTrack(stream)` gets the remote stream. */
export async function play(roomId, token, onTrack) {
  return playFrom(`/api/rooms/${encodeURIComponent(roomId)}/whep`, token, onTrack);
}

/** Watch a WHEP endpoint (a co-host guest's stream is a session of its own). */
export async function playFrom(url, token, onTrack) {
  const pc = new RTCPeerConnection({ bundlePolicy: "max-bundle" });
  const stream = new MediaStream();
  pc.addTransceiver("video", { direction: "recvonly", streams: [stream] });
  pc.addTransceiver("audio", { direction: "recvonly", streams: [stream] });
  pc.addEventListener("track", (e) => {
    stream.addTrack(e.track);
    onTrack(stream);
  });
  return negotiate(pc, url, token);
}

export function webrtcSupported() {
  return typeof RTCPeerConnection === "function";
}
