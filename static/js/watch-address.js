// The buyer's saved shipping address in the checkout sheet: shown on one line, edited in an
// inline form, saved with put_address. The server validates (domain/address.py); a refused
// field gets its error next to it, in the page's words (the server's message may be a pattern).
// Only the buyer reads it (GET /api/me/address): it never travels in a room event.

import { api, describeError } from "./api.js";
import { el, replace, flash } from "./dom.js";

/** The address fields as the server names them, with their labels and what they take. */
const FIELDS = [
  { name: "name", label: "Full name", max: 60, required: true, auto: "name", hint: "1-60 characters." },
  { name: "phone", label: "Phone", max: 20, required: true, auto: "tel", mode: "tel", hint: "6-20 characters: digits, spaces, + - ( ), at least 5 digits." },
  { name: "country", label: "Country (2 letters)", max: 2, required: true, auto: "country", upper: true, hint: "The two-letter country code, e.g. CN, US, DE." },
  { name: "region", label: "Region / state", max: 60, auto: "address-level1", hint: "At most 60 characters." },
  { name: "city", label: "City", max: 60, required: true, auto: "address-level2", hint: "1-60 characters." },
  { name: "line1", label: "Address line 1", max: 120, required: true, auto: "address-line1", wide: true, hint: "1-120 characters." },
  { name: "line2", label: "Address line 2", max: 120, auto: "address-line2", wide: true, hint: "At most 120 characters." },
  { name: "postal_code", label: "Postal code", max: 16, auto: "postal-code", hint: "Letters, digits, spaces and - only (at most 16)." },
];

/** One line for an address: "Ann Lee, +86 …, 1 Main St, Springfield, CN". */
export function addressLine(a) {
  if (!a) return "";
  return [a.name, a.phone, a.line1, a.line2, a.city, a.region, a.postal_code, a.country]
    .filter((x) => typeof x === "string" && x.trim()).join(", ");
}

/** The field a refusal names: its `field`, else the first 'quoted' name in its message. */
function fieldOf(err) {
  const d = err.details || {};
  const named = typeof d.field === "string" ? d.field : (/'([a-z0-9_.]+)'/.exec(err.message || "") || [])[1];
  return named ? named.replace(/^address\./, "") : null;
}

/**
 * mountAddress({onSaved()}) -> {node, load(), get(), edit(on), render(locked), reset()}.
 * get(): the saved address, null when none, undefined while not read.
 */
export function mountAddress({ onSaved }) {
  let address; // undefined: not read yet; null: none saved
  const errors = new Map(); // field name -> its error element
  const text = el("p", { className: "co-address-text" });
  const editBtn = el("button", { type: "button", className: "btn btn-small co-address-edit", text: "Edit", on: { click: () => edit(true) } });
  const form = el("form", { id: "co-address-form", className: "co-address-form", hidden: true, attrs: { novalidate: true, autocomplete: "on" } });
  const msg = el("p", { className: "msg co-address-msg", hidden: true, attrs: { role: "status" } });
  const node = el("section", { className: "co-section co-address", attrs: { "aria-labelledby": "co-address-h" } },
    el("div", { className: "row spread" }, el("h3", { id: "co-address-h", text: "Ship to" }), editBtn),
    text, msg, form);

  const grid = el("div", { className: "co-address-grid" });
  for (const f of FIELDS) {
    const id = `co-addr-${f.name}`;
    const err = el("span", { id: `${id}-err`, className: "field-error small", hidden: true });
    errors.set(f.name, err);
    grid.append(el("div", { className: `co-field${f.wide ? " wide" : ""}` },
      el("label", { attrs: { for: id }, text: f.required ? f.label : `${f.label} (optional)` }),
      el("input", {
        id, name: f.name, maxLength: f.max, autocomplete: f.auto,
        inputMode: f.mode || undefined, attrs: { "aria-describedby": `${id}-err`, required: !!f.required },
        on: { input: () => fieldError(f.name, "") },
      }),
      err));
  }
  const save = el("button", { type: "submit", className: "btn btn-primary btn-small co-address-save", text: "Save address" });
  replace(form, grid, el("div", { className: "row" }, save,
    el("button", { type: "button", className: "btn btn-small co-address-cancel", text: "Cancel", on: { click: () => edit(false) } })));

  async function load() {
    if (address !== undefined) return;
    try {
      const data = await api("GET", "/api/me/address");
      address = data.address || null;
    } catch (err) {
      flash(msg, `Your saved address cannot be read: ${describeError(err)}`, "error", 0);
    }
  }

  function render(locked) {
    text.textContent = address ? addressLine(address) : address === null ? "No shipping address yet." : "Loading…";
    text.classList.toggle("muted", !address);
    editBtn.textContent = address ? "Edit" : "Add an address";
    editBtn.disabled = !!locked;
  }

  function edit(on) {
    form.hidden = !on;
    editBtn.hidden = on;
    if (!on) return;
    for (const { name } of FIELDS) {
      form.elements[name].value = address && typeof address[name] === "string" ? address[name] : "";
      fieldError(name, "");
    }
    form.elements.name.focus();
  }

  function fieldError(name, words) {
    const err = errors.get(name);
    const input = form.elements[name];
    if (!err || !input) return;
    err.textContent = words;
    err.hidden = !words;
    input.setAttribute("aria-invalid", words ? "true" : "false");
  }

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const body = {};
    for (const spec of FIELDS) {
      const v = form.elements[spec.name].value.trim();
      body[spec.name] = spec.upper ? v.toUpperCase() : v;
      fieldError(spec.name, "");
    }
    save.disabled = true;
    try {
      const data = await api("PUT", "/api/me/address", body);
      address = data && data.address ? data.address : body;
      edit(false);
      flash(msg, "Address saved.", "ok", 4000);
      render(false);
      onSaved();
    } catch (err) {
      const field = fieldOf(err);
      const spec = FIELDS.find((x) => x.name === field);
      if (spec) {
        fieldError(field, err.code === "missing_field" || !body[field] ? "Required." : `Not valid: ${spec.hint}`);
        form.elements[field].focus();
      } else {
        flash(msg, describeError(err), "error", 0);
      }
    } finally {
      save.disabled = false;
    }
  });

  return {
    node,
    load,
    get: () => address,
    edit,
    render,
    /** A sheet opened again: no message or open form of the last purchase. */
    reset() {
      flash(msg, "", "info", 0);
      form.hidden = true;
      editBtn.hidden = false;
    },
  };
}
