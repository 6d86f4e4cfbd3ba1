// The studio's variant editor inside the product form: options (a name and its values, at most
// 3) and the grid of their combinations, each a variant with its own stock, price adjustment and
// image. It yields the `options` and `variants` of create_product / update_product; a variant
// the product already has keeps its id, so the server keeps its counters.

import { el, replace } from "./dom.js";
import { moneyInput, parseCount, parseMoney } from "./shelf.js";

const MAX_OPTIONS = 3;
const MAX_VALUES = 20;
const MAX_VARIANTS = 50;

/** "-5.00" / "+2" / "3.5" -> cents (may be negative), or null. */
export function parseSignedMoney(text) {
  const s = String(text ?? "").trim();
  if (!s) return 0;
  const neg = s.startsWith("-") || s.startsWith("−");
  const cents = parseMoney(s.replace(/^[+\-−]/, ""));
  return cents === null ? null : neg ? -cents : cents;
}

function signedInput(cents) {
  const n = Math.trunc(Number(cents) || 0);
  return n < 0 ? `-${moneyInput(-n)}` : n > 0 ? `+${moneyInput(n)}` : "0";
}

/** Every combination of the options' values, in order: [{Size: "S", Colour: "Red"}, ...]. */
export function combinations(options) {
  let out = [{}];
  for (const o of options) {
    const next = [];
    for (const partial of out) for (const v of o.values) next.push({ ...partial, [o.name]: v });
    out = next;
  }
  return out;
}

