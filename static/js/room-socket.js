// The room websocket: connect, requests with ids, event batches, and reconnect with `since`
// (recovery). See docs/PROTOCOL.md, "The room websocket".

import { ApiError } from "./api.js";
import { reconnectDelay } from "./reconnect.js";

const MAX_FRAME_BYTES = 4096; // ws.max_frame_bytes default; larger frames close the socket (1009)

/** Close codes after which we do not reconnect on our own. */
export const FINAL_CLOSES = {
  4001: "unauthorized",
  4003: "banned",
  4004: "room_not_found",
  4030: "guests_not_allowed",
};

/**
 * new RoomSocket(roomId, {token, handlers})
 * handlers (all optional):
 *   welcome(frame)                   every welcome
 *   snapshot(snapshot, {fresh})      fresh join or recovered:false: rebuild the page from it
 *   recovered(sinceSeq)              recovered:true; the missed events follow through events()
 *   events(list, frame)              sequenced events are de-duplicated by seq
 *   status(state, info)              "connecting" | "open" | "reconnecting" {delayMs, code} | "closed" {code, reason, error}
 *   error(errorObject)               an error frame not tied to a request
 */
export class RoomSocket {
  constructor(roomId, { token = null, handlers = {} } = {}) {
    this.roomId = roomId;
    this.token = token;
    this.handlers = handlers;
    this.seq = null; // last sequence number seen
    this.epoch = null; // the room stream's epoch that seq counts in (from the welcome)
    this.user = null;
    this.ws = null;
    this.nextId = 1;
    this.pending = new Map();
    this.attempt = 0;
    this.stopped = true;
    this.welcomed = false;
    this.lastError = null;
    this.reconnectTimer = null;
    this.pingTimer = null;
    this._onOnline = () => this.retryNow();
  }

  start() {
    this.stopped = false;
    window.addEventListener("online", this._onOnline);
    this._connectNow();
  }

  /** Close for good (page leaving or identity change). */
  stop() {
    this.stopped = true;
    window.removeEventListener("online", this._onOnline);
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    clearInterval(this.pingTimer);
    if (this.ws) {
      try {
        this.ws.close(1000, "bye");
      } catch {
        /* already closing */
      }
    }
    this._failPending("disconnected");
  }

  get open() {
    return !!this.ws && this.ws.readyState === WebSocket.OPEN && this.welcomed;
  }

  url() {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const params = new URLSearchParams();
    if (this.token) params.set("token", this.token);
    else params.set("guest", "1");
    if (this.seq !== null && this.seq !== undefined) {
      params.set("since", String(this.seq));
      if (typeof this.epoch === "string") params.set("epoch", this.epoch);
    }
    return `${proto}//${location.host}/ws/rooms/${encodeURIComponent(this.roomId)}?${params}`;
  }

