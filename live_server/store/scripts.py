"""Lua scripts: one file each under ``lua/``, with ``_lib.lua`` prepended, registered once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from redis.commands.core import AsyncScript

LUA_DIR = Path(__file__).resolve().parent / "lua"


def load_source(name: str) -> str:
    lib = (LUA_DIR / "_lib.lua").read_text()
    return lib + "\n" + (LUA_DIR / f"{name}.lua").read_text()


class Scripts:
    """Every script of the project, registered on one client (EVALSHA, reloaded on NOSCRIPT)."""

    def __init__(self, client: aioredis.Redis) -> None:
        self._scripts: dict[str, AsyncScript] = {}
        for path in sorted(LUA_DIR.glob("*.lua")):
            if path.stem.startswith("_"):
                continue
            self._scripts[path.stem] = client.register_script(load_source(path.stem))

    def get(self, name: str) -> AsyncScript:
        """The script object, for queueing in a pipeline (``script(keys, args, client=pipe)``)."""
        return self._scripts[name]

    async def run(self, name: str, keys: list[str], args: list[Any]) -> Any:
        return await self._scripts[name](keys=keys, args=args)
