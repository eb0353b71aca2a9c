"""The supervisor owns the relay's sessions: session_id -> adapter, from start to end.

It checks each command against the workspace allow-list and the adapter registry, starts
adapters, and frames every session's events: `session_started` and `status running` after the
spawn, `session_ended` when the process is gone (reason "exited", or "stopped" when a stop was
asked for). Each live session has one watcher task, owned here, that runs the adapter and
cleans up; a stop runs as a second task owned by the same session record.

Session states: starting -> running -> stopping -> ended (the record is removed).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import secrets
from collections.abc import Callable, Mapping
from pathlib import Path

import msgspec

from protocol.codes import ErrorCode
from protocol.messages import (
    ApprovalRequested,
    ApprovalResolved,
    Error,
    Event,
    Interrupt,
    PendingApproval,
    Resize,
    ResolveApproval,
    SendInput,
    SessionCommand,
    SessionEnded,
    SessionStarted,
    StartSession,
    Status,
    StopSession,
)
from relay.agent.adapters import ADAPTERS, with_acp_agents
from relay.agent.adapters.base import Adapter, EventSink, SessionSpec
from relay.agent.config import AgentConfig, offered_agents
from relay.agent.sandbox import Confinement, SandboxUnavailableError, SessionSandbox, choose
from relay.errors import CommandError, SpawnError
from relay.hooks.bridge import workspace_socket
from relay.outbox import Outbox
from relay.settings import Settings
from relay.workspaces import Workspace

log = logging.getLogger(__name__)

MAX_TERMINAL_CELLS = 1000  # cols or rows above this are a client bug, not a screen
STOP_MARGIN_S = 3.0  # stop_all waits stop_grace_s plus this (the adapters' own pauses, reaping)


class _Sink:
    """An EventSink that stamps events with one session's id into the outbox."""

    def __init__(self, outbox: Outbox, session_id: str) -> None:
        self._outbox = outbox
        self._session_id = session_id

    def emit(self, event: Event) -> None:
        self._outbox.append(self._session_id, event)
        if isinstance(event, ApprovalRequested):
            self._outbox.note_approval(self._session_id, event.approval_id, pending=True)
        elif isinstance(event, ApprovalResolved):
            self._outbox.note_approval(self._session_id, event.approval_id, pending=False)

    @property
    def full(self) -> bool:
        return self._outbox.full

    def resumable(self, token: str) -> None:
        self._outbox.set_resume(self._session_id, token)


@dataclasses.dataclass(eq=False)
class _Session:
    session_id: str
    adapter: Adapter
    watcher: asyncio.Task[None] | None = None
    stopper: asyncio.Task[None] | None = None
    suspended: bool = False  # stopped with the relay, to be resumed on its next start

    @property
    def stopping(self) -> bool:
        return self.stopper is not None


