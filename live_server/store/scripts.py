"""Lua scripts: one file each under ``lua/``, with ``_lib.lua`` prepended, registered once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

LUA_DIR = Path(__file__).resolve().parent / "lua"


def load_source(name: str) -> str:
    lib = (LUA_DIR / "_lib.lua").read_text()
    return lib + "\n" + (LUA_DIR / f"{name}.lua").read_text()


class Scripts:
    """Every script of the project, registered on one client (EVALSHA, reloaded on NOSCRIPT)."""

    def __init__(self, client: aioredis.Redis) -> None:
        self._client = client
        self._scripts: dict[str, AsyncScript] = {}
        for path in sorted(LUA_DIR.glob("*.lua")):
            if path.stem.startswith("_"):
                continue
            self._scripts[path.stem] = client.register_script(load_source(path.stem))

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
        queued = [(args, options) for args, options in pipe.command_stack]
        replies: list[Any] = await pipe.execute(raise_on_error=False)
        missing = [i for i, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
        if missing:
            shas = {queued[i][0][1] for i in missing}
            for script in self._scripts.values():
                if script.sha in shas:
                    await self._client.script_load(script.script)
            async with self._client.pipeline(transaction=pipe.is_transaction) as again:
                for i in missing:
                    again.execute_command(*queued[i][0], **queued[i][1])
                for i, reply in zip(missing, await again.execute(raise_on_error=False),
                                    strict=True):
                    replies[i] = reply
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        return replies
