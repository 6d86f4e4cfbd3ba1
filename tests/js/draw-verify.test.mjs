// The browser's draw check agrees with live_server/domain/draws.py: the same vectors are
// asserted by tests/unit/test_draws.py against the Python function.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash, createHmac } from "node:crypto";

import {
  checkDraw, commitment, entrantsHash, fromHex, hex, hmacSha256, pickWinners, sha256,
} from "../../static/js/draw-verify.js";

const range = (prefix, n, pad = 0) =>
  Array.from({ length: n }, (_, i) => prefix + String(i).padStart(pad, "0"));

// seed hex, entrants, wanted → commitment, entrants_hash, winners (made by the Python function)
const VECTORS = [
  ["00".repeat(32), [], 3,
    "66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925",
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", []],
  ["01".repeat(32), ["solo"], 1,
    "72cd6e8422c407fb6d098690f1130b7ded7ec2f7f5e1d30bd9d521f015363793",
    "5364f2f2fc4f54e9d47ad29cfb08ef430c8153394bf2a0dff5cbe77a0ffef861", ["solo"]],
  ["000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", ["v1", "v2", "v3"], 2,
    "630dcd2966c4336691125448bbb25b4ff412a49c732db2c8abc1b8581bd710dd",
    "3bcb3337a28a56bd6ce7fadbecbcaf7a5223841c87606d749979c3e4895a7f9a", ["v1", "v2"]],
  ["ff".repeat(32), range("u", 50), 5,
    "af9613760f72635fbdb44a5a0a63c39f12af30f950a6ee5c971be188e89c4051",
    "be18719a70dd07d72c9ed19f808848e8fa1396972e1a2c74cf353eaa619d4464",
    ["u13", "u42", "u24", "u44", "u32"]],
  ["a5".repeat(32), range("user-", 1000, 4), 10,
    "fc8b64001c5fdd0f2f40fb67dae4a865a2c5bd17836676d6d5b58b7917e33717",
    "ce6945b2ef71108d0b62d3d662efe3ab4d26c1eed261589a0f0ac5a5c54d20e2",
    ["user-0558", "user-0384", "user-0148", "user-0641", "user-0629", "user-0582", "user-0860",
      "user-0155", "user-0046", "user-0295"]],
  ["3c".repeat(32), ["b", "a", "c", "a"], 3,
    "a57f2b812eac4f4f003de73e36860f9740ddd741b3fdc56152896f06d517094a",
    "ea7fb08b7a2dc4619ffb7c7bb38d95a2047935fa165d71b12efd3852a2e6d0cc", ["c", "a", "b"]],
];

test("sha256 and HMAC agree with node's own", () => {
  for (const len of [0, 1, 55, 56, 63, 64, 65, 119, 120, 1000]) {
    const data = new Uint8Array(len).map((_, i) => (i * 7 + 3) & 255);
    assert.equal(hex(sha256(data)), createHash("sha256").update(data).digest("hex"));
    const key = data.slice(0, 32);
    assert.equal(hex(hmacSha256(key, data)),
      createHmac("sha256", key).update(data).digest("hex"));
  }
});

test("the Python vectors: commitment, entrants hash, winners", () => {
  for (const [seedHex, ids, wanted, commit, hash, winners] of VECTORS) {
    const seed = fromHex(seedHex);
    assert.equal(commitment(seed), commit);
    assert.equal(entrantsHash(ids), hash);
    assert.deepEqual(pickWinners(seed, ids, wanted), winners);
    assert.deepEqual(checkDraw({ seedHex, commitment: commit, entrants: ids, wanted,
      entrantsHash: hash, winners }), []);
  }
});

test("a changed seed, list or winner is caught", () => {
  const [seedHex, ids, wanted, commit, hash, winners] = VECTORS[3];
  const other = "fe" + seedHex.slice(2);
  assert.equal(checkDraw({ seedHex: other, commitment: commit, entrants: ids, wanted,
    entrantsHash: hash, winners }).length, 2);  // commitment and winners
  assert.match(checkDraw({ seedHex, commitment: commit, entrants: ids.slice(1), wanted,
    entrantsHash: hash, winners })[0], /hashes to/);
  assert.match(checkDraw({ seedHex, commitment: commit, entrants: ids, wanted,
    entrantsHash: hash, winners: [...winners.slice(1), "u0"] })[0], /winners recomputed/);
  assert.deepEqual(checkDraw({ seedHex: "zz", commitment: commit, entrants: ids, wanted,
    entrantsHash: hash, winners }), ["the revealed seed is not hex"]);
});
