"""Security headers as a browser receives them: every page carries one Content-Security-Policy
header (Trusted Types, no framing), X-Frame-Options DENY, nosniff and a same-origin referrer
policy; no page repeats the policy in a ``<meta>``; the API's Redoc page keeps its own."""

from __future__ import annotations

import re

import pytest

from live_server.web.misc import STATIC_DIR
from tests.conftest import LiveApp

PAGES = ["/", "/watch/r-headers", "/studio", "/shows", "/ops", "/static/watch.html",
         "/static/ops.html"]
CSP_META = re.compile(r"<meta[^>]+http-equiv\s*=\s*[\"']?content-security-policy", re.I)


@pytest.mark.parametrize("path", PAGES)
async def test_every_page_sends_one_policy_header_and_refuses_framing(live: LiveApp,
                                                                      path: str) -> None:
    async with live.client.get(path) as resp:
        assert resp.status == 200 and resp.content_type == "text/html"
        page = await resp.text()
        policies = resp.headers.getall("Content-Security-Policy")
        frames = resp.headers.getall("X-Frame-Options")
        sniff = resp.headers.get("X-Content-Type-Options")
        referrer = resp.headers.get("Referrer-Policy")
    assert len(policies) == 1
    policy = policies[0]
    assert "require-trusted-types-for 'script'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "script-src 'self';" in policy and "object-src 'none'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert frames == ["DENY"]
    assert sniff == "nosniff" and referrer == "same-origin"
    assert not CSP_META.search(page)


def test_no_page_file_carries_a_policy_meta_tag() -> None:
    pages = sorted(STATIC_DIR.glob("*.html"))
    assert pages
    for page in pages:
        assert not CSP_META.search(page.read_text()), page.name


async def test_api_answers_and_scripts_are_not_sniffed(live: LiveApp) -> None:
    for path in ("/healthz", "/static/js/room-socket.js", "/api/rooms/nope"):
        async with live.client.get(path) as resp:
            assert resp.headers.get("X-Content-Type-Options") == "nosniff", path
            assert resp.headers.get("Referrer-Policy") == "same-origin", path
            assert resp.headers.getall("X-Frame-Options") == ["DENY"], path
            assert "Content-Security-Policy" not in resp.headers, path  # not a page


async def test_api_docs_keep_their_own_single_policy(live: LiveApp) -> None:
    async with live.client.get("/api/docs") as resp:
        assert resp.status == 200
        policies = resp.headers.getall("Content-Security-Policy")
        frames = resp.headers.getall("X-Frame-Options")
    assert len(policies) == 1
    assert "style-src 'self' 'unsafe-inline'" in policies[0]  # Redoc's styled-components
    assert "frame-ancestors 'none'" in policies[0]
    assert frames == ["DENY"]
