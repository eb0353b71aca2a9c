"""ViewerLink in-process, for event-loop orderings a real connection produces only by chance."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest
from websockets.asyncio.client import ClientConnection

from attach.viewer_link import Follower, ViewerLink

SESSION = "5e55" + "0" * 20
SUBSCRIBED = (
    b'{"type":"subscribed","session_id":"%s","epoch":"e1","recovered":false,"last_seq":0,'
    b'"request_id":"attach-subscribe"}' % SESSION.encode()
)


class _Connection:
    """recv() returns `frame` once it is set; `receiving` is set once recv() waits for it."""

    def __init__(self) -> None:
        self.frame: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self.receiving = asyncio.Event()

    async def recv(self, decode: bool | None = None) -> bytes:
        self.receiving.set()
        return await self.frame


def test_a_cancel_in_the_iteration_a_frame_arrives_is_not_lost() -> None:
    """Detaching cancels the link; the server's `subscribed` can complete the pending recv in
    the same loop iteration. The cancel must win, or the link follows forever (the detached
    `tether attach` hung under CPU load)."""

    async def scenario() -> None:
        link = ViewerLink("ws://unused", SESSION, cast(Follower, object()))
        ws = _Connection()
        receiving: asyncio.Task[Any] = asyncio.create_task(
            link._receive(cast(ClientConnection, ws), 10.0)
        )
        await ws.receiving.wait()  # the link is in its recv
        ws.frame.set_result(SUBSCRIBED)
        receiving.cancel()
        with pytest.raises(asyncio.CancelledError):
            await receiving

    asyncio.run(scenario())
