"""Chat rules: text normalisation, the keyword filter, moderation inputs. No I/O."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from functools import lru_cache

from live_server.errors import InvalidField, KeywordBlocked, MessageEmpty, MessageTooLong

MAX_MUTE_S = 30 * 86400
MAX_SLOW_MODE_S = 3600
MAX_KEYWORD_LEN = 50


def normalise_text(text: str, max_length: int) -> str:
    """Trim, drop control characters (they break rendering and logs), check the length."""
    cleaned = "".join(ch for ch in text if ch >= " " or ch == "\n").strip()
    if not cleaned:
        raise MessageEmpty("message is empty")
    if len(cleaned) > max_length:
        raise MessageTooLong(f"message is longer than {max_length} characters")
    return cleaned


@dataclasses.dataclass(frozen=True, slots=True)
class FilterResult:
    text: str
    masked: bool


@lru_cache(maxsize=1024)
def _pattern(words: frozenset[str]) -> re.Pattern[str] | None:
    usable = sorted((w for w in words if w), key=len, reverse=True)
    if not usable:
        return None
    return re.compile("|".join(re.escape(w) for w in usable), re.IGNORECASE)


def apply_keywords(text: str, words: frozenset[str], action: str) -> FilterResult:
    """Mask every hit with '*' (one per character) or refuse the message, as the room chose."""
    pattern = _pattern(words)
    if pattern is None or not pattern.search(text):
        return FilterResult(text, False)
    if action == "block":
        raise KeywordBlocked("message contains a blocked word")
    return FilterResult(pattern.sub(lambda m: "*" * len(m.group(0)), text), True)


def parse_keywords(words: object, max_count: int) -> list[str]:
    if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
        raise InvalidField("'words' must be a list of strings")
    cleaned: list[str] = []
    seen: set[str] = set()
    for word in words:
        w = word.strip().lower()
        if not w:
            continue
        if len(w) > MAX_KEYWORD_LEN:
            raise InvalidField(f"keywords are at most {MAX_KEYWORD_LEN} characters")
        if w not in seen:
            seen.add(w)
            cleaned.append(w)
    if len(cleaned) > max_count:
        raise InvalidField(f"at most {max_count} keywords")
    return cleaned


def keyword_set(words: Iterable[str]) -> frozenset[str]:
    return frozenset(w.lower() for w in words if w)


def parse_action(value: object) -> str:
    if value not in ("mask", "block"):
        raise InvalidField("'action' must be 'mask' or 'block'")
    return str(value)
