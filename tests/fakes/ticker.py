"""A program for PTY sessions: prints numbered lines at a steady pace, then optionally lingers.

    python ticker.py COUNT INTERVAL_S [LINGER_S]

Each line is `tick NNNNNN` and flushed on its own, so a relay reading the PTY sees one write per
line (as long as it keeps up). Paced against a monotonic clock so the rate does not drift.
"""

import sys
import time


def main() -> None:
    count, interval = int(sys.argv[1]), float(sys.argv[2])
    linger = float(sys.argv[3]) if len(sys.argv) > 3 else 0.0
    start = time.monotonic()
    for n in range(1, count + 1):
        delay = start + n * interval - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        sys.stdout.write(f"tick {n:06d}\n")
        sys.stdout.flush()
    time.sleep(linger)


def expected(count: int) -> str:
    """What a PTY shows for `count` lines (the terminal turns \\n into \\r\\n)."""
    return "".join(f"tick {n:06d}\r\n" for n in range(1, count + 1))


if __name__ == "__main__":
    main()
