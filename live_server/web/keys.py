"""Typed application keys."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from live_server.container import Services

SERVICES: web.AppKey[Services] = web.AppKey("services")
SHUTTING_DOWN: web.AppKey[list[bool]] = web.AppKey("shutting_down")
