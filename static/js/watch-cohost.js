// Co-hosting on the watch page. A viewer sees each guest on air as a second video beside the
// host's (its own WHEP session: the host's picture is never renegotiated when a guest comes or
// goes); side by side on a desktop, picture-in-picture on a phone (app.css, "Co-hosting"). The
// invited user gets the invitation here (cohost_invited, addressed to them only); accepting
// starts their camera and publishes it with the guest token to the guest's own WHIP slot.

import { api, describeError } from "./api.js";
import { el, replace } from "./dom.js";
import { playFrom, publishTo } from "./webrtc.js";

const path = (roomId, rest = "") => `/api/rooms/${encodeURIComponent(roomId)}/cohost${rest}`;

/**
 * mountWatchCohost({root, stage, roomId, token(), me(), notify}) →
 * {snapshot(), events(list), end()}; root.cohost for tests ({mode, guests}).
 */
export function mountWatchCohost({ root, stage, roomId, token, me, notify }) {
  const tiles = el("div", { className: "cohost-tiles" });
  const invite = el("div", { className: "cohost-invite", attrs: { role: "dialog", "aria-label": "Co-host invitation", id: "cohost-invite" } });
  invite.hidden = true;
  replace(root, tiles, invite);
  const watching = new Map(); // guest id → {session, tile}
  const state = { mode: "none", guests: [] };
  root.cohost = state;
  let own = null; // {session, stream, tile} while this user co-hosts
  let ended = false;

  function layout() {
    const on = watching.size > 0 || own !== null;
    root.hidden = !on;
    if (on) stage.dataset.cohost = "on";
    else delete stage.dataset.cohost;
    state.mode = own ? "guest" : on ? "watching" : "none";
    state.guests = [...watching.keys()];
  }

  function tile(name, video, extra = null) {
    return el("figure", { className: "cohost-tile" }, video,
      el("figcaption", { className: "cohost-name", text: name }), extra);
  }

  function stopWatching(id) {
    const w = watching.get(id);
    if (!w) return;
    watching.delete(id);
    w.tile.remove();
    if (w.session) {
      w.session.location = null; // the server ended it with the guest's stream
      w.session.close();
    }
    layout();
  }

  async function watchGuest(guest) {
    const id = guest.guest_id || guest.user_id;
    const current = me();
    if (ended || watching.has(id) || (current && current.id === id)) return;
    const video = el("video", { className: "cohost-video", attrs: { autoplay: true, playsinline: true, muted: true, "aria-label": `${guest.name}'s video (co-host)` } });
    video.muted = true;
    const entry = { session: null, tile: tile(guest.name, video) };
    watching.set(id, entry);
    tiles.append(entry.tile);
    layout();
    try {
      const session = await playFrom(guest.whep, token(), (stream) => {
        if (video.srcObject !== stream) video.srcObject = stream;
      });
      if (watching.get(id) !== entry) session.close();
      else entry.session = session;
    } catch {
      stopWatching(id); // not on air (any more), or no room: the next cohost_started retries
    }
  }

  async function refresh() {
    try {
      const view = await api("GET", path(roomId));
      for (const g of view.guests) if (g.publishing) watchGuest(g);
    } catch {
      /* the room's view is not readable now: events still open the guests' videos */
    }
  }

  function showInvite(data) {
    const accept = el("button", { type: "button", className: "btn btn-primary", text: "Accept", attrs: { id: "cohost-accept" }, on: { click: () => answer(true) } });
    const decline = el("button", { type: "button", className: "btn", text: "Decline", attrs: { id: "cohost-decline" }, on: { click: () => answer(false) } });
    replace(invite, el("p", { text: `${data.by_name} invites you to co-host this show: your camera and microphone go on air beside theirs.` }),
      el("div", { className: "row" }, accept, decline));
    invite.hidden = false;
    root.hidden = false;
    accept.focus();
  }

  async function answer(yes) {
    invite.hidden = true;
    layout();
    if (!yes) {
      api("POST", path(roomId, "/decline")).catch(() => {});
      return;
    }
    let stream = null;
    try {
      const grant = await api("POST", path(roomId, "/accept"));
      stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: true });
      const video = el("video", { className: "cohost-video", attrs: { autoplay: true, playsinline: true, muted: true, "aria-label": "Your camera (co-hosting)" } });
      video.muted = true;
      video.srcObject = stream;
      const leave = el("button", { type: "button", className: "btn btn-small btn-danger cohost-leave", text: "Leave", attrs: { id: "cohost-leave" }, on: { click: () => leaveShow() } });
      own = { session: null, stream, tile: tile("You", video, leave) };
      tiles.append(own.tile);
      layout();
      own.session = await publishTo(grant.whip, stream, grant.token, "VP8");
    } catch (err) {
      notify(`Co-hosting did not start: ${describeError(err)}`, "error");
      if (stream) stream.getTracks().forEach((t) => t.stop());
      stopOwn();
    }
  }

  function stopOwn(serverEnded = false) {
    if (!own) return;
    const { session, stream, tile: t } = own;
    own = null;
    t.remove();
    if (stream) stream.getTracks().forEach((track) => track.stop());
    if (session) {
      if (serverEnded) session.location = null;
      session.close();
    }
    layout();
  }

  async function leaveShow() {
    stopOwn();
    try {
      await api("POST", path(roomId, "/leave"));
    } catch {
      /* removed meanwhile: nothing to leave */
    }
  }

  return {
    snapshot() {
      if (!ended) refresh();
    },
    events(list) {
      if (ended) return;
      const current = me();
      for (const ev of list) {
        const data = ev.data || {};
        if (ev.type === "cohost_invited" && current && data.guest_id === current.id) showInvite(data);
        else if (ev.type === "cohost_started") watchGuest(data);
        else if (ev.type === "cohost_ended") {
          stopWatching(data.guest_id);
          if (current && data.guest_id === current.id && own) {
            stopOwn(true);
            if (data.reason === "removed") notify("The host ended your co-hosting.", "info");
          }
        } else if (ev.type === "video_stopped") {
          for (const id of [...watching.keys()]) stopWatching(id); // guests end with the host
        }
      }
    },
    end() {
      ended = true;
      for (const id of [...watching.keys()]) stopWatching(id);
      stopOwn();
      invite.hidden = true;
      layout();
    },
  };
}
