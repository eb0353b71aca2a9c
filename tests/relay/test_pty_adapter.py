"""The PTY adapter against real pseudo-terminals and real processes."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from protocol import messages as m
from relay.agent.adapters.base import SessionSpec
from relay.agent.adapters.pty import PtyAdapter
from relay.agent.config import AgentConfig
from relay.errors import SpawnError
from relay.workspaces import Workspace
from tests.harness import wait_until_async


class ListSink:
    def __init__(self) -> None:
        self.events: list[m.Event] = []
        self.full = False

    def resumable(self, token: str) -> None:
        raise AssertionError("a PTY session has no conversation to resume")

    def emit(self, event: m.Event) -> None:
        self.events.append(event)

    def text(self) -> str:
        data = b"".join(e.data for e in self.events if isinstance(e, m.TerminalOutput))
        return data.decode(errors="replace")


def _adapter(workspace: Path, command: list[str], *, cols: int = 80, rows: int = 24) -> PtyAdapter:
    spec = SessionSpec(
        session_id="s1",
        workspace=Workspace("work", str(workspace)),
        command=tuple(command),
        prompt="",
        cols=cols,
        rows=rows,
        shell="/bin/sh",
        env={"PATH": "/usr/bin:/bin", "HOME": str(workspace)},
        agent=AgentConfig(name="pty"),
    )
    return PtyAdapter(spec, ListSink())


def _sink(adapter: PtyAdapter) -> ListSink:
    assert isinstance(adapter.sink, ListSink)
    return adapter.sink


def _run(
    adapter: PtyAdapter, drive: Callable[[PtyAdapter], Awaitable[None]] | None = None
) -> int | None:
    """Start the adapter, let `drive` talk to it while it runs, return the exit code."""

    async def scenario() -> int | None:
        await adapter.start()
        runner = asyncio.create_task(adapter.run())
        try:
            if drive is not None:
                await drive(adapter)
            return await asyncio.wait_for(runner, 10)
        finally:
            runner.cancel()
            adapter.close()

    return asyncio.run(scenario())


def test_output_is_delivered_and_the_exit_code_reported(workspace: Path) -> None:
    adapter = _adapter(workspace, ["sh", "-c", "printf hello; exit 3"])
    assert _run(adapter) == 3
    assert "hello" in _sink(adapter).text()
    assert all(isinstance(e, m.TerminalOutput) for e in _sink(adapter).events)


def test_the_process_runs_in_the_workspace_with_an_xterm_terminal(workspace: Path) -> None:
    adapter = _adapter(workspace, ["sh", "-c", 'pwd; echo "term=$TERM id=$TETHER_SESSION_ID"'])
    assert _run(adapter) == 0
    assert str(workspace.resolve()) in _sink(adapter).text()
    assert "term=xterm-256color id=s1" in _sink(adapter).text()


def test_the_shell_setting_runs_when_no_command_is_given(workspace: Path) -> None:
    adapter = _adapter(workspace, [])
    assert adapter.command == ["/bin/sh"]

    async def drive(a: PtyAdapter) -> None:
        await a.send_input("echo from-$((40 + 2)); exit 7\n")

    assert _run(adapter, drive) == 7
    assert "from-42" in _sink(adapter).text()


def test_input_is_echoed_through_cat(workspace: Path) -> None:
    adapter = _adapter(workspace, ["cat"])

    async def drive(a: PtyAdapter) -> None:
        await a.send_input("ping ünïcode\n")
        await wait_until_async(
            lambda: _sink(a).text().count("ping ünïcode") >= 2, 5, "echo and cat"
        )
        await a.send_input("\x04")  # Ctrl-D: end of input, cat exits

    assert _run(adapter, drive) == 0


def test_large_input_is_written_without_blocking_the_loop(workspace: Path) -> None:
    adapter = _adapter(
        workspace,
        ["sh", "-c", "stty -echo -icanon; echo raw; head -c 200000 >/dev/null; echo done"],
    )

    async def drive(a: PtyAdapter) -> None:
        await wait_until_async(lambda: "raw" in _sink(a).text(), 5, "stty before the flood")
        for _ in range(20):
            await a.send_input("y" * 10_000)  # far more than the terminal buffer holds

    assert _run(adapter, drive) == 0
    assert "done" in _sink(adapter).text()


def test_resize_is_seen_by_stty(workspace: Path) -> None:
    adapter = _adapter(workspace, ["sh", "-c", "stty size; read line; stty size"], cols=80, rows=24)

    async def drive(a: PtyAdapter) -> None:
        await wait_until_async(lambda: "24 80" in _sink(a).text(), 5, "the first stty size")
        await a.resize(132, 50)
        await a.send_input("\n")

    assert _run(adapter, drive) == 0
    assert "50 132" in _sink(adapter).text()


# the process announces itself, then becomes `sleep`: signalled after the mark, sleep gets it
SLEEPER = ["sh", "-c", "echo asleep; exec sleep 100"]


def test_interrupt_kills_a_foreground_sleep(workspace: Path) -> None:
    adapter = _adapter(workspace, SLEEPER)

    async def drive(a: PtyAdapter) -> None:
        await wait_until_async(lambda: "asleep" in _sink(a).text(), 5, "the sleep to start")
        await a.interrupt()

    assert _run(adapter, drive) == -signal.SIGINT


def test_stop_hangs_up_the_process(workspace: Path) -> None:
    adapter = _adapter(workspace, SLEEPER)

    async def drive(a: PtyAdapter) -> None:
        await wait_until_async(lambda: "asleep" in _sink(a).text(), 5, "the sleep to start")
        await a.stop(grace_s=1.0)

    assert _run(adapter, drive) == -signal.SIGHUP


def test_a_relay_that_ignores_interrupt_and_hangup_does_not_pass_that_on(workspace: Path) -> None:
    """A relay started with nohup, or as a background job of a script, ignores SIGHUP or SIGINT;
    its sessions' programs must still get Ctrl-C and hang-ups."""
    ignored = (signal.SIGHUP, signal.SIGINT)
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in ignored}
    try:
        adapter = _adapter(workspace, SLEEPER)

        async def drive(a: PtyAdapter) -> None:
            await wait_until_async(lambda: "asleep" in _sink(a).text(), 5, "the sleep to start")
            await a.interrupt()

        assert _run(adapter, drive) == -signal.SIGINT
        adapter = _adapter(workspace, SLEEPER)

        async def hang_up(a: PtyAdapter) -> None:
            await wait_until_async(lambda: "asleep" in _sink(a).text(), 5, "the sleep to start")
            await a.stop(grace_s=1.0)

        assert _run(adapter, hang_up) == -signal.SIGHUP
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def test_stop_kills_a_process_that_ignores_hangup_and_term(workspace: Path) -> None:
    script = "trap '' HUP TERM; echo armed; while :; do sleep 0.05; done"
    adapter = _adapter(workspace, ["sh", "-c", script])

    async def drive(a: PtyAdapter) -> None:
        await wait_until_async(lambda: "armed" in _sink(a).text(), 5, "the traps")
        await a.stop(grace_s=0.2)

    assert _run(adapter, drive) == -signal.SIGKILL