class Supervisor:
    def __init__(
        self,
        settings: Settings,
        outbox: Outbox,
        parent_env: Mapping[str, str],
        adapters: Mapping[str, type[Adapter]] = ADAPTERS,
        confined: Confinement | None = None,
    ) -> None:
        self._settings = settings
        self._confined = confined or Confinement("", "not set up", (), (), settings.state_dir)
        self._outbox = outbox
        self._parent_env = dict(parent_env)
        self._adapters = with_acp_agents(adapters, settings.agents)
        self._workspaces = {w.name: w for w in settings.workspaces}
        self._sessions: dict[str, _Session] = {}
        executables = {name: adapter.executable for name, adapter in self._adapters.items()}
        self._agents, refused = offered_agents(settings.agents, executables, parent_env.get("PATH"))
        for name, reason in sorted(refused.items()):
            log.warning("agent %s is configured but not offered: %s", name, reason)

    @property
    def agents(self) -> list[str]:
        return list(self._agents)

    def sandbox_status(self) -> tuple[str, str]:
        """("bwrap" or "none", why not or where not) for relay_info: what the PWA warns of."""
        exceptions = [f"workspace {n}" for n, m in self._settings.workspace_sandbox.items()]
        exceptions += [f"agent {a.name}" for a in self._settings.agents.values() if a.sandbox]
        if self._settings.sandbox == "none":
            return "none", "turned off in the relay's settings"
        if not self._confined.available:
            return "none", self._confined.reason
        return "bwrap", ("set per " + ", ".join(exceptions)) if exceptions else ""

    def live_sessions(self) -> list[str]:
        return list(self._sessions)

    def pending_approvals(self) -> list[PendingApproval]:
        return [
            PendingApproval(session_id=session_id, approval_id=approval_id)
            for session_id, session in self._sessions.items()
            for approval_id in session.adapter.pending_approvals()
        ]

    async def recover(self) -> None:
        """At startup: resume the previous run's sessions whose agent can continue its own
        conversation; end the others with `relay_restarted` (their processes died with it).
        Approvals pending in the previous run are cancelled: no process waits for them now."""
        for session_id, start, token in self._outbox.resumable_sessions():
            self._cancel_approvals(session_id, "the relay restarted")
            command = msgspec.json.decode(start, type=StartSession) if start else None
            adapter = self._adapters.get(command.agent) if command else None
            if command is None or adapter is None or not adapter.resumable or not token:
                continue
            try:
                await self._launch(command, resume=token)
            except CommandError as exc:
                log.warning("session %s: cannot resume: %s", session_id, exc.message)
                continue
            log.info("session %s: resumed %s conversation %s", session_id, command.agent, token)
        orphans = [s for s in self._outbox.live_sessions() if s not in self._sessions]
        self._outbox.end_sessions(orphans, reason="relay_restarted")
        if orphans:
            log.warning("%d session(s) of the previous run ended: relay_restarted", len(orphans))

    async def handle(self, command: SessionCommand) -> None:
        """Carry out one command from the server; raises CommandError with the reason."""
        if isinstance(command, StartSession):
            await self._start(command)
            return
        session = self._sessions.get(command.session_id)
        if session is None:
            if isinstance(command, StopSession) and self._outbox.session_state(command.session_id):
                return  # already ended: stopping again is a no-op
            raise self._not_live(command.session_id)
        if isinstance(command, SendInput):
            await session.adapter.send_input(command.data)
        elif isinstance(command, ResolveApproval):
            await session.adapter.resolve_approval(
                command.approval_id, command.decision, command.message, command.by
            )
        elif isinstance(command, Resize):
            _check_size(command.cols, command.rows)
            await session.adapter.resize(command.cols, command.rows)
        elif isinstance(command, Interrupt):
            await session.adapter.interrupt()
        elif isinstance(command, StopSession):
            self.stop(command.session_id)

    def stop(self, session_id: str) -> None:
        """Begin stopping a session; its watcher emits session_ended when the process is gone."""
        session = self._sessions.get(session_id)
        if session is None or session.stopping:
            return
        log.info("session %s: stopping", session_id)
        session.stopper = asyncio.create_task(
            session.adapter.stop(self._settings.stop_grace_s), name=f"stop {session_id}"
        )

    def forget(self, session_id: str) -> None:
        """The server refuses this session: drop its events and stop its process."""
        self._outbox.drop_session(session_id)
        self.stop(session_id)

    async def stop_all(self, *, suspend: bool = False) -> None:
        """Stop every session and wait (bounded) until each has ended. With `suspend` (the
        relay is shutting down), sessions whose agent can resume stay live, to be resumed by
        `recover()` on the next start."""
        for session_id, session in list(self._sessions.items()):
            session.suspended = suspend and self._outbox.resume_token(session_id) != ""
            self.stop(session_id)
        watchers = [s.watcher for s in self._sessions.values() if s.watcher is not None]
        if not watchers:
            return
        limit_s = self._settings.stop_grace_s + STOP_MARGIN_S
        _, still_running = await asyncio.wait(watchers, timeout=limit_s)
        for task in still_running:
            log.error("%s did not end within %.1f s; abandoning it", task.get_name(), limit_s)
            task.cancel()
        if still_running:
            await asyncio.wait(still_running)

    def adopt(
        self,
        make: Callable[[SessionSpec, EventSink], Adapter],
        *,
        agent: str,
        workspace: Workspace,
        cwd: str,
        title: str,
    ) -> Adapter:
        """Take in a session whose agent this relay did not start (a Claude Code run by hand,
        seen through its hooks): it is framed, listed, commanded and ended like any other."""
        if len(self._sessions) >= self._settings.max_sessions:
            raise SpawnError(f"this relay already runs {self._settings.max_sessions} sessions")
        session_id = secrets.token_hex(12)
        spec = SessionSpec(
            session_id=session_id,
            workspace=workspace,
            command=(),
            prompt="",
            cols=0,
            rows=0,
            shell=self._settings.shell,
            env={},
            agent=AgentConfig(name=agent),
        )
        sink = _Sink(self._outbox, session_id)
        adapter = make(spec, sink)
        self._outbox.open_session(session_id, agent=agent, workspace=workspace.name)
        sink.emit(
            SessionStarted(
                agent=agent, workspace=workspace.name, cwd=cwd, command=adapter.command, title=title
            )
        )
        sink.emit(Status(state="running"))
        session = _Session(session_id, adapter)
        self._sessions[session_id] = session
        session.watcher = asyncio.create_task(self._watch(session), name=f"session {session_id}")
        return adapter

    # ------------------------------------------------------------------ start and end

    async def _start(self, command: StartSession) -> None:
        session_id = command.session_id
        if not session_id:
            raise CommandError(ErrorCode.BAD_REQUEST, "start_session needs a session_id")
        if session_id in self._sessions:
            return  # the server re-sent a start it got no answer for: already done
        if self._outbox.session_state(session_id) is not None:
            raise CommandError(ErrorCode.SESSION_ENDED, f"session {session_id} already ran here")
        _check_size(command.cols, command.rows)
        await self._launch(command)

    async def _launch(self, command: StartSession, resume: str = "") -> None:
        """Start the adapter of a new session, or of a resumed one (`resume` set)."""
        session_id = command.session_id
        workspace = self._workspaces.get(command.workspace)
        if workspace is None:
            names = ", ".join(sorted(self._workspaces)) or "none"
            raise CommandError(
                ErrorCode.WORKSPACE_NOT_ALLOWED,
                f"workspace {command.workspace!r} is not in this relay's allow-list ({names})",
            )
        config = self._agents.get(command.agent)
        adapter_class = self._adapters.get(command.agent)
        if config is None or adapter_class is None:
            offered = ", ".join(self._agents)
            raise CommandError(
                ErrorCode.UNKNOWN_AGENT, f"this relay cannot run {command.agent!r} ({offered})"
            )
        if len(self._sessions) >= self._settings.max_sessions:
            raise SpawnError(f"this relay already runs {self._settings.max_sessions} sessions")
        spec = SessionSpec(
            session_id=session_id,
            workspace=workspace,
            command=tuple(command.command),
            prompt=command.prompt,
            cols=command.cols,
            rows=command.rows,
            shell=self._settings.shell,
            env=config.child_env(self._parent_env, self._settings.env_allow),
            agent=config,
            resume=resume,
            sandbox=self._sandbox(workspace, config, adapter_class),
        )
        sink = _Sink(self._outbox, session_id)
        adapter = adapter_class(spec, sink)
        if not resume:
            self._outbox.open_session(
                session_id,
                agent=command.agent,
                workspace=workspace.name,
                start=msgspec.json.encode(command),
            )
        try:
            await adapter.start()
        except Exception as exc:
            error = exc if isinstance(exc, SpawnError) else SpawnError(f"adapter failed: {exc}")
            log.warning("session %s: %s", session_id, error, exc_info=error is not exc)
            sink.emit(Error(message=error.message, code=ErrorCode.SPAWN_FAILED))
            sink.emit(SessionEnded(reason="spawn_failed"))
            if error is exc:
                raise
            raise error from exc
        if resume:
            sink.emit(Status(state="running", detail="resumed after a relay restart"))
        else:
            sink.emit(
                SessionStarted(
                    agent=command.agent,
                    workspace=workspace.name,
                    cwd=workspace.path,
                    command=adapter.command,
                    cols=command.cols,
                    rows=command.rows,
                )
            )
            sink.emit(Status(state="running"))
        session = _Session(session_id, adapter)
        self._sessions[session_id] = session
        session.watcher = asyncio.create_task(self._watch(session), name=f"session {session_id}")

    def _sandbox(
        self, workspace: Workspace, config: AgentConfig, adapter: type[Adapter]
    ) -> SessionSandbox:
        """How this session is confined: the agent's own setting, else the workspace's, else
        the relay's. Raises SpawnError when bwrap is required and cannot run."""
        s = self._settings
        mode = config.sandbox or s.workspace_sandbox.get(workspace.name) or s.sandbox
        try:
            confined = choose(mode, self._confined)
        except SandboxUnavailableError as exc:
            raise SpawnError(str(exc)) from None
        index = list(self._workspaces).index(workspace.name)
        return SessionSandbox(
            confined,
            workspace=workspace.path,
            others=tuple(w.path for w in self._workspaces.values() if w != workspace),
            hooks_socket=str(workspace_socket(Path(s.state_dir), index)),
            paths=adapter.sandbox_paths,
        )

    async def _watch(self, session: _Session) -> None:
        """Run the adapter until its process is gone, then end the session."""
        sink = _Sink(self._outbox, session.session_id)
        exit_code: int | None = None
        reason = "exited"
        try:
            exit_code = await session.adapter.run()
        except Exception as exc:  # task boundary: an adapter bug ends its session only
            log.exception("session %s: adapter failed", session.session_id)
            sink.emit(Error(message=f"adapter failed: {exc}", code=ErrorCode.INTERNAL))
            reason = "adapter_failed"
        finally:
            if session.stopper is not None:
                if reason == "exited":
                    reason = "stopped"
                session.stopper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await session.stopper
            session.adapter.close()
            del self._sessions[session.session_id]
            if session.suspended:
                log.info("session %s: suspended; resumed on the next start", session.session_id)
            else:
                self._cancel_approvals(session.session_id, "the agent ended")
                sink.emit(SessionEnded(exit_code=exit_code, reason=reason))
                log.info(
                    "session %s: ended (%s, exit code %s)", session.session_id, reason, exit_code
                )

    def _cancel_approvals(self, session_id: str, why: str) -> None:
        """Approvals no process waits for any more (it ended, or died with the relay)."""
        sink = _Sink(self._outbox, session_id)
        for approval_id in self._outbox.pending_approvals(session_id):
            sink.emit(ApprovalResolved(approval_id=approval_id, decision="cancelled", message=why))

    def _not_live(self, session_id: str) -> CommandError:
        if self._outbox.session_state(session_id) is not None:
            return CommandError(ErrorCode.SESSION_ENDED, f"session {session_id} has ended")
        return CommandError(ErrorCode.UNKNOWN_SESSION, f"no session {session_id} on this relay")


def _check_size(cols: int, rows: int) -> None:
    if not (0 < cols <= MAX_TERMINAL_CELLS and 0 < rows <= MAX_TERMINAL_CELLS):
        raise CommandError(ErrorCode.BAD_REQUEST, f"terminal size {cols}x{rows} is out of range")
