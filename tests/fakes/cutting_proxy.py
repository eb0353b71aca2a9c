"""A TCP proxy on loopback that can cut its connections in the middle of a WebSocket frame.

A faithful stand-in for a flaky network: bytes pass through unchanged until `cut_mid_frame()`,
which forwards only part of the next chunk the client sends (so the server sees half a frame)
and then drops both sides without a close handshake.
"""

from __future__ import annotations

import asyncio
import contextlib
import random


class CuttingProxy:
    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.cuts = 0
        self._server: asyncio.Server | None = None
        self._pairs: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self._cut_requested = False

    async def start(self) -> CuttingProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for a, b in list(self._pairs):
            a.transport.abort()
            b.transport.abort()

    def cut_mid_frame(self) -> None:
        """Cut every connection at the next client->server chunk, partway through it."""
        self._cut_requested = True

    async def _accept(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            client_w.transport.abort()
            return
        pair = (client_w, server_w)
        self._pairs.add(pair)
        try:
            await asyncio.gather(
                self._pipe(client_r, server_w, pair, upstream=True),
                self._pipe(server_r, client_w, pair, upstream=False),
            )
        finally:
            self._pairs.discard(pair)
            client_w.transport.abort()
            server_w.transport.abort()

    async def _pipe(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        pair: tuple[asyncio.StreamWriter, asyncio.StreamWriter],
        *,
        upstream: bool,
    ) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while True:
                chunk = await reader.read(65536)
                if not chunk:
                    break
                if upstream and self._cut_requested and len(chunk) > 8:
                    self._cut_requested = False
                    self.cuts += 1
                    writer.write(chunk[: random.randint(1, len(chunk) - 1)])
                    with contextlib.suppress(OSError):
                        await writer.drain()
                    pair[0].transport.abort()
                    pair[1].transport.abort()
                    return
                writer.write(chunk)
                await writer.drain()
        pair[0].transport.abort()
        pair[1].transport.abort()
