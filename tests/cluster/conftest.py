"""A 3-master Valkey Cluster (one replica each) for the session, and settings pointing at it:
the in-process apps of these tests spread their wallets over 3 slots (``money.wallet_buckets``),
so money moves between the cluster's nodes as transfers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from live_server import config
from tests.cluster_support import ValkeyCluster
from tests.conftest import make_settings


@pytest.fixture(scope="session")
def valkey_cluster() -> Iterator[ValkeyCluster]:
    cluster = ValkeyCluster(masters=3, replicas=1)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def cluster_settings(valkey_cluster: ValkeyCluster) -> Callable[..., config.Settings]:
    def factory(**sections: dict[str, Any]) -> config.Settings:
        return make_settings(valkey_cluster.url, **sections)
    return factory


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/cluster/" in str(item.fspath):
            item.add_marker(pytest.mark.cluster)


CLUSTER_WALLET_BUCKETS = 3


@pytest.fixture
def settings_factory(valkey_cluster: ValkeyCluster) -> Callable[..., config.Settings]:
    """Every in-process app of these tests (``live``, ``live_app_factory``) on the cluster,
    with its wallets over ``CLUSTER_WALLET_BUCKETS`` slots."""
    def factory(**sections: dict[str, Any]) -> config.Settings:
        money = {"wallet_buckets": CLUSTER_WALLET_BUCKETS, **sections.pop("money", {})}
        return make_settings(valkey_cluster.url, money=money, **sections)
    return factory
