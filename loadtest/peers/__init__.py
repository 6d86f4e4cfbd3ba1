"""Peers: other servers built with well-known tools, run under the same generator for comparison.

`sio_room` is a room-broadcast server on python-socketio (AsyncServer on aiohttp, with an
AsyncRedisManager on its own Valkey) implementing the `chat` and `join-storm` semantics.
"""
