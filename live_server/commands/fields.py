"""The fields a command takes: each kind reads one value (raising ``missing_field`` or
``invalid_field`` naming the field) and describes itself as JSON Schema for the OpenAPI
document. A bound may depend on the deployment (``Settings``): the same callable then bounds
the check and the document.

Text from a URL (query string, path) is converted by :meth:`Field.from_text` first, so a path
``seq`` or a query ``limit`` is checked by the same rule as the JSON value.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import Any

from live_server.config import Settings
from live_server.domain.shelf import is_product_id
from live_server.errors import InvalidField, MissingField
from live_server.protocol import MAX_SEQ, Json, is_safe_id

Bound = int | Callable[[Settings], int]
ABSENT: Any = object()  # an optional field that was not sent and has no default


def bound(value: Bound, settings: Settings) -> int:
    return value(settings) if callable(value) else value


@dataclasses.dataclass(frozen=True, slots=True)
class Field:
    """One named value of a command. ``required`` fields answer ``missing_field`` when absent,
    for every command (one rule, so a client handles it once); optional ones take ``default``,
    or are left out of the arguments when there is none."""

    name: str
    doc: str = ""
    required: bool = True
    default: Any = ABSENT
    nullable: bool = False

    def read(self, msg: Json, settings: Settings) -> Any:
        if self.name not in msg:
            if self.required:
                raise MissingField(f"'{self.name}' is required")
            return self.default(settings) if callable(self.default) else self.default
        value = msg[self.name]
        if value is None and self.nullable:
            return None
        return self.check(value, settings)

    def check(self, value: Any, settings: Settings) -> Any:
        raise NotImplementedError

    def from_text(self, raw: str) -> Any:
        """A value given in a URL (always a string) as its JSON counterpart."""
        return raw

    def schema(self, settings: Settings) -> Json:
        out = self.type_schema(settings)
        if self.nullable:
            out["type"] = [out["type"], "null"]
        if self.doc:
            out["description"] = self.doc
        if self.default is not ABSENT:
            out["default"] = self.default(settings) if callable(self.default) else self.default
        return out

    def type_schema(self, settings: Settings) -> Json:
        raise NotImplementedError

    def invalid(self, why: str) -> InvalidField:
        return InvalidField(f"'{self.name}' {why}")


_UNSIGNED = re.compile(r"[0-9]{1,20}")
_SIGNED = re.compile(r"-?[0-9]{1,20}")


@dataclasses.dataclass(frozen=True, slots=True)
class Integer(Field):
    lo: Bound = 0
    hi: Bound = MAX_SEQ

    def check(self, value: Any, settings: Settings) -> Any:
        if value is None:  # an integer sent as null counts as not sent
            return self.read({}, settings)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.invalid("must be an integer")
        lo, hi = bound(self.lo, settings), bound(self.hi, settings)
        if not lo <= value <= hi:
            raise self.invalid(f"must be between {lo} and {hi}")
        return value

    def from_text(self, raw: str) -> Any:
        """ASCII digits only, with a '-' only where the bound allows negatives: ``str.isdigit``
        and ``int`` also take spaces and other scripts' digits, and ``isdigit`` passes "²",
        which ``int`` then refuses with a ValueError (an internal error for a guest's query)."""
        signed = callable(self.lo) or self.lo < 0
        if not (_SIGNED if signed else _UNSIGNED).fullmatch(raw):
            return raw  # check() refuses it: not an integer
        return int(raw)

    def type_schema(self, settings: Settings) -> Json:
        return {"type": "integer", "minimum": bound(self.lo, settings),
                "maximum": bound(self.hi, settings)}


@dataclasses.dataclass(frozen=True, slots=True)
class Boolean(Field):
    def check(self, value: Any, settings: Settings) -> bool:
        if not isinstance(value, bool):
            raise self.invalid("must be true or false")
        return value

    def from_text(self, raw: str) -> Any:
        return {"true": True, "1": True, "false": False, "0": False}.get(raw, raw)

    def type_schema(self, settings: Settings) -> Json:
        return {"type": "boolean"}


@dataclasses.dataclass(frozen=True, slots=True)
class Text(Field):
    """A string, trimmed unless ``trim`` is off (chat text keeps its spaces for the chat rules),
    its length checked after trimming."""

    max_len: Bound = 200
    min_len: int = 0
    trim: bool = True
    pattern: str | None = None

    def check(self, value: Any, settings: Settings) -> str:
        if not isinstance(value, str):
            raise self.invalid("must be a string")
        text = value.strip() if self.trim else value
        hi = bound(self.max_len, settings)
        if len(text) > hi:
            raise self.invalid(f"is longer than {hi} characters")
        if len(text) < self.min_len:
            raise self.invalid(f"must be {self.min_len}-{hi} characters")
        if self.pattern is not None and not re.fullmatch(self.pattern, text):
            raise self.invalid(f"must match {self.pattern}")
        return text

    def type_schema(self, settings: Settings) -> Json:
        out: Json = {"type": "string", "maxLength": bound(self.max_len, settings)}
        if self.min_len:
            out["minLength"] = self.min_len
        if self.pattern is not None:
            out["pattern"] = f"^{self.pattern}$"
        return out


@dataclasses.dataclass(frozen=True, slots=True)
class Choice(Field):
    choices: tuple[str, ...] = ()

    def check(self, value: Any, settings: Settings) -> str:
        if value not in self.choices:
            raise self.invalid(f"must be {' or '.join(self.choices)}")
        return str(value)

    def type_schema(self, settings: Settings) -> Json:
        return {"type": "string", "enum": list(self.choices)}


SAFE_ID = r"[A-Za-z0-9_.@-]{1,64}"


@dataclasses.dataclass(frozen=True, slots=True)
class SafeId(Field):
    """A user id or an idempotency key: 1-64 letters, digits, ``_ - . @``."""

    def check(self, value: Any, settings: Settings) -> str:
        if not isinstance(value, str) or not is_safe_id(value):
            raise self.invalid("must be 1-64 characters of letters, digits, '_', '-', '.', '@'")
        return value

    def type_schema(self, settings: Settings) -> Json:
        return {"type": "string", "pattern": f"^{SAFE_ID}$"}


@dataclasses.dataclass(frozen=True, slots=True)
class ProductId(Field):
    def check(self, value: Any, settings: Settings) -> str:
        if not isinstance(value, str) or not is_product_id(value):
            raise self.invalid("must be a product id")
        return value

    def type_schema(self, settings: Settings) -> Json:
        return {"type": "string", "pattern": "^p_[A-Za-z0-9_-]{1,38}$"}


@dataclasses.dataclass(frozen=True, slots=True)
class ListOf(Field):
    """A JSON array whose every item the ``item`` field accepts (the item's own name is used
    in its errors)."""

    item: Field = dataclasses.field(default_factory=lambda: Text("item"))
    max_items: Bound = 10_000

    def check(self, value: Any, settings: Settings) -> list[Any]:
        hi = bound(self.max_items, settings)
        if not isinstance(value, list) or len(value) > hi:
            raise self.invalid(f"must be a list of at most {hi} items")
        return [self.item.check(v, settings) for v in value]

    def type_schema(self, settings: Settings) -> Json:
        return {"type": "array", "items": self.item.type_schema(settings),
                "maxItems": bound(self.max_items, settings)}
