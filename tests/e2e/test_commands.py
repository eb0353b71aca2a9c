"""Commands exactly once, against real processes: a start sent to a frozen relay runs once or
never, and is reported either way; a retried start with the same key gives one session."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from protocol import messages as m
from tests.harness import Stack, Viewer, running, terminal_text, wait_until

COMMAND_TIMEOUT_S = 1.0  # the server's command_timeout_s here: a start waits this long


@pytest.fixture
def quick_stack(tmp_path: Path) -> Iterator[Stack]:
    """A real server that waits COMMAND_TIMEOUT_S for a relay's answer, and a real relay."""
    env = {"TETHER_COMMAND_TIMEOUT_S": str(COMMAND_TIMEOUT_S)}
    with running(Stack(tmp_path, server_env=env)) as stack:
        yield stack


def _marker_command(marker: Path) -> list[str]:
    """An agent that notes each run of itself in `marker`, then waits to be stopped."""
    code = f"import time; open({str(marker)!r}, 'a').write('ran\\n'); time.sleep(300)"
    return [sys.executable, "-c", code]


def _post_start(stack: Stack, body: dict[str, Any], key: str = "") -> tuple[int, dict[str, Any]]:
    """POST /api/sessions; (status, JSON body), errors included."""
    headers = {"content-type": "application/json", **stack.server.auth_headers()}
    if key:
        headers["Idempotency-Key"] = key
    request = urllib.request.Request(
        stack.server.url + "/api/sessions",
        data=json.dumps(body).encode(),
        method="POST",
        headers=headers,
    )
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _start_body(stack: Stack, marker: Path) -> dict[str, Any]:
    return {"relay_id": stack.relay_id, "workspace": "work", "command": _marker_command(marker)}


def _runs(marker: Path) -> int:
    return len(marker.read_text().splitlines()) if marker.exists() else 0


def _started_events(stack: Stack, session_id: str) -> int:
    return sum(e["event"]["kind"] == "session_started" for e in stack.events(session_id))


def _session(stack: Stack, session_id: str) -> dict[str, Any]:
    return dict(stack.server.get(f"/api/sessions/{session_id}"))


def _assert_ran_once_or_never(stack: Stack, session_id: str, marker: Path) -> None:
    """The outcome is reported: running after one run, or ended with the reason after none."""
    session = _session(stack, session_id)
    if session["status"] == "ended":
        assert _runs(marker) == 0 and _started_events(stack, session_id) == 0
        assert session["detail"], "an ended start says why"
    else:
        assert session["status"] == "running"
        assert _runs(marker) == 1 and _started_events(stack, session_id) == 1


@pytest.mark.timeout(120)
def test_a_start_sent_to_a_frozen_relay_runs_once_or_never_and_is_reported(
    quick_stack: Stack, tmp_path: Path
) -> None:
    stack = quick_stack
    marker = stack.workspace / "runs"
    stack.relay.send_signal(signal.SIGSTOP)
    try:
        status, session = _post_start(stack, _start_body(stack, marker))
    finally:
        stack.relay.send_signal(signal.SIGCONT)
    assert status == 202, session
    assert (session["status"], session["detail"]) == ("starting", "relay not answering")
    session_id = session["id"]

    def resolved() -> bool:
        return _session(stack, session_id)["detail"] != "relay not answering"

    wait_until(resolved, 30, "the start to resolve")
    wait_until(lambda: _session(stack, session_id)["status"] != "starting", 30, "a status")
    _assert_ran_once_or_never(stack, session_id, marker)
    # It reached the relay after its deadline: refused, not run, and the session says so.
    session = _session(stack, session_id)
    assert session["status"] == "ended" and "deadline" in session["detail"]
    # the server wrote why into the session's log, for every viewer
    events = [e["event"] for e in stack.events(session_id)]
    assert [e["kind"] for e in events] == ["error", "session_ended"]
    assert events[0]["code"] == events[1]["reason"] == "expired"
    assert _runs(marker) == 0


@pytest.mark.timeout(120)
def test_an_unanswered_start_resolves_when_the_relay_comes_back(
    quick_stack: Stack, tmp_path: Path
) -> None:
    """A relay frozen, then killed: the start never reached it. The server re-sends it on the
    next connection with its old deadline; the relay refuses it `expired`; it never runs."""
    stack = quick_stack
    marker = stack.workspace / "runs"
    stack.relay.send_signal(signal.SIGSTOP)
    status, session = _post_start(stack, _start_body(stack, marker))
    stack.relay.kill9()
    assert status == 202, session
    session_id = session["id"]
    stack.relay = stack.new_relay(stack.server.url).start()
    wait_until(lambda: _session(stack, session_id)["status"] == "ended", 30, "the start to end")
    _assert_ran_once_or_never(stack, session_id, marker)
    assert "deadline" in _session(stack, session_id)["detail"]


