"""Work that follows an action the store has already committed: a chat message's intimacy and
keyword-packet eligibility, a grab's intimacy and "finished" notice, a purchase's index entries,
a fan-club join's intimacy, a paid order's listeners (intimacy, an auction's clock).

One policy everywhere: the step runs once, right after the commit; if it fails, the failure is
counted (``live_after_commit_failures_total{step}``) and logged (rate limited by
``live_server.logs``), and the accepted action is still answered as accepted. An error reply
there would tell the client its chat, purchase, grab, join or payment did not happen, and invite
it to do it again, when it did.
What a failed step loses is bookkeeping (a few intimacy points, a notice), or is kept for a
retry by its owner (a purchase's index entries: ``ShelfStore.unindexed``)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


class AfterCommit:
    def __init__(self, on_failure: Callable[[str], None] | None = None) -> None:
        self.on_failure = on_failure

    async def run(self, step: str, work: Awaitable[object]) -> bool:
        """Run ``work``; False (counted and logged) when it failed."""
        try:
            await work
        except Exception:
            if self.on_failure is not None:
                self.on_failure(step)
            log.warning("after-commit step %s failed; the action stands", step, exc_info=True)
            return False
        return True
