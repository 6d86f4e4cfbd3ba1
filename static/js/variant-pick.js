// Choosing a variant from its options, without the DOM: which variant the buyer's choices
// name, which option values can still be picked, and what a tap on a value selects. Variants
// are the `product` view's: {id, options: {name: value}, price, left, image_url}.

/** Units left of a variant (0 when not said). */
export function unitsLeft(variant) {
  const n = Number(variant && variant.left);
  return Number.isFinite(n) ? n : 0;
}

/** True when the variant has every chosen value. */
export function matches(variant, selected) {
  const opts = variant.options || {};
  return Object.entries(selected).every(([k, val]) => opts[k] === val);
}

/** The variant the choices name; the only one when there is one; null while incomplete. */
export function chosenVariant(options, variants, selected) {
  if (variants.length === 1) return variants[0];
  if (options.some((o) => !(o.name in selected))) return null;
  return variants.find((v) => matches(v, selected)) || null;
}

/**
 * A value of an option: {soldOut} when no variant with it has units left (its button is
 * disabled), {here} whether it has units beside the other choices (a tap may change those).
 */
export function valueState(variants, selected, name, value) {
  const others = Object.fromEntries(Object.entries(selected).filter(([k]) => k !== name));
  const withIt = variants.filter((v) => (v.options || {})[name] === value);
  return {
    soldOut: withIt.every((v) => unitsLeft(v) <= 0),
    here: withIt.some((v) => matches(v, others) && unitsLeft(v) > 0),
  };
}

/**
 * The choices after a tap on a value: with the other choices when that variant has units left,
 * else the tapped value with the other values of a variant that has units (or exists).
 */
export function pick(variants, selected, name, value) {
  const next = { ...selected, [name]: value };
  const withIt = variants.filter((v) => (v.options || {})[name] === value);
  const same = withIt.find((v) => matches(v, next));
  if (same && unitsLeft(same) > 0) return next;
  const other = withIt.find((v) => unitsLeft(v) > 0) || same || withIt[0];
  return other ? { ...other.options } : next;
}

/** The first choice: the given variant id (a flash sale's) when it has units, else the first with units. */
export function firstChoice(variants, preferredId = null) {
  const preferred = preferredId && variants.find((v) => v.id === preferredId && unitsLeft(v) > 0);
  const first = preferred || variants.find((v) => unitsLeft(v) > 0) || variants[0];
  return first ? { ...(first.options || {}) } : {};
}
