// The studio's replay line under the video controls: "Recording" while the show's broadcast is
// being kept for its replay (H.264 broadcasts only: the replay is HLS, which players take in
// H.264), and once the live has ended, the link to the replay. The state is the server's
// (GET /api/rooms/{id}/replay), read every few seconds while the selected room can change it.

import { api } from "./api.js";
import { el, fmtDuration, replace } from "./dom.js";

const POLL_MS = 3000;

/** mountStudioReplay({node}) → {select(room), roomChanged(room)} */
export function mountStudioReplay({ node }) {
  let room = null;
  let timer = null;
  let generation = 0;

  function render(replay) {
    node.dataset.state = replay ? replay.state : "none";
    node.hidden = !room;
    if (!room) return;
    const ended = room.state === "ended";
    if (replay && replay.state === "recording") {
      replace(node, "Recording — this broadcast is kept as the show's replay.");
    } else if (replay && replay.state === "ready" && ended) {
      const length = replay.duration_ms ? ` (${fmtDuration(replay.duration_ms)})` : "";
      replace(node, "Replay ready: ",
        el("a", { id: "replay-link", href: `/watch/${encodeURIComponent(room.id)}`, text: `watch the replay${length}` }));
    } else if (replay && replay.state === "deleted") {
      replace(node, "The replay of this show was deleted by ops.");
    } else if (replay && replay.state === "ready") {
      replace(node, "Not recording now; what was broadcast is kept for the replay.");
    } else if (ended) {
      replace(node, "This show has no replay.");
    } else {
      replace(node, "Not recording: broadcasts in H.264 are kept as the show's replay.");
    }
  }

  async function poll(mine) {
    if (mine !== generation || !room) return;
    let replay = null;
    try {
      replay = await api("GET", `/api/rooms/${encodeURIComponent(room.id)}/replay`);
    } catch {
      replay = null;
    }
    if (mine !== generation) return;
    render(replay);
    // an ended room's replay changes no more once its last part is written
    const settled = room.state === "ended" && replay && replay.state !== "recording";
    if (!settled) timer = setTimeout(() => poll(mine), POLL_MS);
  }

  function restart() {
    generation++;
    clearTimeout(timer);
    poll(generation);
  }

  function select(r) {
    room = r;
    restart();
  }

  function roomChanged(r) {
    const changed = !room || room.id !== r.id || room.state !== r.state;
    room = r;
    if (changed) restart();
  }

  return { select, roomChanged };
}
