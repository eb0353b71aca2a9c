"""`tether attach` against a scripted viewer socket: resume, dedupe, rebuilt history, stop codes."""

from __future__ import annotations

import re
import subprocess

import msgspec

from protocol.codes import CloseCode
from tests.attach.scripted_server import ScriptedServer, Viewer, describe, ticks
from tests.attach.terminal_client import AttachedTerminal
from tests.harness import ROOT, tether_argv

SESSION = "5e55" + "0" * 20


def attach(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        tether_argv("attach", *args, "--server", url),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )


def shown_ticks(output: str) -> list[int]:
    return [int(n) for n in re.findall(r"tick (\d{6})", output)]


def test_resume_after_too_slow_close_shows_each_event_once() -> None:
    async def first(viewer: Viewer) -> None:
        await viewer.subscribed("e1", recovered=False, last_seq=0)
        await viewer.events("e1", range(1, 4), ticks)
        await viewer.ws.close(CloseCode.TOO_SLOW, "too slow: resume from last seq")

    async def second(viewer: Viewer) -> None:
        await viewer.subscribed("e1", recovered=True, last_seq=5)
        await viewer.events("e1", range(2, 6), ticks)  # 2 and 3 again: must not show twice
        await viewer.end("e1", 6, exit_code=0)

    with ScriptedServer(SESSION, [first, second]) as server:
        result = attach(server.url, SESSION[:6])
    assert result.returncode == 0, result.stderr
    assert shown_ticks(result.stdout) == [1, 2, 3, 4, 5]
    assert result.stdout.endswith("[session ended: exit 0]\n")
    assert [describe(s) for s in server.subscribes] == [{}, {"epoch": "e1", "seq": 3}]
    assert "reconnecting…" in result.stderr and "too slow" in result.stderr


def test_rebuilt_history_is_announced_and_replayed_from_the_start() -> None:
    async def first(viewer: Viewer) -> None:
        await viewer.subscribed("e1", recovered=False, last_seq=0)
        await viewer.events("e1", range(1, 4), ticks)
        await viewer.ws.close(CloseCode.GOING_AWAY, "restarting")

    async def second(viewer: Viewer) -> None:
        await viewer.subscribed("e2", recovered=False, last_seq=4)
        await viewer.events("e2", range(1, 5), ticks)
        await viewer.end("e2", 5, exit_code=3)

    with ScriptedServer(SESSION, [first, second]) as server:
        result = attach(server.url, SESSION)
    assert result.returncode == 0, result.stderr
    assert shown_ticks(result.stdout) == [1, 2, 3, 1, 2, 3, 4]
    assert "[session ended: exit 3]" in result.stdout
    assert "history was rebuilt" in result.stderr
    assert [describe(s) for s in server.subscribes] == [{}, {"epoch": "e1", "seq": 3}]


def test_stop_close_code_ends_attach_with_its_reason_and_no_retry() -> None:
    async def refuse(viewer: Viewer) -> None:
        await viewer.ws.close(CloseCode.UNSUPPORTED_PROTOCOL, "protocol version 1 not spoken")

    with ScriptedServer(SESSION, [refuse]) as server:
        result = attach(server.url, SESSION)
    assert result.returncode == 1
    assert "protocol version 1 not spoken" in result.stderr
    assert "4501" in result.stderr
    assert len(server.subscribes) == 1


def test_stop_close_code_in_a_terminal_leaves_it_as_it_was() -> None:
    async def refuse(viewer: Viewer) -> None:
        await viewer.subscribed("e1", recovered=False, last_seq=1)
        await viewer.events("e1", range(1, 2), ticks)
        await viewer.ws.close(CloseCode.UNAUTHORIZED, "token revoked")

    with ScriptedServer(SESSION, [refuse]) as server:
        terminal = AttachedTerminal(SESSION, "--server", server.url)
        try:
            assert terminal.wait() == 1
            assert "tick 000001" in terminal.output
            assert "token revoked (code 4500)" in terminal.output
            assert terminal.mode() == terminal.saved_mode
        finally:
            terminal.close()


def test_event_kinds_unknown_to_this_client_are_skipped_without_a_gap() -> None:
    async def future(viewer: Viewer) -> None:
        await viewer.subscribed("e1", recovered=False, last_seq=3)
        await viewer.events("e1", range(1, 2), ticks)
        frame = msgspec.json.encode(
            {
                "type": "session_events",
                "session_id": SESSION,
                "epoch": "e1",
                "events": [{"seq": 2, "ts": 0.0, "event": {"kind": "hologram", "depth": 3}}],
            }
        )
        await viewer.ws.send(frame.decode())
        await viewer.events("e1", range(3, 4), ticks)
        await viewer.end("e1", 4, exit_code=0)

    with ScriptedServer(SESSION, [future]) as server:
        result = attach(server.url, SESSION)
    assert result.returncode == 0, result.stderr
    assert shown_ticks(result.stdout) == [1, 3]
    assert len(server.subscribes) == 1


def test_unknown_session_is_refused_before_connecting() -> None:
    with ScriptedServer(SESSION, []) as server:
        result = attach(server.url, "ffff")
    assert result.returncode == 1
    assert "no session 'ffff'" in result.stderr
    assert server.subscribes == []
