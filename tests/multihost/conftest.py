"""The hosts of the multi-host tests: network namespaces on a bridge, made and removed here."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

from tests.multihost.hosts import NEEDS, Hosts
from tests.netns_support import NamespaceError

HOSTS = 3


@pytest.fixture
def hosts() -> Iterator[Hosts]:
    if os.geteuid() != 0 or shutil.which("ip") is None or shutil.which("haproxy") is None:
        pytest.fail(NEEDS)
    made = Hosts(HOSTS)
    try:
        made.create()
    except NamespaceError as exc:
        pytest.fail(f"{NEEDS}: {exc}")
    try:
        yield made
    finally:
        made.remove()
