"""`tether relay` as a real process: exit codes, graceful shutdown, kill -9 and restart."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from protocol import messages as m
from protocol.codes import CloseCode
from tests.harness import RelayProcess, wait_until_async
from tests.relay.fake_server import FakeServer

TOKEN = "tr_secret-test-token"
WAIT_S = 15.0


def _relay(tmp_path: Path, workspace: Path, url: str) -> RelayProcess:
    return RelayProcess(
        url, TOKEN, tmp_path / "state", {"work": workspace}, env={"TETHER_RELAY_STOP_GRACE_S": "1"}
    )


async def _exit_status(relay: RelayProcess, timeout_s: float = WAIT_S) -> int:
    """The relay's exit status, waited for off the loop so the fake server keeps answering."""
    return await asyncio.to_thread(relay.wait, timeout_s)


def _kill9(relay: RelayProcess) -> None:
    if relay.process is not None and relay.process.poll() is None:
        relay.kill9()


@contextlib.asynccontextmanager
async def relay_process(tmp_path: Path, workspace: Path, url: str) -> AsyncIterator[RelayProcess]:
    relay = _relay(tmp_path, workspace, url).start()
    try:
        yield relay
    finally:
        _kill9(relay)


def _run(body: Callable[[], Awaitable[None]], timeout_s: float = 25) -> None:
    async def scenario() -> None:
        async with asyncio.timeout(timeout_s):
            await body()

    asyncio.run(scenario())


async def _start_s1(server: FakeServer, command: list[str]) -> None:
    """Once the relay has connected, start session s1 running `command` in `work`."""
    await wait_until_async(lambda: bool(server.infos), 15, "the relay to connect")
    start = m.StartSession(session_id="s1", workspace="work", command=command)
    assert (await server.command(start)).ok


def _ends(server: FakeServer, session_id: str) -> list[m.SessionEnded]:
    return [
        e.event
        for e in server.unique_events().values()
        if e.session_id == session_id and isinstance(e.event, m.SessionEnded)
    ]


def test_a_refused_token_makes_the_relay_exit_2(tmp_path: Path, workspace: Path) -> None:
    async def body() -> None:
        server = await FakeServer(reject_code=CloseCode.UNAUTHORIZED).start()
        async with relay_process(tmp_path, workspace, server.url) as relay:
            assert await _exit_status(relay) == 2
        assert server.connections == 1
        log = relay.log()
        assert "4500" in log and "refused this relay's token" in log
        assert TOKEN not in log  # not even at DEBUG
        await server.close()

    _run(body)


def test_sigterm_stops_sessions_and_closes_the_link_with_1000(
    tmp_path: Path, workspace: Path
) -> None:
    async def body() -> None:
        server = await FakeServer().start()
        async with relay_process(tmp_path, workspace, server.url) as relay:
            await _start_s1(server, ["sleep", "100"])
            relay.send_signal(signal.SIGTERM)
            assert await _exit_status(relay) == 0
        assert [e.reason for e in _ends(server, "s1")] == ["stopped"]
        assert server.close_codes == [1000]
        await server.close()

    _run(body)


def test_after_kill_9_the_restarted_relay_ends_the_lost_session(
    tmp_path: Path, workspace: Path
) -> None:
    async def body() -> None:
        server = await FakeServer().start()
        async with relay_process(tmp_path, workspace, server.url) as relay:
            await _start_s1(server, ["cat"])
            await wait_until_async(lambda: len(server.events) >= 2, 5, "the start events")
            _kill9(relay)
        before = max(e.relay_seq for e in server.events if e.session_id == "s1")
        async with relay_process(tmp_path, workspace, server.url) as relay:
            await wait_until_async(
                lambda: bool(_ends(server, "s1")), 15, "the end of the lost session"
            )
            assert _ends(server, "s1") == [m.SessionEnded(reason="relay_restarted")]
            last = max(e.relay_seq for e in server.events if e.session_id == "s1")
            assert last == before + 1  # numbering continues without a gap
            assert server.infos[-1].live_sessions == []
        await server.close()

    _run(body)


def test_a_second_relay_on_the_same_state_dir_exits_2(tmp_path: Path, workspace: Path) -> None:
    async def body() -> None:
        server = await FakeServer().start()
        async with relay_process(tmp_path, workspace, server.url):
            await wait_until_async(lambda: bool(server.infos), 15, "the first relay to connect")
            second = _relay(tmp_path, workspace, server.url)
            second.log_path = tmp_path / "second.log"
            second.start()
            try:
                assert await _exit_status(second) == 2
            finally:
                _kill9(second)
            assert "another relay is running" in second.log()
        await server.close()

    _run(body)


def test_sigterm_while_the_server_is_unreachable_exits_at_once(
    tmp_path: Path, workspace: Path
) -> None:
    async def body() -> None:
        async with relay_process(tmp_path, workspace, "https://10.255.255.1:9") as relay:
            # up, its signal handlers in place, and dialling an address that never answers
            await wait_until_async(lambda: " starting; " in relay.log(), WAIT_S, "the relay")
            relay.send_signal(signal.SIGTERM)
            assert await _exit_status(relay, timeout_s=3) == 0

    _run(body)
