"""Commands exactly once: a command id is run at most once, and never past its deadline."""

from __future__ import annotations

import time
from pathlib import Path

from protocol import messages as m
from protocol.codes import ErrorCode
from relay.command_store import COMMANDS_FILE, RETENTION_S, CommandMemory
from tests.harness import wait_until_async
from tests.relay.conftest import SettingsFactory
from tests.relay.fake_server import FakeServer
from tests.relay.test_link import _run, running

HOUR_S = 3600.0


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_the_same_command_id_delivered_twice_runs_once(
    make_settings: SettingsFactory, workspace: Path
) -> None:
    marker = workspace / "marker"
    settings = make_settings()

    async def body() -> None:
        server = await FakeServer().start()
        async with running(make_settings(server=server.url)) as _:
            await wait_until_async(lambda: bool(server.infos), 5, "the handshake")
            start = m.StartSession(session_id="s1", workspace="work", command_id="c1")
            assert (await server.command(start)).ok
            line = m.SendInput(session_id="s1", data=f"echo ran >> {marker}\n", command_id="c2")
            first = await server.command(line)
            again = await server.command(line)
            assert first == again == m.CommandResult(command_id="c2", ok=True)
            await wait_until_async(lambda: _lines(marker) == ["ran"], 5, "the shell's line")
            # a new id is a new command: the memory does not swallow a second, distinct line
            other = m.SendInput(session_id="s1", data=f"echo two >> {marker}\n", command_id="c3")
            assert (await server.command(other)).ok
            await wait_until_async(lambda: _lines(marker) == ["ran", "two"], 5, "the second line")
        # a restarted relay still remembers: c2 again is answered, not typed a third time
        async with running(make_settings(server=server.url)) as _:
            await wait_until_async(lambda: len(server.infos) == 2, 5, "the second handshake")
            assert await server.command(line) == m.CommandResult(command_id="c2", ok=True)
        await server.close()
        assert _lines(marker) == ["ran", "two"]

    _run(body)
    assert (Path(settings.state_dir) / COMMANDS_FILE).exists()


def test_a_start_delivered_again_after_the_session_ended_is_answered_from_memory(
    make_settings: SettingsFactory,
) -> None:
    async def body() -> None:
        server = await FakeServer().start()
        async with running(make_settings(server=server.url)) as relay:
            await wait_until_async(lambda: bool(server.infos), 5, "the handshake")
            start = m.StartSession(
                session_id="s1", workspace="work", command=["true"], command_id="c1"
            )
            assert (await server.command(start)).ok
            await wait_until_async(lambda: relay.supervisor.live_sessions() == [], 5, "the end")
            # without the memory this would be refused session_ended: the server would then
            # end a session that ran
            assert await server.command(start) == m.CommandResult(command_id="c1", ok=True)
        started = [e for e in server.events if isinstance(e.event, m.SessionStarted)]
        assert len(started) == 1
        await server.close()

    _run(body)


def test_a_command_past_its_deadline_is_not_run_when_the_relay_clock_is_slow(
    make_settings: SettingsFactory,
) -> None:
    async def body() -> None:
        server = await FakeServer().start()
        server.clock_offset_s = HOUR_S  # the relay's clock is an hour behind the server's
        async with running(make_settings(server=server.url)) as relay:
            await wait_until_async(lambda: bool(server.infos), 5, "the handshake")
            server_now = time.time() + HOUR_S
            late = m.StartSession(
                session_id="s1", workspace="work", command_id="c1", deadline=server_now - 5
            )
            refused = await server.command(late)
            assert (refused.ok, refused.code) == (False, ErrorCode.EXPIRED)
            assert relay.outbox.session_state("s1") is None  # nothing ran
            assert await server.command(late) == refused  # and the refusal is remembered
            timely = m.StartSession(
                session_id="s2", workspace="work", command_id="c2", deadline=server_now + 30
            )
            assert (await server.command(timely)).ok
            assert relay.supervisor.live_sessions() == ["s2"]
        assert {e.session_id for e in server.events} == {"s2"}
        await server.close()

    _run(body)


def test_a_command_within_its_deadline_runs_when_the_relay_clock_is_fast(
    make_settings: SettingsFactory,
) -> None:
    async def body() -> None:
        server = await FakeServer().start()
        server.clock_offset_s = -HOUR_S  # the relay's clock is an hour ahead of the server's
        async with running(make_settings(server=server.url)) as relay:
            await wait_until_async(lambda: bool(server.infos), 5, "the handshake")
            timely = m.StartSession(
                session_id="s1",
                workspace="work",
                command_id="c1",
                deadline=time.time() - HOUR_S + 30,
            )
            assert (await server.command(timely)).ok
            assert relay.supervisor.live_sessions() == ["s1"]
        await server.close()

    _run(body)


def test_remembered_commands_are_pruned_after_the_retention_time(tmp_path: Path) -> None:
    now = [1_000_000.0]
    memory = CommandMemory.open(tmp_path, clock=lambda: now[0])
    memory.remember(m.CommandResult(command_id="old", ok=False, code="expired", message="late"))
    now[0] += RETENTION_S / 2
    memory.remember(m.CommandResult(command_id="new", ok=True))
    assert memory.recall("old") == m.CommandResult(
        command_id="old", ok=False, code="expired", message="late"
    )
    now[0] += RETENTION_S / 2 + 1
    assert memory.prune() == 1
    assert memory.recall("old") is None
    assert memory.recall("new") == m.CommandResult(command_id="new", ok=True)
    memory.close()
