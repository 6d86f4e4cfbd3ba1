"""The security headers every answer carries, and the pages' Content-Security-Policy.

The policy is sent as a response header rather than a ``<meta>`` in each page: one copy
instead of one per page that drifts, and ``frame-ancestors`` (the defence against a page being
framed and clicked through, clickjacking) is only obeyed in a header. ``X-Frame-Options``
says the same to browsers that predate ``frame-ancestors``.
"""

from __future__ import annotations

from aiohttp import web

# Every page (watch, studio, ops, shows, the landing page, and the same files under /static/).
# No inline script or style anywhere, so ``'self'`` is the whole allow-list; Trusted Types make
# an assignment to ``innerHTML`` and the like an error, so user text can only go in through
# ``textContent``. ``connect-src`` also lists http(s) and ws(s): WHEP is redirected to the
# room's media home, which may be another machine; ``media-src blob:`` is hls.js's source.
PAGE_CSP = "; ".join((
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data: https: http:",
    "media-src 'self' blob:",
    "connect-src 'self' ws: wss: http: https:",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
    "require-trusted-types-for 'script'",
))

ALWAYS = {
    "X-Content-Type-Options": "nosniff",  # a file is only ever what its Content-Type says
    "Referrer-Policy": "same-origin",  # a room's URL is not told to the sites it links to
    "X-Frame-Options": "DENY",  # no page, studio and ops above all, is framed by anyone
}


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: runs for every answer, the static files' and the error
    middleware's included. A handler that set its own policy keeps it (the API's Redoc page
    needs inline styles and a blob: worker, which pages do not get)."""
    for name, value in ALWAYS.items():
        response.headers.setdefault(name, value)
    if response.content_type == "text/html":
        response.headers.setdefault("Content-Security-Policy", PAGE_CSP)
