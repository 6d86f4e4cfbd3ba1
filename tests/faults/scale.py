"""How big and how long a fault run is: the short one runs with every test run (a minute or two
on a small machine for the whole folder), the full one only when asked for
(``pytest tests/faults -m faults_full``: the marker is deselected in pyproject's addopts)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest


@dataclass(frozen=True)
class Scale:
    servers: int          # server processes sharing the store
    buyers: int
    grabbers: int
    chatters: int         # followers that also chat
    watchers: int         # followers that only watch
    show_s: float         # how long the clients act
    faults_at: tuple[float, ...]  # seconds into the show at which each fault strikes
    down_s: float         # how long the store stays down after each kill
    stalls_s: tuple[float, ...]  # how long each stall (CLIENT PAUSE) lasts, one per fault
    max_orders: int       # per buyer: the room's order list holds 5,000 at most
    launches: int         # red packets the creator launches at most
    pace_s: float         # between one client's actions


SHORT = Scale(servers=1, buyers=6, grabbers=6, chatters=3, watchers=2, show_s=6.0,
              faults_at=(2.0,), down_s=1.0, stalls_s=(2.0,), max_orders=200, launches=12,
              pace_s=0.05)
FULL = Scale(servers=2, buyers=20, grabbers=20, chatters=8, watchers=12, show_s=40.0,
             faults_at=(5.0, 15.0, 27.0), down_s=3.0,
             stalls_s=(2.0, 6.0, 3.0), max_orders=240, launches=80,
             pace_s=0.15)

SCALES = [pytest.param(SHORT, id="short"),
          pytest.param(FULL, id="full", marks=pytest.mark.faults_full)]
