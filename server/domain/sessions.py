"""Sessions as viewers see them, and the commands viewers send to them.

A viewer's command is checked here (the session exists, is not over, its relay is connected) and
then forwarded to the relay that owns the session, which answers with a CommandResult.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable

import msgspec

from protocol import messages as m
from protocol.codes import ErrorCode
from server.domain.audit import Audit
from server.domain.errors import (
    BadRequestError,
    ConflictError,
    NotFoundError,
    StorageFullError,
    UnavailableError,
)
from server.domain.events import EventLog
from server.domain.identity.roles import Principal, Role
from server.domain.records import SessionRecord
from server.domain.relays import Relays

MAX_INPUT_CHARS = 64 << 10  # one send_input; a paste bigger than this is refused
MAX_TERMINAL_SIDE = 1000  # columns or rows

# The role each viewer message needs on its session's workspace. A command not listed here needs
# operator (steering is the least a new command can be); hello is part of the handshake.
MESSAGE_ROLES: dict[type, Role] = {
    m.Subscribe: Role.VIEWER,
    m.Unsubscribe: Role.VIEWER,
    m.StartSession: Role.OPERATOR,
    m.SendInput: Role.OPERATOR,
    m.Resize: Role.OPERATOR,
    m.Interrupt: Role.OPERATOR,
    m.StopSession: Role.OPERATOR,
}


class SessionView(msgspec.Struct, kw_only=True):
    """A session as the REST API shows it."""

    id: str
    relay_id: str
    agent: str
    workspace: str
    title: str
    status: m.SessionStatus
    relay_online: bool
    created_at: float
    last_activity_at: float
    last_seq: int
    epoch: str


class Sessions:
    def __init__(self, log: EventLog, relays: Relays, audit: Audit) -> None:
        self._log = log
        self._relays = relays
        self._audit = audit

    def view(self, record: SessionRecord) -> SessionView:
        online = self._relays.is_online(record.relay_id)
        status = record.status
        if not online and status not in ("ended",):
            status = "disconnected"
        return SessionView(
            id=record.id,
            relay_id=record.relay_id,
            agent=record.agent,
            workspace=record.workspace,
            title=record.title,
            status=status,
            relay_online=online,
            created_at=record.created_at,
            last_activity_at=record.last_activity_at,
            last_seq=record.last_seq,
            epoch=record.epoch,
        )

    async def get(self, session_id: str) -> SessionRecord:
        record = await self._log.session(session_id)
        if record is None:
            raise NotFoundError(f"no session {session_id}", ErrorCode.UNKNOWN_SESSION)
        return record

    async def get_for(self, who: Principal, role: Role, session_id: str) -> SessionRecord:
        """The session, when `who` holds `role` on its workspace (else ForbiddenError)."""
        record = await self.get(session_id)
        who.require(role, record.relay_id, record.workspace)
        return record

    async def visible_to(self, who: Principal) -> list[SessionView]:
        """The sessions of the workspaces `who` is granted."""
        return [s for s in await self.list() if who.may(Role.VIEWER, s.relay_id, s.workspace)]

    async def list(self) -> list[SessionView]:
        return [self.view(r) for r in await self._log.sessions.list()]

    async def authorize(self, who: Principal, message: m.ClientMessage) -> None:
        """Raise ForbiddenError unless `who` may send `message` (NotFoundError: no such session)."""
        role = MESSAGE_ROLES.get(type(message), Role.OPERATOR)
        if isinstance(message, m.StartSession):
            who.require(role, message.relay_id, message.workspace)
        elif isinstance(message, m.Unsubscribe):
            who.require(role)  # drops only this socket's own subscription
        else:
            await self.get_for(who, role, getattr(message, "session_id", ""))

    async def start(self, command: m.StartSession) -> str:
        _check_size(command.cols, command.rows)
        if len(command.prompt) > MAX_INPUT_CHARS:
            raise BadRequestError(f"prompt over {MAX_INPUT_CHARS} characters")
        if not command.relay_id:
            raise BadRequestError("start_session needs relay_id")
        if await self._relays.get(command.relay_id) is None:
            raise NotFoundError(f"no relay {command.relay_id}", ErrorCode.UNKNOWN_RELAY)
        if not self._relays.is_online(command.relay_id):
            raise UnavailableError("that relay is not connected")
        if self._log.storage_full:  # its output could not be stored: do not start an agent
            raise StorageFullError()
        session_id = secrets.token_hex(12)
        await self._log.create_session(
            session_id, command.relay_id, command.agent, command.workspace
        )
        try:
            await self._relays.command(
                command.relay_id, msgspec.structs.replace(command, session_id=session_id)
            )
        except BaseException:
            await self._log.discard_session(session_id)
            raise
        return session_id

    async def decide(self, command: m.ResolveApproval, ip: str = "") -> None:
        """Answer an approval and wait until the relay has given it to the agent; audited."""
        await (await self.steer(command))
        await self._audit.record(
            "approval_decided",
            actor=command.by,
            target=f"session:{command.session_id}",
            ip=ip,
            details={"approval_id": command.approval_id, "decision": command.decision},
        )

    async def steer(
        self, command: m.SendInput | m.Resize | m.Interrupt | m.StopSession | m.ResolveApproval
    ) -> Awaitable[m.CommandResult]:
        """Check and send a command; returns the relay's pending answer (see Relays.dispatch)."""
        record = await self.get(command.session_id)
        if record.status == "ended":
            raise ConflictError(f"session {record.id} has ended")
        if isinstance(command, m.SendInput) and len(command.data) > MAX_INPUT_CHARS:
            raise BadRequestError(f"input over {MAX_INPUT_CHARS} characters")
        if isinstance(command, m.ResolveApproval) and len(command.message) > MAX_INPUT_CHARS:
            raise BadRequestError(f"message over {MAX_INPUT_CHARS} characters")
        if isinstance(command, m.Resize):
            _check_size(command.cols, command.rows)
        return self._relays.dispatch(record.relay_id, command)


def _check_size(cols: int, rows: int) -> None:
    if not (1 <= cols <= MAX_TERMINAL_SIDE and 1 <= rows <= MAX_TERMINAL_SIDE):
        raise BadRequestError(f"terminal size {cols}x{rows} out of range")
