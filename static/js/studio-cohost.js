// The studio's Co-host panel: invite a user (by user id) to publish beside the host, see the
// guest's stream once it is on air, remove the guest at once. The guest answers on the watch
// page (watch-cohost.js); the room's cohost_started / cohost_ended events keep this panel current.

import { api, describeError, getToken } from "./api.js";
import { el, replace } from "./dom.js";
import { playFrom } from "./webrtc.js";

const path = (roomId, rest = "") => `/api/rooms/${encodeURIComponent(roomId)}/cohost${rest}`;

/** mountStudioCohost({root, notify}) → {select(room), events(list)}; root.cohost for tests. */
export function mountStudioCohost({ root, notify }) {
  const input = el("input", { attrs: { id: "cohost-user", autocomplete: "off", spellcheck: "false", maxlength: 64, placeholder: "user id" } });
  const invite = el("button", { type: "button", className: "btn", text: "Invite", attrs: { id: "cohost-invite" } });
  const msg = el("p", { className: "small muted", attrs: { id: "cohost-msg", role: "status" } });
  const list = el("ul", { className: "cohost-guests", attrs: { id: "cohost-guests", "aria-label": "Guests" } });
  replace(root,
    el("h3", { text: "Co-host" }),
    el("div", { className: "row" },
      el("label", { className: "grow" }, "Invite a guest ", input), invite),
    msg, list);
  let room = null;
  const watching = new Map(); // guest id → {session, video}
  const state = { guests: [] };
  root.cohost = state;

  function closeGuest(id) {
    const w = watching.get(id);
    if (!w) return;
    watching.delete(id);
    w.session.location = null; // the server ended it with the guest's stream
    w.session.close();
  }

  async function watchGuest(guest) {
    if (watching.has(guest.user_id) || !room) return;
    const video = el("video", { className: "cohost-video", attrs: { autoplay: true, playsinline: true, muted: true, "aria-label": `${guest.name}'s video` } });
    video.muted = true;
    const entry = { session: null, video };
    watching.set(guest.user_id, entry);
    try {
      entry.session = await playFrom(guest.whep, getToken(), (stream) => {
        if (video.srcObject !== stream) video.srcObject = stream;
      });
      if (watching.get(guest.user_id) !== entry) entry.session.close();
    } catch (err) {
      watching.delete(guest.user_id);
      msg.textContent = `The guest's video did not start: ${describeError(err)}`;
    }
    render();
  }

  function render() {
    replace(list, ...state.guests.map((g) => {
      const remove = el("button", { type: "button", className: "btn btn-small btn-danger", text: "Remove",
        attrs: { "aria-label": `Remove ${g.name}` }, on: { click: () => removeGuest(g) } });
      const w = watching.get(g.user_id);
      return el("li", { className: "cohost-guest", dataset: { guest: g.user_id, publishing: g.publishing ? "1" : "0" } },
        el("span", { className: "grow", text: `${g.name} — ${g.publishing ? "on air" : "joining…"}` }),
        remove, w ? w.video : null);
    }));
  }

  async function refresh() {
    if (!room) return;
    const mine = room.id;
    try {
      const view = await api("GET", path(mine));
      if (!room || room.id !== mine) return;
      state.guests = view.guests;
      for (const id of [...watching.keys()]) {
        if (!view.guests.some((g) => g.user_id === id && g.publishing)) closeGuest(id);
      }
      render();
      for (const g of view.guests) if (g.publishing) watchGuest(g);
    } catch (err) {
      msg.textContent = describeError(err);
    }
  }

  async function sendInvite() {
    const userId = input.value.trim();
    if (!room || !userId) return;
    try {
      await api("POST", path(room.id, "/invite"), { user_id: userId });
      msg.textContent = `Invitation sent to ${userId}: waiting for them to accept.`;
      input.value = "";
    } catch (err) {
      msg.textContent = describeError(err);
    }
  }

  async function removeGuest(guest) {
    if (!room) return;
    try {
      await api("DELETE", path(room.id, `/guests/${encodeURIComponent(guest.user_id)}`));
      notify(`${guest.name} is off air.`, "info");
    } catch (err) {
      notify(describeError(err), "error");
    }
    closeGuest(guest.user_id);
    refresh();
  }

  invite.addEventListener("click", sendInvite);
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter") sendInvite();
  });

  return {
    select(next) {
      for (const id of [...watching.keys()]) closeGuest(id);
      room = next;
      state.guests = [];
      msg.textContent = "";
      root.hidden = !next;
      render();
      refresh();
    },
    events(list) {
      if (list.some((ev) => ev.type === "cohost_started" || ev.type === "cohost_ended")) {
        for (const ev of list) if (ev.type === "cohost_ended") closeGuest(ev.data.guest_id);
        refresh();
      }
    },
  };
}
