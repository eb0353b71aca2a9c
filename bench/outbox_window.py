"""What keeping acked events (relay/outbox_window.py) costs the relay's outbox.

    .venv/bin/python bench/outbox_window.py [--events 50000]

Drives a real Outbox in a temporary state directory the way a PTY session does: events of
PTY-sized payloads appended in loop turns of 10, each turn committed, then acked 10 at a time
(the server's group commit). Three runs: nothing kept (`keep_acked_bytes` 0, as before acked
events were kept), the default window (64 MiB, a day), and a window smaller than the stream
(2 MiB, so pruning runs on every ack). Per run: events per second through append + flush + ack,
bytes the process wrote (`wchar` of /proc/self/io: WAL and checkpoint writes) per byte of event
payload, the outbox's size on disk at the end, and the time one `read_batch` of unacked rows
takes with the window full (the partial index must keep it independent of what is kept).
Prints each figure, then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from protocol import messages as m
from relay.outbox import OUTBOX_FILE, Outbox, Retention

TURN_EVENTS = 10  # events appended per event-loop turn, then flushed (one transaction)
ACK_EVENTS = 10  # events covered by one ack
PAYLOAD = b"tick 000000 " * 8  # ~100 bytes of PTY output per event
READS = 200  # read_batch calls timed at the end


def _wchar() -> int:
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("wchar:"):
            return int(line.split()[1])
    raise RuntimeError("no wchar in /proc/self/io")


def _disk_bytes(state: Path) -> int:
    return sum(p.stat().st_size for p in state.glob(f"{OUTBOX_FILE}*"))


def run(events: int, keep: Retention) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp)
        outbox = Outbox.open(state, keep=keep)
        outbox.open_session("s", agent="pty", workspace="w")
        event = m.TerminalOutput(data=PAYLOAD)
        written = _wchar()
        start = time.perf_counter()
        acked = 0
        for n in range(1, events + 1):
            outbox.append("s", event)
            if n % TURN_EVENTS == 0:
                outbox.flush()
            if n - acked >= ACK_EVENTS and n % TURN_EVENTS == 0:
                acked = n
                outbox.ack({"s": acked})
        outbox.flush()
        outbox.ack({"s": events})
        elapsed = time.perf_counter() - start
        written = _wchar() - written
        for _ in range(50):  # a few unacked rows at the end, behind everything kept
            outbox.append("s", event)
        outbox.flush()
        read_start = time.perf_counter()
        for _ in range(READS):
            assert len(outbox.read_batch(0, max_events=500, max_bytes=1 << 20)) == 50
        read_ms = (time.perf_counter() - read_start) / READS * 1000
        size = _disk_bytes(state)
        outbox.close()
    return {
        "events_per_s": events / elapsed,
        "written_per_payload_byte": written / (events * len(PAYLOAD)),
        "disk_mb": size / 1e6,
        "read_batch_ms": read_ms,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    args = parser.parse_args()
    runs = {
        "none": Retention(bytes=0),
        "default": Retention(),
        "small": Retention(bytes=2 << 20),
    }
    results: dict[str, float] = {}
    for name, keep in runs.items():
        figures = run(args.events, keep)
        print(
            f"kept {name:8} {figures['events_per_s']:10.0f} events/s"
            f"  {figures['written_per_payload_byte']:6.1f} bytes written per payload byte"
            f"  {figures['disk_mb']:7.1f} MB on disk"
            f"  read_batch {figures['read_batch_ms']:.3f} ms"
        )
        results.update({f"{name}_{key}": round(value, 3) for key, value in figures.items()})
    print(json.dumps(results))


if __name__ == "__main__":
    main()
