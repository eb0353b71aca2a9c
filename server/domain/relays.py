"""Relays: their tokens, their live links, and commands sent to them.

A relay token is `tr_<random>`; only its SHA-256 is stored. At most one link per relay is live:
a newer connection supersedes the older one, which is closed (`RelayLink.superseded`).
Revoking a relay closes its live link at once (`RelayLink.revoked`: a close that tells the relay
not to reconnect); a revocation made by another process (the admin CLI) is noticed within
REVOCATION_CHECK_INTERVAL_S.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import time
from collections.abc import Awaitable
from typing import Protocol, TypeVar

import msgspec

from protocol import messages as m
from protocol.codes import ErrorCode
from server.domain import actors
from server.domain.audit import Audit
from server.domain.errors import (
    BadRequestError,
    NotFoundError,
    RateLimitedError,
    TetherError,
    UnavailableError,
)
from server.domain.identity.roles import Principal, Role
from server.domain.names import MAX_NAME_CHARS, clean_name, is_clean
from server.domain.ratelimit import RateLimiter
from server.domain.records import RelayRecord
from server.store.relays_store import RelaysStore

log = logging.getLogger(__name__)

TOKEN_PREFIX = "tr_"
REVOCATION_CHECK_INTERVAL_S = 5.0  # how late a revocation by the admin CLI closes a live link
AUDITED_REFUSALS_PER_IP = (20, 600.0)  # refused connections audited per address; the rest logged
AUDITED_CONNECTS_PER_RELAY = (10, 600.0)  # connections audited per relay; a reconnect loop is not
TOKEN_HINT_CHARS = 7  # "tr_" and 4 more: enough to tell tokens apart, useless to an attacker
_encoder = msgspec.json.Encoder()
_Command = TypeVar("_Command", bound=m.SessionCommand)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def new_relay_id() -> str:
    return secrets.token_hex(8)


def check_name(name: str) -> str:
    return clean_name(name, "a relay name")


def clean_info(relay_id: str, info: m.RelayInfo) -> m.RelayInfo:
    """`info` without what breaks the name rule (server/domain/names.py): such a workspace or
    agent is not offered, such a session not marked, such a hostname not shown."""
    clean = msgspec.structs.replace(
        info,
        hostname=info.hostname if is_clean(info.hostname) else "",
        workspaces=[w for w in info.workspaces if is_clean(w.name)],
        agents=[a for a in info.agents if is_clean(a)],
        live_sessions=[s for s in info.live_sessions if is_clean(s)],
        pending_approvals=[p for p in info.pending_approvals if is_clean(p.session_id)],
        sessions=[_clean_mark(s) for s in info.sessions if is_clean(s.session_id)],
    )
    if clean != info:
        log.warning("relay %s: names breaking the rule were left out of its relay_info", relay_id)
    return clean


def _clean_mark(mark: m.SessionMark) -> m.SessionMark:
    return msgspec.structs.replace(
        mark,
        agent=mark.agent if is_clean(mark.agent) else "",
        workspace=mark.workspace if is_clean(mark.workspace) else "",
    )


class RelayLink(Protocol):
    """The transport's side of one relay connection."""

    def send(self, frame: bytes) -> None: ...

    def revoked(self) -> None:
        """Close the link for good: the relay's token no longer counts."""

    def superseded(self) -> None:
        """Close the link: a newer connection of the same relay took over."""


class StartResolver(Protocol):
    """Who settles session starts whose answer came after the caller stopped waiting."""

    async def late_result(self, relay_id: str, result: m.CommandResult) -> None: ...

    async def resend_starts(self, relay_id: str) -> None: ...


