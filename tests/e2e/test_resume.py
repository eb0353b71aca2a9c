"""Subscribe and resume against a real server, a real relay process and a real PTY (DESIGN §2)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from protocol import messages as m
from tests.fakes.ticker import expected
from tests.harness import Stack, Viewer, ended, running, terminal_text, ticker, wait_until


def _log_seqs(stack: Stack, session_id: str) -> list[int]:
    return [e["seq"] for e in stack.events(session_id)]


def _wait_log_len(stack: Stack, session_id: str, at_least: int) -> None:
    wait_until(
        lambda: stack.server.get(f"/api/sessions/{session_id}")["last_seq"] >= at_least,
        30,
        f"{at_least} events in the log",
    )


async def _follow_to_end(viewer: Viewer, session_id: str) -> None:
    await viewer.until(lambda: ended(viewer.events.get(session_id, [])), 60)


def test_live_pty_session_reaches_viewer_with_exit_code(stack: Stack) -> None:
    session_id = stack.start_session(["sh", "-c", "echo hello from $(basename $PWD); exit 7"])

    async def run() -> None:
        viewer = await Viewer.open(stack.server.url)
        await viewer.subscribe(session_id)
        await _follow_to_end(viewer, session_id)
        events = viewer.events[session_id]
        assert "hello from work" in terminal_text(events)
        assert isinstance(events[0].event, m.SessionStarted)
        end = events[-1].event
        assert isinstance(end, m.SessionEnded) and end.exit_code == 7
        assert [e.seq for e in events] == list(range(1, len(events) + 1))
        await viewer.close()

    asyncio.run(run())


def _resume_after_gap(stack: Stack, lines: int) -> Viewer:
    """Follow part of a ticker session, drop the socket, let it run on, resume; return viewer."""
    session_id = stack.start_session(ticker(lines, 0.002))

    async def run() -> Viewer:
        first = await Viewer.open(stack.server.url)
        await first.subscribe(session_id)
        await first.until(lambda: len(first.events.get(session_id, [])) >= 20)
        held = list(first.events[session_id])
        since = first.since(session_id)
        await first.close()
        _wait_log_len(stack, session_id, held[-1].seq + 100)

        second = await Viewer.open(stack.server.url)
        second.events[session_id] = held
        assert since is not None
        second.epochs[session_id] = since.epoch
        await second.subscribe(session_id, since)
        await _follow_to_end(second, session_id)
        assert second.subscribed[-1].recovered is True
        await second.close()
        return second

    viewer = asyncio.run(run())
    session = next(iter(viewer.events))
    events = viewer.events[session]
    assert viewer.duplicates == 0
    assert [e.seq for e in events] == _log_seqs(stack, session)
    assert terminal_text(events) == expected(lines)
    return viewer


def test_resume_within_ring_sends_only_the_missed_events(stack: Stack) -> None:
    _resume_after_gap(stack, 400)


def test_resume_from_history_older_than_the_ring(tmp_path: Path) -> None:
    with running(Stack(tmp_path, server_env={"TETHER_RING_EVENTS": "16"})) as stack:
        _resume_after_gap(stack, 600)


def test_resume_with_another_epoch_is_not_recovered_and_replays_everything(stack: Stack) -> None:
    session_id = stack.start_session(ticker(50, 0.001))

    async def run() -> None:
        viewer = await Viewer.open(stack.server.url)
        await viewer.subscribe(session_id)
        await _follow_to_end(viewer, session_id)
        whole = [e.seq for e in viewer.events[session_id]]
        await viewer.subscribe(session_id, m.Since(epoch="0000000000000000", seq=10))
        await viewer.until(lambda: len(viewer.subscribed) == 2)
        assert viewer.subscribed[-1].recovered is False
        await viewer.until(lambda: ended(viewer.events[session_id]))
        assert [e.seq for e in viewer.events[session_id]] == whole  # reset, then all again
        # a `since` beyond the end of the log cannot be trusted either
        await viewer.subscribe(session_id, m.Since(epoch=viewer.epochs[session_id], seq=10**6))
        await viewer.until(lambda: len(viewer.subscribed) == 3)
        assert viewer.subscribed[-1].recovered is False
        await viewer.until(lambda: ended(viewer.events[session_id]))
        assert [e.seq for e in viewer.events[session_id]] == whole
        await viewer.close()

    asyncio.run(run())


def test_resume_twice_without_new_events_sends_nothing_twice(stack: Stack) -> None:
    session_id = stack.start_session(ticker(30, 0.001))

    async def run() -> None:
        viewer = await Viewer.open(stack.server.url)
        await viewer.subscribe(session_id)
        await _follow_to_end(viewer, session_id)
        count = len(viewer.events[session_id])
        for attempt in range(2):
            again = await Viewer.open(stack.server.url)
            again.events[session_id] = list(viewer.events[session_id])
            again.epochs[session_id] = viewer.epochs[session_id]
            await again.subscribe(session_id, viewer.since(session_id))
            await again.until(lambda a=again: len(a.subscribed) == 1)
            # nothing follows: no frame may arrive within a second
            try:
                extra = await again.receive_one(1.0)
            except TimeoutError:
                extra = None
            assert extra is None, f"resume {attempt + 1} sent {extra}"
            assert again.subscribed[0].recovered is True
            assert again.subscribed[0].last_seq == count
            await again.close()
        await viewer.close()

    asyncio.run(run())


def test_fifty_viewers_receive_identical_sequences(stack: Stack) -> None:
    session_id = stack.start_session(ticker(300, 0.005, 0.5))

    async def run() -> None:
        viewers = [await Viewer.open(stack.server.url) for _ in range(50)]
        for viewer in viewers:
            await viewer.subscribe(session_id)
        await asyncio.gather(*(_follow_to_end(v, session_id) for v in viewers))
        reference = [(e.seq, e.event) for e in viewers[0].events[session_id]]
        assert terminal_text(viewers[0].events[session_id]) == expected(300)
        for viewer in viewers:
            assert [(e.seq, e.event) for e in viewer.events[session_id]] == reference
            assert viewer.duplicates == 0
            await viewer.close()

    asyncio.run(run())
