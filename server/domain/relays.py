"""Relays: their tokens, their live links, and commands sent to them.

A relay token is `tr_<random>`; only its SHA-256 is stored. At most one link per relay is live:
a newer connection supersedes the older one, which is closed with CloseCode.SUPERSEDED.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import time
from collections.abc import Awaitable
from typing import Protocol

import msgspec

from protocol import messages as m
from protocol.codes import CloseCode, ErrorCode
from server.domain.errors import BadRequestError, TetherError, UnavailableError
from server.domain.records import RelayRecord
from server.store.relays_store import RelaysStore

log = logging.getLogger(__name__)

TOKEN_PREFIX = "tr_"
_encoder = msgspec.json.Encoder()


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class RelayLink(Protocol):
    """The transport's side of one relay connection."""

    def send(self, frame: bytes) -> None: ...

    def close(self, code: CloseCode, reason: str) -> None: ...


class Relays:
    def __init__(self, store: RelaysStore, command_timeout_s: float) -> None:
        self.store = store
        self._command_timeout_s = command_timeout_s
        self._links: dict[str, RelayLink] = {}
        self._pending: dict[str, tuple[str, asyncio.Future[m.CommandResult]]] = {}

    async def create(self, name: str) -> tuple[str, str]:
        """Register a relay; returns (relay id, token). The token is shown once, never stored."""
        name = name.strip()
        if not name or len(name) > 64:
            raise BadRequestError("a relay name is 1-64 characters")
        relay_id = secrets.token_hex(8)
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        await self.store.create(relay_id, name, hash_token(token), time.time())
        return relay_id, token

    async def authenticate(self, token: str) -> RelayRecord | None:
        if not token.startswith(TOKEN_PREFIX):
            return None
        return await self.store.by_token_hash(hash_token(token))

    def attach(self, relay_id: str, link: RelayLink) -> None:
        previous = self._links.get(relay_id)
        self._links[relay_id] = link
        if previous is not None:
            log.info("relay %s reconnected; closing its older link", relay_id)
            previous.close(CloseCode.SUPERSEDED, "a newer connection of this relay took over")

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
        link = self._links.get(relay_id)
        if link is None:
            raise UnavailableError("the session's relay is not connected")
        link.send(_encoder.encode(message))

    def dispatch(self, relay_id: str, command: m.SessionCommand) -> Awaitable[m.CommandResult]:
        """Send a command now; the returned awaitable gives the relay's answer or raises.

        Sending happens before this returns, so commands dispatched in order reach the relay
        in order even when their answers are awaited concurrently.
        """
        command_id = secrets.token_hex(8)
        future: asyncio.Future[m.CommandResult] = asyncio.get_running_loop().create_future()
        self._pending[command_id] = (relay_id, future)
        try:
            self.send(relay_id, msgspec.structs.replace(command, command_id=command_id))
        except BaseException:
            del self._pending[command_id]
            raise
        return self._answer(command_id, future)

    async def command(self, relay_id: str, command: m.SessionCommand) -> m.CommandResult:
        return await self.dispatch(relay_id, command)

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

    def resolve(self, relay_id: str, result: m.CommandResult) -> None:
        pending = self._pending.get(result.command_id)
        if pending is None or pending[0] != relay_id:
            log.info("relay %s answered unknown command %s", relay_id, result.command_id)
            return
        if not pending[1].done():
            pending[1].set_result(result)


def _error_code(code: str) -> ErrorCode:
    try:
        return ErrorCode(code)
    except ValueError:
        return ErrorCode.INTERNAL
