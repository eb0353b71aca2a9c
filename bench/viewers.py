"""The viewer side of bench/pipeline.py: /ws/client connections that subscribe and count events,
resume and time the replay, or follow a session and record each event's latency.

Frames are decoded with msgspec into structs holding only what the bench needs (seq and ts of
each event), so a viewer spends as little CPU as a client can while still reading every frame.

Run as a process of its own for the latency measurement, so the viewers never compete with the
relay client for one interpreter:

    python bench/viewers.py --port P --session S --viewers 10 --last-seq N

It prints "ready" once every viewer is subscribed, then one JSON line with the latencies when
every viewer has received seq N.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import sys
import time
from dataclasses import dataclass

import msgspec
from websockets.asyncio.client import ClientConnection, connect

from protocol import messages as m
from protocol.version import PROTOCOL_VERSION, SOFTWARE_VERSION

MAX_FRAME_BYTES = 4 << 20  # replay frames of 1000 events are ~200 KB
CONNECT_TIMEOUT_S = 10.0
HELLO = msgspec.json.encode(
    m.Hello(protocol_version=PROTOCOL_VERSION, software_version=f"bench/{SOFTWARE_VERSION}")
)


class _Event(msgspec.Struct):
    seq: int
    ts: float


class Frame(msgspec.Struct):
    """Any server -> viewer frame, reduced to what the bench reads; unknown fields are skipped."""

    type: str = ""
    events: list[_Event] = []
    recovered: bool = False
    epoch: str = ""
    last_seq: int = 0
    code: str = ""
    message: str = ""


decode_frame = msgspec.json.Decoder(Frame).decode
TOKEN_ENV = "TETHER_CONSOLE_TOKEN"


class ViewerError(Exception):
    """The server answered something a well-behaved viewer does not expect."""


async def open_viewer(url: str, compression: str | None) -> ClientConnection:
    """A /ws/client connection past the hello exchange, as the console (its token from
    TETHER_CONSOLE_TOKEN, which bench/pipeline.py sets for itself and these processes)."""
    token = os.environ.get(TOKEN_ENV, "")
    ws = await connect(
        url,
        max_size=MAX_FRAME_BYTES,
        compression=compression,
        open_timeout=CONNECT_TIMEOUT_S,
        additional_headers={"Authorization": f"Bearer {token}"} if token else None,
    )
    await ws.send(HELLO, text=True)
    hello = decode_frame(await asyncio.wait_for(ws.recv(decode=False), CONNECT_TIMEOUT_S))
    if hello.type != "hello":
        raise ViewerError(f"expected hello, got {hello.type}")
    return ws


def subscribe_frame(session_id: str, since: m.Since | None) -> bytes:
    return msgspec.json.encode(m.Subscribe(session_id=session_id, since=since))


@dataclass
class Follower:
    """One connection counting the events it is sent; `epoch` from Tether's `subscribed`."""

    ws: ClientConnection
    epoch: str = ""
    events: int = 0

    async def read_until(self, total: int) -> float:
        """Read until `total` events arrived; returns the perf_counter time of the last one."""
        while self.events < total:
            frame = decode_frame(await self.ws.recv(decode=False))
            if frame.type == "subscribed":
                self.epoch = frame.epoch
            elif frame.type == "error":
                raise ViewerError(f"viewer error: {frame.code} {frame.message}")
            self.events += len(frame.events)
        return time.perf_counter()


class _BareFrame(msgspec.Struct):
    """An `events` frame forwarded by bench/bare_server.py, its events left undecoded."""

    events: list[msgspec.Raw] = []


_bare_decoder = msgspec.json.Decoder(_BareFrame)


async def count_bare(ws: ClientConnection, total: int) -> float:
    """Like Follower.read_until for the bare server's forwarded `events` frames."""
    counted = 0
    while counted < total:
        counted += len(_bare_decoder.decode(await ws.recv(decode=False)).events)
    return time.perf_counter()


async def replay(
    port: int, session_id: str, since: m.Since | None, missed: int, compression: str | None
) -> float:
    """Seconds from sending `subscribe` to holding the `missed`-th event, checked for gaps."""
    ws = await open_viewer(f"ws://127.0.0.1:{port}/ws/client", compression)
    try:
        expected = (since.seq if since else 0) + 1
        subscribe = subscribe_frame(session_id, since)
        start = time.perf_counter()
        await ws.send(subscribe, text=True)
        while expected <= (since.seq if since else 0) + missed:
            frame = decode_frame(await ws.recv(decode=False))
            if frame.type == "subscribed" and frame.recovered != (since is not None):
                raise ViewerError(f"subscribed with recovered={frame.recovered}")
            if frame.type == "error":
                raise ViewerError(f"replay refused: {frame.code} {frame.message}")
            if frame.events:
                if frame.events[0].seq != expected:
                    raise ViewerError(f"replay gap: seq {frame.events[0].seq}, wanted {expected}")
                expected += len(frame.events)
                if frame.events[-1].seq != expected - 1:
                    raise ViewerError("replay frame out of order")
        return time.perf_counter() - start
    finally:
        await ws.close()


async def _latency_viewer(
    url: str, compression: str | None, session_id: str, last_seq: int, ready: asyncio.Event
) -> list[float]:
    """Subscribe, then the receive-time minus send-time (ms) of every event after seq 1."""
    latencies: list[float] = []
    async with await open_viewer(url, compression) as ws:
        await ws.send(subscribe_frame(session_id, None), text=True)
        seen = 0
        while seen < last_seq:
            data = await ws.recv(decode=False)
            now = time.time()
            frame = decode_frame(data)
            if frame.type == "subscribed":
                ready.set()
            elif frame.type == "error":
                raise ViewerError(f"{frame.code}: {frame.message}")
            for event in frame.events:
                if event.seq <= seen:
                    continue
                seen = event.seq
                if event.seq > 1:  # seq 1 was committed before the viewers joined
                    latencies.append((now - event.ts) * 1000.0)
    return latencies


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return float("nan")
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


async def _latency_main(args: argparse.Namespace) -> None:
    url = f"ws://127.0.0.1:{args.port}/ws/client"
    compression = None if args.compression == "none" else args.compression
    readies = [asyncio.Event() for _ in range(args.viewers)]
    tasks = [
        asyncio.create_task(_latency_viewer(url, compression, args.session, args.last_seq, r))
        for r in readies
    ]
    async with asyncio.timeout(CONNECT_TIMEOUT_S):
        await asyncio.gather(*(r.wait() for r in readies))
    print("ready", flush=True)
    cpu = time.process_time()
    async with asyncio.timeout(args.timeout):
        results = await asyncio.gather(*tasks)
    cpu = time.process_time() - cpu
    samples = sorted(x for per_viewer in results for x in per_viewer)
    print(
        json.dumps(
            {
                "viewers": len(results),
                "events_per_viewer": [len(r) for r in results],
                "p50_ms": percentile(samples, 0.50),
                "p99_ms": percentile(samples, 0.99),
                "max_ms": samples[-1] if samples else float("nan"),
                "cpu_s": cpu,
            }
        ),
        flush=True,
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--session", required=True)
    parser.add_argument("--viewers", type=int, default=10)
    parser.add_argument("--last-seq", dest="last_seq", type=int, required=True)
    parser.add_argument("--compression", choices=("deflate", "none"), default="deflate")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds for the whole run")
    asyncio.run(_latency_main(parser.parse_args(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
