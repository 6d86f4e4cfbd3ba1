"""``live-server verify-draw <draw id> [--url http://host:port]``: check a drawn lucky draw from
what the server published, with nothing but HTTP and ``domain/draws.py``.

It reads the draw (``GET /api/draws/{id}``: the commitment, and once drawn the revealed seed,
the entrants' hash and the winners) and its entrant list (``GET /api/draws/{id}/entrants``),
then checks that ``sha256(seed)`` is the commitment, that the list hashes to the published
hash, and that the winners are what the documented function gives. It prints ``OK`` or each
difference, and exits 0 or 1 (2: the draw could not be read or is not drawn yet).
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, TextIO

from live_server.domain.draws import check

DEFAULT_URL = "http://127.0.0.1:8080"


def fetch(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as answer:  # the scheme is checked first
        return json.loads(answer.read())


def verify(draw_id: str, base_url: str = DEFAULT_URL, out: TextIO = sys.stdout) -> int:
    base = base_url.rstrip("/")
    if urllib.parse.urlsplit(base).scheme not in ("http", "https"):
        print(f"--url must be http or https, not {base}", file=out)
        return 2
    quoted = urllib.parse.quote(draw_id, safe="")
    try:
        draw = fetch(f"{base}/api/draws/{quoted}")
        if draw.get("state") != "drawn" or not draw.get("result"):
            print(f"draw {draw_id} is not drawn yet (state {draw.get('state')}): the seed is "
                  "revealed at the draw", file=out)
            return 2
        listed = fetch(f"{base}/api/draws/{quoted}/entrants")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        print(f"cannot read draw {draw_id} from {base}: {exc}", file=out)
        return 2
    result = draw["result"]
    problems = check(result["seed"], draw["commitment"], list(listed["entrants"]),
                     int(draw["winners"]), result["entrants_hash"], list(result["winners"]))
    if result.get("entrant_count") != len(listed["entrants"]):
        problems.append(f"the draw says {result.get('entrant_count')} entrants, the list has "
                        f"{len(listed['entrants'])}")
    if problems:
        for line in problems:
            print(f"DIFFERS {line}", file=out)
        return 1
    print(f"OK draw {draw_id}: sha256(seed) is the commitment {draw['commitment']}, "
          f"{len(listed['entrants'])} entrants hash to {result['entrants_hash']}, winners "
          f"{', '.join(result['winners']) or '(none)'}", file=out)
    return 0
