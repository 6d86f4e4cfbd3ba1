"""The one rule for a URL that a page shows as an image (a room's cover, a product's picture):
an http(s) URL or a path on this server. Anything else (``javascript:``, ``data:``,
``vbscript:``, a relative path) is refused where it is stored, so no page has to filter it and
no two fields drift apart. No I/O."""

from __future__ import annotations

from live_server.errors import InvalidField

IMAGE_URL_STARTS = ("https://", "http://", "/")


def check_image_url(name: str, value: str) -> str:
    """``value`` (already trimmed; empty: none) if it is an http(s) URL or a path."""
    if value and not value.startswith(IMAGE_URL_STARTS):
        raise InvalidField(f"'{name}' must be an http(s) URL or a path")
    return value
