"""The driver of agents spoken to over stdin/stdout, one JSON object per line.

The process half of a structured agent; the protocol is its `Translator` (relay/agent/
translator.py), which does no I/O. The process runs in the workspace with the scrubbed
environment, in its own process group. `run()` reads stdout line by line and hands each line to
the translator; the translator's outlet is this driver: events go to the sink, messages to the
agent's stdin, time limits become timers. The handshake (`translator.start()`) must make the
translator ready within HANDSHAKE_TIMEOUT_S; the first prompt is sent once it is. A viewer's
prompt is answered once the translator says the agent took it or refused it (Codex answers
each prompt, within its own time limit; other agents take a prompt once it is written): a
refusal is the command's error. If the process exits without being asked to, an `error` event
carries its exit code and the tail of its stderr; the supervisor then ends the session.

Subclasses set `translator_class` and implement argv().
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import json
import logging
import os
import signal
from typing import Any, ClassVar

from protocol.codes import ErrorCode
from protocol.messages import Decision, Error, Event
from relay.agent.adapters.base import Adapter, EventSink, SessionSpec
from relay.agent.translator import Translator
from relay.agent.workspace_files import WorkspaceFiles
from relay.errors import CommandError, SpawnError
from tether.private_files import inherited_umask

log = logging.getLogger(__name__)

MAX_LINE_BYTES = 16 << 20  # one message from the agent; a longer line ends the session
STDERR_TAIL_BYTES = 4096  # kept for the error event when the agent crashes
HANDSHAKE_TIMEOUT_S = 60.0  # until the translator is ready (node CLIs start slowly)
STDIN_CLOSE_WAIT_S = 1.0  # after closing stdin, before SIGTERM
BACKPRESSURE_POLL_S = 0.05  # while the outbox is full, stop reading the agent


class StructuredAdapter(Adapter):
    resumable = True
    translator_class: ClassVar[type[Translator]]

    def __init__(self, spec: SessionSpec, sink: EventSink) -> None:
        super().__init__(spec, sink)
        files = WorkspaceFiles(spec.workspace.path)
        self.translator = self.translator_class(
            self, files, spec.agent, agent=self.agent, resume=spec.resume
        )
        self._process: asyncio.subprocess.Process | None = None
        self._ready = asyncio.Event()
        self._stopping = False
        self._exited = False  # run() is over: no prompt can be answered
        self._stderr_tail = b""
        self._tasks: set[asyncio.Task[None]] = set()
        self._timers: set[asyncio.TimerHandle] = set()
        self._prompts: dict[int, asyncio.Future[CommandError | None]] = {}  # unanswered, by number

    @abc.abstractmethod
    def argv(self) -> list[str]:
        """The whole command line, executable first."""

    # ------------------------------------------------------------------ Outlet

    def emit(self, event: Event) -> None:
        self.sink.emit(event)

    def send(self, message: dict[str, Any]) -> None:
        """Write one JSON line to the agent's stdin."""
        stdin = self._started().stdin
        if stdin is None or stdin.is_closing():
            raise CommandError(ErrorCode.SESSION_ENDED, "the agent's input is closed")
        stdin.write(json.dumps(message, separators=(",", ":")).encode() + b"\n")

    def resume_token(self, token: str) -> None:
        self.sink.resumable(token)

    def ready(self) -> None:
        self._ready.set()

    def give_up(self) -> None:
        self._stopping = True
        self._signal_group(signal.SIGTERM)

    def expect(self, request_id: int, timeout_s: float) -> None:
        loop = asyncio.get_running_loop()
        self._timers.add(loop.call_later(timeout_s, self._expired, request_id))

    def prompt_answered(self, number: int, refusal: CommandError | None) -> None:
        answer = self._prompts.pop(number, None)
        if answer is not None and not answer.done():
            answer.set_result(refusal)

    # ------------------------------------------------------------------ Adapter

    @property
    def command(self) -> list[str]:
        return self.argv()

    async def start(self) -> None:
        argv = self.argv()
        try:
            self._process = await asyncio.create_subprocess_exec(
                *self.spec.sandbox.wrap(argv, self.spec.env),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                cwd=self.spec.workspace.path,
                env=dict(self.spec.env),
                start_new_session=True,
                umask=inherited_umask(),  # the relay's own is private; the agent's files are not
                limit=MAX_LINE_BYTES,
            )
        except OSError as exc:
            raise SpawnError(f"cannot start {argv[0]}: {exc.strerror or exc}") from exc
        log.info("session %s: started %s as pid %d", self.spec.session_id, argv[0], self.pid)

    async def run(self) -> int | None:
        process = self._started()
        stderr = asyncio.create_task(self._read_stderr(), name=f"{self.agent} stderr")
        handshake = asyncio.create_task(self._handshake(), name=f"{self.agent} handshake")
        self._tasks.add(handshake)
        handshake.add_done_callback(self._tasks.discard)
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
            for timer in self._timers:
                timer.cancel()
            self._exited = True
            for number in list(self._prompts):  # prompts the agent never answered
                self.prompt_answered(number, self._exited_error())
        if not self._stopping and code != 0:
            tail = self._stderr_tail.decode("utf-8", "replace").strip()
            message = f"{self.agent} exited with code {code}" + (f": {tail}" if tail else "")
            self.emit(Error(message=message, code=ErrorCode.AGENT_CRASHED))
        return code

    async def send_input(self, data: str) -> None:
        try:
            async with asyncio.timeout(HANDSHAKE_TIMEOUT_S):
                await self._ready.wait()
        except TimeoutError:
            raise CommandError(ErrorCode.TIMEOUT, "the agent is still starting") from None
        if self._exited:
            raise self._exited_error()
        number = self.translator.prompts + 1  # the number prompt() gives it
        answer = self._prompts[number] = asyncio.get_running_loop().create_future()
        try:
            self.translator.prompt(data)
            refusal = await answer
        finally:
            self._prompts.pop(number, None)
        if refusal is not None:
            raise refusal

    async def resize(self, cols: int, rows: int) -> None:
        """Structured agents have no terminal."""

    async def interrupt(self) -> None:
        self.translator.interrupt()

    async def resolve_approval(
        self, approval_id: str, decision: Decision, message: str, by: str = ""
    ) -> None:
        self.translator.approvals.resolve(approval_id, decision, message, by)

    def pending_approvals(self) -> list[str]:
        return self.translator.approvals.pending()

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

    async def started(self) -> None:
        """Return once the handshake is done (prompts are taken). For tests/agents/capture.py:
        a transcript must hold a viewer's prompt after the handshake it followed."""
        await self._ready.wait()

    # ------------------------------------------------------------------ internals

    @property
    def pid(self) -> int:
        return self._started().pid

    async def _handshake(self) -> None:
        try:
            self.translator.start()
        except Exception as exc:  # the task's boundary: e.g. the agent's input closed at once
            log.exception("session %s: starting %s", self.spec.session_id, self.agent)
            self.translator.start_failed(str(exc))
            return
        try:
            async with asyncio.timeout(HANDSHAKE_TIMEOUT_S):
                await self._ready.wait()
        except TimeoutError:
            message = f"{self.agent} did not start: no answer"
            self.emit(Error(message=message, code="start_failed"))
            self.give_up()
            return
        if self.spec.prompt and not self.spec.resume:
            try:
                await self.send_input(self.spec.prompt)
            except CommandError as exc:
                log.warning("session %s: first prompt: %s", self.spec.session_id, exc)
                message = f"starting the agent failed: {exc}"
                self.emit(Error(message=message, code=ErrorCode.INTERNAL))

    @staticmethod
    def _exited_error() -> CommandError:
        return CommandError(ErrorCode.SESSION_ENDED, "the agent exited")

    def _expired(self, request_id: int) -> None:
        now = asyncio.get_running_loop().time()
        self._timers = {timer for timer in self._timers if timer.when() > now}
        self.translator.expired(request_id)

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
            self.translator.on_line(line.decode("utf-8", "replace"))

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
