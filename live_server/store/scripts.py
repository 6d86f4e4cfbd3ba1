"""Lua scripts: one file each under ``lua/``, with ``_lib.lua`` prepended, registered once.

Ahead of ``_lib.lua`` goes one line naming the publish command (``PUBLISH_CMD``): ``PUBLISH`` on
one node, ``SPUBLISH`` on a cluster, where a script may publish only to a channel of its own
slot. The two variants are different scripts (different SHAs), so one server never runs the
other's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterPipeline, RedisCluster
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

LUA_DIR = Path(__file__).resolve().parent / "lua"


PUBLISH_COMMANDS = ("PUBLISH", "SPUBLISH")


def load_source(name: str, publish: str = "PUBLISH") -> str:
    if publish not in PUBLISH_COMMANDS:
        raise ValueError(f"unknown publish command {publish!r}")
    lib = (LUA_DIR / "_lib.lua").read_text()
    head = f"local PUBLISH_CMD = '{publish}'\n"
    return head + lib + "\n" + (LUA_DIR / f"{name}.lua").read_text()


class Scripts:
    """Every script of the project, registered on one client (EVALSHA, reloaded on NOSCRIPT).
    On a cluster, redis-py sends ``SCRIPT LOAD`` to every primary and ``EVALSHA`` to the node
    of the call's keys."""

    def __init__(self, client: aioredis.Redis | RedisCluster, publish: str = "PUBLISH") -> None:
        self._client: Any = client
        self._scripts: dict[str, AsyncScript] = {}
        for path in sorted(LUA_DIR.glob("*.lua")):
            if path.stem.startswith("_"):
                continue
            self._scripts[path.stem] = client.register_script(
                load_source(path.stem, publish))

    async def run(self, name: str, keys: list[str], args: list[Any]) -> Any:
        return await self._scripts[name](keys=keys, args=args)

    def queue(self, pipe: Any, name: str, keys: list[str], args: list[Any]) -> None:
        """Queue one call in a pipeline, to be run by ``execute``. A plain ``EVALSHA``: a
        script registered with the pipeline (``script(..., client=pipe)``) makes redis-py send
        ``SCRIPT EXISTS`` before every execute, one more round trip."""
        pipe.evalsha(self._scripts[name].sha, len(keys), *keys, *args)

    async def execute(self, pipe: Any) -> list[Any]:
        """Execute a pipeline of ``queue``d calls (other commands may be in it too). Should the
        server not know a script (restarted, ``SCRIPT FLUSH``), load it and run again exactly
        the calls refused with ``NOSCRIPT``: a refused call did nothing, so every call runs
        once. Raises the first error, as ``execute`` does."""
        queued = _queued(pipe)
        replies: list[Any] = await pipe.execute(raise_on_error=False)
        missing = [i for i, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
        if missing:
            shas = {queued[i][0][1] for i in missing}
            for script in self._scripts.values():
                if script.sha in shas:
                    await self._client.script_load(script.script)
            transaction = bool(getattr(pipe, "is_transaction", False))
            async with self._client.pipeline(transaction=transaction) as again:
                for i in missing:
                    again.execute_command(*queued[i][0], **queued[i][1])
                for i, reply in zip(missing, await again.execute(raise_on_error=False),
                                    strict=True):
                    replies[i] = reply
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        return replies


def _queued(pipe: Any) -> list[tuple[tuple[Any, ...], dict[str, Any]]]:
    """The commands queued in a pipeline, in order. redis-py's cluster pipeline keeps them in
    its execution strategy (no public ``command_stack``)."""
    if isinstance(pipe, ClusterPipeline):
        strategy: Any = pipe._execution_strategy
        return [(command.args, command.kwargs) for command in strategy._command_queue]
    return [(args, options) for args, options in pipe.command_stack]
