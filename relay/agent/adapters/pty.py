"""The PTY adapter: any program in a terminal (a shell by default), as raw terminal output.

No structure is parsed: output becomes `terminal_output` events for xterm.js, input is
keystrokes. It is the fallback for agents without a structured interface.
"""

from __future__ import annotations

import logging
import shlex
import signal

from protocol.messages import TerminalOutput
from relay.agent.adapters.base import Adapter, EventSink, SessionSpec
from relay.agent.pty_process import PtyProcess
from relay.errors import SpawnError

log = logging.getLogger(__name__)

TERM = "xterm-256color"  # what xterm.js in the PWA emulates
INTERRUPT_KEY = b"\x03"  # Ctrl-C: the terminal driver turns it into SIGINT for the foreground job
HUP_WAIT_S = 1.0  # shells exit at once on hangup; give them this long before SIGTERM


class PtyAdapter(Adapter):
    agent = "pty"

    def __init__(self, spec: SessionSpec, sink: EventSink) -> None:
        super().__init__(spec, sink)
        self._argv = list(spec.command) or shlex.split(spec.shell)
        self._pty: PtyProcess | None = None

    @property
    def command(self) -> list[str]:
        return list(self._argv)

    async def start(self) -> None:
        if not self._argv:
            raise SpawnError("no command given and no shell configured")
        env = {**self.spec.env, "TERM": TERM, "TETHER_SESSION_ID": self.spec.session_id}
        self._pty = PtyProcess.spawn(
            self.spec.sandbox.wrap(self._argv, env, terminal=True),
            cwd=self.spec.workspace.path,
            env=env,
            cols=self.spec.cols,
            rows=self.spec.rows,
        )
        log.info(
            "session %s: started %s as pid %d", self.spec.session_id, self._argv[0], self._pty.pid
        )

    async def run(self) -> int | None:
        pty = self._started()
        await pty.pump(
            lambda data: self.sink.emit(TerminalOutput(data=data)), paused=lambda: self.sink.full
        )
        return pty.exit_code

    async def send_input(self, data: str) -> None:
        self._started().write(data.encode("utf-8"))

    async def resize(self, cols: int, rows: int) -> None:
        self._started().resize(cols, rows)

    async def interrupt(self) -> None:
        self._started().write(INTERRUPT_KEY)

    async def stop(self, grace_s: float) -> None:
        pty = self._started()
        for sig, wait_s in ((signal.SIGHUP, HUP_WAIT_S), (signal.SIGTERM, grace_s)):
            pty.signal_group(sig)
            if await pty.wait_exit(wait_s):
                return
        log.warning("session %s: pid %d ignored SIGTERM; killing it", self.spec.session_id, pty.pid)
        pty.signal_group(signal.SIGKILL)

    def close(self) -> None:
        if self._pty is not None:
            self._pty.close()

    def _started(self) -> PtyProcess:
        if self._pty is None:
            raise RuntimeError("PtyAdapter used before start()")
        return self._pty
