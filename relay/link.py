"""The link: the relay's one outbound WebSocket to the server, redialled until told to stop.

States:  connecting -> handshaking -> streaming -> backing_off -> connecting ...
         any -> closed (relay shutdown)   any -> stopped (server sent a stop close code)

On each connection: send `hello`, wait for the server's `hello`, send `relay_info` with a
SessionMark per session, wait for the server's `committed` answer and apply it to the outbox
(rows above the server's marks are resent, new numbers go above them), then stream `events`
batches from the outbox starting at the oldest unacked event (everything unacked is resent
after a reconnect; the server drops duplicates by (session_id, relay_seq)). At most
`inflight_max_events` events are sent and unacked at a time. Incoming acks mark outbox rows;
commands go to the supervisor and are answered with `command_result` (commands that arrive
before `committed` wait for it).

Reconnects wait a full-jitter exponential backoff: uniform(0, min(max, initial * 2**n)), with n
reset only after a connection that streamed for STABLE_CONNECTION_S and was not ended by the
server refusing something (a close code it chose, other than going away): a refusal repeated on
every connection grows the delay instead of hammering the server, and is logged at warning once,
then at debug. Close codes for which `should_reconnect` is false end the link with
LinkStoppedError. The token is never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import msgspec
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, InvalidURI, WebSocketException
from websockets.protocol import State

from protocol.codes import RECONNECT_RANGE, CloseCode, ErrorCode, should_reconnect
from protocol.messages import (
    MAX_FRAME_BYTES,
    Ack,
    CommandResult,
    Committed,
    Hello,
    PendingApproval,
    RelayInfo,
    ServerToRelay,
    SessionCommand,
    Workspace,
)
from protocol.messages import RelayError as ServerRelayError
from protocol.version import PROTOCOL_VERSION, SOFTWARE_VERSION, SUPPORTED_PROTOCOL_VERSIONS
from relay.command_store import CommandMemory
from relay.commands import CommandGate, ServerClock
from relay.errors import (
    CommandError,
    LinkError,
    LinkStoppedError,
    OutboxCorruptError,
    OutboxError,
)
from relay.outbox import Outbox
from relay.outbox_faults import reason
from relay.settings import Settings

log = logging.getLogger(__name__)
# websockets logs request headers, the bearer token among them, at DEBUG: keep it at INFO.
WIRE_LOG = logging.getLogger("relay.link.wire")
WIRE_LOG.setLevel(logging.INFO)

STABLE_CONNECTION_S = 10.0  # a connection that streamed this long resets the backoff
PING_INTERVAL_S = 20.0  # keepalive; also bounds how long a send can wait on a dead peer
PING_TIMEOUT_S = 20.0
CLOSE_TIMEOUT_S = 5.0  # wait for the server's close frame at shutdown
RECV_QUEUE_FRAMES = 16  # incoming frames buffered before TCP backpressure
STOP_HTTP_STATUSES = frozenset({401, 403})  # the upgrade itself was refused: a retry cannot help

STOP_EXPLANATIONS = {
    CloseCode.UNAUTHORIZED: "the server refused this relay's token",
    CloseCode.UNSUPPORTED_PROTOCOL: "the server does not speak this relay's protocol version",
    CloseCode.SUPERSEDED: "another relay with this token connected",
    CloseCode.INVALID_MESSAGE: "the server could not understand this relay",
    CloseCode.MESSAGE_TOO_BIG: "this relay sent a frame over the size limit",
    CloseCode.FORBIDDEN: "the server forbids this relay",
    1008: "policy violation",
    1009: "message too big",
}

_decoder = msgspec.json.Decoder(ServerToRelay)
_encoder = msgspec.json.Encoder()


class LinkState(enum.Enum):
    CONNECTING = "connecting"
    HANDSHAKING = "handshaking"
    STREAMING = "streaming"
    BACKING_OFF = "backing_off"
    CLOSED = "closed"
    STOPPED = "stopped"


class CommandHandler(Protocol):
    """What the link needs from the supervisor."""

    @property
    def agents(self) -> list[str]: ...

    def live_sessions(self) -> list[str]: ...

    def pending_approvals(self) -> list[PendingApproval]: ...

    def sandbox_status(self) -> tuple[str, str]: ...

    async def handle(self, command: SessionCommand) -> None: ...

    def forget(self, session_id: str) -> None: ...


class Backoff:
    """Exponential backoff with full jitter."""

    def __init__(self, initial_s: float, max_s: float, rng: Callable[[], float]) -> None:
        self._initial_s = initial_s
        self._max_s = max_s
        self._rng = rng
        self._attempt = 0

    def cap(self) -> float:
        """The upper bound of the next delay."""
        return min(self._max_s, self._initial_s * 2.0 ** min(self._attempt, 32))

    def next_delay(self) -> float:
        delay = self._rng() * self.cap()
        self._attempt += 1
        return delay

    def reset(self) -> None:
        self._attempt = 0


def events_frame(payloads: list[bytes]) -> bytes:
    """An `events` message around already-encoded RelayEvents (no decode and re-encode)."""
    return b'{"type":"events","events":[' + b",".join(payloads) + b"]}"


class Link:
    def __init__(
        self,
        settings: Settings,
        outbox: Outbox,
        handler: CommandHandler,
        *,
        rng: Callable[[], float] = random.random,
        memory: CommandMemory | None = None,
    ) -> None:
        self._settings = settings
        memory = memory or CommandMemory.open(Path(settings.state_dir))
        self._commands = CommandGate(memory, ServerClock())
        self._outbox = outbox
        self._handler = handler
        self._backoff = Backoff(settings.backoff_initial_s, settings.backoff_max_s, rng)
        self._state = LinkState.CONNECTING
        self._ws: ClientConnection | None = None
        self._closing = asyncio.Event()
        self._wake = asyncio.Event()  # new events committed, or acks made room
        self._acked = asyncio.Event()
        self._streaming_since: float | None = None
        self._early: list[Any] = []  # commands received before `committed`, run after it
        self._refusal = _Refusals()
        self.streaming = asyncio.Event()  # set while a connection is past its handshake
        outbox.add_listener(self._wake.set)

    @property
    def state(self) -> LinkState:
        return self._state

    async def run(self) -> None:
        """Stay connected until close(); raises LinkStoppedError on a stop code."""
        while not self._closing.is_set():
            self._streaming_since = None
            close_code: int | None = None
            try:
                await self._connect_once()
            except LinkStoppedError as exc:
                self._set_state(LinkState.STOPPED)
                log.error("%s; not reconnecting", exc)
                raise
            except ConnectionClosed as exc:
                close_code = exc.rcvd.code if exc.rcvd else None
                self._refusal.log(close_code, _reason(exc))
            except (OSError, TimeoutError, WebSocketException, LinkError) as exc:
                log.warning(
                    "connection to %s failed: %s", self._settings.relay_url, exc or type(exc)
                )
            except OutboxCorruptError:  # run_relay stops the relay with what to do
                raise
            except Exception:  # connection boundary: a bug here must not end the relay
                log.exception("link failed unexpectedly")
            finally:
                self.streaming.clear()
                self._ws = None
            if self._closing.is_set():
                break
            await self._back_off(close_code)
        self._set_state(LinkState.CLOSED)

    async def _back_off(self, close_code: int | None) -> None:
        """Wait before redialling; a stable connection the server did not refuse resets."""
        since = self._streaming_since
        stable = since is not None and (
            asyncio.get_running_loop().time() - since >= STABLE_CONNECTION_S
        )
        if stable and not _refused(close_code):
            self._backoff.reset()
            self._refusal.forget()
        delay = self._backoff.next_delay()
        self._set_state(LinkState.BACKING_OFF)
        log.info("reconnecting in %.1f s", delay)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(delay):
                await self._closing.wait()

    async def close(self) -> None:
        """Close the connection with 1000 and stop redialling."""
        self._closing.set()
        ws = self._ws
        if ws is not None:
            await ws.close(1000, "relay shutting down")

    async def drain(self, timeout_s: float) -> bool:
        """Wait until the server acked every event (while connected); False on timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while self._outbox.pending_count() and self.streaming.is_set():
            self._acked.clear()
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            try:
                async with asyncio.timeout(remaining):
                    await self._acked.wait()
            except TimeoutError:
                return False
        return self._outbox.pending_count() == 0

    # ------------------------------------------------------------------ one connection

    async def _connect_once(self) -> None:
        url = self._settings.relay_url
        self._set_state(LinkState.CONNECTING)
        try:
            async with connect(
                url,
                additional_headers={"Authorization": f"Bearer {self._settings.token}"},
                user_agent_header=f"tether-relay/{SOFTWARE_VERSION}",
                max_size=MAX_FRAME_BYTES,
                max_queue=RECV_QUEUE_FRAMES,
                open_timeout=self._settings.connect_timeout_s,
                ping_interval=PING_INTERVAL_S,
                ping_timeout=PING_TIMEOUT_S,
                close_timeout=CLOSE_TIMEOUT_S,
                logger=WIRE_LOG,
            ) as ws:
                self._ws = ws
                log.info("connected to %s", url)
                if self._closing.is_set():
                    return
                await self._handshake(ws)
                self._set_state(LinkState.STREAMING)
                self._streaming_since = asyncio.get_running_loop().time()
                self.streaming.set()
                await self._stream(ws)
        except InvalidStatus as exc:
            status = exc.response.status_code
            if status in STOP_HTTP_STATUSES:
                raise LinkStoppedError(
                    status, f"the server refused this relay (HTTP {status})"
                ) from exc
            raise
        except InvalidURI as exc:
            raise LinkStoppedError(0, f"bad server URL {url!r}") from exc
        except ConnectionClosed as exc:
            code = exc.rcvd.code if exc.rcvd else None
            if code is not None and not should_reconnect(code):
                raise LinkStoppedError(code, STOP_EXPLANATIONS.get(code, "stop code")) from exc
            raise

    async def _handshake(self, ws: ClientConnection) -> None:
        self._set_state(LinkState.HANDSHAKING)
        hello = Hello(
            protocol_version=PROTOCOL_VERSION,
            software_version=SOFTWARE_VERSION,
            capabilities=self._handler.agents,
        )
        await ws.send(_encoder.encode(hello), text=True)
        try:
            async with asyncio.timeout(self._settings.hello_timeout_s):
                first = await ws.recv()
        except TimeoutError:
            await ws.close(CloseCode.HELLO_TIMEOUT, "no hello")
            raise LinkError(
                f"no hello from the server in {self._settings.hello_timeout_s} s"
            ) from None
        try:
            reply = _decoder.decode(first)
        except msgspec.DecodeError as exc:
            await ws.close(CloseCode.INVALID_MESSAGE, "bad hello")
            raise LinkError(f"the server's first message is not a hello: {exc}") from exc
        if not isinstance(reply, Hello):
            await ws.close(CloseCode.INVALID_MESSAGE, "hello first")
            raise LinkError(f"the server sent {type(reply).__name__} before hello")
        if reply.protocol_version not in SUPPORTED_PROTOCOL_VERSIONS:
            await ws.close(CloseCode.UNSUPPORTED_PROTOCOL, "unsupported protocol version")
            raise LinkStoppedError(
                CloseCode.UNSUPPORTED_PROTOCOL,
                f"the server speaks protocol {reply.protocol_version}, this relay "
                f"{sorted(SUPPORTED_PROTOCOL_VERSIONS)}: upgrade one of them",
            )
        log.info("server %s speaks protocol %d", reply.software_version, reply.protocol_version)
        self._commands.clock.sync(reply.time)
        sandbox, sandbox_note = self._handler.sandbox_status()
        info = RelayInfo(
            hostname=self._settings.name,
            workspaces=[Workspace(name=w.name, path=w.path) for w in self._settings.workspaces],
            agents=self._handler.agents,
            live_sessions=self._handler.live_sessions(),
            pending_approvals=self._handler.pending_approvals(),
            sessions=self._outbox.marks(),
            sandbox=sandbox,
            sandbox_note=sandbox_note,
        )
        await ws.send(_encoder.encode(info), text=True)
        committed = await self._await_committed(ws)
        try:
            self._outbox.reconcile(committed.sessions)
        except OutboxCorruptError:
            raise
        except OutboxError as exc:  # a full disk: try the handshake again after the backoff
            raise LinkError(f"cannot apply the server's marks: {reason(exc)}") from exc
        log.debug("server's marks applied for %d sessions", len(committed.sessions))

    async def _await_committed(self, ws: ClientConnection) -> Committed:
        """The server's answer to relay_info; commands that come first wait in `_early`."""
        self._early = []
        try:
            async with asyncio.timeout(self._settings.hello_timeout_s):
                while True:
                    message = _decoder.decode(await ws.recv())
                    if isinstance(message, Committed):
                        return message
                    self._early.append(message)
        except TimeoutError:
            await ws.close(CloseCode.HELLO_TIMEOUT, "no committed")
            raise LinkError(
                f"no answer to relay_info from the server in {self._settings.hello_timeout_s} s"
            ) from None
        except msgspec.DecodeError as exc:
            await ws.close(CloseCode.INVALID_MESSAGE, "bad message")
            raise LinkError(f"the server's answer to relay_info does not decode: {exc}") from exc

    async def _stream(self, ws: ClientConnection) -> None:
        """Send and receive until the connection ends; re-raise whichever side failed first."""
        tasks = [
            asyncio.create_task(self._send_loop(ws), name="link send"),
            asyncio.create_task(self._receive_loop(ws), name="link receive"),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        for task in done:
            task.result()

    async def _send_loop(self, ws: ClientConnection) -> None:
        last_sent_id = 0  # a new connection resends everything unacked, oldest first
        settings = self._settings
        while True:
            self._wake.clear()
            room = settings.inflight_max_events - self._outbox.count_through(last_sent_id)
            if room > 0:
                batch = self._outbox.read_batch(
                    last_sent_id,
                    max_events=min(settings.batch_max_events, room),
                    max_bytes=settings.batch_max_bytes,
                )
                if batch:
                    await ws.send(events_frame([row.payload for row in batch]), text=True)
                    last_sent_id = batch[-1].id
                    log.debug("sent %d events up to outbox id %d", len(batch), last_sent_id)
                    continue
            await self._wake.wait()

    async def _receive_loop(self, ws: ClientConnection) -> None:
        early, self._early = self._early, []
        for message in early:
            await self._dispatch(ws, message)
        while True:
            data = await ws.recv()
            try:
                message = _decoder.decode(data)
            except msgspec.DecodeError as exc:
                log.warning("ignoring a message from the server that does not decode: %s", exc)
                continue
            await self._dispatch(ws, message)

    async def _dispatch(self, ws: ClientConnection, message: Any) -> None:
        if isinstance(message, Ack):
            deleted = self._outbox.ack(message.acked)
            log.debug("ack %s marked %d events", message.acked, deleted)
            self._acked.set()
            self._wake.set()
        elif isinstance(message, ServerRelayError):
            if message.code == ErrorCode.SESSION_OF_OTHER_RELAY and message.session_id:
                log.error(
                    "server: session %s belongs to another relay; dropping it (%s)",
                    message.session_id,
                    message.message,
                )
                self._handler.forget(message.session_id)
                self._wake.set()
            else:
                log.warning("server reported %s: %s", message.code, message.message)
        elif isinstance(message, Hello | Committed):
            log.warning("ignoring an unexpected %s from the server", type(message).__name__)
        elif ws is not self._ws or ws.state is not State.OPEN:
            # Read from a connection that has since closed (a frozen relay reading what was
            # buffered): the server gave up on it and re-sends what it still wants.
            log.info(
                "not running %s %s from a closed connection",
                type(message).__name__,
                message.command_id,
            )
        else:
            result = await self._commands.answer(message, self._run_command)
            await ws.send(_encoder.encode(result), text=True)

    async def _run_command(self, command: SessionCommand) -> CommandResult:
        kind = type(command).__name__
        try:
            await self._handler.handle(command)
        except CommandError as exc:
            log.info("%s %s refused: %s", kind, command.command_id, exc.message)
            return CommandResult(
                command_id=command.command_id, ok=False, code=exc.code, message=exc.message
            )
        except Exception:  # boundary: one failing command must not drop the connection
            log.exception("%s %s failed", kind, command.command_id)
            return CommandResult(
                command_id=command.command_id,
                ok=False,
                code=ErrorCode.INTERNAL,
                message="the relay failed to carry out the command; see its log",
            )
        return CommandResult(command_id=command.command_id, ok=True)

    def _set_state(self, state: LinkState) -> None:
        if state is not self._state:
            log.debug("link %s -> %s", self._state.value, state.value)
            self._state = state


class _Refusals:
    """Says why the server closed the link: at info the first time, at warning the first time
    the same close code comes again (the delay grows from then on), then at debug."""

    def __init__(self) -> None:
        self._last: int | None = None
        self._repeats = 0

    def log(self, code: int | None, reason: str) -> None:
        if code is None or code != self._last:
            self._last, self._repeats = code, 0
            log.info("disconnected (close code %s%s)", code, reason)
            return
        self._repeats += 1
        level = logging.WARNING if self._repeats == 1 else logging.DEBUG
        log.log(
            level,
            "the server closed the link with code %s again%s; backing off longer each time"
            " until a connection streams for %.0f s",
            code,
            reason,
            STABLE_CONNECTION_S,
        )

    def forget(self) -> None:
        self._last, self._repeats = None, 0


def _refused(code: int | None) -> bool:
    """Whether the server closed the link on purpose (not a restart or a network cut)."""
    return code is not None and code in RECONNECT_RANGE and code != CloseCode.GOING_AWAY


def _reason(exc: ConnectionClosed) -> str:
    return f": {exc.rcvd.reason}" if exc.rcvd and exc.rcvd.reason else ""
