"""The processes bench/pipeline.py measures: `tether serve` and bench/bare_server.py.

Each runs as a subprocess on a free loopback port; its CPU time and memory are read from /proc,
so the bench's own work is never counted against the server.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR.parent))  # the repository, for tests/harness.py

from tests.harness import ServerProcess, free_port  # noqa: E402

LOG_TAIL_CHARS = 2000  # of the server's output, shown when it fails to start
STARTUP_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class ServerError(Exception):
    """A server under test did not start, or its /proc entry is unreadable."""


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
    """`tether admin relay-token create` then `tether serve` (tests/harness.py's, without a local
    relay, logging warnings only); returns the server and the token."""
    server = ServerProcess(
        data_dir, extra=("--log-level", "warning"), start_timeout_s=STARTUP_TIMEOUT_S
    )
    try:
        token = server.create_relay_token("bench")
    except subprocess.CalledProcessError as exc:
        raise ServerError(f"tether admin relay-token create failed: {exc.stderr[-500:]}") from exc
    try:
        server.start()
    except (TimeoutError, RuntimeError) as exc:
        reason = str(exc).splitlines()[0]  # "server exited N:" or "timed out after ..."
        raise ServerError(f"tether serve: {reason}\n{server.log()[-LOG_TAIL_CHARS:]}") from exc
    assert server.process is not None
    return Process(server.process, server.port), token


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
