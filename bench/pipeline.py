"""Tether's pipeline benchmark: a real server, measured from the outside over its real sockets.

    .venv/bin/python bench/pipeline.py [--compression deflate|none]
                                        [--trickle-only | --no-trickle]

What it measures, in order (docs/performance.md explains each and keeps the last results):

1. idle RSS   `tether serve` on a fresh data directory, VmRSS from /proc after a few idle seconds.
2. ingest     one relay connection on /ws/relay streams 100,000 terminal_output events in `events`
              frames of 500 with at most 5,000 unacked (the relay's own defaults); rate = events /
              (first send -> last ack). One viewer follows the session. Best of three runs.
3. bare       the same frames, window and listener against bench/bare_server.py, a bare
              `websockets` server that decodes, forwards and acks and does nothing else;
              alternated with (2).
4. latency    10 viewers (bench/viewers.py, a process of their own) follow a fresh session while
              the relay sends 2,000 events/s in frames of 10 every 5 ms for 10 s; each event
              carries its send time in `ts` and viewers record receive time - ts.
5. replay     viewers resume a 100,000-event session with 10,000 and 100,000 events missed; time
              from sending `subscribe` to holding the last missed event, median of runs.
6. trickle    (bench/trickle.py) one session at 200 lines/s and 20 sessions at 10 lines/s each,
              one event per frame for 60 s each, on a fresh server each: bytes the server wrote
              to disk per byte of event data stored, and the peak size of its WAL.

Frames for (2) and (3) are encoded before the clock starts, so the figures are the servers'.
Every figure comes with the CPU the servers, the bench and all other processes used meanwhile;
a figure taken while other processes were busy is flagged NOISY.
Prints each figure as it is measured, then one JSON line; exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import trickle
import viewers
from relay_client import (
    PAYLOAD_BYTES,
    WINDOW_EVENTS,
    Frame,
    RelayClient,
    output_frame,
    output_frames,
    started_frame,
)
from servers import BENCH_DIR, Meter, Process, Usage, running, start_bare, start_tether
from websockets.asyncio.client import connect

from protocol import messages as m

INGEST_EVENTS = 100_000
INGEST_RUNS = 3  # on Tether and the bare server, alternated; the best is reported, as other
# processes on the machine can only slow a run down
BATCH_EVENTS = 500  # events per `events` frame: the relay's batch_max_events
LATENCY_VIEWERS = 10
LATENCY_RATE = 2_000  # events/s
LATENCY_BATCH = 10  # events per frame: one frame every 5 ms
LATENCY_SECONDS = 10.0
REPLAY_RUNS = ((10_000, 5), (100_000, 3))  # (events missed, runs); the median is reported
IDLE_S = 3.0  # how long the fresh server sits idle before its RSS is read
PHASE_TIMEOUT_S = 120.0  # any single phase; the whole bench takes well under a minute

TARGETS = {  # key: (comparison, bound, unit)
    "ingest_events_per_s": (">=", 10_000.0, "events/s"),
    "ingest_vs_bare": (">=", 0.5, "x bare"),
    "p99_latency_ms_at_2k": ("<=", 25.0, "ms"),
    "replay_10k_s": ("<=", 0.3, "s"),
    "replay_100k_s": ("<=", 3.0, "s"),
    "idle_rss_mb": ("<=", 120.0, "MB"),
    **{
        f"trickle_{name}_{key}": (comparison, bound, unit)
        for name, _, _ in trickle.SCENARIOS
        for key, comparison, bound, unit in (
            ("server_write_amplification", "<=", 20.0, "x"),
            ("wal_peak_mb", "<=", 64.0, "MB"),
        )
    },
}
JSON_KEYS = (
    "ingest_events_per_s",
    "bare_events_per_s",
    "p99_latency_ms_at_2k",
    "replay_10k_s",
    "replay_100k_s",
    "idle_rss_mb",
    *(
        f"trickle_{name}_{key}"
        for name, _, _ in trickle.SCENARIOS
        for key in ("server_write_amplification", "wal_peak_mb", "ack_p99_ms")
    ),
)
NOISY_PCT = 10.0  # other processes above this share of the machine make a figure unreliable
NOISE_WARNING = " <- NOISY: rerun on a quiet machine"


class BenchError(Exception):
    """The bench could not measure: a helper process failed or the viewers missed events."""


# --------------------------------------------------------------------------- phases


def noise(usage: Usage) -> str:
    """How much of the machine other processes took while a figure was measured."""
    note = f"others used {usage.others_pct:.0f}% of the machine"
    return note + (NOISE_WARNING if usage.others_pct > NOISY_PCT else "")


@dataclass
class IngestRun:
    events_per_s: float
    seconds: float
    listener_lag_ms: float  # last event at the listener, after the last ack
    usage: Usage

    def describe(self) -> str:
        cpu = self.usage
        return (
            f"{self.events_per_s:8.0f} events/s  ({INGEST_EVENTS} in {self.seconds:.2f} s; CPU: "
            f"server {cpu.server_s:.2f} s = {1e6 * cpu.server_s / INGEST_EVENTS:.1f} us/event, "
            f"bench {cpu.bench_s:.2f} s; listener done {self.listener_lag_ms:.0f} ms after the "
            f"last ack; {noise(cpu)})"
        )


async def stream(relay: RelayClient, session_id: str, frames: list[Frame]) -> float:
    """Send every frame within the window; seconds from the first send to the last ack."""
    start = time.perf_counter()
    for frame in frames:
        await relay.send(session_id, frame)
    await relay.wait_acked(session_id, frames[-1].last_seq)
    return time.perf_counter() - start


async def timed_ingest(
    server: Process,
    relay: RelayClient,
    session_id: str,
    frames: list[Frame],
    listening: asyncio.Task[float],
) -> IngestRun:
    """Stream `frames` (the session's first event is already acked) while `listening` reads."""
    meter = Meter(server)
    seconds = await stream(relay, session_id, frames)
    acked_at = time.perf_counter()
    usage = meter.stop()
    lag_ms = max(0.0, await listening - acked_at) * 1000
    return IngestRun(INGEST_EVENTS / seconds, seconds, lag_ms, usage)


async def ingest_tether(
    server: Process,
    relay: RelayClient,
    session_id: str,
    frames: list[Frame],
    compression: str | None,
) -> tuple[IngestRun, str]:
    """One run on Tether with one viewer following; returns the run and the session's epoch."""
    await relay.send(session_id, Frame(started_frame(session_id), 1, 1))
    await relay.wait_acked(session_id, 1)
    ws = await viewers.open_viewer(f"ws://127.0.0.1:{server.port}/ws/client", compression)
    try:
        follower = viewers.Follower(ws)
        await ws.send(viewers.subscribe_frame(session_id, None), text=True)
        await follower.read_until(1)
        listening = asyncio.create_task(follower.read_until(1 + INGEST_EVENTS))
        run = await timed_ingest(server, relay, session_id, frames, listening)
    finally:
        await ws.close()
    return run, follower.epoch


async def ingest_bare(
    bare: Process, session_id: str, frames: list[Frame], compression: str | None
) -> IngestRun:
    """The same run against the bare server, on fresh connections."""
    listener = await connect(
        f"ws://127.0.0.1:{bare.port}/ws/listen",
        max_size=viewers.MAX_FRAME_BYTES,
        compression=compression,
        open_timeout=viewers.CONNECT_TIMEOUT_S,
    )
    await asyncio.sleep(0.1)  # the bare server registers the listener as its handler starts
    relay = await RelayClient.open(f"ws://127.0.0.1:{bare.port}/ws/relay", None, compression)
    try:
        await relay.send(session_id, Frame(started_frame(session_id), 1, 1))
        await relay.wait_acked(session_id, 1)
        await viewers.count_bare(listener, 1)
        listening = asyncio.create_task(viewers.count_bare(listener, INGEST_EVENTS))
        return await timed_ingest(bare, relay, session_id, frames, listening)
    finally:
        await relay.close()
        await listener.close()


@dataclass
class LatencyRun:
    p50_ms: float
    p99_ms: float
    max_ms: float
    sent_rate: float  # events/s the relay actually achieved
    max_behind_ms: float  # worst lateness of the relay's pacing
    usage: Usage  # bench_s includes the viewers' process


async def latency(
    server: Process, relay: RelayClient, session_id: str, compression: str
) -> LatencyRun:
    """Pace LATENCY_RATE events/s for LATENCY_SECONDS to the viewers' process; its figures."""
    await relay.send(session_id, Frame(started_frame(session_id), 1, 1))
    await relay.wait_acked(session_id, 1)
    frames = int(LATENCY_SECONDS * LATENCY_RATE / LATENCY_BATCH)
    last_seq = 1 + frames * LATENCY_BATCH
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        BENCH_DIR / "viewers.py",
        *("--port", str(server.port), "--session", session_id, "--last-seq", str(last_seq)),
        *("--viewers", str(LATENCY_VIEWERS), "--compression", compression),
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    try:
        if (await proc.stdout.readline()).strip() != b"ready":
            raise BenchError("latency viewers did not start")
        interval = LATENCY_BATCH / LATENCY_RATE
        behind = 0.0
        meter = Meter(server)
        start = time.monotonic()
        for i in range(frames):
            delay = start + i * interval - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                behind = max(behind, -delay)
            first = 2 + i * LATENCY_BATCH
            data = output_frame(session_id, first, LATENCY_BATCH, time.time())
            await relay.send(session_id, Frame(data, first + LATENCY_BATCH - 1, LATENCY_BATCH))
        sent_s = time.monotonic() - start
        await relay.wait_acked(session_id, last_seq)
        line = await proc.stdout.readline()
        if not line:
            raise BenchError("the viewers' process failed (its traceback is above)")
        report = json.loads(line)
        usage = meter.stop(helpers_s=report["cpu_s"])
    finally:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
        await proc.wait()
    if report["events_per_viewer"] != [last_seq - 1] * LATENCY_VIEWERS:
        raise BenchError(f"viewers missed events: {report['events_per_viewer']}")
    return LatencyRun(
        report["p50_ms"],
        report["p99_ms"],
        report["max_ms"],
        frames * LATENCY_BATCH / sent_s,
        behind * 1000,
        usage,
    )


# --------------------------------------------------------------------------- report


def met(key: str, value: float) -> bool:
    comparison, bound, _ = TARGETS[key]
    return value >= bound if comparison == ">=" else value <= bound


def verdict(key: str, value: float) -> str:
    comparison, bound, unit = TARGETS[key]
    return f"target {comparison} {bound:g} {unit}: {'met' if met(key, value) else 'MISSED'}"


async def ingest_phase(
    server: Process, relay: RelayClient, offer: str | None, results: dict[str, float]
) -> tuple[str, str]:
    """Tether and bare runs, alternated; the medians. Returns a filled session and its epoch."""
    sessions = [f"bench-ingest-{i}" for i in range(1, INGEST_RUNS + 1)]
    frames = {sid: output_frames(sid, 2, INGEST_EVENTS, BATCH_EVENTS) for sid in sessions}
    sizes = [len(f.data) for f in frames[sessions[0]]]
    print(
        f"ingest: {INGEST_RUNS} runs each of {INGEST_EVENTS} events in {len(sizes)} frames of "
        f"{statistics.mean(sizes) / 1024:.0f} KB, encoded before the clock starts"
    )
    tether_runs, bare_runs, epochs = [], [], []
    with running(start_bare()) as bare:
        for sid in sessions:
            async with asyncio.timeout(PHASE_TIMEOUT_S):
                run, epoch = await ingest_tether(server, relay, sid, frames[sid], offer)
                tether_runs.append(run)
                epochs.append(epoch)
                print(f"  Tether          {run.describe()}")
                run = await ingest_bare(bare, sid, frames[sid], offer)
                bare_runs.append(run)
                print(f"  bare websockets {run.describe()}")
    results["ingest_events_per_s"] = max(r.events_per_s for r in tether_runs)
    results["bare_events_per_s"] = max(r.events_per_s for r in bare_runs)
    results["ingest_vs_bare"] = results["ingest_events_per_s"] / results["bare_events_per_s"]
    print(f"ingest (Tether, best)    {results['ingest_events_per_s']:8.0f} events/s")
    print(f"ingest (bare, best)      {results['bare_events_per_s']:8.0f} events/s")
    print(f"ingest / bare            {results['ingest_vs_bare']:8.2f}")
    return sessions[0], epochs[0]


async def replay_phase(
    server: Process, session_id: str, epoch: str, offer: str | None, results: dict[str, float]
) -> None:
    last_seq = 1 + INGEST_EVENTS
    for missed, runs in REPLAY_RUNS:
        since = m.Since(epoch=epoch, seq=last_seq - missed)
        meter = Meter(server)
        async with asyncio.timeout(PHASE_TIMEOUT_S):
            times = [
                await viewers.replay(server.port, session_id, since, missed, offer)
                for _ in range(runs)
            ]
        key = f"replay_{missed // 1000}k_s"
        results[key] = statistics.median(times)
        print(
            f"replay {missed:>7} missed   {results[key]:8.3f} s  (median of "
            f"{', '.join(f'{t:.3f}' for t in times)}; recovered true; {noise(meter.stop())})"
        )
    meter = Meter(server)
    async with asyncio.timeout(PHASE_TIMEOUT_S):
        full = await viewers.replay(server.port, session_id, None, last_seq, offer)
    print(
        f"replay, since null       {full:8.3f} s  ({last_seq} events, recovered false; "
        f"{noise(meter.stop())})"
    )


async def bench(compression: str, with_trickle: bool) -> dict[str, float]:
    offer = None if compression == "none" else compression
    print(
        f"Tether pipeline bench: terminal_output events of {PAYLOAD_BYTES} bytes, relay frames "
        f"of {BATCH_EVENTS}, window {WINDOW_EVENTS}; clients offer permessage-deflate: "
        f"{'yes' if offer else 'no'}\n"
    )
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="tether-bench-") as tmp:
        server, token = start_tether(Path(tmp))
        console_token = (Path(tmp) / "console.token").read_text().strip()
        os.environ[viewers.TOKEN_ENV] = console_token  # for the viewer processes too
        with running(server):
            meter = Meter(server)
            await asyncio.sleep(IDLE_S)
            results["idle_rss_mb"] = server.rss_mb()
            idle = meter.stop()
            print(
                f"idle RSS                 {results['idle_rss_mb']:8.1f} MB  (pid "
                f"{server.proc.pid}, {idle.server_s:.2f} s CPU in {idle.wall_s:.0f} s idle; "
                f"{noise(idle)})"
            )

            url = f"ws://127.0.0.1:{server.port}/ws/relay"
            relay = await RelayClient.open(url, token, offer)
            try:
                session_id, epoch = await ingest_phase(server, relay, offer, results)
                async with asyncio.timeout(PHASE_TIMEOUT_S):
                    lat = await latency(server, relay, "bench-latency", compression)
            finally:
                await relay.close()
            results["p99_latency_ms_at_2k"] = lat.p99_ms
            print(
                f"latency p99              {lat.p99_ms:8.1f} ms  (p50 {lat.p50_ms:.1f}, "
                f"max {lat.max_ms:.1f}; {LATENCY_VIEWERS} viewers, {lat.sent_rate:.0f} events/s "
                f"sent, pacing at worst {lat.max_behind_ms:.1f} ms late; CPU: server "
                f"{100 * lat.usage.server_s / lat.usage.wall_s:.0f}%, bench and viewers "
                f"{100 * lat.usage.bench_s / lat.usage.wall_s:.0f}% of one core; "
                f"{noise(lat.usage)})"
            )
            await replay_phase(server, session_id, epoch, offer, results)
            print(f"RSS after the bench      {server.rss_mb():8.1f} MB")
    if with_trickle:
        await trickle.trickle_phase(results)
    return results


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--compression",
        choices=("deflate", "none"),
        default="deflate",
        help="permessage-deflate offered by the bench's clients (default: deflate, as browsers "
        "and websockets clients do)",
    )
    parser.add_argument(
        "--trickle-only",
        action="store_true",
        help="run only the trickle scenarios (write amplification and WAL size, 2 minutes)",
    )
    parser.add_argument(
        "--no-trickle",
        action="store_true",
        help="skip the trickle scenarios (to compare bursts, latency and replay quickly)",
    )
    args = parser.parse_args(argv)
    if args.trickle_only:
        results: dict[str, float] = {}
        asyncio.run(trickle.trickle_phase(results))
    else:
        results = asyncio.run(bench(args.compression, not args.no_trickle))
    print()
    for key in (k for k in TARGETS if k in results):
        print(f"{key:40} {results[key]:12.3f}  {verdict(key, results[key])}")
    print(json.dumps({key: round(results[key], 3) for key in JSON_KEYS if key in results}))
    return 0 if all(met(key, results[key]) for key in TARGETS if key in results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
