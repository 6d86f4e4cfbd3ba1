// The room socket's backoff and the watch page's reconnect indicator (static/js/reconnect.js).
import assert from "node:assert/strict";
import { test } from "node:test";

import { INDICATOR_AFTER_MS, LOST_AFTER_MS, MAX_BACKOFF_MS, indicatorFor, reconnectDelay } from "../../static/js/reconnect.js";

const low = () => 0;
const high = () => 0.999999;

test("after a server restart everyone comes back within 1.1 s, spread over a second", () => {
  for (const code of [1012, 4010]) {
    assert.equal(reconnectDelay(code, 0, low), 100);
    assert.ok(reconnectDelay(code, 7, high) < 1100);
    assert.ok(reconnectDelay(code, 7, high) > 1099);
  }
});

test("other closes double from 0.5 s, jittered to half or all of it, and never wait past 15 s", () => {
  assert.equal(reconnectDelay(1006, 0, low), 250);
  assert.ok(Math.abs(reconnectDelay(1006, 0, high) - 500) < 0.01);
  assert.equal(reconnectDelay(1006, 3, low), 2000);
  assert.ok(Math.abs(reconnectDelay(1006, 3, high) - 4000) < 0.01);
  for (let attempt = 0; attempt < 40; attempt += 1) {
    assert.ok(reconnectDelay(1006, attempt, high) <= MAX_BACKOFF_MS);
  }
  assert.equal(reconnectDelay(1006, 10, low), MAX_BACKOFF_MS / 2);
});

test("a flood close (4029) backs off from 5 s", () => {
  assert.equal(reconnectDelay(4029, 0, low), 2500);
  assert.equal(reconnectDelay(4029, 1, low), 5000);
  assert.equal(reconnectDelay(4029, 5, low), MAX_BACKOFF_MS / 2);
});

test("the indicator stays hidden while open, before the first welcome, and after a final close", () => {
  const now = 1_000_000;
  assert.equal(indicatorFor({ state: "open", downSince: null, now }).visible, false);
  assert.equal(indicatorFor({ state: "connecting", downSince: null, now }).visible, false);
  assert.equal(indicatorFor({ state: "closed", downSince: now - 60_000, now, final: true }).visible, false);
});

test("a short blip recovers silently; then 'Reconnecting…'; long down says so and offers a retry", () => {
  const now = 1_000_000;
  assert.equal(indicatorFor({ state: "reconnecting", downSince: now - INDICATOR_AFTER_MS + 1, now }).visible, false);
  assert.deepEqual(indicatorFor({ state: "reconnecting", downSince: now - INDICATOR_AFTER_MS, now }),
    { visible: true, lost: false, text: "Reconnecting…" });
  assert.deepEqual(indicatorFor({ state: "connecting", downSince: now - LOST_AFTER_MS + 1, now }),
    { visible: true, lost: false, text: "Reconnecting…" });
  assert.deepEqual(indicatorFor({ state: "connecting", downSince: now - LOST_AFTER_MS, now }),
    { visible: true, lost: true, text: "Connection lost — retrying" });
});
