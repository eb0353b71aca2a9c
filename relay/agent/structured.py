"""The base of adapters for agents driven over stdin/stdout, one JSON object per line.

The process runs in the workspace with the scrubbed environment, in its own process group.
`run()` reads stdout line by line and hands each JSON object to `on_message()`; lines that are
not JSON objects, and messages a subclass does not map, become `native` events (kept as `raw`).
`on_start()` (the agent's handshake) runs alongside the reader, so it may await answers; the
first prompt is sent once it is done. If the process exits without being asked to, an `error`
event carries its exit code and the tail of its stderr; the supervisor then ends the session.

Subclasses implement argv(), on_start(), on_message(), prompt() and cancel(). on_message() must
not wait for the agent (the reader is blocked meanwhile): use `background()` for that.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import json
import logging
import os
import signal
from collections.abc import Coroutine
from typing import Any

from protocol.codes import ErrorCode
from protocol.messages import Decision, Error, Event, Native, Status, UserPrompt
from relay.agent.adapters.base import Adapter, EventSink, SessionSpec
from relay.agent.approvals import Approvals
from relay.errors import CommandError, SpawnError

log = logging.getLogger(__name__)

MAX_LINE_BYTES = 16 << 20  # one message from the agent; a longer line ends the session
STDERR_TAIL_BYTES = 4096  # kept for the error event when the agent crashes
HANDSHAKE_TIMEOUT_S = 60.0  # on_start() (node CLIs start slowly on a busy machine)
STDIN_CLOSE_WAIT_S = 1.0  # after closing stdin, before SIGTERM
BACKPRESSURE_POLL_S = 0.05  # while the outbox is full, stop reading the agent


class StructuredAdapter(Adapter):
    resumable = True

    def __init__(self, spec: SessionSpec, sink: EventSink) -> None:
        super().__init__(spec, sink)
        self.approvals = Approvals(self.emit)
        self._process: asyncio.subprocess.Process | None = None
        self._ready = asyncio.Event()
        self._stopping = False
        self._stderr_tail = b""
        self._tasks: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------------ for subclasses

    @abc.abstractmethod
    def argv(self) -> list[str]:
        """The whole command line, executable first."""

    @abc.abstractmethod
    async def on_start(self) -> None:
        """The agent's handshake, right after the spawn (resume when `spec.resume` is set)."""

    @abc.abstractmethod
    async def on_message(self, message: dict[str, Any]) -> None:
        """One JSON object from the agent's stdout."""

    @abc.abstractmethod
    async def prompt(self, text: str) -> None:
        """Start a native turn; return once it is handed over, not when the turn ends."""

    @abc.abstractmethod
    async def cancel(self) -> None:
        """Interrupt the current turn natively."""

    def emit(self, event: Event) -> None:
        self.sink.emit(event)

    def raw(self, message: Any, type: str = "") -> None:
        """Keep a message Tether does not map."""
        self.emit(Native(type=type, raw=message))

    def send(self, message: dict[str, Any]) -> None:
        """Write one JSON line to the agent's stdin."""
        stdin = self._started().stdin
        if stdin is None or stdin.is_closing():
            raise CommandError(ErrorCode.SESSION_ENDED, "the agent's input is closed")
        stdin.write(json.dumps(message, separators=(",", ":")).encode() + b"\n")

    def background(self, work: Coroutine[Any, Any, None], what: str) -> None:
        """Run `work` beside the reader; a failure becomes an `error` event, not a crash."""

        async def guarded() -> None:
            try:
                await work
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("session %s: %s failed: %s", self.spec.session_id, what, exc)
                self.emit(Error(message=f"{what} failed: {exc}", code=ErrorCode.INTERNAL))

        task = asyncio.create_task(guarded(), name=f"{self.agent} {what}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------------ Adapter

    @property
    def command(self) -> list[str]:
        return self.argv()

    async def start(self) -> None:
        argv = self.argv()
        try:
            self._process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                cwd=self.spec.workspace.path,
                env=dict(self.spec.env),
                start_new_session=True,
                limit=MAX_LINE_BYTES,
            )
        except OSError as exc:
            raise SpawnError(f"cannot start {argv[0]}: {exc.strerror or exc}") from exc
        log.info("session %s: started %s as pid %d", self.spec.session_id, argv[0], self.pid)

    async def run(self) -> int | None:
        process = self._started()
        stderr = asyncio.create_task(self._read_stderr(), name=f"{self.agent} stderr")
        self.background(self._handshake(), "starting the agent")
        try:
            await self._read_stdout()
            code = await process.wait()
            self._signal_group(signal.SIGKILL)  # whatever it left behind in its group
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(STDIN_CLOSE_WAIT_S):
                    await stderr
        finally:
            stderr.cancel()
            for task in list(self._tasks):
                task.cancel()
            await self.on_exit()
        if not self._stopping and code != 0:
            tail = self._stderr_tail.decode("utf-8", "replace").strip()
            message = f"{self.agent} exited with code {code}" + (f": {tail}" if tail else "")
            self.emit(Error(message=message, code=ErrorCode.AGENT_CRASHED))
        return code

    async def on_exit(self) -> None:
        """The process is gone: release what waits for it (JSON-RPC requests, for example)."""

    async def send_input(self, data: str) -> None:
        try:
            async with asyncio.timeout(HANDSHAKE_TIMEOUT_S):
                await self._ready.wait()
        except TimeoutError:
            raise CommandError(ErrorCode.TIMEOUT, "the agent is still starting") from None
        self.emit(UserPrompt(text=data))
        self.emit(Status(state="running"))
        await self.prompt(data)

    async def resize(self, cols: int, rows: int) -> None:
        """Structured agents have no terminal."""

    async def interrupt(self) -> None:
        await self.approvals.cancel_all("interrupted")
        await self.cancel()

    async def resolve_approval(
        self, approval_id: str, decision: Decision, message: str, by: str = ""
    ) -> None:
        await self.approvals.resolve(approval_id, decision, message, by)

    def pending_approvals(self) -> list[str]:
        return self.approvals.pending()

    async def stop(self, grace_s: float) -> None:
        self._stopping = True
        process = self._started()
        if process.stdin is not None:
            process.stdin.close()
        for sig, wait_s in ((None, STDIN_CLOSE_WAIT_S), (signal.SIGTERM, grace_s)):
            if sig is not None:
                self._signal_group(sig)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait_s):
                    await process.wait()
                return
        log.warning(
            "session %s: pid %d ignored SIGTERM; killing it", self.spec.session_id, self.pid
        )
        self._signal_group(signal.SIGKILL)

    def close(self) -> None:
        if self._process is not None and self._process.stdin is not None:
            self._process.stdin.close()

    # ------------------------------------------------------------------ internals

    @property
    def pid(self) -> int:
        return self._started().pid

    async def _handshake(self) -> None:
        try:
            async with asyncio.timeout(HANDSHAKE_TIMEOUT_S):
                await self.on_start()
        except Exception as exc:
            reason = "no answer" if isinstance(exc, TimeoutError) else str(exc)
            self.emit(Error(message=f"{self.agent} did not start: {reason}", code="start_failed"))
            self._stopping = True
            self._signal_group(signal.SIGTERM)
            return
        self._ready.set()
        if self.spec.prompt and not self.spec.resume:
            await self.send_input(self.spec.prompt)

    async def _read_stdout(self) -> None:
        stdout = self._started().stdout
        assert stdout is not None
        while True:
            try:
                line = await stdout.readline()
            except ValueError:  # longer than MAX_LINE_BYTES
                self.emit(Error(message="the agent wrote a line over 16 MiB", code="bad_output"))
                self._signal_group(signal.SIGKILL)
                return
            if not line:
                return
            while self.sink.full:  # noqa: ASYNC110 - a sink is polled, as PtyProcess.pump does
                await asyncio.sleep(BACKPRESSURE_POLL_S)
            await self._dispatch(line)

    async def _dispatch(self, line: bytes) -> None:
        text = line.decode("utf-8", "replace").strip()
        if not text:
            return
        try:
            message = json.loads(text)
        except ValueError:
            self.raw(text, type="non_json_output")
            return
        if not isinstance(message, dict):
            self.raw(message, type="non_object_output")
            return
        try:
            await self.on_message(message)
        except Exception:  # a message the adapter could not handle must not end the session
            log.exception("session %s: cannot handle %.200s", self.spec.session_id, text)
            self.raw(message, type="unhandled")

    async def _read_stderr(self) -> None:
        stderr = self._started().stderr
        assert stderr is not None
        while chunk := await stderr.read(4096):
            self._stderr_tail = (self._stderr_tail + chunk)[-STDERR_TAIL_BYTES:]

    def _signal_group(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)

    def _started(self) -> asyncio.subprocess.Process:
        if self._process is None:
            raise RuntimeError(f"{type(self).__name__} used before start()")
        return self._process