  /** Send a request; resolves with the reply's data, rejects with an ApiError. */
  request(op, fields = {}, { timeoutMs = 10000 } = {}) {
    return new Promise((resolve, reject) => {
      if (!this.open) {
        reject(new ApiError("disconnected", "Not connected."));
        return;
      }
      const id = this.nextId++;
      const frame = JSON.stringify({ ...fields, op, id });
      if (new TextEncoder().encode(frame).length > MAX_FRAME_BYTES) {
        reject(new ApiError("too_large", "The message is too large to send."));
        return;
      }
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new ApiError("timeout", "No answer."));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer, op });
      try {
        this.ws.send(frame);
      } catch {
        clearTimeout(timer);
        this.pending.delete(id);
        reject(new ApiError("disconnected", "Not connected."));
      }
    });
  }

  _emit(name, ...args) {
    const fn = this.handlers[name];
    if (fn) {
      try {
        fn(...args);
      } catch (err) {
        console.error(`room socket handler ${name}`, err);
      }
    }
  }

  _connectNow() {
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    if (this.stopped) return;
    this.welcomed = false;
    this.lastError = null;
    this._emit("status", "connecting", { attempt: this.attempt });
    let ws;
    try {
      ws = new WebSocket(this.url());
    } catch {
      this._scheduleReconnect(0);
      return;
    }
    this.ws = ws;
    ws.onmessage = (e) => {
      if (ws !== this.ws) return;
      this._onFrame(e.data);
    };
    ws.onclose = (e) => {
      if (ws !== this.ws) return;
      this._onClose(e.code, e.reason);
    };
    ws.onerror = () => {
      /* onclose follows */
    };
  }

  _onFrame(raw) {
    if (typeof raw !== "string") return;
    let frame;
    try {
      frame = JSON.parse(raw);
    } catch {
      return;
    }
    if (!frame || typeof frame !== "object") return;
    switch (frame.type) {
      case "welcome":
        this._onWelcome(frame);
        break;
      case "events":
        this._onEvents(frame);
        break;
      case "reply":
      case "pong": {
        const p = this.pending.get(frame.id);
        if (p) {
          this.pending.delete(frame.id);
          clearTimeout(p.timer);
          p.resolve(frame.type === "pong" ? frame : frame.data ?? {});
        }
        break;
      }
      case "error": {
        const e = frame.error || {};
        const err = new ApiError(String(e.code || "error"), String(e.message || ""), 0, e);
        const p = frame.id !== null && frame.id !== undefined ? this.pending.get(frame.id) : null;
        if (p) {
          this.pending.delete(frame.id);
          clearTimeout(p.timer);
          p.reject(err);
        } else {
          this.lastError = err;
          this._emit("error", err);
        }
        break;
      }
      default:
        break;
    }
  }

  _onWelcome(frame) {
    this.welcomed = true;
    this.attempt = 0;
    this.user = frame.user || null;
    if (typeof frame.epoch === "string") this.epoch = frame.epoch;
    this._emit("welcome", frame);
    if (frame.recovered && (frame.snapshot === null || frame.snapshot === undefined)) {
      if (typeof frame.seq === "number") this.seq = frame.seq;
      this._emit("recovered", this.seq);
    } else {
      if (typeof frame.seq === "number") this.seq = frame.seq;
      if (frame.snapshot) this._emit("snapshot", frame.snapshot, { fresh: true });
    }
    this._emit("status", "open", { recovered: !!frame.recovered });
    this._startPing();
  }

  _onEvents(frame) {
    const list = Array.isArray(frame.events) ? frame.events : [];
    const fresh = [];
    for (const ev of list) {
      if (!ev || typeof ev !== "object") continue;
      if (typeof ev.seq === "number") {
        if (this.seq !== null && ev.seq <= this.seq) continue; // already seen (replay overlap)
        this.seq = ev.seq;
      }
      fresh.push(ev);
    }
    if (fresh.length) this._emit("events", fresh, frame);
  }

  /** Ask for a fresh snapshot (e.g. after a gap) and hand it to the snapshot handler. */
  async resync() {
    const snap = await this.request("snapshot");
    this._emit("snapshot", snap, { fresh: false });
    return snap;
  }

  _startPing() {
    clearInterval(this.pingTimer);
    // Half-open connections (sleeping laptop, dropped Wi-Fi) are noticed by an application ping.
    this.pingTimer = setInterval(() => {
      if (!this.open) return;
      this.request("ping", {}, { timeoutMs: 10000 }).catch((err) => {
        if (err.code === "timeout" && this.ws) {
          try {
            this.ws.close(3000, "ping_timeout");
          } catch {
            /* ignore */
          }
          // Some browsers wait long for the close handshake; do not wait for it.
          const ws = this.ws;
          this.ws = null;
          ws.onclose = null;
          this._onClose(3000, "ping_timeout");
        }
      });
    }, 25000);
  }

  _failPending(code) {
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new ApiError(code, "Not connected."));
      this.pending.delete(id);
    }
  }

  _onClose(code, reason) {
    clearInterval(this.pingTimer);
    this.welcomed = false;
    this._failPending("disconnected");
    if (this.stopped) {
      this._emit("status", "closed", { code, reason, error: null, final: true });
      return;
    }
    if (FINAL_CLOSES[code]) {
      this.stopped = true;
      window.removeEventListener("online", this._onOnline);
      this._emit("status", "closed", { code, reason: reason || FINAL_CLOSES[code], error: this.lastError, final: true });
      return;
    }
    // 4010: the room's stream was reset; the welcome brings a snapshot
    const delay = reconnectDelay(code, this.attempt);
    this.attempt += 1;
    this._scheduleReconnect(delay, code, reason);
  }

  /** Try now instead of waiting out the backoff (the viewer asked); no-op while connected. */
  retryNow() {
    if (!this.stopped && this.reconnectTimer) this._connectNow();
  }

  _scheduleReconnect(delay, code = 0, reason = "") {
    clearTimeout(this.reconnectTimer);
    this._emit("status", "reconnecting", { delayMs: delay, code, reason, attempt: this.attempt });
    this.reconnectTimer = setTimeout(() => this._connectNow(), delay);
  }
}

/** Human text for a final close. */
export function describeClose(code, reason, error) {
  switch (code) {
    case 4003:
      return "You are banned from this room.";
    case 4004:
      return "This room does not exist.";
    case 4030:
      return "This room is for logged-in users only. Log in to watch.";
    case 4001:
      return error && error.code === "token_expired"
        ? "Your login has expired. Log in again (or log out to watch as a guest)."
        : "Your login was refused. Log in again (or log out to watch as a guest).";
    default:
      return `Disconnected (${code}${reason ? ` ${reason}` : ""}).`;
  }
}
