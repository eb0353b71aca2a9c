"""A server that plays a script on the viewer socket, to hold `tether attach` to the protocol in
situations the real server produces only by chance: a close with "too slow" in the middle of
history, an overlapping resend, history rebuilt under a new epoch, a "stop" close code.

It answers GET /api/sessions like the real server and runs in a thread with its own event loop.
Each viewer connection is handed to the next function of `script`, with the decoded subscribe.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from websockets.asyncio.server import Request, Response, ServerConnection, serve
from websockets.datastructures import Headers

from protocol import messages as m
from protocol.version import PROTOCOL_VERSION, SOFTWARE_VERSION
from tests.harness import free_port

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(m.ClientMessage)

Step = Callable[["Viewer"], Awaitable[None]]


class Viewer:
    """One viewer connection, after hello and subscribe."""

    def __init__(self, ws: ServerConnection, subscribe: m.Subscribe) -> None:
        self.ws = ws
        self.subscribe = subscribe

    async def send(self, message: m.ServerToClient) -> None:
        await self.ws.send(_encoder.encode(message).decode())

    async def subscribed(self, epoch: str, recovered: bool, last_seq: int) -> None:
        await self.send(
            m.Subscribed(
                session_id=self.subscribe.session_id,
                epoch=epoch,
                recovered=recovered,
                last_seq=last_seq,
                request_id=self.subscribe.request_id,
            )
        )

    async def events(self, epoch: str, seqs: range, text: Callable[[int], bytes]) -> None:
        events = [
            m.LoggedEvent(seq=n, ts=time.time(), event=m.TerminalOutput(data=text(n))) for n in seqs
        ]
        await self.send(
            m.SessionEvents(session_id=self.subscribe.session_id, epoch=epoch, events=events)
        )

    async def log(self, epoch: str, first_seq: int, events: list[m.Event]) -> None:
        """`events` as the session's log from `first_seq` on."""
        logged = [
            m.LoggedEvent(seq=n, ts=time.time(), event=event)
            for n, event in enumerate(events, start=first_seq)
        ]
        await self.send(
            m.SessionEvents(session_id=self.subscribe.session_id, epoch=epoch, events=logged)
        )

    async def command(self) -> m.ClientMessage:
        """The next message the viewer sends."""
        message: m.ClientMessage = _decoder.decode(await self.ws.recv())
        return message

    async def end(self, epoch: str, seq: int, exit_code: int) -> None:
        event = m.LoggedEvent(seq=seq, ts=time.time(), event=m.SessionEnded(exit_code=exit_code))
        await self.send(
            m.SessionEvents(session_id=self.subscribe.session_id, epoch=epoch, events=[event])
        )


class ScriptedServer:
    def __init__(self, session_id: str, script: list[Step], agent: str = "pty") -> None:
        self.session_id = session_id
        self.agent = agent
        self.script = list(script)
        self.subscribes: list[m.Subscribe] = []
        self.port = free_port()
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Future[None] | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ScriptedServer:
        self._thread.start()
        if not self._ready.wait(10):
            raise TimeoutError("scripted server did not start")
        return self

    def __exit__(self, *_: object) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set_result, None)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._serve())
        self._loop.close()

    async def _serve(self) -> None:
        self._stop = self._loop.create_future()
        async with serve(self._viewer, "127.0.0.1", self.port, process_request=self._rest):
            self._ready.set()
            await self._stop

    def _rest(self, _: ServerConnection, request: Request) -> Response | None:
        if request.path != "/api/sessions":
            return None  # the viewer socket
        body = {
            "sessions": [
                {
                    "id": self.session_id,
                    "status": "running",
                    "agent": self.agent,
                    "relay_online": True,
                }
            ]
        }
        headers = Headers([("content-type", "application/json")])
        return Response(200, "OK", headers, json.dumps(body).encode())

    async def _viewer(self, ws: ServerConnection) -> None:
        hello = _decoder.decode(await ws.recv())
        assert isinstance(hello, m.Hello)
        await ws.send(
            _encoder.encode(
                m.Hello(protocol_version=PROTOCOL_VERSION, software_version=SOFTWARE_VERSION)
            ).decode()
        )
        subscribe = _decoder.decode(await ws.recv())
        assert isinstance(subscribe, m.Subscribe)
        self.subscribes.append(subscribe)
        step = self.script.pop(0)
        await step(Viewer(ws, subscribe))
        await ws.wait_closed()


def ticks(n: int) -> bytes:
    return f"tick {n:06d}\r\n".encode()


def describe(subscribe: m.Subscribe) -> dict[str, Any]:
    since = subscribe.since
    return {"epoch": since.epoch, "seq": since.seq} if since else {}
