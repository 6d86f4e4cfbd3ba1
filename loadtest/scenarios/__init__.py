"""The scenario registry: one module per scenario, looked up by name.

Why a registry: the command line, `compare` and `check` all find scenarios here, so a new one
(flash sale, red packet storm, WebRTC viewers) is one module that registers itself plus one line
in BUILTIN, and it gets the same options, report and budgets machinery.
"""

from __future__ import annotations

import importlib

from loadtest.scenarios.base import Scenario

SCENARIOS: dict[str, type[Scenario]] = {}

#: Modules imported to fill the registry (in this order on the command line).
BUILTIN = (
    "loadtest.scenarios.join_storm",
    "loadtest.scenarios.chat",
    "loadtest.scenarios.huge_room",
    "loadtest.scenarios.hearts",
    "loadtest.scenarios.show",
    "loadtest.scenarios.flash_sale",
    "loadtest.scenarios.red_packet",
    "loadtest.scenarios.auction",
    "loadtest.scenarios.lucky_draw",
    "loadtest.scenarios.gifts",
    "loadtest.scenarios.reminders",
    "loadtest.scenarios.webrtc",
    "loadtest.scenarios.latency",
    "loadtest.scenarios.hls",
)


def register(cls: type[Scenario]) -> type[Scenario]:
    """Class decorator: make `cls` available under `cls.name`."""
    SCENARIOS[cls.name] = cls
    return cls


def load_all() -> dict[str, type[Scenario]]:
    for mod in BUILTIN:
        importlib.import_module(mod)
    return SCENARIOS


__all__ = ["SCENARIOS", "Scenario", "load_all", "register"]
