// The studio quick sale's units (static/js/quick-sale.js).
import assert from "node:assert/strict";
import { test } from "node:test";

import { QUICK_SALE_UNITS, defaultUnits, quickSaleUnits } from "../../static/js/quick-sale.js";

test("the units field starts at every unit left in the catalogue, or 10 when that is unknown", () => {
  assert.equal(QUICK_SALE_UNITS, 10);
  assert.equal(defaultUnits(250), 250);
  assert.equal(defaultUnits(3), 3);
  assert.equal(defaultUnits(0), 0);
  assert.equal(defaultUnits(-4), 0);
  assert.equal(defaultUnits(undefined), 10);
  assert.equal(defaultUnits(null), 10);
});

test("the creator's units are taken when they are whole and at most what is left", () => {
  assert.deepEqual(quickSaleUnits("3", 50), { units: 3 });
  assert.deepEqual(quickSaleUnits(" 50 ", 50), { units: 50 });
  assert.deepEqual(quickSaleUnits("", 50), { units: 50 });
  assert.deepEqual(quickSaleUnits("", 4), { units: 4 });
});

test("units that are not a whole number of at least 1, or more than is left, are refused with why", () => {
  for (const bad of ["0", "-1", "2.5", "abc", "1e3"]) {
    assert.match(quickSaleUnits(bad, 50).error, /whole number of at least 1/);
  }
  assert.equal(quickSaleUnits("51", 50, "Mug").error, "Only 50 units are left of Mug: give at most 50.");
  assert.equal(quickSaleUnits("2", 1, "Mug").error, "Only 1 unit is left of Mug: give at most 1.");
  assert.equal(quickSaleUnits("1", 0, "Mug").error, "Mug has no units left in the catalogue for a sale.");
});
