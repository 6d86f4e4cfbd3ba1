// Reconnect timing, without the DOM: how long the room socket waits before its next attempt,
// and what the watch page's small reconnect indicator says while the socket is down.

/** A blip shorter than this recovers silently: the indicator would only flicker. */
export const INDICATOR_AFTER_MS = 700;
/** Down this long, the indicator stops sounding routine and offers "Retry now". */
export const LOST_AFTER_MS = 15_000;
/** The longest wait between two attempts, whatever the backoff says. */
export const MAX_BACKOFF_MS = 15_000;

/**
 * The wait before the next attempt after a close with this code, the attempt-th in a row.
 * A server restart (1012) or a reset stream (4010) brings everyone back soon, spread over a
 * second so a whole room does not arrive at once; anything else doubles from 0.5 s (5 s after a
 * flood close, 4029), jittered to between half and all of it so retries do not synchronise.
 * random() is in [0, 1).
 */
export function reconnectDelay(code, attempt, random = Math.random) {
  if (code === 1012 || code === 4010) return 100 + random() * 1000;
  const base = code === 4029 ? 5000 : 500;
  return Math.min(MAX_BACKOFF_MS, base * 2 ** attempt) * (0.5 + random() / 2);
}

/**
 * What the indicator shows: {visible, lost, text}. state is the socket's status ("open",
 * "connecting", "reconnecting", "closed"); downSince the ms it last stopped being open (null
 * while open or before the first welcome: the first connection has its own "connecting…");
 * final when the socket will not come back on its own (the page says why elsewhere).
 */
export function indicatorFor({ state, downSince, now, final = false }) {
  const hidden = { visible: false, lost: false, text: "" };
  if (state === "open" || final || downSince === null || downSince === undefined) return hidden;
  const down = now - downSince;
  if (down < INDICATOR_AFTER_MS) return hidden;
  if (down >= LOST_AFTER_MS) return { visible: true, lost: true, text: "Connection lost — retrying" };
  return { visible: true, lost: false, text: "Reconnecting…" };
}
