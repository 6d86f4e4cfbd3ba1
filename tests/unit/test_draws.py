"""The lucky draw's rule (domain/draws.py): the vectors the browser's port is also checked
against (tests/js/draw-verify.test.mjs), the properties a viewer relies on, and its speed at
50,000 entrants."""

from __future__ import annotations

import hashlib
import time
from collections import Counter

from live_server.domain.draws import (
    _Blocks,
    check,
    commitment,
    entrants_hash,
    new_seed,
    pick_winners,
)


def _range(prefix: str, n: int, pad: int = 0) -> list[str]:
    return [f"{prefix}{str(i).zfill(pad)}" for i in range(n)]


# seed hex, entrants, wanted → commitment, entrants_hash, winners (shared with the JS test)
VECTORS = [
    ("00" * 32, [], 3,
     "66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925",
     "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", []),
    ("01" * 32, ["solo"], 1,
     "72cd6e8422c407fb6d098690f1130b7ded7ec2f7f5e1d30bd9d521f015363793",
     "5364f2f2fc4f54e9d47ad29cfb08ef430c8153394bf2a0dff5cbe77a0ffef861", ["solo"]),
    ("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", ["v1", "v2", "v3"], 2,
     "630dcd2966c4336691125448bbb25b4ff412a49c732db2c8abc1b8581bd710dd",
     "3bcb3337a28a56bd6ce7fadbecbcaf7a5223841c87606d749979c3e4895a7f9a", ["v1", "v2"]),
    ("ff" * 32, _range("u", 50), 5,
     "af9613760f72635fbdb44a5a0a63c39f12af30f950a6ee5c971be188e89c4051",
     "be18719a70dd07d72c9ed19f808848e8fa1396972e1a2c74cf353eaa619d4464",
     ["u13", "u42", "u24", "u44", "u32"]),
    ("a5" * 32, _range("user-", 1000, 4), 10,
     "fc8b64001c5fdd0f2f40fb67dae4a865a2c5bd17836676d6d5b58b7917e33717",
     "ce6945b2ef71108d0b62d3d662efe3ab4d26c1eed261589a0f0ac5a5c54d20e2",
     ["user-0558", "user-0384", "user-0148", "user-0641", "user-0629", "user-0582",
      "user-0860", "user-0155", "user-0046", "user-0295"]),
    ("3c" * 32, ["b", "a", "c", "a"], 3,
     "a57f2b812eac4f4f003de73e36860f9740ddd741b3fdc56152896f06d517094a",
     "ea7fb08b7a2dc4619ffb7c7bb38d95a2047935fa165d71b12efd3852a2e6d0cc", ["c", "a", "b"]),
]


def test_vectors() -> None:
    for seed_hex, ids, wanted, commit, hashed, winners in VECTORS:
        seed = bytes.fromhex(seed_hex)
        assert commitment(seed) == commit
        assert entrants_hash(ids) == hashed
        assert pick_winners(seed, ids, wanted) == winners
        assert check(seed_hex, commit, ids, wanted, hashed, winners) == []


def test_the_hash_is_of_the_sorted_list_joined_by_newlines() -> None:
    assert entrants_hash(["b", "a"]) == hashlib.sha256(b"a\nb").hexdigest()
    assert entrants_hash([]) == hashlib.sha256(b"").hexdigest()


def test_winners_are_distinct_entrants_and_ignore_the_input_order() -> None:
    seed = new_seed()
    ids = _range("x", 200)
    winners = pick_winners(seed, ids, 20)
    assert len(winners) == len(set(winners)) == 20 and set(winners) <= set(ids)
    assert pick_winners(seed, list(reversed(ids)), 20) == winners
    assert sorted(pick_winners(seed, ids, 500)) == sorted(ids)
    assert pick_winners(seed, ids, 0) == []


def test_a_tampered_result_is_caught() -> None:
    seed_hex, ids, wanted, commit, hashed, winners = VECTORS[3]
    assert len(check("fe" + seed_hex[2:], commit, ids, wanted, hashed, winners)) == 2
    assert "hashes to" in check(seed_hex, commit, ids[1:], wanted, hashed, winners)[0]
    assert "winners" in check(seed_hex, commit, ids, wanted, hashed, winners[::-1])[0]
    assert check("nothex", commit, ids, wanted, hashed, winners) == [
        "the revealed seed is not hex"]


def test_below_is_uniform_and_rejects_the_biased_tail() -> None:
    blocks = _Blocks(b"k" * 32, "00" * 32)
    counts = Counter(blocks.below(3) for _ in range(3000))
    assert set(counts) == {0, 1, 2} and min(counts.values()) > 900
    # n just above 2**255: about half the blocks fall in the tail and must be drawn again
    n = (1 << 255) + 1
    blocks = _Blocks(b"k" * 32, "00" * 32)
    for _ in range(50):
        assert 0 <= blocks.below(n) < n
    assert blocks.counter > 60  # some blocks were rejected


def test_fifty_thousand_entrants_draw_in_well_under_a_second() -> None:
    ids = [f"viewer-{i:06d}" for i in range(50_000)]
    start = time.perf_counter()
    winners = pick_winners(new_seed(), ids, 1000)
    took = time.perf_counter() - start
    assert len(set(winners)) == 1000
    assert took < 1.0, took
