"""Crashes and network faults: nothing the relay produced is lost, duplicated or reordered."""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import sqlite3
import time
from pathlib import Path

import msgspec
import pytest
from websockets.exceptions import ConnectionClosed

from protocol import messages as m
from protocol.codes import CloseCode
from tests.e2e.server_log import assert_log_is_exactly, committed, wait_ended
from tests.fakes.cutting_proxy import CuttingProxy
from tests.fakes.ticker import expected
from tests.harness import Stack, Viewer, ended, terminal_text, ticker, wait_until


@pytest.mark.parametrize(
    "kills",
    [pytest.param(20, id="20-kills"), pytest.param(100, id="100-kills", marks=pytest.mark.slow)],
)
@pytest.mark.timeout(900)
def test_server_kill9_during_stream_loses_and_repeats_nothing(
    stack: Stack, kills: int, tmp_path: Path
) -> None:
    # A PTY read may hold several lines on a busy machine, so the ticker runs until the log holds
    # 10,000 events and is then told to stop; it says how many lines it printed.
    stop = stack.workspace / "stop"  # where the sandboxed ticker can see it
    interval = max(0.003, kills * 1.6 / 10_500)  # the stream outlasts the kills
    session_id = stack.start_session(ticker(1_000_000, interval, stop_file=stop))
    rng = random.Random(kills)
    start = time.monotonic()
    for _ in range(kills):
        time.sleep(rng.uniform(0.05, 0.6))
        stack.server.kill9()
        stack.server.start()
    wait_until(
        lambda: stack.server.get(f"/api/sessions/{session_id}")["last_seq"] >= 10_000,
        300,
        "10,000 events in the server's log",
    )
    stop.touch()
    wait_ended(stack, session_id, 120)
    lines = int(Path(f"{stop}.count").read_text())
    count = assert_log_is_exactly(stack, session_id, lines)
    print(f"{kills} kills in {time.monotonic() - start:.1f} s; {count} events logged, all intact")
    assert count >= 10_000


def _outbox_has(stack: Stack, text: str) -> bool:
    """Whether the relay's unacked events contain `text` in their terminal output."""
    path = stack.relay.state_dir / "outbox.sqlite3"
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT payload FROM outbox WHERE acked_at IS NULL ORDER BY id"
        ).fetchall()
    finally:
        conn.close()
    events = [msgspec.json.decode(row[0], type=m.RelayEvent).event for row in rows]
    return text.encode() in b"".join(e.data for e in events if isinstance(e, m.TerminalOutput))


def test_relay_kill9_with_unacked_events_delivers_them_after_restart(stack: Stack) -> None:
    lines = 300
    session_id = stack.start_session(ticker(lines, 0.002, 60))
    wait_until(
        lambda: stack.server.get(f"/api/sessions/{session_id}")["last_seq"] > 3, 20, "first events"
    )
    stack.server.kill9()  # from now on nothing is acked
    last_line = f"tick {lines:06d}"
    wait_until(lambda: _outbox_has(stack, last_line), 20, "all lines in the relay's outbox")
    stack.relay.kill9()
    stack.server.start()
    stack.relay.start()
    wait_ended(stack, session_id, 30)
    assert_log_is_exactly(stack, session_id, lines)
    last = committed(stack, session_id)[-1][2]
    assert isinstance(last, m.SessionEnded) and last.reason == "relay_restarted"