class Relays:
    def __init__(self, store: RelaysStore, audit: Audit, command_timeout_s: float) -> None:
        self.resolver: StartResolver | None = None  # set by the wiring (server/app.py)
        self._store = store
        self.audit = audit
        self._revoked: set[str] = set()
        self._refusals = RateLimiter(*AUDITED_REFUSALS_PER_IP)
        self._connects = RateLimiter(*AUDITED_CONNECTS_PER_RELAY)
        self._command_timeout_s = command_timeout_s
        self._links: dict[str, RelayLink] = {}
        self._pending: dict[str, tuple[str, asyncio.Future[m.CommandResult]]] = {}

    async def create(self, name: str, *, actor: str, ip: str = "") -> tuple[str, str]:
        """Register a relay; returns (relay id, token). The token is shown once, never stored."""
        name = check_name(name)
        if await self._store.by_name(name) is not None:
            raise BadRequestError(f"a relay named {name!r} exists already")
        relay_id = new_relay_id()
        token = new_token()
        await self._store.create(relay_id, name, hash_token(token), time.time())
        await self.audit.record(
            "relay_token_created", actor=actor, target=relay_id, ip=ip, details={"name": name}
        )
        return relay_id, token

    async def revoke(self, relay_id: str, *, actor: str, ip: str = "", device: str = "") -> None:
        """Refuse the relay's token from now on and close its live link, if any, at once."""
        record = await self._store.get(relay_id)
        if record is None:
            raise NotFoundError(f"no relay {relay_id!r}", ErrorCode.UNKNOWN_RELAY)
        if not await self._store.revoke(relay_id, time.time()):
            raise BadRequestError(f"relay {record.name!r} was revoked already")
        was_online = self.is_online(relay_id)
        self._close_revoked(relay_id)
        await self.audit.record(
            "relay_token_revoked",
            actor=actor,
            target=relay_id,
            ip=ip,
            device=device,
            details={"name": record.name, "was_online": was_online},
        )

    async def get(self, relay_id: str) -> RelayRecord | None:
        return await self._store.get(relay_id)

    async def by_name(self, name: str) -> RelayRecord | None:
        return await self._store.by_name(name)

    async def names(self) -> dict[str, str]:
        """Every relay's name, by id."""
        return {r.id: r.name for r in await self._store.list()}

    async def visible_to(self, who: Principal) -> list[RelayRecord]:
        """The relays `who` is granted a workspace of, each with only those workspaces."""
        return [
            msgspec.structs.replace(
                r, workspaces=[w for w in r.workspaces if who.may(Role.VIEWER, r.id, w.name)]
            )
            for r in await self._store.list()
            if who.may_see_relay(r.id)
        ]

    async def free_name(self, wanted: str) -> str:
        """`wanted`, or `wanted-2`, `wanted-3`… whichever no relay has yet."""
        taken = await self._store.names()
        name, n = wanted, 1
        while name in taken:
            n += 1
            suffix = f"-{n}"
            name = wanted[: MAX_NAME_CHARS - len(suffix)] + suffix
        return name

    async def record_info(self, relay_id: str, info: m.RelayInfo) -> None:
        """Keep what a relay says about itself (host, workspaces, agents; not its marks); `info`
        must come from `clean_info`."""
        kept = msgspec.structs.replace(info, sessions=[])
        await self._store.record_connection(
            relay_id, info.hostname, _encoder.encode(kept), time.time()
        )
        if self.resolver is not None:  # the relay is ready: ask again what it never answered
            await self.resolver.resend_starts(relay_id)

    async def touch(self, relay_id: str) -> None:
        """Note that the relay was seen just now."""
        await self._store.touch(relay_id, time.time())

    async def record_connected(self, relay: RelayRecord, ip: str) -> None:
        """Audit a connection, at most AUDITED_CONNECTS_PER_RELAY per relay (the log says the
        rest), so a relay reconnecting in a loop cannot fill the audit log."""
        try:
            self._connects.check(relay.id)
        except RateLimitedError:
            log.debug("relay %s connected again; not audited (rate limit)", relay.id)
            return
        await self.audit.record(
            "relay_connected",
            actor=actors.relay(relay.id),
            target=relay.id,
            ip=ip,
            details={"name": relay.name},
        )

    async def record_refused(self, token: str, ip: str) -> None:
        """Audit a refused connection, at most AUDITED_REFUSALS_PER_IP per address."""
        try:
            self._refusals.check_address(ip)
        except RateLimitedError:
            return
        reason = "bad token" if token else "no token"
        hint = token[:TOKEN_HINT_CHARS] + "…" if token else ""
        await self.audit.record(
            "relay_connection_refused",
            actor=actors.ANONYMOUS,
            ip=ip,
            details={"reason": reason, "token_hint": hint},
        )

    def _close_revoked(self, relay_id: str) -> None:
        self._revoked.add(relay_id)
        link = self._links.get(relay_id)
        if link is not None:
            log.info("relay %s revoked; closing its link", relay_id)
            link.revoked()

    async def watch_revocations(self) -> None:
        """Close the links of relays revoked by another process; runs until cancelled."""
        while True:
            await asyncio.sleep(REVOCATION_CHECK_INTERVAL_S)
            try:
                for relay_id in await self._store.revoked_among(tuple(self._links)):
                    self._close_revoked(relay_id)
            except Exception:
                log.exception("checking for revoked relays failed")

    async def authenticate(self, token: str) -> RelayRecord | None:
        if not token.startswith(TOKEN_PREFIX):
            return None
        return await self._store.by_token_hash(hash_token(token))

    def attach(self, relay_id: str, link: RelayLink) -> None:
        if relay_id in self._revoked:  # revoked while this link was being authenticated
            link.revoked()
            return
        previous = self._links.get(relay_id)
        self._links[relay_id] = link
        if previous is not None:
            log.info("relay %s reconnected; closing its older link", relay_id)
            previous.superseded()

    def detach(self, relay_id: str, link: RelayLink) -> None:
        if self._links.get(relay_id) is link:
            del self._links[relay_id]
            for command_id, (owner, future) in list(self._pending.items()):
                if owner == relay_id and not future.done():
                    future.set_exception(UnavailableError("the relay disconnected"))
                    del self._pending[command_id]

    def is_online(self, relay_id: str) -> bool:
        return relay_id in self._links

    def send(self, relay_id: str, message: m.ServerToRelay) -> None:
        self.send_encoded(relay_id, _encoder.encode(message))

    def send_encoded(self, relay_id: str, frame: bytes) -> None:
        link = self._links.get(relay_id)
        if link is None:
            raise UnavailableError("the session's relay is not connected")
        link.send(frame)

    def stamp(self, command: _Command) -> _Command:
        """The command with a new id and a deadline: the relay runs it once, and not after the
        server stopped waiting for it (its deadline, on the server's clock)."""
        return msgspec.structs.replace(
            command,
            command_id=secrets.token_hex(8),
            deadline=time.time() + self._command_timeout_s,
        )

    def dispatch(self, relay_id: str, command: m.SessionCommand) -> Awaitable[m.CommandResult]:
        """Send a command now; the returned awaitable gives the relay's answer or raises.

        Sending happens before this returns, so commands dispatched in order reach the relay
        in order even when their answers are awaited concurrently. The command must come from
        `stamp` (a viewer's own command_id or deadline never reaches a relay).
        """
        command_id = command.command_id
        future: asyncio.Future[m.CommandResult] = asyncio.get_running_loop().create_future()
        self._pending[command_id] = (relay_id, future)
        try:
            self.send(relay_id, command)
        except BaseException:
            del self._pending[command_id]
            raise
        return self._answer(command_id, future)

    async def _answer(
        self, command_id: str, future: asyncio.Future[m.CommandResult]
    ) -> m.CommandResult:
        try:
            async with asyncio.timeout(self._command_timeout_s):
                result = await future
        except TimeoutError as exc:
            raise UnavailableError("the relay did not answer in time", ErrorCode.TIMEOUT) from exc
        finally:
            self._pending.pop(command_id, None)
        if not result.ok:
            raise TetherError(
                result.message or "the relay refused the command", _error_code(result.code)
            )
        return result

    async def resolve(self, relay_id: str, result: m.CommandResult) -> None:
        pending = self._pending.get(result.command_id)
        if pending is None or pending[0] != relay_id:
            log.info("relay %s answered command %s late", relay_id, result.command_id)
            if self.resolver is not None:
                await self.resolver.late_result(relay_id, result)
            return
        if not pending[1].done():
            pending[1].set_result(result)


def _error_code(code: str) -> ErrorCode:
    try:
        return ErrorCode(code)
    except ValueError:
        return ErrorCode.INTERNAL
