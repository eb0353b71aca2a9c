"""The installed `tether` command, run as a developer runs it (for the hooks tests)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.harness import ROOT, tether_argv


def tether_command() -> list[str]:
    """The installed `tether` script next to this Python, as a developer would run it."""
    script = Path(sys.executable).parent / "tether"
    return [str(script)] if script.exists() else tether_argv()


def run_tether(*args: str, cwd: Path = ROOT, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*tether_command(), *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=30,
        check=False,
    )