def test_connection_cut_mid_frame_loses_nothing(tmp_path: Path) -> None:
    stack = Stack(tmp_path)
    lines = 3000

    async def run() -> int:
        relay_proxy = await CuttingProxy(stack.server.port).start()
        viewer_proxy = await CuttingProxy(stack.server.port).start()
        stack.relay = stack.new_relay(f"http://127.0.0.1:{relay_proxy.port}")
        stack.relay.start()
        await asyncio.to_thread(stack.wait_relay_online)
        session_id = await asyncio.to_thread(stack.start_session, ticker(lines, 0.002))
        url = f"http://127.0.0.1:{viewer_proxy.port}"
        viewer = await Viewer.open(url, token=stack.server.console_token)
        await viewer.subscribe(session_id)
        held: list[m.LoggedEvent] = []
        for _ in range(10):
            await asyncio.sleep(0.4)
            relay_proxy.cut_mid_frame()
            viewer_proxy.cut_mid_frame()
            await viewer.send(m.Subscribe(session_id="x" * 2000))  # a client frame to cut
            try:
                await viewer.until(lambda: False, 2)
            except (ConnectionClosed, TimeoutError):  # the cut: closed without a close frame
                held = viewer.events.get(session_id, [])
                since = viewer.since(session_id)
                viewer = await Viewer.open(url, token=stack.server.console_token)
                if since is not None:
                    viewer.events[session_id] = held
                    viewer.epochs[session_id] = since.epoch
                await viewer.subscribe(session_id, since)
        await viewer.until(lambda: ended(viewer.events.get(session_id, [])), 60)
        assert viewer.duplicates == 0
        assert terminal_text(viewer.events[session_id]) == expected(lines)
        assert relay_proxy.cuts >= 5 and viewer_proxy.cuts >= 5
        await viewer.close()
        await relay_proxy.close()
        await viewer_proxy.close()
        return len(viewer.events[session_id])

    try:
        asyncio.run(run())
        session_id = stack.server.get("/api/sessions")["sessions"][0]["id"]
        assert_log_is_exactly(stack, session_id, lines)
    finally:
        stack.close()


def test_viewer_that_stops_reading_is_dropped_while_others_keep_up(tmp_path: Path) -> None:
    stack = Stack(tmp_path, server_env={"TETHER_VIEWER_QUEUE_FRAMES": "16"})
    # ~6 MB/s of random text (frames must not shrink under permessage-deflate) until stopped
    flood = "while :; do head -c 60000 /dev/urandom | base64 -w 100; sleep 0.01; done"

    async def run() -> None:
        await asyncio.to_thread(stack.relay.start)
        await asyncio.to_thread(stack.wait_relay_online)
        session_id = await asyncio.to_thread(stack.start_session, ["sh", "-c", flood])
        # A client that stops reading its socket; a tiny receive buffer (no autotuning) keeps the
        # kernel from soaking up the flood for it.
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", stack.server.port))
        stalled = await Viewer.open(stack.server.url, sock=sock)
        await stalled.subscribe(session_id)
        stalled.ws.transport.pause_reading()
        healthy = await Viewer.open(stack.server.url)
        await healthy.subscribe(session_id)

        async def dropped() -> None:
            while "4001 too slow" not in stack.server.log():  # noqa: ASYNC110 (a log file)
                await asyncio.sleep(0.1)

        following = asyncio.create_task(
            healthy.until(lambda: ended(healthy.events.get(session_id, [])), 120)
        )
        await asyncio.wait_for(dropped(), 60)
        at_drop = len(healthy.events[session_id])
        await asyncio.sleep(2)  # the flood goes on; the healthy viewer must keep receiving it
        assert len(healthy.events[session_id]) > at_drop
        await healthy.send(m.StopSession(session_id=session_id))
        await following  # every event, in order, no gaps (the harness checks each frame)
        assert healthy.duplicates == 0
        log_seqs = [e["seq"] for e in await asyncio.to_thread(stack.events, session_id)]
        assert [e.seq for e in healthy.events[session_id]] == log_seqs
        # the stalled viewer reads again: the frames in flight, then the close code
        stalled.ws.transport.resume_reading()
        with contextlib.suppress(ConnectionClosed):
            while True:
                await stalled.receive_one(10)
        assert stalled.ws.close_code == CloseCode.TOO_SLOW
        assert stalled.duplicates == 0
        await healthy.close()

    try:
        asyncio.run(run())
    finally:
        stack.close()
