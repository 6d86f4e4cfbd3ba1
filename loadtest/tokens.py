"""Tokens for simulated users, as the public protocol defines them (JWT HS256).

The generator mints its own tokens from the server's secret so that ten thousand viewers are ten
thousand distinct users (distinct rate-limit buckets, unique-viewer counts) without any HTTP
round trip; or it reads ready-made tokens from a file when the secret is not at hand.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import jwt

DEV_SECRET = "live-server-dev-secret-not-for-production"
#: Tokens live long enough for any bounded run.
TOKEN_TTL_S = 6 * 3600


def default_secret() -> str:
    """`LIVE_SECRET` (or the server's `LIVE_AUTH_SECRET`), else the development default."""
    return os.environ.get("LIVE_SECRET") or os.environ.get("LIVE_AUTH_SECRET") or DEV_SECRET


def mint(secret: str, user: str, role: str = "viewer", name: str | None = None) -> str:
    """One HS256 token with the claims the protocol lists: sub, name, role, iat, exp."""
    now = int(time.time())
    claims = {"sub": user, "name": name or user, "role": role, "iat": now, "exp": now + TOKEN_TTL_S}
    return jwt.encode(claims, secret, algorithm="HS256")


CREATOR = "lt-creator"


def creator_token(secret: str, user: str = CREATOR) -> str:
    """The token of the load test's creator (`lt-creator` unless `--creator` names another),
    who owns the rooms it makes and everything staged in them (products, sales, red
    packets)."""
    return mint(secret, user, "creator")


@dataclass(frozen=True)
class TokenSource:
    """Where viewer tokens come from: minted from `secret`, or lines of a file used in turn."""

    secret: str
    file_tokens: tuple[str, ...] = ()
    user_prefix: str = "lt"

    @classmethod
    def from_file(cls, path: Path, secret: str, user_prefix: str = "lt") -> TokenSource:
        lines = [ln.strip() for ln in path.read_text().splitlines()]
        tokens = tuple(ln for ln in lines if ln and not ln.startswith("#"))
        if not tokens:
            raise ValueError(f"{path}: no tokens")
        return cls(secret=secret, file_tokens=tokens, user_prefix=user_prefix)

    def viewer(self, index: int) -> str:
        """The token of simulated viewer `index` (stable across processes)."""
        if self.file_tokens:
            return self.file_tokens[index % len(self.file_tokens)]
        return mint(self.secret, f"{self.user_prefix}-v{index}", "viewer")
