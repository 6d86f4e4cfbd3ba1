// A lucky draw checked in the browser: the same rule as live_server/domain/draws.py, line by
// line, so a viewer need not trust the server (its docstring states the rule). Pure and
// synchronous: SHA-256 and HMAC are written here (WebCrypto is async and missing outside
// secure contexts). tests/js/draw-verify.test.mjs checks it against vectors made by Python.

const K = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

/** SHA-256 of bytes (Uint8Array) → 32 bytes. */
export function sha256(bytes) {
  const h = new Uint32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
    0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);
  const padded = new Uint8Array(((bytes.length + 9 + 63) >> 6) << 6);
  padded.set(bytes);
  padded[bytes.length] = 0x80;
  const view = new DataView(padded.buffer);
  view.setUint32(padded.length - 8, Math.floor(bytes.length / 0x20000000));
  view.setUint32(padded.length - 4, (bytes.length * 8) >>> 0);
  const w = new Uint32Array(64);
  const rotr = (x, n) => (x >>> n) | (x << (32 - n));
  for (let off = 0; off < padded.length; off += 64) {
    for (let i = 0; i < 16; i++) w[i] = view.getUint32(off + i * 4);
    for (let i = 16; i < 64; i++) {
      const s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >>> 3);
      const s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >>> 10);
      w[i] = (w[i - 16] + s0 + w[i - 7] + s1) >>> 0;
    }
    let [a, b, c, d, e, f, g, k] = h;
    for (let i = 0; i < 64; i++) {
      const t1 = (k + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K[i]
        + w[i]) >>> 0;
      const t2 = ((rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) >>> 0;
      k = g; g = f; f = e; e = (d + t1) >>> 0; d = c; c = b; b = a; a = (t1 + t2) >>> 0;
    }
    [a, b, c, d, e, f, g, k].forEach((v, i) => { h[i] = (h[i] + v) >>> 0; });
  }
  const out = new Uint8Array(32);
  const outView = new DataView(out.buffer);
  h.forEach((v, i) => outView.setUint32(i * 4, v));
  return out;
}

/** HMAC-SHA256(key, msg), both Uint8Array (a key of at most 64 bytes, as the seed is). */
export function hmacSha256(key, msg) {
  const block = new Uint8Array(64);
  block.set(key.length > 64 ? sha256(key) : key);
  const inner = new Uint8Array(64 + msg.length);
  const outer = new Uint8Array(64 + 32);
  for (let i = 0; i < 64; i++) {
    inner[i] = block[i] ^ 0x36;
    outer[i] = block[i] ^ 0x5c;
  }
  inner.set(msg, 64);
  outer.set(sha256(inner), 64);
  return sha256(outer);
}

export const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

export function fromHex(text) {
  if (!/^([0-9a-f]{2})*$/i.test(text)) throw new Error("not hex");
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.substr(i * 2, 2), 16);
  return out;
}

const utf8 = (text) => new TextEncoder().encode(text);
// user ids are ASCII: sorting by UTF-16 code unit is sorting by code point, as Python does
const sortedUnique = (ids) => [...new Set(ids)].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));

export const commitment = (seed) => hex(sha256(seed));

export const entrantsHash = (ids) => hex(sha256(utf8(sortedUnique(ids).join("\n"))));

const SPACE = 1n << 256n;

/** The winners in draw order: a partial Fisher–Yates over the sorted entrants, driven by
 * HMAC-SHA256(seed, entrants_hash || counter) with rejection sampling. */
export function pickWinners(seed, ids, wanted) {
  const pool = sortedUnique(ids);
  const prefix = fromHex(entrantsHash(pool));
  let counter = 0n;
  const next = () => {
    const msg = new Uint8Array(prefix.length + 8);
    msg.set(prefix);
    new DataView(msg.buffer).setBigUint64(prefix.length, counter);
    counter += 1n;
    return BigInt("0x" + hex(hmacSha256(seed, msg)));
  };
  const below = (n) => {
    const big = BigInt(n);
    const limit = SPACE - (SPACE % big);
    for (;;) {
      const x = next();
      if (x < limit) return Number(x % big);
    }
  };
  const k = Math.min(Math.max(wanted, 0), pool.length);
  for (let i = 0; i < k; i++) {
    const j = i + below(pool.length - i);
    [pool[i], pool[j]] = [pool[j], pool[i]];
  }
  return pool.slice(0, k);
}

/** What differs between a published result and its recomputation ([]: it checks out). */
export function checkDraw({ seedHex, commitment: published, entrants, wanted, entrantsHash: hash,
  winners }) {
  let seed;
  try {
    seed = fromHex(seedHex);
  } catch {
    return ["the revealed seed is not hex"];
  }
  const problems = [];
  if (commitment(seed) !== published) {
    problems.push(`sha256(seed) is ${commitment(seed)}, the commitment was ${published}`);
  }
  const got = entrantsHash(entrants);
  if (got !== hash) problems.push(`the entrant list hashes to ${got}, the draw says ${hash}`);
  const again = pickWinners(seed, entrants, wanted);
  if (again.join("\n") !== winners.join("\n")) {
    problems.push(`the winners recomputed are ${again.join(", ")}, the draw says ${winners.join(", ")}`);
  }
  return problems;
}
