"""Failover on the cluster: the client library moving a room's channel by itself, and a master
SIGKILLed in the middle of a show."""

from __future__ import annotations

from tests.integration.test_pubsub_resubscribed import (
    test_an_event_missed_while_subscribed_again_reaches_the_viewer,
)

__all__ = ["test_an_event_missed_while_subscribed_again_reaches_the_viewer"]
