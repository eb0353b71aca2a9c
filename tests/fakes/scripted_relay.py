"""A relay that speaks the real protocol but plays a script: it reports events of a session it
"runs", for event kinds the real relay's PTY adapter never produces (messages, tools, diffs)."""

from __future__ import annotations

import asyncio
import time

import msgspec
from websockets.asyncio.client import connect

from protocol import messages as m
from protocol.version import PROTOCOL_VERSION, SOFTWARE_VERSION

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(m.ServerToRelay)


async def _publish(server_url: str, token: str, session_id: str, events: list[m.Event]) -> None:
    url = server_url.replace("http", "ws", 1) + "/ws/relay"
    headers = {"Authorization": f"Bearer {token}"}
    async with connect(url, additional_headers=headers, open_timeout=10) as ws:
        hello = m.Hello(protocol_version=PROTOCOL_VERSION, software_version=SOFTWARE_VERSION)
        await ws.send(_encoder.encode(hello).decode())
        assert isinstance(_decoder.decode(await asyncio.wait_for(ws.recv(), 10)), m.Hello)
        # Like a real relay, it declares the workspaces its session runs in: the server places
        # a relay's own session only in a workspace that relay declared.
        named = dict.fromkeys(e.workspace for e in events if isinstance(e, m.SessionStarted))
        info = m.RelayInfo(workspaces=[m.Workspace(name=w, path=f"/{w}") for w in named])
        await ws.send(_encoder.encode(info).decode())
        while not isinstance(_decoder.decode(await asyncio.wait_for(ws.recv(), 10)), m.Committed):
            pass
        batch = [
            m.RelayEvent(session_id=session_id, relay_seq=n, ts=time.time(), event=event)
            for n, event in enumerate(events, start=1)
        ]
        await ws.send(_encoder.encode(m.Events(events=batch)).decode())
        while True:
            answer = _decoder.decode(await asyncio.wait_for(ws.recv(), 10))
            if isinstance(answer, m.Ack) and answer.acked.get(session_id) == len(events):
                return


def publish(server_url: str, token: str, session_id: str, events: list[m.Event]) -> None:
    """Connect as a relay, have the server commit `events` as one session's log, disconnect."""
    asyncio.run(_publish(server_url, token, session_id, events))