FULL_SINK_WATCH_S = 0.3  # how long unread output is watched for a delivery


def test_output_is_not_read_while_the_sink_is_full(workspace: Path) -> None:
    adapter = _adapter(workspace, ["sh", "-c", "echo ready; touch written; sleep 5"])
    _sink(adapter).full = True

    async def drive(a: PtyAdapter) -> None:
        written = workspace / "written"
        await wait_until_async(written.exists, 5, "the output to be written")
        # a reader that ignores `full` delivers "ready" within milliseconds of the write
        await asyncio.sleep(FULL_SINK_WATCH_S)
        assert _sink(a).events == []
        _sink(a).full = False
        await wait_until_async(lambda: "ready" in _sink(a).text(), 5, "output after the pause")
        await a.stop(grace_s=0.5)

    _run(adapter, drive)


def test_a_missing_command_fails_to_spawn(workspace: Path) -> None:
    adapter = _adapter(workspace, ["no-such-program-anywhere"])
    with pytest.raises(SpawnError, match="no-such-program-anywhere"):
        asyncio.run(adapter.start())


def test_a_vanished_workspace_fails_to_spawn(tmp_path: Path) -> None:
    adapter = _adapter(tmp_path / "gone", ["true"])
    with pytest.raises(SpawnError):
        asyncio.run(adapter.start())
