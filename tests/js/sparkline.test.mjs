// The ops console's sparklines (static/js/sparkline.js): the line's geometry and its label.
import assert from "node:assert/strict";
import { test } from "node:test";

import { sparkLabel, sparkLast, sparkPath } from "../../static/js/sparkline.js";

test("the lowest value is at the bottom and the highest at the top, evenly spaced", () => {
  assert.equal(sparkPath([0, 5, 10], 100, 20, 0), "M0,20 L50,10 L100,0");
});

test("the stroke padding keeps the line inside the box", () => {
  assert.equal(sparkPath([1, 3], 10, 10, 1), "M0,9 L10,1");
});

test("a flat series lies on the bottom line", () => {
  assert.equal(sparkPath([4, 4, 4], 20, 10, 1), "M0,9 L10,9 L20,9");
});

test("a slot nobody sampled breaks the line instead of inventing a point", () => {
  assert.equal(sparkPath([0, null, 10, 5], 30, 10, 0), "M0,10 M20,0 L30,5");
});

test("one point is drawn in the middle; nothing known draws nothing", () => {
  assert.equal(sparkPath([7], 40, 10, 1), "M20,9");
  assert.equal(sparkPath([], 40, 10), "");
  assert.equal(sparkPath([null, null], 40, 10), "");
  assert.equal(sparkPath(undefined, 40, 10), "");
});

test("the label says what, over how long, from and to", () => {
  const thirtyMinutes = Array.from({ length: 60 }, (_, i) => (i === 0 ? 12 : i === 59 ? 48 : 20));
  assert.equal(sparkLabel("online viewers", thirtyMinutes, 30000), "online viewers, last 30 min: 12 → 48");
  assert.equal(sparkLabel("GMV", [null, 1000, 6990], 30000, (c) => `¥${(c / 100).toFixed(2)}`),
    "GMV, last 2 min: ¥10.00 → ¥69.90");
  assert.equal(sparkLabel("chat per minute", [], 30000), "chat per minute: no data yet");
});

test("the dot marks the newest known value", () => {
  assert.deepEqual(sparkLast([0, 10, null], 20, 10, 0), [10, 0]);
  assert.deepEqual(sparkLast([7], 40, 10, 1), [20, 9]);
  assert.equal(sparkLast([null], 40, 10), null);
});
