"""`tether attach` running under a real pseudo-terminal, as a user's shell would run it."""

from __future__ import annotations

import os
import re
import select
import signal
import termios
import threading
import time

import ptyprocess

from tests.harness import ROOT, tether_argv

COLS, ROWS = 100, 30


class AttachedTerminal:
    """A `tether attach ...` process on a PTY; everything it prints is kept in `output`."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.process = ptyprocess.PtyProcess.spawn(
            tether_argv("attach", *args),
            cwd=str(ROOT),
            env=env or dict(os.environ),
            dimensions=(ROWS, COLS),
        )
        self.saved_mode = termios.tcgetattr(self.process.fd)  # cooked, as spawned
        self._output = bytearray()
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                ready, _, _ = select.select([self.process.fd], [], [], 0.1)
                if ready:
                    data = os.read(self.process.fd, 65536)
                    if not data:
                        return
                    with self._lock:
                        self._output += data
            except OSError:  # EIO once the child has exited and the PTY is closed
                return

    @property
    def output(self) -> str:
        with self._lock:
            return self._output.decode(errors="replace")

    def expect(self, pattern: str, timeout_s: float = 20.0) -> re.Match[str]:
        deadline = time.monotonic() + timeout_s
        while True:
            found = re.search(pattern, self.output)
            if found:
                return found
            if time.monotonic() > deadline:
                raise TimeoutError(f"{pattern!r} not shown within {timeout_s} s:\n{self.output}")
            time.sleep(0.05)

    def type(self, keys: bytes) -> None:
        self.process.write(keys)

    def wait(self, timeout_s: float = 20.0) -> int:
        deadline = time.monotonic() + timeout_s
        while self.process.isalive():
            if time.monotonic() > deadline:
                raise TimeoutError(f"tether attach still running:\n{self.output}")
            time.sleep(0.02)
        self._reader.join(5)
        status = self.process.exitstatus
        if status is None:  # killed by a signal
            return 128 + int(self.process.signalstatus or 0)
        return int(status)

    def mode(self) -> list[object]:
        """The terminal's current termios attributes (a PTY master reports its slave's)."""
        return list(termios.tcgetattr(self.process.fd))

    def signal(self, sig: signal.Signals) -> None:
        self.process.kill(sig)

    def close(self) -> None:
        if self.process.isalive():
            self.process.terminate(force=True)
        self.process.close(force=True)
