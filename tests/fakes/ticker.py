"""A program for PTY sessions: prints numbered lines at a steady pace, then optionally lingers.

    python ticker.py COUNT INTERVAL_S [LINGER_S [STOP_FILE]]

Each line is `tick NNNNNN` and flushed on its own, so a relay reading the PTY sees one write per
line (as long as it keeps up). Paced against a monotonic clock so the rate does not drift.
With STOP_FILE, COUNT is only a bound: the ticker stops once that file exists and writes the
number of lines it printed to STOP_FILE.count, so a test can end a stream when it has seen enough.
"""

import sys
import time
from pathlib import Path


def main() -> None:
    count, interval = int(sys.argv[1]), float(sys.argv[2])
    linger = float(sys.argv[3]) if len(sys.argv) > 3 else 0.0
    stop = Path(sys.argv[4]) if len(sys.argv) > 4 else None
    start = time.monotonic()
    printed = 0
    for n in range(1, count + 1):
        if stop is not None and stop.exists():
            break
        delay = start + n * interval - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        sys.stdout.write(f"tick {n:06d}\n")
        sys.stdout.flush()
        printed = n
    if stop is not None:
        Path(f"{stop}.count").write_text(str(printed))
    time.sleep(linger)


def expected(count: int) -> str:
    """What a PTY shows for `count` lines (the terminal turns \\n into \\r\\n)."""
    return "".join(f"tick {n:06d}\r\n" for n in range(1, count + 1))


if __name__ == "__main__":
    main()
