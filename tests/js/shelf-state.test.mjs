// ShelfState (static/js/shelf.js): a room's shelf, pinned card and flash sales kept current
// from the snapshot and the room events, and what a card says about its price.
import assert from "node:assert/strict";
import { test } from "node:test";

import { ShelfState, phaseText } from "../../static/js/shelf.js";

const MIN = 60_000;

function mug(extra = {}) {
  return {
    id: "p1", title: "Mug", list_price: 1230, live_price: 990, currency: "CNY", status: "on_sale",
    variants: [
      { id: "v1", options: { size: "S" }, price: 990, left: 3 },
      { id: "v2", options: { size: "L" }, price: 1090, left: 0 },
    ],
    ...extra,
  };
}

function sale(extra = {}) {
  const now = Date.now();
  return {
    id: "s1", product_id: "p1", price: 880, currency: "CNY", stock: 5, left: 5,
    start_at: now - MIN, end_at: now + 10 * MIN, state: "open", ...extra,
  };
}

/** A state with the mug on the shelf and pinned, recording what changed. */
function shelf(snapExtra = {}) {
  const changes = [];
  const state = new ShelfState((what) => changes.push(what));
  state.applySnapshot({ shelf: [mug()], pinned: mug(), sales: {}, ...snapExtra });
  return { state, changes };
}

test("a snapshot fills the shelf, the pinned card and the sales", () => {
  const { state, changes } = shelf({ sales: { p1: sale({ left: 4 }) } });
  assert.deepEqual(changes, ["all"]);
  assert.equal(state.products.length, 1);
  assert.equal(state.pinned.id, "p1");
  assert.equal(state.left.p1, 4);
  assert.equal(state.product("p1").title, "Mug");
  assert.equal(state.product("nope"), null);
});

test("without a sale a product sells at its live price", () => {
  const { state } = shelf();
  const st = state.status("p1");
  assert.equal(st.phase, "none");
  assert.equal(st.price, 990);
  assert.equal(phaseText(st), "live price");
});

test("a scheduled sale counts down to its opening with the sale's price", () => {
  const { state } = shelf();
  const now = Date.now();
  state.applyEvent({ type: "sale_countdown", seq: 7, data: { sale: sale({ state: "scheduled", start_at: now + 65_000 }), left: 5 } });
  const st = state.status("p1");
  assert.equal(st.phase, "scheduled");
  assert.equal(st.price, 990, "the live price until it opens");
  assert.equal(phaseText(st, now), "flash sale at ¥8.80 in 1:05");
});

test("an open sale sells at the sale's price, and its stock events count down its units", () => {
  const { state, changes } = shelf();
  state.applyEvent({ type: "sale_started", seq: 8, data: { sale: sale(), left: 5, server_time: Date.now() } });
  let st = state.status("p1");
  assert.equal(st.phase, "open");
  assert.equal(st.price, 880);
  assert.equal(st.left, 5);
  assert.match(phaseText(st, Date.now()), /^on sale · ends in (9:59|10:00)$/);
  state.applyEvent({ type: "stock", data: { product_id: "p1", variant_id: "v1", sale_id: "s1", left: 2 } });
  st = state.status("p1");
  assert.equal(st.left, 2);
  assert.deepEqual(changes.slice(-2), ["sale", "stock"]);
});

test("a stock figure of an older sale is ignored; ordinary units are kept per variant", () => {
  const { state } = shelf({ sales: { p1: sale({ left: 4 }) } });
  state.applyEvent({ type: "stock", data: { product_id: "p1", variant_id: "v1", sale_id: "old", left: 0 } });
  assert.equal(state.status("p1").left, 4);
  state.applyEvent({ type: "stock", data: { product_id: "p1", variant_id: "v1", sale_id: null, left: 7 } });
  assert.equal(state.status("p1").left, 4, "ordinary units are not the sale's");
  assert.deepEqual(state.variantStock("p1").map((x) => x.left), [7, 0]);
});

test("a sold-out flash sale says so and names the price now, never a silent revert", () => {
  const { state } = shelf({ sales: { p1: sale() } });
  state.applyEvent({ type: "stock", data: { product_id: "p1", variant_id: "v1", sale_id: "s1", left: 0 } });
  let st = state.status("p1");
  assert.equal(st.phase, "sold_out");
  assert.equal(st.price, 990, "buyable again at the live price");
  assert.equal(phaseText(st), "flash sale at ¥8.80 sold out · now ¥9.90");
  // the sale closes as sold out: the same words
  state.applyEvent({ type: "sale_ended", data: { sale: sale({ state: "closed", reason: "sold_out", left: 0 }), left: 0 } });
  st = state.status("p1");
  assert.equal(st.phase, "sold_out");
  assert.equal(phaseText(st), "flash sale at ¥8.80 sold out · now ¥9.90");
});

test("an ended or cancelled sale names the sale's price and the price now", () => {
  const ended = shelf({ sales: { p1: sale({ end_at: Date.now() - 1 }) } }).state;
  assert.equal(phaseText(ended.status("p1")), "flash sale at ¥8.80 ended · now ¥9.90");
  const { state } = shelf();
  state.applyEvent({ type: "sale_ended", data: { sale: sale({ state: "closed", reason: "cancelled", left: 3 }) } });
  const st = state.status("p1");
  assert.equal(st.phase, "cancelled");
  assert.equal(st.price, 990);
  assert.equal(phaseText(st), "flash sale at ¥8.80 cancelled · now ¥9.90");
});

test("a product update replaces the card on the shelf and the pinned one", () => {
  const { state, changes } = shelf();
  state.applyEvent({ type: "product_updated", data: { product: mug({ live_price: 950, status: "taken_down" }) } });
  assert.equal(state.products[0].live_price, 950);
  assert.equal(state.pinned.live_price, 950);
  assert.equal(state.status("p1").phase, "taken_down");
  assert.equal(phaseText(state.status("p1")), "taken down");
  assert.equal(changes.at(-1), "product");
});

test("pinning and shelf changes follow the events; the pinned card keeps its newest copy", () => {
  const { state } = shelf();
  state.applyEvent({ type: "shelf_updated", data: { products: [mug({ title: "Mug 2" }), { id: "p2", title: "Cup" }] } });
  assert.deepEqual(state.products.map((p) => p.id), ["p1", "p2"]);
  assert.equal(state.pinned.title, "Mug 2");
  state.applyEvent({ type: "product_pinned", data: { product: null } });
  assert.equal(state.pinned, null);
});

test("variants: which are sold out, and when every one is", () => {
  const { state } = shelf();
  assert.equal(state.variantsText("p1"), "S · L sold out");
  assert.equal(state.soldOut("p1"), false);
  state.applyEvent({ type: "stock", data: { product_id: "p1", variant_id: "v1", left: 0 } });
  assert.equal(state.soldOut("p1"), true);
  assert.equal(state.variantsText("p1"), "S sold out · L sold out");
});

test("a bad event is reported, not thrown, and the following ones still apply", () => {
  const { state, changes } = shelf();
  const logged = [];
  const error = console.error;
  console.error = (...args) => logged.push(args);
  try {
    state.applyEvents([null, { type: "bought", data: { product_id: "p1" } }]);
  } finally {
    console.error = error;
  }
  assert.equal(logged.length, 1);
  assert.equal(changes.at(-1), "bought");
});

test("unknown events and events without a product change nothing", () => {
  const { state, changes } = shelf();
  state.applyEvents([{ type: "chat", data: {} }, { type: "sale_started", data: {} }, { type: "stock", data: {} }]);
  assert.deepEqual(changes, ["all"]);
});
