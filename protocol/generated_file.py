"""A file generated from the code, committed, and checked for staleness.

Each generator's `main` writes its file, or with `--check` only compares and exits 1 when the
committed file differs from what the code produces now (the tests and `scripts/test` check).
"""

from __future__ import annotations

import sys
from pathlib import Path


def write_or_check(path: Path, text: str, argv: list[str], command: str) -> int:
    """Write `text` to `path`, or with `--check` in `argv` return 1 when `path` holds other text;
    `command` is what rewrites it."""
    if "--check" not in argv:
        path.write_text(text)
        return 0
    if path.exists() and path.read_text() == text:
        return 0
    print(f"{path} is stale: run {command}", file=sys.stderr)
    return 1
