"""What every agent adapter provides, and what it is given.

An adapter drives one agent process for one session: it starts the process, turns its native
output into protocol events (through an `EventSink`), and turns commands into the agent's native
input. The supervisor owns the lifecycle around it and emits `session_started`, `status` and
`session_ended` itself, so adapters emit only what the agent says.

Lifecycle, called by the supervisor in this order:

    start()   spawn; raise SpawnError on failure; emit nothing, read nothing yet
    run()     deliver the agent's output until the process exits; return its exit code
    stop()    may run while run() is still going: end the process, escalating signals

send_input / resize / interrupt may come at any time between start() and the end of run().
They must return quickly: they run on the link's receive path, ahead of later commands.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Mapping
from typing import ClassVar, Protocol

from protocol.codes import ErrorCode
from protocol.messages import Decision, Event
from relay.agent.config import AgentConfig
from relay.agent.sandbox import AgentPaths, SessionSandbox
from relay.errors import CommandError
from relay.workspaces import Workspace


class EventSink(Protocol):
    """Where an adapter's events go (the outbox, stamped with the session id)."""

    def emit(self, event: Event) -> None: ...

    @property
    def full(self) -> bool:
        """The outbox is over its limit: stop reading the agent's output until it is not."""
        ...

    def resumable(self, token: str) -> None:
        """The agent's own conversation id: after a relay restart the session is resumed
        with it (`SessionSpec.resume`)."""
        ...


@dataclasses.dataclass(frozen=True, kw_only=True)
class SessionSpec:
    """Everything an adapter needs to start one session."""

    session_id: str
    workspace: Workspace  # from the allow-list; the process runs in workspace.path
    command: tuple[str, ...]  # as asked for; empty means the adapter's default
    prompt: str  # first prompt for agents that take one; PTY sessions ignore it
    cols: int
    rows: int
    shell: str  # the relay's shell setting, for adapters that run one
    env: Mapping[str, str]  # the child's whole environment, already scrubbed (AgentConfig)
    agent: AgentConfig  # executable (resolved), extra args, model
    resume: str = ""  # the agent's conversation id to continue; "" starts a new one
    sandbox: SessionSandbox = SessionSandbox(None)  # how it is confined; None: not at all


class Adapter(abc.ABC):
    """One agent process. Subclasses set `agent` and are listed in relay.agent.adapters."""

    agent: ClassVar[str]
    executable: ClassVar[str | None] = None  # default program; None: needs none, "": configure
    resumable: ClassVar[bool] = False  # can continue a conversation after a relay restart
    # its config and cache directories, writable inside the sandbox (relay/agent/sandbox.py)
    sandbox_paths: ClassVar[AgentPaths] = AgentPaths()

    def __init__(self, spec: SessionSpec, sink: EventSink) -> None:
        self.spec = spec
        self.sink = sink

    @property
    @abc.abstractmethod
    def command(self) -> list[str]:
        """The argv actually run, for the session_started event."""

    @abc.abstractmethod
    async def start(self) -> None:
        """Spawn the agent. Raises SpawnError."""

    @abc.abstractmethod
    async def run(self) -> int | None:
        """Pump output into the sink until the process exits; return its exit code."""

    @abc.abstractmethod
    async def send_input(self, data: str) -> None:
        """Keystrokes for a terminal, a prompt for a structured agent. Raises CommandError."""

    @abc.abstractmethod
    async def resize(self, cols: int, rows: int) -> None:
        """The viewer's terminal size changed."""

    @abc.abstractmethod
    async def interrupt(self) -> None:
        """Stop what the agent is doing now, like Ctrl-C, without ending the session."""

    async def resolve_approval(
        self, approval_id: str, decision: Decision, message: str, by: str = ""
    ) -> None:
        """A viewer's decision on a pending approval. Raises CommandError."""
        raise CommandError(ErrorCode.UNKNOWN_APPROVAL, f"no pending approval {approval_id}")

    def pending_approvals(self) -> list[str]:
        """Approval ids still waiting for a decision."""
        return []

    @abc.abstractmethod
    async def stop(self, grace_s: float) -> None:
        """End the process: politely first, SIGKILL after `grace_s`. Returns once signalled."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release fds after run() returned. Must not block."""
