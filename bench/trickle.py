"""Trickle scenarios of bench/pipeline.py: what the server writes to disk to store a slow stream.

A real relay reads a PTY and sends what it has as soon as it has it, so a shell printing 200
lines a second arrives as 200 `events` frames a second of one `terminal_output` event each. Each
scenario runs for TRICKLE_SECONDS against a real `tether serve` whose data directory is on real
disk, and reports:

- server_write_amplification: bytes the server process wrote to storage over the run
  (`write_bytes` of /proc/PID/io) / bytes of event data it stored (sum of LENGTH(body) of the
  chunks committed in the run).
- wal_peak_mb: the largest size of the database's -wal file, sampled every WAL_SAMPLE_S.
- p99 ack latency: send of a frame -> its ack, the latency a trickling line sees to be durable.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from relay_client import Frame, RelayClient, output_frame, started_frame
from servers import Process, running, start_tether

TRICKLE_SECONDS = 60.0
# (name, sessions, lines per second per session)
SCENARIOS = (("1x200", 1, 200), ("20x10", 20, 10))
WAL_SAMPLE_S = 0.05
SETTLE_S = 2.0  # after the last ack: lets the server finish writing what the run caused
DATABASE = "tether.sqlite3"


@dataclass
class TrickleRun:
    name: str
    lines_per_s: float  # achieved
    written_mb: float
    stored_mb: float
    amplification: float
    wal_peak_mb: float
    ack_p50_ms: float
    ack_p99_ms: float

    def describe(self) -> str:
        return (
            f"trickle {self.name:6} {self.amplification:8.1f} x written/stored  "
            f"({self.written_mb:.1f} MB written to store {self.stored_mb:.2f} MB; "
            f"WAL peak {self.wal_peak_mb:.1f} MB; {self.lines_per_s:.0f} lines/s; "
            f"ack p50 {self.ack_p50_ms:.1f} ms, p99 {self.ack_p99_ms:.1f} ms)"
        )


def write_bytes(server: Process) -> int:
    for line in Path(f"/proc/{server.proc.pid}/io").read_text().splitlines():
        if line.startswith("write_bytes:"):
            return int(line.split()[1])
    raise RuntimeError("no write_bytes in /proc io")


def stored_bytes(data_dir: Path, session_ids: list[str]) -> int:
    """Event data the server has committed for these sessions, read from its database."""
    conn = sqlite3.connect(f"file:{data_dir / DATABASE}?mode=ro", uri=True)
    try:
        marks = ",".join("?" * len(session_ids))
        row = conn.execute(
            "SELECT COALESCE(SUM(LENGTH(body)), 0) FROM event_chunks "
            f"WHERE session_id IN ({marks})",
            session_ids,
        ).fetchone()
        return int(row[0])
    finally:
        conn.close()


def file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


async def sample_wal(path: Path, peak: list[int]) -> None:
    while True:
        peak[0] = max(peak[0], file_size(path))
        await asyncio.sleep(WAL_SAMPLE_S)


class _AckClock:
    """Send time of each frame, matched with the ack that covers it."""

    def __init__(self, relay: RelayClient) -> None:
        self.relay = relay
        self.pending: list[tuple[str, int, float]] = []
        self.latencies: list[float] = []

    def sent(self, session_id: str, relay_seq: int) -> None:
        self.pending.append((session_id, relay_seq, time.perf_counter()))

    def poll(self) -> None:
        now = time.perf_counter()
        waiting = []
        for sid, seq, at in self.pending:
            if self.relay.acked.get(sid, 0) >= seq:
                self.latencies.append(now - at)
            else:
                waiting.append((sid, seq, at))
        self.pending = waiting


async def trickle(
    server: Process, data_dir: Path, token: str, name: str, sessions: int, rate: int
) -> TrickleRun:
    """`sessions` sessions each sending `rate` one-line frames a second, interleaved."""
    relay = await RelayClient.open(f"ws://127.0.0.1:{server.port}/ws/relay", token, None)
    ids = [f"trickle-{name}-{i}" for i in range(sessions)]
    try:
        for sid in ids:
            await relay.send(sid, Frame(started_frame(sid), 1, 1))
        for sid in ids:
            await relay.wait_acked(sid, 1)
        before_stored = stored_bytes(data_dir, ids)
        peak = [0]
        sampler = asyncio.create_task(sample_wal(data_dir / f"{DATABASE}-wal", peak))
        clock = _AckClock(relay)
        relay.on_ack = clock.poll
        before_written = write_bytes(server)
        total = int(TRICKLE_SECONDS * rate * sessions)
        interval = 1.0 / (rate * sessions)
        start = time.monotonic()
        for i in range(total):
            delay = start + i * interval - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            sid = ids[i % sessions]
            seq = 2 + i // sessions
            await relay.send(sid, Frame(output_frame(sid, seq, 1, time.time()), seq, 1))
            clock.sent(sid, seq)
        sent_s = time.monotonic() - start
        for sid in ids:
            await relay.wait_acked(sid, relay.sent[sid])
        clock.poll()
        await asyncio.sleep(SETTLE_S)
        written = write_bytes(server) - before_written
        sampler.cancel()
    finally:
        await relay.close()
    stored = stored_bytes(data_dir, ids) - before_stored
    lat = sorted(clock.latencies)
    return TrickleRun(
        name,
        total / sent_s,
        written / 1e6,
        stored / 1e6,
        written / stored,
        peak[0] / 1e6,
        1000 * statistics.median(lat),
        1000 * lat[int(0.99 * (len(lat) - 1))],
    )


def filesystem(directory: str) -> str:
    """The type of the filesystem holding `directory` (the longest mount point above it)."""
    path = os.path.realpath(directory)
    best, kind = "", "?"
    for line in Path("/proc/mounts").read_text().splitlines():
        fields = line.split()
        mount = fields[1]
        if path.startswith(mount) and len(mount) > len(best):
            best, kind = mount, fields[2]
    return kind


async def trickle_phase(results: dict[str, float]) -> None:
    """Every scenario on a fresh server each, its data directory on real disk."""
    root = tempfile.gettempdir()
    if filesystem(root) in ("tmpfs", "ramfs"):
        raise RuntimeError(f"{root} is in memory: set TMPDIR to a directory on disk")
    for name, sessions, rate in SCENARIOS:
        with tempfile.TemporaryDirectory(prefix="tether-trickle-") as tmp:
            server, token = start_tether(Path(tmp))
            with running(server):
                run = await trickle(server, Path(tmp), token, name, sessions, rate)
        print(run.describe())
        results[f"trickle_{name}_server_write_amplification"] = run.amplification
        results[f"trickle_{name}_wal_peak_mb"] = run.wal_peak_mb
        results[f"trickle_{name}_ack_p99_ms"] = run.ack_p99_ms
