// Charity terms as text and the studio's percentage field (no DOM).
import { test } from "node:test";
import assert from "node:assert/strict";

import { termsText } from "../../static/js/charity-terms.js";
import { percentToBp } from "../../static/js/studio-charity.js";

test("terms read as a sentence", () => {
  assert.equal(termsText({ percent: "10%", sources: ["gifts"] }), "10% of gifts");
  assert.equal(termsText({ percent: "12.5%", sources: ["orders", "gifts", "red_packets"] }),
    "12.5% of paid orders, gifts and red-packet remainders");
});

test("a percentage becomes basis points within 0.01..100", () => {
  assert.equal(percentToBp("10"), 1000);
  assert.equal(percentToBp("12.5"), 1250);
  assert.equal(percentToBp("0,01 %"), 1);
  assert.equal(percentToBp("100"), 10000);
  for (const bad of ["0", "100.01", "abc", "", "-5", "1.234"]) assert.equal(percentToBp(bad), null);
});
