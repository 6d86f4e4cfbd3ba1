// Choosing a variant from its options (static/js/variant-pick.js), as a buyer taps values.
import assert from "node:assert/strict";
import { test } from "node:test";

import { chosenVariant, firstChoice, pick, unitsLeft, valueState } from "../../static/js/variant-pick.js";

const options = [{ name: "colour", values: ["red", "blue"] }, { name: "size", values: ["S", "M"] }];
const variants = [
  { id: "rS", options: { colour: "red", size: "S" }, left: 0 },
  { id: "rM", options: { colour: "red", size: "M" }, left: 2 },
  { id: "bS", options: { colour: "blue", size: "S" }, left: 1 },
  { id: "bM", options: { colour: "blue", size: "M" }, left: 0 },
];

test("units left: a missing or odd figure is none", () => {
  assert.equal(unitsLeft({ left: 3 }), 3);
  assert.equal(unitsLeft({}), 0);
  assert.equal(unitsLeft(null), 0);
  assert.equal(unitsLeft({ left: "x" }), 0);
});

test("the variant is named only once every option is chosen", () => {
  assert.equal(chosenVariant(options, variants, { colour: "red" }), null);
  assert.equal(chosenVariant(options, variants, { colour: "red", size: "M" }).id, "rM");
  assert.equal(chosenVariant([], [variants[1]], {}).id, "rM", "a product with one variant needs no choice");
});

test("a value with no units in any variant is sold out; 'here' says whether it fits the other choices", () => {
  const only = [variants[0], { id: "bS", options: { colour: "blue", size: "S" }, left: 0 }];
  assert.deepEqual(valueState(only, {}, "size", "S"), { soldOut: true, here: false });
  assert.deepEqual(valueState(variants, { colour: "red", size: "S" }, "size", "M"), { soldOut: false, here: true });
  assert.deepEqual(valueState(variants, { colour: "blue", size: "S" }, "size", "M"), { soldOut: false, here: false });
});

test("a tap keeps the other choices when that variant has units", () => {
  assert.deepEqual(pick(variants, { colour: "red", size: "S" }, "size", "M"), { colour: "red", size: "M" });
});

test("a tap that would name an empty variant moves the other choices to one with units", () => {
  assert.deepEqual(pick(variants, { colour: "red", size: "M" }, "colour", "blue"), { colour: "blue", size: "S" });
  assert.deepEqual(pick(variants, { colour: "blue", size: "S" }, "size", "M"), { colour: "red", size: "M" });
});

test("the first choice: the sale's variant when it has units, else the first with units", () => {
  assert.deepEqual(firstChoice(variants), { colour: "red", size: "M" });
  assert.deepEqual(firstChoice(variants, "bS"), { colour: "blue", size: "S" });
  assert.deepEqual(firstChoice(variants, "bM"), { colour: "red", size: "M" }, "the sale's variant has none left");
  assert.deepEqual(firstChoice(variants.map((v) => ({ ...v, left: 0 }))), { colour: "red", size: "S" });
  assert.deepEqual(firstChoice([]), {});
});
