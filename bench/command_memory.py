"""What remembering a command costs the relay: one commit to commands.sqlite3 per command.

Starts are committed with an fsync (synchronous=FULL), every other command without
(synchronous=NORMAL); see relay/command_store.py. Prints the time per command of each and
ends with one JSON line. Run it on the disk the relay's state directory lives on:

    .venv/bin/python -m bench.command_memory [--dir PATH] [--commands N]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from protocol.messages import CommandResult
from relay.command_store import CommandMemory


def per_command_ms(directory: Path, count: int, *, durable: bool) -> float:
    memory = CommandMemory.open(directory)
    try:
        start = time.perf_counter()
        for i in range(count):
            memory.remember(CommandResult(command_id=f"{durable}-{i}", ok=True), durable=durable)
        return (time.perf_counter() - start) * 1000 / count
    finally:
        memory.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--dir", type=Path, default=None, help="where to write (default: a temp dir)"
    )
    parser.add_argument("--commands", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        start_ms = per_command_ms(Path(tmp), args.commands, durable=True)
        other_ms = per_command_ms(Path(tmp), args.commands, durable=False)
    print(f"start (fsync):          {start_ms:.3f} ms per command")
    print(f"other (no fsync):       {other_ms:.3f} ms per command")
    print(json.dumps({"start_ms": round(start_ms, 3), "other_ms": round(other_ms, 3)}))


if __name__ == "__main__":
    main()
