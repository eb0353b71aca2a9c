"""Sessions as viewers see them, and the commands viewers send to them.

A viewer's command is checked here (the session exists, is not over, its relay is connected) and
then forwarded to the relay that owns the session, which answers with a CommandResult.
"""

from __future__ import annotations

import hashlib
import logging
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
    StorageBusyError,
    StorageFullError,
    TetherError,
    UnavailableError,
)
from server.domain.events import EventLog
from server.domain.identity.roles import Principal, Role
from server.domain.records import SessionRecord
from server.domain.relays import Relays
from server.store.starts_store import KeyedStart, KeyHit

_log = logging.getLogger(__name__)

MAX_INPUT_CHARS = 64 << 10  # one send_input; a paste bigger than this is refused
MAX_TERMINAL_SIDE = 1000  # columns or rows
MAX_KEY_CHARS = 200  # an idempotency key; a UUID is 36
NOT_ANSWERING = "relay not answering"  # the detail of a start whose outcome is not known yet

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


class Started(msgspec.Struct, kw_only=True):
    """What a start came to: `answered` false while the relay has not answered (yet)."""

    session_id: str
    answered: bool
    replayed: bool = False  # an earlier start with the same idempotency key


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
    detail: str = ""  # why it is in that status: "relay not answering", a refusal's reason


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
            detail=record.detail if record.status in ("starting", "ended") else "",
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

    async def start(self, command: m.StartSession, actor: str = "") -> Started:
        """Create a session and have its relay start it.

        Refused before anything is sent (bad input, relay not connected): nothing is created.
        Refused by the relay: the session is removed and the refusal raised. Not answered in
        time, or the relay disconnected after the send: the outcome is unknown, so the session
        stays "starting" with detail "relay not answering" and resolves when the relay answers
        (`late_result`), at the latest on its next connection (`resend_starts`).
        """
        _check_start(command)
        if await self._relays.get(command.relay_id) is None:
            raise NotFoundError(f"no relay {command.relay_id}", ErrorCode.UNKNOWN_RELAY)
        key = _keyed(command, actor)
        if not self._relays.is_online(command.relay_id):
            replayed = await self._replay(key)
            if replayed is not None:
                return replayed
            raise UnavailableError("that relay is not connected")
        if self._log.storage_full:  # its output could not be stored: do not start an agent
            raise StorageFullError()
        session_id = secrets.token_hex(12)
        stamped = self._relays.stamp(
            msgspec.structs.replace(
                command, session_id=session_id, idempotency_key="", request_id=""
            )
        )
        hit = await self._log.create_session(
            session_id, command.relay_id, command.agent, command.workspace, start=stamped, key=key
        )
        if hit is not None:
            return _replayed(hit, key)
        return await self._send_start(stamped)

    async def _send_start(self, stamped: m.StartSession) -> Started:
        session_id = stamped.session_id
        try:
            answer = self._relays.dispatch(stamped.relay_id, stamped)
        except BaseException:  # not sent: nothing can have run
            await self._log.discard_session(session_id)
            raise
        try:
            await answer
        except UnavailableError:  # timeout, or the relay disconnected: the outcome is unknown
            await self._log.note_unanswered(session_id, NOT_ANSWERING)
            return Started(session_id=session_id, answered=False)
        except TetherError:  # refused by the relay: it did not run
            await self._log.discard_session(session_id)
            raise
        try:
            await self._log.settle_start(session_id, None, "")
        except (StorageFullError, StorageBusyError):  # it runs: settled on the next re-send
            _log.warning("session %s started; its start not settled: storage refused", session_id)
        return Started(session_id=session_id, answered=True)

    async def _replay(self, key: KeyedStart | None) -> Started | None:
        """The session a used idempotency key names, while its relay is away."""
        if key is None:
            return None
        hit = await self._log.starts.key(key)
        return _replayed(hit, key) if hit is not None else None

    async def late_result(self, relay_id: str, result: m.CommandResult) -> None:
        """An answer to a start nobody waits for any more: settle the session with it.

        A refusal ends the session with its reason, unless events show the agent ran (a relay
        that lost its memory refuses what it did run): the events tell the truth then."""
        session_id = await self._log.starts.by_command(result.command_id)
        record = await self._log.session(session_id) if session_id else None
        if record is None or record.relay_id != relay_id:
            return  # not a start, or one settled already
        if result.ok or record.last_seq > 0:
            await self._log.settle_start(record.id, None, "")
        else:
            reason = result.message or "the relay refused the start"
            await self._log.end_unstarted(record.id, result.code or ErrorCode.INTERNAL, reason)
        _log.info("session %s: late answer to its start: %s", record.id, result.code or "ok")

    async def resend_starts(self, relay_id: str) -> None:
        """Send a reconnected relay every start it has not answered, unchanged (same command id
        and deadline): it answers from its memory, or refuses `expired` what it never got."""
        for command in await self._log.starts.pending(relay_id):
            _log.info("re-sending an unanswered start to relay %s", relay_id)
            self._relays.send_encoded(relay_id, command)

    async def decide(self, command: m.ResolveApproval, actor: str, ip: str = "") -> None:
        """Answer an approval and wait until the relay has given it to the agent; audited as
        `actor` (an id: server/domain/actors.py), while `command.by` is the name the session's
        viewers see."""
        await (await self.steer(command))
        await self._audit.record(
            "approval_decided",
            actor=actor,
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
        # stamped here, always: a viewer's own command_id would be answered from the relay's
        # memory without running, and its deadline of 0 would switch the deadline off
        return self._relays.dispatch(record.relay_id, self._relays.stamp(command))


def _check_start(command: m.StartSession) -> None:
    _check_size(command.cols, command.rows)
    if len(command.prompt) > MAX_INPUT_CHARS:
        raise BadRequestError(f"prompt over {MAX_INPUT_CHARS} characters")
    if not command.relay_id:
        raise BadRequestError("start_session needs relay_id")
    if len(command.idempotency_key) > MAX_KEY_CHARS:
        raise BadRequestError(f"an idempotency key is at most {MAX_KEY_CHARS} characters")


def _keyed(command: m.StartSession, actor: str) -> KeyedStart | None:
    """The start's idempotency key with a digest of everything else it asks for."""
    if not command.idempotency_key:
        return None
    body = msgspec.structs.replace(command, idempotency_key="", request_id="", command_id="")
    digest = hashlib.sha256(msgspec.json.encode(body)).hexdigest()
    return KeyedStart(actor=actor, key=command.idempotency_key, fingerprint=digest)


def _replayed(hit: KeyHit, key: KeyedStart | None) -> Started:
    if key is None or hit.fingerprint != key.fingerprint:
        raise ConflictError(
            "this idempotency key was used for a different start; use a new key for a new start",
            ErrorCode.IDEMPOTENCY_KEY_REUSED,
        )
    return Started(session_id=hit.session_id, answered=True, replayed=True)


def _check_size(cols: int, rows: int) -> None:
    if not (1 <= cols <= MAX_TERMINAL_SIDE and 1 <= rows <= MAX_TERMINAL_SIDE):
        raise BadRequestError(f"terminal size {cols}x{rows} out of range")
