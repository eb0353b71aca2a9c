"""The baseline for bench/pipeline.py: a bare `websockets` server doing the least a relay hub can.

It accepts the same `events` frames Tether's /ws/relay accepts (JSON, same batches), decodes
each with msgspec, forwards the frame unchanged to the one connected listener, and answers every
frame with an `ack` of the highest relay_seq per session, so the bench client's flow control is
identical. No hello, no auth, no storage, no per-event work beyond decoding: whatever Tether does
on top of this is what the ratio in the bench measures.

    python bench/bare_server.py PORT     # prints "ready" once listening

Paths: /ws/relay (the sender) and /ws/listen (the one listener; a newer listener replaces it).
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import msgspec
from websockets.asyncio.server import ServerConnection, serve

MAX_FRAME_BYTES = 2 << 20  # same ceiling the Tether server gives uvicorn
_encoder = msgspec.json.Encoder()


class _Hub:
    def __init__(self) -> None:
        self.listener: ServerConnection | None = None
        self.listening = asyncio.Event()


async def _relay(hub: _Hub, ws: ServerConnection) -> None:
    async for frame in ws:
        message: dict[str, Any] = msgspec.json.decode(frame)
        acked: dict[str, int] = {}
        for event in message.get("events", ()):
            sid = event["session_id"]
            acked[sid] = max(acked.get(sid, 0), event["relay_seq"])
        listener = hub.listener
        if listener is not None:
            await listener.send(frame, text=True)
        await ws.send(_encoder.encode({"type": "ack", "acked": acked}), text=True)


async def _listen(hub: _Hub, ws: ServerConnection) -> None:
    hub.listener = ws
    hub.listening.set()
    await ws.wait_closed()
    if hub.listener is ws:
        hub.listener = None


async def main(port: int) -> None:
    hub = _Hub()

    async def handler(ws: ServerConnection) -> None:
        path = ws.request.path if ws.request else ""
        if path == "/ws/relay":
            await _relay(hub, ws)
        elif path == "/ws/listen":
            await _listen(hub, ws)
        else:
            await ws.close(4404, "unknown path")

    # permessage-deflate is accepted when offered, as uvicorn accepts it for Tether
    async with serve(handler, "127.0.0.1", port, max_size=MAX_FRAME_BYTES) as server:
        print("ready", flush=True)
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
