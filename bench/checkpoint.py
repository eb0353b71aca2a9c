"""How long WAL checkpoints hold ingestion, and how big the WAL gets, under continuous writes.

    .venv/bin/python bench/checkpoint.py [--seconds 20] [--chunk-kb 8]

Opens the server's own Database (server/store/db.py, with its checkpointer) on a fresh file on
disk and appends chunks through EventsStore, the ingest path's store, back to back for the
given time: the worst case for the WAL, which never gets an idle moment. A reader replays a
session now and then, as viewers do. Prints the WAL's peak size, the checkpoints made, the
longest a checkpoint's locked pass held writes, and the commit latencies; then one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from server.store.db import Database
from server.store.events_store import EventsStore

SESSIONS = 4
SAMPLE_S = 0.01


def wal_size(path: Path) -> int:
    wal = path.with_name(path.name + "-wal")
    return wal.stat().st_size if wal.exists() else 0


async def setup(db: Database) -> None:
    await db.write_one(
        "INSERT INTO relays (id, name, token_hash, created_at) VALUES ('r', 'r', 'h', 0)", ()
    )
    for i in range(SESSIONS):
        await db.write_one(
            "INSERT INTO sessions (id, relay_id, epoch, created_at, last_activity_at) "
            "VALUES (?, 'r', 'e', 0, 0)",
            (f"s{i}",),
        )


async def replay_now_and_then(store: EventsStore, stop: asyncio.Event) -> None:
    while not stop.is_set():
        after = 0
        while chunks := await store.chunks("s0", after, 500):
            after = chunks[-1].last_seq
        await asyncio.sleep(0.5)


async def run(path: Path, seconds: float, chunk_bytes: int) -> dict[str, float]:
    db = await Database.open(path)
    store = EventsStore(db)
    await setup(db)
    stop = asyncio.Event()
    reader = asyncio.create_task(replay_now_and_then(store, stop))
    body = b"x" * chunk_bytes
    latencies: list[float] = []
    peak = 0
    next_sample = 0.0
    seq = 0
    end = time.monotonic() + seconds
    while (now := time.monotonic()) < end:
        seq += 1
        rows = [(f"s{i}", seq, seq, seq, seq, 0.0, body) for i in range(SESSIONS)]
        await store.append(rows, [])
        latencies.append(time.monotonic() - now)
        if now >= next_sample:
            peak = max(peak, wal_size(path))
            next_sample = now + SAMPLE_S
    stop.set()
    await reader
    result = {
        "mb_written": seq * SESSIONS * chunk_bytes / 1e6,
        "wal_peak_mb": peak / 1e6,
        "checkpoints": float(db.checkpointer.checkpoints),
        "max_reset_ms": db.checkpointer.max_reset_s * 1000,
        "commit_p50_ms": statistics.median(latencies) * 1000,
        "commit_p99_ms": sorted(latencies)[int(0.99 * (len(latencies) - 1))] * 1000,
        "commit_max_ms": max(latencies) * 1000,
    }
    await db.close()
    return result


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--chunk-kb", type=int, default=8, help="per session per commit")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="tether-checkpoint-") as tmp:
        result = asyncio.run(run(Path(tmp) / "tether.sqlite3", args.seconds, args.chunk_kb << 10))
    print(
        f"{result['mb_written']:.0f} MB of chunks in {args.seconds:.0f} s: WAL peak "
        f"{result['wal_peak_mb']:.1f} MB, {result['checkpoints']:.0f} checkpoints, the longest "
        f"held writes {result['max_reset_ms']:.1f} ms; commits p50 {result['commit_p50_ms']:.2f} "
        f"ms, p99 {result['commit_p99_ms']:.2f} ms, max {result['commit_max_ms']:.1f} ms"
    )
    print(json.dumps({key: round(value, 3) for key, value in result.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