function comboKey(opts) {
  return JSON.stringify(Object.entries(opts).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/**
 * mountVariantEditor({root, stockInput}) -> {load(product|null), read() -> {options, variants,
 * stock} | {error}, active()}.
 * root: an empty element inside the product form; stockInput: the form's total stock field
 * (read-only and the variants' sum while there are options).
 */
export function mountVariantEditor({ root, stockInput }) {
  let rows = []; // [{name: input, values: input, node}]
  const known = new Map(); // combination key -> {id, stock, price, image} typed so far / saved
  let hadOptions = false; // the product being edited has options now (clearing them is a change)

  const optionList = el("div", { className: "stack option-rows" });
  const addBtn = el("button", { type: "button", className: "btn btn-small option-add", text: "Add an option (size, colour…)", on: { click: () => addRow() } });
  const grid = el("div", { className: "table-wrap variant-grid" });
  const note = el("p", { className: "muted small variant-note" });
  replace(root,
    el("fieldset", { className: "variant-editor" },
      el("legend", { text: "Options and variants" }),
      el("p", { className: "muted small", text: "Optional. Each combination of values is a variant with its own stock, price adjustment and image." }),
      optionList, addBtn, note, grid));

  function addRow(name = "", values = []) {
    if (rows.length >= MAX_OPTIONS) return;
    const n = rows.length + 1;
    const row = {
      name: el("input", { className: "option-name", value: name, maxLength: 30, placeholder: "e.g. Size", attrs: { "aria-label": `Option ${n} name` } }),
      values: el("input", { className: "option-values grow", value: values.join(", "), placeholder: "e.g. S, M, L", attrs: { "aria-label": `Option ${n} values, separated by commas` } }),
    };
    row.node = el("div", { className: "row option-row" }, row.name, row.values,
      el("button", { type: "button", className: "btn btn-small btn-danger", text: "Remove", attrs: { "aria-label": `Remove option ${n}` }, on: { click: () => removeRow(row) } }));
    for (const input of [row.name, row.values]) input.addEventListener("input", () => { remember(); render(); });
    rows.push(row);
    optionList.append(row.node);
    render();
    if (!name) row.name.focus();
  }

  function removeRow(row) {
    remember();
    rows = rows.filter((r) => r !== row);
    row.node.remove();
    render();
  }

  /** The options as typed: [{name, values}] without blanks or repeats. */
  function options() {
    return rows.map((r) => ({
      name: r.name.value.trim(),
      values: [...new Set(r.values.value.split(",").map((v) => v.trim()).filter(Boolean))],
    })).filter((o) => o.name && o.values.length);
  }

  /** Keep what was typed in the grid, keyed by combination, so a re-render does not lose it. */
  function remember() {
    for (const tr of grid.querySelectorAll("tr[data-key]")) {
      const prior = known.get(tr.dataset.key) || {};
      known.set(tr.dataset.key, {
        ...prior,
        stock: tr.querySelector(".variant-stock").value,
        price: tr.querySelector(".variant-price").value,
        image: tr.querySelector(".variant-image").value,
      });
    }
  }

  function render() {
    const opts = options();
    const combos = combinations(opts);
    addBtn.disabled = rows.length >= MAX_OPTIONS;
    stockInput.readOnly = opts.length > 0;
    if (!opts.length) {
      replace(grid);
      note.textContent = "";
      return;
    }
    const tooMany = opts.some((o) => o.values.length > MAX_VALUES) || combos.length > MAX_VARIANTS;
    note.textContent = tooMany
      ? `At most ${MAX_VALUES} values per option and ${MAX_VARIANTS} variants in all (now ${combos.length}).`
      : `${combos.length} variant${combos.length === 1 ? "" : "s"}: the total stock is their sum.`;
    note.dataset.kind = tooMany ? "error" : "info";
    if (tooMany) {
      replace(grid);
      return;
    }
    replace(grid, el("table", { className: "variant-table" },
      el("thead", {}, el("tr", {},
        el("th", { text: "Variant" }), el("th", { className: "num", text: "Stock" }),
        el("th", { className: "num", text: "Price adjustment" }), el("th", { text: "Image URL" }))),
      el("tbody", {}, combos.map((c) => {
        const key = comboKey(c);
        const k = known.get(key) || {};
        const label = Object.values(c).join(" / ");
        return el("tr", { dataset: { key } },
          el("td", { className: "variant-label", text: label }),
          el("td", { className: "num" }, el("input", { className: "variant-stock", value: k.stock ?? "0", inputMode: "numeric", attrs: { "aria-label": `Stock of ${label}` }, on: { input: sumStock } })),
          el("td", { className: "num" }, el("input", { className: "variant-price", value: k.price ?? "0", inputMode: "decimal", placeholder: "+0.00", attrs: { "aria-label": `Price adjustment of ${label} (may be negative)` } })),
          el("td", {}, el("input", { className: "variant-image", value: k.image ?? "", maxLength: 500, placeholder: "https://… (optional)", attrs: { "aria-label": `Image URL of ${label}` } })));
      }))));
    sumStock();
  }

  function sumStock() {
    if (!options().length) return;
    let total = 0;
    for (const input of grid.querySelectorAll(".variant-stock")) total += parseCount(input.value, 0) ?? 0;
    stockInput.value = String(total);
  }

  return {
    /** Fill the editor from a product (null: a new product). */
    load(product) {
      rows = [];
      known.clear();
      replace(optionList);
      const opts = product && Array.isArray(product.options) ? product.options : [];
      hadOptions = opts.length > 0;
      for (const v of (product && Array.isArray(product.variants)) ? product.variants : []) {
        const stock = String(v.stock ?? 0);
        known.set(comboKey(v.options || {}), {
          id: v.id, stock, loadedStock: stock, price: signedInput(v.price_delta), image: v.image_url || "",
        });
      }
      for (const o of opts) addRow(o.name, o.values || []);
      stockInput.readOnly = opts.length > 0;
      render();
    },

    /**
     * What to send: {} without options (the product's one variant), else {options, variants,
     * stock} (stock: their sum, for a new product); {error} when a cell is wrong.
     */
    read() {
      remember();
      const opts = options();
      if (!opts.length) {
        if (!hadOptions) return {};
        // options removed: back to one variant, the total stock typed in the form
        return { options: [], variants: [{ options: {}, stock: parseCount(stockInput.value, 0) ?? 0 }] };
      }
      const combos = combinations(opts);
      if (opts.some((o) => o.values.length > MAX_VALUES) || combos.length > MAX_VARIANTS) {
        return { error: `at most ${MAX_VALUES} values per option and ${MAX_VARIANTS} variants` };
      }
      const variants = [];
      let stock = 0;
      for (const c of combos) {
        const k = known.get(comboKey(c)) || {};
        const label = Object.values(c).join(" / ");
        const units = parseCount(k.stock ?? "0", 0);
        const delta = parseSignedMoney(k.price ?? "0");
        if (units === null) return { error: `the stock of ${label} as a whole number` };
        if (delta === null) return { error: `the price adjustment of ${label} as an amount like -5.00 or +2.50` };
        const v = { options: c, stock: units, price_delta: delta, image_url: (k.image || "").trim() };
        if (k.id) v.id = k.id;
        // a kept variant's stock is sent only when changed: sales move the counters meanwhile
        if (k.id && String(k.stock ?? "0").trim() === k.loadedStock) delete v.stock;
        variants.push(v);
        stock += units;
      }
      return { options: opts, variants, stock };
    },
  };
}

/**
 * "S / Red: 3 · M / Red: 0 (+2 in lives)" for the catalogue: each variant's units in stock and
 * those drawn into rooms' allotments and sales (empty for a product with one variant).
 */
export function variantStockText(product) {
  const variants = Array.isArray(product.variants) ? product.variants : [];
  if (variants.length < 2) return "";
  return variants.map((v) => {
    const name = Object.values(v.options || {}).join(" / ") || v.id;
    const out = Number(v.out) || 0;
    return `${name}: ${v.stock ?? "?"}${out > 0 ? ` (+${out} in lives)` : ""}`;
  }).join(" · ");
}
