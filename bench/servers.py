"""The processes bench/pipeline.py measures: `tether serve` and bench/bare_server.py.

Each runs as a subprocess on a free loopback port; its CPU time and memory are read from /proc,
so the bench's own work is never counted against the server.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
_SCRIPT = Path(sys.executable).with_name("tether")  # the console script of this environment
TETHER = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "tether"]
LOG_TAIL_BYTES = 2000  # of the server's output, shown when it fails to start
STARTUP_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class ServerError(Exception):
    """A server under test did not start, or its /proc entry is unreadable."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Process:
    """A server subprocess; CPU and memory are read from /proc."""

    proc: subprocess.Popen[bytes]
    port: int

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise ServerError("no VmRSS in /proc status")

    def cpu_s(self) -> float:
        """User + system CPU seconds of the process, all threads."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def machine_busy_s() -> float:
    """CPU seconds the whole machine has spent busy so far, all cores, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(values) - values[3] - values[4]) / _CLOCK_TICKS  # all but idle and iowait


@dataclass
class Usage:
    """CPU seconds used over a stretch of wall time, by whom."""

    wall_s: float
    server_s: float  # the server under test
    bench_s: float  # this process (relay client, listeners) and helpers that report theirs
    others_s: float  # everything else on the machine: noise in the figures

    @property
    def others_pct(self) -> float:
        """Share of the machine's CPU capacity other processes took."""
        return 100 * self.others_s / (self.wall_s * (os.cpu_count() or 1))


class Meter:
    """Measures Usage from construction to `stop()`."""

    def __init__(self, server: Process) -> None:
        self._server = server
        self._start = self._sample()

    def _sample(self) -> tuple[float, float, float, float]:
        return time.perf_counter(), self._server.cpu_s(), time.process_time(), machine_busy_s()

    def stop(self, helpers_s: float = 0.0) -> Usage:
        """`helpers_s`: CPU of bench subprocesses that measured their own (the viewers)."""
        now = self._sample()
        wall, server, bench, machine = (b - a for a, b in zip(self._start, now, strict=True))
        bench += helpers_s
        return Usage(wall, server, bench, max(0.0, machine - server - bench))


def start_tether(data_dir: Path) -> tuple[Process, str]:
    """`tether admin relay-token create` then `tether serve`; returns the server and the token."""
    created = subprocess.run(
        [*TETHER, "admin", "--data-dir", str(data_dir), "relay-token", "create", "bench"],
        capture_output=True,
        text=True,
        timeout=STARTUP_TIMEOUT_S,
    )
    found = re.search(r"\btr_[A-Za-z0-9_-]+", created.stdout)
    if created.returncode != 0 or found is None:
        raise ServerError(f"tether admin relay-token create failed: {created.stderr[-500:]}")
    port = free_port()
    serve = ["serve", "--data-dir", str(data_dir), "--port", str(port), "--no-local-relay"]
    log_path = data_dir / "serve.log"
    with log_path.open("wb") as log:  # the child keeps its own descriptor
        proc = subprocess.Popen(
            [*TETHER, *serve, "--log-level", "warning"], stdout=log, stderr=subprocess.STDOUT
        )
    server = Process(proc, port)
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while True:
        if proc.poll() is not None:
            tail = log_path.read_bytes()[-LOG_TAIL_BYTES:].decode(errors="replace")
            raise ServerError(f"tether serve exited with {proc.returncode}:\n{tail}")
        with contextlib.suppress(OSError, ValueError):
            url = f"http://127.0.0.1:{port}/api/health"
            with urllib.request.urlopen(url, timeout=1.0) as response:
                if json.load(response).get("ok"):
                    return server, found.group(0)
        if time.monotonic() > deadline:
            server.stop()
            raise ServerError(f"tether serve not healthy after {STARTUP_TIMEOUT_S} s")
        time.sleep(0.1)


def start_bare() -> Process:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, BENCH_DIR / "bare_server.py", str(port)], stdout=subprocess.PIPE
    )
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != b"ready":
        raise ServerError("bare server did not start")
    return Process(proc, port)


@contextlib.contextmanager
def running(process: Process) -> Iterator[Process]:
    """Stop the process when the block ends, however it ends."""
    try:
        yield process
    finally:
        process.stop()
