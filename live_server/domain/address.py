"""A buyer's shipping address: its fields and their validation. No I/O.

The address is printed on a parcel by the creator (or ops) fulfilling an order, so every field
is bounded and free of control characters, and an error names the field without repeating the
value (an address is personal data: it must not travel into error logs or client reports).
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata

from live_server.errors import InvalidField, MissingField
from live_server.protocol import Json


@dataclasses.dataclass(frozen=True, slots=True)
class Rule:
    """One field: its length bounds (after trimming) and, for the codes, the characters it
    takes."""

    name: str
    min_len: int
    max_len: int
    pattern: str | None = None
    says: str = ""  # what the pattern means, for the error

    @property
    def required(self) -> bool:
        return self.min_len > 0


PHONE_DIGITS_MIN = 5
RULES = (
    Rule("name", 1, 60),
    Rule("phone", 6, 20, r"[0-9 +()\-]+", "digits, spaces, '+', '-', '(' and ')'"),
    Rule("country", 2, 2, r"[A-Z]{2}", "an ISO 3166 alpha-2 code (two upper-case letters)"),
    Rule("region", 0, 60),
    Rule("city", 1, 60),
    Rule("line1", 1, 120),
    Rule("line2", 0, 120),
    Rule("postal_code", 0, 16, r"[A-Za-z0-9 \-]*", "letters, digits, spaces and '-'"),
)
FIELDS = tuple(r.name for r in RULES)


def parse_address(body: Json) -> Json:
    """The address from a request body: every field trimmed and checked, optional ones ``""``
    when absent. Unknown fields are refused."""
    unknown = set(body) - set(FIELDS)
    if unknown:
        raise InvalidField(f"unknown field '{sorted(unknown)[0][:40]}'")
    return {rule.name: _field(body, rule) for rule in RULES}


def _field(body: Json, rule: Rule) -> str:
    value = body.get(rule.name)
    if value is None:
        if rule.required:
            raise MissingField(f"'{rule.name}' is required")
        return ""
    if not isinstance(value, str):
        raise InvalidField(f"'{rule.name}' must be a string")
    text = value.strip()
    if not rule.min_len <= len(text) <= rule.max_len:
        raise InvalidField(f"'{rule.name}' must be {rule.min_len}-{rule.max_len} characters")
    if any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in text):
        raise InvalidField(f"'{rule.name}' must not hold control characters or line breaks")
    if rule.pattern is not None and not re.fullmatch(rule.pattern, text):
        raise InvalidField(f"'{rule.name}' must be {rule.says}")
    if rule.name == "phone" and sum(c.isdigit() for c in text) < PHONE_DIGITS_MIN:
        raise InvalidField(f"'phone' must hold at least {PHONE_DIGITS_MIN} digits")
    return text
