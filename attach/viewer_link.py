"""The viewer socket to one session, resumed across drops so every event is shown exactly once.

Each connection: hello both ways, `subscribe` with `since = {epoch, last seq shown}`, then
events (history first, then live). Events with seq <= the last one shown are dropped; a gap
(which the server should never send) is repaired by resubscribing from the last seq. When the
server answers `recovered: false` the follower is told to forget what it showed (only if it
showed anything) and the whole log follows.

Connection states: connecting -> subscribing -> following -> (dropped -> waiting -> connecting)*
-> done. A drop whose close code says "reconnect" (protocol.codes.should_reconnect; also network
errors and timeouts) waits an exponential backoff with jitter; a "stop" code raises
LinkStoppedError. Commands queued with `send()` survive a drop and go out on the next connection.

Timeouts use `asyncio.timeout`, never `asyncio.wait_for`: on Python 3.11 `wait_for` returns the
result and drops a cancellation that arrives in the loop iteration where the awaited operation
completes (CPython gh-86296), and a link cancelled on detach then followed forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from typing import Protocol

import msgspec
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, InvalidURI, WebSocketException

from attach.errors import LinkStoppedError
from protocol import messages as m
from protocol.codes import should_reconnect
from protocol.version import PROTOCOL_VERSION, SOFTWARE_VERSION

log = logging.getLogger(__name__)

OPEN_TIMEOUT_S = 10.0  # TCP + TLS + WebSocket handshake
ANSWER_TIMEOUT_S = 10.0  # for the server's hello, and for `subscribed` after subscribe
SEND_TIMEOUT_S = 10.0  # one frame; a server that does not read for this long is dropped
CLOSE_TIMEOUT_S = 2.0  # waiting for the server to acknowledge our close
PING_INTERVAL_S = 20.0  # keepalive: a silent dead connection is noticed within ~40 s
PING_TIMEOUT_S = 20.0
BACKOFF_FIRST_S = 0.5
BACKOFF_MAX_S = 10.0  # a restarted server is found again within this
OUTGOING_MESSAGES = 256  # commands queued while disconnected (keystroke chunks, resizes)
SUBSCRIBE_REQUEST = "attach-subscribe"


class Follower(Protocol):
    """What the link reports to. Called from the event loop, never concurrently."""

    def subscribed(self) -> None:
        """(Re)subscribed: a good moment to send the terminal size."""

    def restart(self) -> None:
        """The server rebuilt the session's history: forget what was shown, a replay follows."""

    def show(self, event: m.Event) -> bool:
        """Show one new event; return True when the session is over and following can stop."""

    def notice(self, text: str) -> None:
        """A one-line status for the user about the connection."""

    def refused(self, code: str, message: str, request_id: str) -> None:
        """The server refused a command: `code` is a protocol ErrorCode, `request_id` the
        command's ("" for commands sent without one)."""


class _WireLoggedEvent(msgspec.Struct):
    seq: int
    ts: float
    event: msgspec.Raw  # decoded one by one, so an event kind this build lacks is skipped


class _WireSessionEvents(msgspec.Struct, tag="session_events", tag_field="type"):
    session_id: str
    epoch: str
    events: list[_WireLoggedEvent]


_Incoming = m.Hello | m.Subscribed | _WireSessionEvents | m.Result | m.ClientError
_decoder = msgspec.json.Decoder(_Incoming)
_event_decoder = msgspec.json.Decoder(m.Event)
_encoder = msgspec.json.Encoder()


class _DroppedError(Exception):
    """This connection is over; try again after a backoff."""


def backoff_delay(failures: int) -> float:
    """Seconds to wait after `failures` consecutive failed attempts (0 for the first retry)."""
    return min(BACKOFF_MAX_S, BACKOFF_FIRST_S * 2.0 ** min(failures, 16)) * random.uniform(0.5, 1)