@pytest.mark.timeout(120)
def test_a_retried_start_with_the_same_idempotency_key_gives_one_session(
    stack: Stack, tmp_path: Path
) -> None:
    marker = stack.workspace / "runs"
    body = _start_body(stack, marker)
    first_status, first = _post_start(stack, body, key="tap-1")
    again_status, again = _post_start(stack, body, key="tap-1")
    assert (first_status, again_status) == (201, 200)
    assert again["id"] == first["id"]
    wait_until(lambda: _runs(marker) == 1, 30, "the agent to run")
    other = {**body, "command": _marker_command(tmp_path / "other")}
    refused_status, refused = _post_start(stack, other, key="tap-1")
    assert refused_status == 409
    assert refused["error"]["code"] == "idempotency_key_reused"
    fresh_status, fresh = _post_start(stack, other, key="tap-2")
    assert fresh_status == 201 and fresh["id"] != first["id"]
    ids = {s["id"] for s in stack.server.get("/api/sessions")["sessions"]}
    assert ids == {first["id"], fresh["id"]}
    wait_until(lambda: _started_events(stack, first["id"]) == 1, 30, "session_started")
    assert _runs(marker) == 1


@pytest.mark.timeout(120)
def test_a_start_whose_server_died_awaiting_the_answer_runs_once_after_the_restart(
    tmp_path: Path,
) -> None:
    """The server records the start before sending it; killed while the relay (frozen) had not
    answered, it re-sends the start when the relay reconnects. Whether the relay ran it from its
    dead socket (and answers from memory) or runs it now, the agent runs exactly once."""
    env = {"TETHER_COMMAND_TIMEOUT_S": "60"}  # the deadline stays ahead throughout
    with running(Stack(tmp_path, server_env=env)) as stack:
        marker = stack.workspace / "runs"
        stack.relay.send_signal(signal.SIGSTOP)
        answers: list[tuple[int, dict[str, Any]]] = []
        post = threading.Thread(
            target=lambda: answers.append(_post_start_or_lost(stack, _start_body(stack, marker)))
        )
        post.start()
        wait_until(lambda: bool(_sessions(stack)), 10, "the session to be recorded")
        (session_id,) = _sessions(stack)
        stack.server.kill9()
        post.join(30)
        assert answers == [(0, {})], "the request died with the server"
        stack.relay.send_signal(signal.SIGCONT)
        stack.server.start()
        wait_until(lambda: _session(stack, session_id)["status"] == "running", 30, "running")
        wait_until(lambda: _session(stack, session_id)["detail"] == "", 30, "the start settled")
        assert _runs(marker) == 1 and _started_events(stack, session_id) == 1


def _sessions(stack: Stack) -> list[str]:
    return [s["id"] for s in stack.server.get("/api/sessions")["sessions"]]


def _post_start_or_lost(stack: Stack, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    try:
        return _post_start(stack, body)
    except (urllib.error.URLError, OSError):
        return 0, {}


@pytest.mark.timeout(120)
def test_a_start_retried_on_the_socket_with_the_same_key_gives_one_session(
    stack: Stack, tmp_path: Path
) -> None:
    marker = stack.workspace / "runs"

    async def scenario() -> list[m.Result | m.ClientError]:
        viewer = await Viewer.open(stack.server.url)
        try:
            for sent, request_id in enumerate(("a", "b"), start=1):
                start = m.StartSession(
                    relay_id=stack.relay_id,
                    workspace="work",
                    command=_marker_command(marker),
                    idempotency_key="tap-1",
                    request_id=request_id,
                )
                await viewer.send(start)
                await viewer.until(lambda n=sent: len(viewer.results) == n)
            return viewer.results
        finally:
            await viewer.close()

    first, again = asyncio.run(scenario())
    assert isinstance(first, m.Result) and isinstance(again, m.Result)
    assert first.ok and again.ok and first.session_id == again.session_id
    assert _sessions(stack) == [first.session_id]
    wait_until(lambda: _runs(marker) == 1, 30, "the agent to run")
    wait_until(lambda: _started_events(stack, first.session_id) == 1, 30, "session_started")


@pytest.mark.timeout(120)
def test_a_viewers_own_command_id_and_deadline_never_reach_the_relay(stack: Stack) -> None:
    """A viewer that reuses a command id (and switches its deadline off) would have the relay
    answer the second command from memory without running it: the server stamps every one."""
    session_id = stack.start_session(["cat"])

    async def scenario() -> str:
        viewer = await Viewer.open(stack.server.url)
        try:
            await viewer.subscribe(session_id)
            for n, text in enumerate(("first-line\n", "second-line\n"), start=1):
                sent = m.SendInput(
                    session_id=session_id,
                    data=text,
                    command_id="chosen-by-the-viewer",
                    deadline=0.0,
                    request_id=f"r{n}",
                )
                await viewer.send(sent)
                await viewer.until(lambda n=n: len(viewer.results) == n)
            assert all(r.ok for r in viewer.results), viewer.results

            def shown() -> str:
                return terminal_text(viewer.events.get(session_id, []))

            await viewer.until(lambda: "second-line" in shown())
            return shown()
        finally:
            await viewer.close()

    shown = asyncio.run(scenario())
    assert "first-line" in shown and "second-line" in shown
