"""A relay that speaks the real protocol and streams a scripted session's events at a steady pace,
from a thread of its own (so it runs beside Playwright's synchronous API).

    relay = StreamingRelay(server.url, relay_token, "s-1", events, interval_s=0.1).start()
    ...
    relay.join()   # every event committed by the server (acked), or raises

Each event goes in its own `events` frame, numbered by relay_seq from 1, so a viewer sees them
arrive one by one, as from an agent that is working. With `hold_after=N` the first N events go
at once and the rest wait for `release()` (so a test can get its viewer ready first).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time

import msgspec
from websockets.asyncio.client import connect

from protocol import messages as m
from protocol.version import PROTOCOL_VERSION, SOFTWARE_VERSION

log = logging.getLogger(__name__)
_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(m.ServerToRelay)
TIMEOUT_S = 10.0


class StreamingRelay:
    def __init__(
        self,
        server_url: str,
        token: str,
        session_id: str,
        events: list[m.Event],
        interval_s: float,
        hold_after: int = 0,
    ) -> None:
        self.url = server_url.replace("http", "ws", 1) + "/ws/relay"
        self.token = token
        self.session_id = session_id
        self.events = events
        self.interval_s = interval_s
        self.hold_after = hold_after
        self.sent = 0  # events sent so far
        self._released = threading.Event()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> StreamingRelay:
        self._thread.start()
        return self

    def release(self) -> None:
        """Send the events held back by `hold_after`."""
        self._released.set()

    def join(self, timeout_s: float = 60.0) -> None:
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            raise TimeoutError("the streaming relay did not finish")
        if self.error is not None:
            raise self.error

    def _run(self) -> None:
        try:
            asyncio.run(self._stream())
        except BaseException as error:  # the thread's boundary: join() raises it in the test
            log.exception("the streaming relay failed")
            self.error = error

    async def _stream(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        async with connect(self.url, additional_headers=headers, open_timeout=TIMEOUT_S) as ws:
            hello = m.Hello(protocol_version=PROTOCOL_VERSION, software_version=SOFTWARE_VERSION)
            await ws.send(_encoder.encode(hello).decode())
            assert isinstance(
                _decoder.decode(await asyncio.wait_for(ws.recv(), TIMEOUT_S)), m.Hello
            )
            acked = 0

            async def read_acks() -> None:
                nonlocal acked
                async for frame in ws:
                    answer = _decoder.decode(frame)
                    if isinstance(answer, m.Ack):
                        acked = max(acked, answer.acked.get(self.session_id, 0))
                        if acked >= len(self.events):
                            return

            reader = asyncio.create_task(read_acks())
            start = time.monotonic()
            for n, event in enumerate(self.events, start=1):
                if n == self.hold_after + 1 and self.hold_after:
                    await asyncio.to_thread(self._released.wait, TIMEOUT_S * 3)
                    start = time.monotonic() - (n - 1) * self.interval_s
                delay = start + (n - 1) * self.interval_s - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                batch = [
                    m.RelayEvent(
                        session_id=self.session_id, relay_seq=n, ts=time.time(), event=event
                    )
                ]
                await ws.send(_encoder.encode(m.Events(events=batch)).decode())
                self.sent = n
            with contextlib.suppress(TimeoutError):
                if acked < len(self.events):  # until every event is acked, or the link ends
                    await asyncio.wait_for(reader, TIMEOUT_S)
            reader.cancel()
            if acked < len(self.events):
                raise TimeoutError(f"acked {acked} of {len(self.events)}")
