"""The parts of redis-py's asyncio cluster pub/sub that the broker relies on beyond its public
API (``realtime/broker.py``: one reader per node). The broker reaches them through ``getattr``
so that it keeps running if they go; this test is what notices they went, when the pinned
version in pyproject.toml is moved."""

from __future__ import annotations

import inspect

from redis.asyncio.cluster import ClusterPubSub


def test_a_sharded_read_can_target_one_node() -> None:
    assert "target_node" in inspect.signature(ClusterPubSub.get_sharded_message).parameters


def test_the_round_robin_bookkeeping_the_broker_repeats_is_there() -> None:
    source = inspect.getsource(ClusterPubSub)
    assert "self._unreachable_nodes" in source  # a set of node names
    assert callable(ClusterPubSub._schedule_topology_repair)
