"""The supervisor: commands checked against the allow-list, sessions framed by start/end events."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

import msgspec
import pytest

from protocol import messages as m
from protocol.codes import ErrorCode
from relay.agent.adapters import ADAPTERS
from relay.agent.adapters.base import Adapter
from relay.agent.config import AgentConfig
from relay.errors import CommandError
from relay.outbox import Outbox
from relay.settings import Settings
from relay.supervisor import Supervisor
from tests.harness import wait_until_async
from tests.relay.conftest import SettingsFactory

_decode = msgspec.json.Decoder(m.RelayEvent).decode


def _events(outbox: Outbox, session_id: str) -> list[m.Event]:
    outbox.flush()
    rows = outbox.read_batch(0, max_events=10_000, max_bytes=1 << 30)
    records = [_decode(r.payload) for r in rows if r.session_id == session_id]
    assert [r.relay_seq for r in records] == list(range(1, len(records) + 1))
    return [r.event for r in records]


def _ended(outbox: Outbox, session_id: str) -> m.SessionEnded | None:
    return next((e for e in _events(outbox, session_id) if isinstance(e, m.SessionEnded)), None)


def _with_supervisor(
    settings: Settings,
    body: Callable[[Supervisor, Outbox], Awaitable[None]],
    adapters: dict[str, type[Adapter]] | None = None,
) -> None:
    Path(settings.state_dir).mkdir(parents=True, exist_ok=True)

    async def scenario() -> None:
        outbox = Outbox.open(Path(settings.state_dir))
        supervisor = Supervisor(settings, outbox, {"PATH": "/usr/bin:/bin"}, adapters or ADAPTERS)
        try:
            await body(supervisor, outbox)
        finally:
            await supervisor.stop_all()
            outbox.close()

    asyncio.run(scenario())


def _start(session_id: str, command: list[str], **kwargs: object) -> m.StartSession:
    return m.StartSession(session_id=session_id, workspace="work", command=command, **kwargs)  # type: ignore[arg-type]


async def _refused(supervisor: Supervisor, command: m.SessionCommand) -> ErrorCode:
    with pytest.raises(CommandError) as info:
        await supervisor.handle(command)
    return info.value.code


def test_a_session_is_framed_by_started_running_and_ended(make_settings: SettingsFactory) -> None:
    async def body(supervisor: Supervisor, outbox: Outbox) -> None:
        await supervisor.handle(_start("s1", ["sh", "-c", "echo hi; exit 4"], cols=100, rows=30))
        await wait_until_async(lambda: _ended(outbox, "s1") is not None, 10, "the session to end")
        events = _events(outbox, "s1")
        started = events[0]
        assert isinstance(started, m.SessionStarted)
        assert (started.agent, started.workspace, started.cols, started.rows) == (
            "pty",
            "work",
            100,
            30,
        )
        assert started.command == ["sh", "-c", "echo hi; exit 4"]
        assert started.cwd == supervisor._settings.workspaces[0].path
        assert events[1] == m.Status(state="running")
        assert events[-1] == m.SessionEnded(exit_code=4, reason="exited")
        output = b"".join(e.data for e in events if isinstance(e, m.TerminalOutput))
        assert b"hi" in output
        assert supervisor.live_sessions() == []

    _with_supervisor(make_settings(), body)


def test_commands_outside_the_allow_list_are_refused(make_settings: SettingsFactory) -> None:
    async def body(supervisor: Supervisor, outbox: Outbox) -> None:
        elsewhere = m.StartSession(session_id="s1", workspace="/etc", command=["true"])
        assert await _refused(supervisor, elsewhere) == ErrorCode.WORKSPACE_NOT_ALLOWED
        robot = m.StartSession(session_id="s2", workspace="work", agent="robot")
        assert await _refused(supervisor, robot) == ErrorCode.UNKNOWN_AGENT
        huge = _start("s3", ["true"], cols=100_000)
        assert await _refused(supervisor, huge) == ErrorCode.BAD_REQUEST
        nameless = m.StartSession(workspace="work")
        assert await _refused(supervisor, nameless) == ErrorCode.BAD_REQUEST
        assert outbox.pending_count() == 0  # nothing was started, nothing was recorded

    _with_supervisor(make_settings(), body)


def test_a_failed_spawn_is_refused_and_logged_as_ended(make_settings: SettingsFactory) -> None:
    async def body(supervisor: Supervisor, outbox: Outbox) -> None:
        assert (
            await _refused(supervisor, _start("s1", ["no-such-program"])) == ErrorCode.SPAWN_FAILED
        )
        error, ended = _events(outbox, "s1")
        assert isinstance(error, m.Error) and "no-such-program" in error.message
        assert ended == m.SessionEnded(reason="spawn_failed")

    _with_supervisor(make_settings(), body)


def test_commands_for_unknown_or_ended_sessions(make_settings: SettingsFactory) -> None:
    async def body(supervisor: Supervisor, outbox: Outbox) -> None:
        nobody = m.SendInput(session_id="nobody", data="x")
        assert await _refused(supervisor, nobody) == ErrorCode.UNKNOWN_SESSION
        assert (
            await _refused(supervisor, m.StopSession(session_id="nobody"))
            == ErrorCode.UNKNOWN_SESSION
        )
        await supervisor.handle(_start("s1", ["true"]))
        await wait_until_async(lambda: _ended(outbox, "s1") is not None, 10, "the session to end")
        assert (
            await _refused(supervisor, m.SendInput(session_id="s1", data="x"))
            == ErrorCode.SESSION_ENDED
        )
        resize = m.Resize(session_id="s1", cols=10, rows=10)
        assert await _refused(supervisor, resize) == ErrorCode.SESSION_ENDED
        assert await _refused(supervisor, _start("s1", ["true"])) == ErrorCode.SESSION_ENDED
        await supervisor.handle(m.StopSession(session_id="s1"))  # already ended: fine

    _with_supervisor(make_settings(), body)


def test_a_repeated_start_of_a_live_session_is_a_no_op(make_settings: SettingsFactory) -> None:
    async def body(supervisor: Supervisor, outbox: Outbox) -> None:
        await supervisor.handle(_start("s1", ["sleep", "100"]))
        await supervisor.handle(_start("s1", ["sleep", "100"]))
        assert supervisor.live_sessions() == ["s1"]
        started = [e for e in _events(outbox, "s1") if isinstance(e, m.SessionStarted)]
        assert len(started) == 1

    _with_supervisor(make_settings(), body)


def test_stop_ends_the_session_as_stopped(make_settings: SettingsFactory) -> None:
    async def body(supervisor: Supervisor, outbox: Outbox) -> None:
        await supervisor.handle(_start("s1", ["sleep", "100"]))
        await supervisor.handle(m.StopSession(session_id="s1"))
        await supervisor.handle(m.StopSession(session_id="s1"))  # twice is fine
        await wait_until_async(lambda: _ended(outbox, "s1") is not None, 10, "the session to end")
        ended = _ended(outbox, "s1")
        assert ended is not None and ended.reason == "stopped"

    _with_supervisor(make_settings(), body)


def test_stop_all_ends_every_session(make_settings: SettingsFactory) -> None:
    async def body(supervisor: Supervisor, outbox: Outbox) -> None:
        for sid in ("a", "b", "c"):
            await supervisor.handle(_start(sid, ["sleep", "100"]))
        await supervisor.stop_all()
        assert supervisor.live_sessions() == []
        assert outbox.live_sessions() == []
        for sid in ("a", "b", "c"):
            ended = _ended(outbox, sid)
            assert ended is not None and ended.reason == "stopped"

    _with_supervisor(make_settings(), body)


def test_sessions_beyond_max_sessions_are_refused(make_settings: SettingsFactory) -> None:
    async def body(supervisor: Supervisor, outbox: Outbox) -> None:
        await supervisor.handle(_start("a", ["sleep", "100"]))
        await supervisor.handle(_start("b", ["sleep", "100"]))
        assert await _refused(supervisor, _start("c", ["sleep", "100"])) == ErrorCode.SPAWN_FAILED
        assert outbox.session_state("c") is None

    _with_supervisor(make_settings(max_sessions=2), body)


def test_forget_drops_the_events_and_stops_the_process(make_settings: SettingsFactory) -> None:
    async def body(supervisor: Supervisor, outbox: Outbox) -> None:
        await supervisor.handle(_start("s1", ["sleep", "100"]))
        supervisor.forget("s1")
        await wait_until_async(lambda: not supervisor.live_sessions(), 10, "the process to stop")
        assert _events(outbox, "s1") == []

    _with_supervisor(make_settings(), body)


class EchoAdapter(Adapter):
    """A stand-in agent: proves a new adapter is one registry entry away."""

    agent = "echo"

    @property
    def command(self) -> list[str]:
        return ["echo"]

    async def start(self) -> None:
        self._done = asyncio.Event()

    async def run(self) -> int | None:
        await self._done.wait()
        return 0

    async def send_input(self, data: str) -> None:
        self.sink.emit(m.Message(text=data))
        self._done.set()

    async def resize(self, cols: int, rows: int) -> None:
        pass

    async def interrupt(self) -> None:
        pass

    async def stop(self, grace_s: float) -> None:
        self._done.set()

    def close(self) -> None:
        pass


def test_a_new_adapter_is_one_registry_entry(make_settings: SettingsFactory) -> None:
    async def body(supervisor: Supervisor, outbox: Outbox) -> None:
        assert supervisor.agents == ["pty", "echo"]
        await supervisor.handle(m.StartSession(session_id="s1", workspace="work", agent="echo"))
        await supervisor.handle(m.SendInput(session_id="s1", data="hello"))
        await wait_until_async(lambda: _ended(outbox, "s1") is not None, 10, "the session to end")
        kinds = [type(e).__name__ for e in _events(outbox, "s1")]
        assert kinds == ["SessionStarted", "Status", "Message", "SessionEnded"]

    _with_supervisor(make_settings(), body, adapters={**ADAPTERS, "echo": EchoAdapter})


class BrokenAdapter(EchoAdapter):
    agent = "broken"

    async def start(self) -> None:
        raise RuntimeError("bug in the adapter")


def test_an_adapter_that_crashes_on_start_fails_the_spawn(make_settings: SettingsFactory) -> None:
    async def body(supervisor: Supervisor, outbox: Outbox) -> None:
        start = m.StartSession(session_id="s1", workspace="work", agent="broken")
        assert await _refused(supervisor, start) == ErrorCode.SPAWN_FAILED
        assert _events(outbox, "s1")[-1] == m.SessionEnded(reason="spawn_failed")
        assert supervisor.live_sessions() == []

    _with_supervisor(make_settings(), body, adapters={"broken": BrokenAdapter})


def test_an_agent_that_cannot_be_offered_is_logged_with_the_true_reason(
    make_settings: SettingsFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    script = tmp_path / "agent.js"  # exists, but is not executable
    script.write_text("console.log('hi')\n")
    goose = tmp_path / "goose"
    goose.write_text("#!/bin/sh\n")
    goose.chmod(0o755)
    agents = {
        "mine": AgentConfig(name="mine", executable=str(script)),
        "goose": AgentConfig(name="goose", executable=str(goose)),
    }

    async def body(supervisor: Supervisor, outbox: Outbox) -> None:
        assert "goose" in supervisor.agents and "mine" not in supervisor.agents

    with caplog.at_level(logging.WARNING, logger="relay.supervisor"):
        _with_supervisor(make_settings(agents=agents), body)
    assert f"agent mine is configured but not offered: {script} is not executable" in caplog.text
    assert "goose" not in caplog.text
