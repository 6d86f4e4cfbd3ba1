// Countdowns and durations as the pages show them (static/js/shelf.js, static/js/dom.js).
import assert from "node:assert/strict";
import { test } from "node:test";

import { fmtDuration } from "../../static/js/dom.js";
import { fmtClock, fmtPercent, parsePercent } from "../../static/js/shelf.js";

test("a countdown reads m:ss, then h:mm:ss past an hour", () => {
  assert.equal(fmtClock(65_000), "1:05");
  assert.equal(fmtClock(59_000), "0:59");
  assert.equal(fmtClock(600_000), "10:00");
  assert.equal(fmtClock(3_725_000), "1:02:05");
  assert.equal(fmtClock(36_000_000), "10:00:00");
});

test("a countdown rounds up, so it never shows 0:00 before the moment", () => {
  assert.equal(fmtClock(1), "0:01");
  assert.equal(fmtClock(999), "0:01");
  assert.equal(fmtClock(1_001), "0:02");
  assert.equal(fmtClock(0), "0:00");
});

test("a countdown past its moment stays at 0:00", () => {
  assert.equal(fmtClock(-5_000), "0:00");
});

test("durations read in seconds, minutes, hours", () => {
  assert.equal(fmtDuration(3_000), "3 s");
  assert.equal(fmtDuration(59_400), "59 s");
  assert.equal(fmtDuration(120_000), "2 min");
  assert.equal(fmtDuration(3_900_000), "1 h 5 min");
  assert.equal(fmtDuration(7_200_000), "2 h");
  assert.equal(fmtDuration(-1), "0 s");
});

test("percentages are basis points, typed and shown without floats", () => {
  assert.equal(fmtPercent(1250), "12.5%");
  assert.equal(fmtPercent(1205), "12.05%");
  assert.equal(fmtPercent(10000), "100%");
  assert.equal(parsePercent("12.5"), 1250);
  assert.equal(parsePercent("12.5%"), 1250);
  assert.equal(parsePercent("100.01"), null);
  assert.equal(parsePercent("1.234"), null);
});