class ViewerLink:
    def __init__(self, url: str, session_id: str, follower: Follower, token: str = "") -> None:
        self.url = url
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.session_id = session_id
        self.epoch = ""  # of the events shown; "" before the first `subscribed`
        self.last_seq = 0  # the newest event shown
        self._follower = follower
        self._outgoing: asyncio.Queue[m.ClientMessage] = asyncio.Queue(OUTGOING_MESSAGES)
        self._subscribed = False  # this connection got `subscribed`

    def send(self, message: m.ClientMessage) -> bool:
        """Queue a command; False (and nothing queued) when the queue is full."""
        try:
            self._outgoing.put_nowait(message)
        except asyncio.QueueFull:
            return False
        return True

    async def put(self, message: m.ClientMessage) -> None:
        """Queue a command, waiting while the queue is full (for input from a pipe)."""
        await self._outgoing.put(message)

    async def drain(self, timeout_s: float) -> None:
        """Wait (at most `timeout_s`) until the queued commands have been sent."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await self._outgoing.join()

    async def run(self) -> None:
        """Follow the session until the follower says it is over. Raises LinkStoppedError."""
        failures = 0
        outage = False
        while True:
            self._subscribed = False
            try:
                await self._connect_once(announce_back=outage)
                return
            except _DroppedError as exc:
                reason = str(exc)
            if self._subscribed:  # that connection worked: this is a new outage
                failures, outage = 0, False
            delay = backoff_delay(failures)
            failures += 1
            log.debug("connection dropped (%s); retrying in %.1f s", reason, delay)
            if not outage:
                self._follower.notice(f"reconnecting… ({reason})")
                outage = True
            await asyncio.sleep(delay)

    async def _connect_once(self, announce_back: bool) -> None:
        try:
            async with connect(
                self.url,
                additional_headers=self._headers,
                open_timeout=OPEN_TIMEOUT_S,
                close_timeout=CLOSE_TIMEOUT_S,
                ping_interval=PING_INTERVAL_S,
                ping_timeout=PING_TIMEOUT_S,
                max_size=m.MAX_FRAME_BYTES,
            ) as ws:
                await self._send(
                    ws,
                    m.Hello(protocol_version=PROTOCOL_VERSION, software_version=SOFTWARE_VERSION),
                )
                hello = await self._receive(ws, ANSWER_TIMEOUT_S)
                if not isinstance(hello, m.Hello):
                    raise _DroppedError("the server did not answer hello")
                since = m.Since(epoch=self.epoch, seq=self.last_seq) if self.epoch else None
                await self._send(
                    ws,
                    m.Subscribe(
                        session_id=self.session_id, since=since, request_id=SUBSCRIBE_REQUEST
                    ),
                )
                sender = asyncio.create_task(self._send_queued(ws))
                try:
                    await self._follow(ws, announce_back)
                finally:
                    sender.cancel()
                    with contextlib.suppress(asyncio.CancelledError, _DroppedError):
                        await sender
        except ConnectionClosed as exc:
            code = exc.rcvd.code if exc.rcvd is not None else None
            reason = exc.rcvd.reason if exc.rcvd is not None and exc.rcvd.reason else "closed"
            if not should_reconnect(code):
                raise LinkStoppedError(
                    f"the server closed the connection: {reason} (code {code})", code
                ) from exc
            raise _DroppedError(f"{reason}, code {code}" if code else "connection lost") from exc
        except InvalidURI as exc:
            raise LinkStoppedError(f"bad server URL {self.url}: {exc}") from exc
        except InvalidStatus as exc:
            status = exc.response.status_code
            if 400 <= status < 500:
                raise LinkStoppedError(
                    f"{self.url} refused the viewer socket: HTTP {status}"
                ) from exc
            raise _DroppedError(f"HTTP {status}") from exc
        except (OSError, TimeoutError, WebSocketException) as exc:
            raise _DroppedError(str(exc) or type(exc).__name__) from exc

    async def _follow(self, ws: ClientConnection, announce_back: bool) -> None:
        while True:
            message = await self._receive(ws, None if self._subscribed else ANSWER_TIMEOUT_S)
            if isinstance(message, m.Subscribed) and message.session_id == self.session_id:
                self._on_subscribed(message, announce_back)
            elif isinstance(message, _WireSessionEvents):
                if self._show(message):
                    return
            elif isinstance(message, m.Result) and not message.ok:
                self._on_refused(message)
            elif isinstance(message, m.ClientError):
                self._follower.refused(message.code, message.message, "")

    def _on_subscribed(self, message: m.Subscribed, announce_back: bool) -> None:
        if not message.recovered and (self.epoch or self.last_seq):
            self._follower.restart()
        if not message.recovered:
            self.last_seq = 0
        self.epoch = message.epoch
        self._subscribed = True
        if announce_back:
            self._follower.notice("reconnected")
        self._follower.subscribed()

    def _on_refused(self, result: m.Result) -> None:
        """A request failed: the subscription ends the link, any other is the follower's."""
        if result.request_id == SUBSCRIBE_REQUEST:
            raise LinkStoppedError(
                f"cannot follow session {self.session_id}: {result.message} ({result.code})"
            )
        self._follower.refused(result.code, result.message, result.request_id)

    def _show(self, frame: _WireSessionEvents) -> bool:
        if frame.session_id != self.session_id or not self._subscribed:
            return False
        if frame.epoch != self.epoch:
            raise _DroppedError("the session's history changed")  # resubscribe sorts it out
        for item in frame.events:
            if item.seq <= self.last_seq:
                continue
            if item.seq != self.last_seq + 1:
                raise _DroppedError(f"missing events {self.last_seq + 1}-{item.seq - 1}")
            self.last_seq = item.seq
            try:
                event = _event_decoder.decode(item.event)
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                log.debug("skipping event %d this client cannot read: %s", item.seq, exc)
                continue
            if self._follower.show(event):
                return True
        return False

    async def _receive(self, ws: ClientConnection, timeout_s: float | None) -> _Incoming:
        while True:
            try:
                async with asyncio.timeout(timeout_s):
                    data = await ws.recv(decode=False)
            except TimeoutError as exc:
                raise _DroppedError("the server did not answer in time") from exc
            try:
                message: _Incoming = _decoder.decode(data)
                return message
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                log.debug("ignoring a message this client cannot read: %s", exc)

    async def _send(self, ws: ClientConnection, message: m.ClientMessage) -> None:
        try:
            async with asyncio.timeout(SEND_TIMEOUT_S):
                await ws.send(_encoder.encode(message).decode())
        except TimeoutError as exc:
            raise _DroppedError("the server stopped reading") from exc

    async def _send_queued(self, ws: ClientConnection) -> None:
        while True:
            message = await self._outgoing.get()
            try:
                await self._send(ws, message)
            except (_DroppedError, ConnectionClosed):
                await ws.close()  # wakes the receiver, which reconnects
                raise  # the message is lost: commands are sent at most once
            finally:
                self._outgoing.task_done()
