// HTTP calls with the stored token, and the error codes of docs/PROTOCOL.md as readable text.

import { fmtTime, fmtDuration } from "./dom.js";
import { describeShelfError } from "./shelf.js";

const TOKEN_KEY = "live_server.token";

function readStoredToken() {
  try {
    return localStorage.getItem(TOKEN_KEY) || null;
  } catch {
    return null;
  }
}

// A page keeps the identity it was opened with: a login in another tab does not change who
// this tab acts as (the header offers a reload instead).
let pageToken = readStoredToken();

export function getToken() {
  return pageToken;
}

export function setToken(token) {
  pageToken = token || null;
  try {
    if (token) localStorage.setItem(TOKEN_KEY, token);
    else localStorage.removeItem(TOKEN_KEY);
  } catch {
    /* storage disabled: the token lives only for this page */
  }
  window.dispatchEvent(new CustomEvent("live-token-changed"));
}

/** Calls fn() when another tab logs in or out. */
export function onTokenChangedElsewhere(fn) {
  window.addEventListener("storage", (e) => {
    if (e.key === TOKEN_KEY || e.key === null) {
      if (readStoredToken() !== pageToken) fn();
    }
  });
}

/** Decode (not verify) a JWT's claims; null when it is not a JWT. */
export function decodeToken(token) {
  if (!token || typeof token !== "string") return null;
  const parts = token.split(".");
  if (parts.length !== 3) return null;
  try {
    const b64 = parts[1].replace(/-/g, "+").replace(/_/g, "/");
    const padded = b64 + "===".slice((b64.length + 3) % 4);
    const bytes = Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
    const claims = JSON.parse(new TextDecoder().decode(bytes));
    return claims && typeof claims === "object" ? claims : null;
  } catch {
    return null;
  }
}

/** The current identity from the stored token: {id, name, role, exp, expired} or null (guest). */
export function currentUser() {
  const token = getToken();
  const claims = decodeToken(token);
  if (!claims) return null;
  const exp = typeof claims.exp === "number" ? claims.exp * 1000 : null;
  return {
    id: String(claims.sub ?? ""),
    name: String(claims.name ?? claims.sub ?? ""),
    role: String(claims.role ?? "viewer"),
    exp,
    expired: exp !== null && exp <= Date.now(),
  };
}

export class ApiError extends Error {
  constructor(code, message, status = 0, details = {}) {
    super(message || code);
    this.code = code;
    this.status = status;
    this.details = details || {};
  }
}

/**
 * api("GET", "/api/rooms") / api("POST", "/api/rooms", {title}) -> parsed JSON body.
 * Throws ApiError with the server's code, or "network" / "bad_response".
 */
export async function api(method, path, body = undefined, { auth = true, signal } = {}) {
  const headers = { Accept: "application/json" };
  // A token that has visibly expired is not sent: public endpoints would refuse it.
  const user = auth ? currentUser() : null;
  const token = user && !user.expired ? getToken() : null;
  if (token) headers.Authorization = `Bearer ${token}`;
  const init = { method, headers, signal, credentials: "same-origin" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    if (err && err.name === "AbortError") throw err;
    throw new ApiError("network", "The server cannot be reached.", 0);
  }
  let data = null;
  const text = await response.text();
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!response.ok) throw httpError(response.status, data);
  if (text && data === null) throw new ApiError("bad_response", "The answer is not JSON.", response.status);
  return data ?? {};
}

/** The ApiError for a refused answer: the server's {"error": {code, message}} when the body has one. */
function httpError(status, data) {
  const e = data && data.error;
  if (e && typeof e === "object") return new ApiError(String(e.code || "error"), String(e.message || ""), status, e);
  return new ApiError("http_" + status, `HTTP ${status}`, status);
}

/** httpError for a fetch() Response that is not ok (requests api() cannot make: SDP, files). */
export async function responseError(response) {
  let data = null;
  try {
    data = await response.json();
  } catch {
    /* an empty or non-JSON body: the status says enough */
  }
  return httpError(response.status, data);
}

const TEXT = {
  bad_request: "The request was not understood.",
  invalid_json: "The request was not valid JSON.",
  unknown_op: "The server does not know this action.",
  missing_field: "A required field is missing.",
  invalid_field: "A field has a wrong value.",
  message_empty: "Type a message first.",
  message_too_long: "That message is too long.",
  keyword_blocked: "That message contains a blocked word.",
  payload_too_large: "That is too large to send.",
  unauthorized: "Please log in (your token is missing or invalid).",
  token_expired: "Your login has expired. Please log in again.",
  forbidden: "You are not allowed to do that here.",
  guests_not_allowed: "This room is for logged-in users only.",
  banned: "You are banned from this room.",
  muted: "You are muted in this room.",
  not_found: "Not found.",
  invalid_state: "That is not possible in the room's current state.",
  rate_limited: "You are sending too fast.",
  slow_mode: "Slow mode is on.",
  not_ready: "The server is not ready; try again shortly.",
  internal: "Something went wrong on the server.",
  network: "The server cannot be reached.",
  disconnected: "Not connected to the room; reconnecting…",
  timeout: "The server did not answer in time.",
  too_large: "That message is too long to send.",
};

// purchases, payments and orders: the precise refusal (shelf.js)
const SHELF_CODES = new Set(["not_started", "sale_ended", "sold_out", "insufficient_stock", "limit_reached",
  "taken_down", "payment_declined", "replayed"]);

/** A readable sentence for an ApiError / websocket error object {code, message, ...}. */
export function describeError(err) {
  if (!err) return "";
  const code = err.code || "error";
  const d = err.details || err;
  const retry = Number(d.retry_after_ms);
  if (SHELF_CODES.has(code)) return describeShelfError(err) || TEXT.invalid_state;
  switch (code) {
    case "muted": {
      const until = Number(d.until) || (retry ? Date.now() + retry : 0);
      return until ? `You are muted until ${fmtTime(until)}.` : TEXT.muted;
    }
    case "rate_limited":
      return retry ? `You are sending too fast; wait ${fmtDuration(Math.max(retry, 1000))}.` : TEXT.rate_limited;
    case "slow_mode":
      return retry ? `Slow mode is on; you can write again in ${fmtDuration(Math.max(retry, 1000))}.` : TEXT.slow_mode;
    case "missing_field":
    case "invalid_field":
    case "bad_request":
      return err.message ? `${TEXT[code]} (${err.message})` : TEXT[code];
    default:
      if (TEXT[code]) return TEXT[code];
      return err.message ? String(err.message) : `Error: ${code}`;
  }
}
