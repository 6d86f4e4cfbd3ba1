// The replay's chapters without the DOM: their clock text and which one is playing.
import { test } from "node:test";
import assert from "node:assert/strict";

import { chapterAt, chapterClock } from "../../static/js/watch-replay.js";

test("a chapter's offset reads as a clock", () => {
  assert.equal(chapterClock(0), "0:00");
  assert.equal(chapterClock(65_400), "1:05");
  assert.equal(chapterClock(3_723_000), "1:02:03");
  assert.equal(chapterClock(-5), "0:00");
});

test("the chapter playing is the last one started", () => {
  const chapters = [{ t_ms: 2000, product_id: "p_a" }, { t_ms: 9000, product_id: "p_b" }];
  assert.equal(chapterAt(chapters, 1999), null);
  assert.equal(chapterAt(chapters, 2000).product_id, "p_a");
  assert.equal(chapterAt(chapters, 8999).product_id, "p_a");
  assert.equal(chapterAt(chapters, 60_000).product_id, "p_b");
});
