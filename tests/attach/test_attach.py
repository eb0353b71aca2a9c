"""`tether attach` and `tether sessions` against a real server and a real relay running real
programs on PTYs, with `tether attach` itself on a PTY like in a user's terminal."""

from __future__ import annotations

import base64
import contextlib
import re
import signal
import sqlite3
import subprocess
import uuid
from collections.abc import Iterator

import pytest

from protocol import messages as m
from relay.outbox import OUTBOX_FILE
from tests.attach.terminal_client import AttachedTerminal
from tests.fakes.scripted_relay import publish
from tests.fakes.ticker import expected
from tests.harness import ROOT, Stack, tether_argv, ticker, wait_until

DETACH = b"\x1d"  # Ctrl-]


def _outbox_events(stack: Stack, session_id: str) -> int:
    """Events of the session the relay holds for the server (unacknowledged)."""
    path = stack.relay.state_dir / OUTBOX_FILE
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        query = "SELECT COUNT(*) FROM outbox WHERE session_id = ? AND acked_at IS NULL"
        return int(db.execute(query, (session_id,)).fetchone()[0])


@pytest.fixture
def terminals() -> Iterator[list[AttachedTerminal]]:
    opened: list[AttachedTerminal] = []
    yield opened
    for terminal in opened:
        terminal.close()


def tether(
    *args: str, stdin: bytes = b"", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        tether_argv(*args),
        env=env,
        input=stdin.decode(),
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )


def status_of(stack: Stack, session_id: str) -> str:
    return str(stack.server.get(f"/api/sessions/{session_id}")["status"])


def test_attach_replays_forwards_keys_detaches_and_reattaches_showing_everything_once(
    stack: Stack, terminals: list[AttachedTerminal]
) -> None:
    session_id = stack.start_session(["sh"])
    first = AttachedTerminal(
        session_id, "--server", stack.server.url, env=stack.server.client_env()
    )
    terminals.append(first)
    first.expect("press Ctrl-] to detach")
    first.type(b"echo hi$((40+2))\r")
    first.expect("hi42")
    first.type(DETACH)
    assert first.wait() == 0
    assert "detached" in first.output
    assert first.mode() == first.saved_mode, "the terminal was left in raw mode"
    assert status_of(stack, session_id) == "running"

    again = AttachedTerminal(
        session_id[:8], "--server", stack.server.url, env=stack.server.client_env()
    )
    terminals.append(again)
    again.type(b"echo again$((1+1))\r")
    again.expect("again2")  # live output comes after the whole replay
    assert again.output.count("hi42") == 1
    assert again.output.count("echo hi$((40+2))") == 1
    again.type(b"exit 4\r")
    again.expect(r"\[session ended: exit 4\]")
    assert again.wait() == 0
    assert again.output.count("again2") == 1
    assert again.mode() == again.saved_mode


def test_attach_resumes_across_server_kill_and_restart_with_every_byte_once(
    stack: Stack, terminals: list[AttachedTerminal]
) -> None:
    count = 200
    session_id = stack.start_session(ticker(count, 0.02))
    terminal = AttachedTerminal(
        session_id, "--server", stack.server.url, env=stack.server.client_env()
    )
    terminals.append(terminal)
    terminal.expect("tick 000030")
    stack.server.kill9()
    terminal.expect("reconnecting…")
    held = _outbox_events(stack, session_id)
    # the ticker goes on; the relay keeps its output in the outbox
    wait_until(lambda: _outbox_events(stack, session_id) >= held + 5, 20, "output while down")
    stack.server.start()
    terminal.expect(r"\[session ended: exit 0\]", timeout_s=40)
    assert terminal.wait() == 0
    shown = terminal.output
    assert [int(n) for n in re.findall(r"tick (\d{6})", shown)] == list(range(1, count + 1))
    own_lines = r"(attached to|reconnecting…|reconnected|\[session )[^\n]*\n"
    transcript = re.sub(own_lines, "", shown)
    assert expected(count) in transcript, repr(transcript)


def test_terminal_size_reaches_the_session_on_attach_and_on_window_resize(
    stack: Stack, terminals: list[AttachedTerminal]
) -> None:
    session_id = stack.start_session(["sh"])  # started at the default 80x24
    terminal = AttachedTerminal(
        session_id, "--server", stack.server.url, env=stack.server.client_env()
    )
    terminals.append(terminal)
    terminal.expect("press Ctrl-] to detach")
    terminal.type(b"stty size\r")
    terminal.expect(r"30 100")  # the size of the attaching terminal
    terminal.process.setwinsize(40, 120)  # the window is resized: SIGWINCH

    def resized() -> bool:  # the resize travels to the session's PTY while the shell waits
        terminal.type(b"stty size\r")
        try:
            terminal.expect(r"40 120", timeout_s=1)
        except TimeoutError:
            return False
        return True

    wait_until(resized, 20, "the session's terminal to take the new size")
    terminal.signal(signal.SIGTERM)
    assert terminal.wait() == 128 + signal.SIGTERM
    assert terminal.mode() == terminal.saved_mode
    assert status_of(stack, session_id) == "running"


def test_attach_new_from_a_pipe_forwards_input_and_follows_until_the_end(stack: Stack) -> None:
    result = tether(
        "attach", "--new", "--server", stack.server.url, "--", "sh",
        stdin=b"echo piped-$((6*7))\nexit 5\n", env=stack.server.client_env(),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "piped-42" in result.stdout
    assert result.stdout.rstrip().endswith("[session ended: exit 5]")
    assert re.search(r"started session [0-9a-f]+ on box, workspace work", result.stderr)

    listing = tether("sessions", "--server", stack.server.url, env=stack.server.client_env())
    assert listing.returncode == 0
    header, row = listing.stdout.splitlines()
    assert header.split() == ["ID", "STATUS", "AGENT", "WORKSPACE", "TITLE", "LAST", "ACTIVITY"]
    assert re.match(r"[0-9a-f]{24}\s+ended\s+pty\s+work\s+sh\s+(just now|\d+s ago)$", row)


def test_detach_key_in_piped_input_detaches_leaving_the_session_running(stack: Stack) -> None:
    session_id = stack.start_session(["sh"])
    result = tether(
        "attach",
        session_id,
        "--server",
        stack.server.url,
        stdin=b"echo before\n\x1dexit 9\n",
        env=stack.server.client_env(),
    )
    assert result.returncode == 0, result.stderr
    assert "detached" in result.stderr
    assert status_of(stack, session_id) == "running"  # `exit 9` after Ctrl-] was not sent

    def echoed() -> bool:  # what came before Ctrl-] was sent
        output = b"".join(
            base64.b64decode(e["event"]["data"])
            for e in stack.events(session_id)
            if e["event"]["kind"] == "terminal_output"
        )
        # the terminal's echo of the command line, then the command's output (which may follow
        # a prompt when the input arrived before the shell was ready)
        return output.count(b"before\r\n") >= 2

    wait_until(echoed, 10, "the input before Ctrl-] to run")


def test_attach_new_with_unknown_workspace_lists_the_choices(stack: Stack) -> None:
    result = tether(
        "attach",
        "--new",
        "--workspace",
        "nope",
        "--server",
        stack.server.url,
        env=stack.server.client_env(),
    )
    assert result.returncode == 1
    assert "has no workspace 'nope'; its workspaces: work" in result.stderr


def test_attach_to_unknown_session_fails_clearly(stack: Stack) -> None:
    result = tether(
        "attach", "0123456789", "--server", stack.server.url, env=stack.server.client_env()
    )
    assert result.returncode == 1
    assert "no session '0123456789'" in result.stderr


def test_unreachable_server_is_reported_not_retried_forever() -> None:
    result = tether("sessions", "--server", "http://127.0.0.1:9")
    assert result.returncode == 1
    assert "cannot reach the server at http://127.0.0.1:9" in result.stderr


def test_agent_text_is_shown_with_escape_sequences_defused_but_terminal_output_raw(
    stack: Stack,
) -> None:
    token = stack.server.create_relay_token("scripted")
    session_id = uuid.uuid4().hex[:24]
    publish(
        stack.server.url,
        token,
        session_id,
        [
            m.SessionStarted(agent="claude", workspace="work"),
            m.Message(text="safe \x1b]0;pwned\x07title \x1b[2J\x1b[31mred\x1b[0m bell\x07"),
            m.FileChanged(path="src/\x1b[8mhidden.py", diff="+print('hi')\n"),
            m.TerminalOutput(data=b"\x1b[1mbold\x1b[0m\r\n"),
            m.SessionEnded(exit_code=0, reason="exited"),
        ],
    )
    wait_until(lambda: status_of(stack, session_id) == "ended", 10, "the scripted session")
    result = subprocess.run(
        tether_argv("attach", session_id, "--server", stack.server.url),
        stdin=subprocess.DEVNULL, capture_output=True, cwd=ROOT, timeout=60,
        env=stack.server.client_env(),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert b"safe title red bell\\x07\n" in out
    assert b"[file modified: src/hidden.py]\n  +print('hi')\n" in out
    assert b"\x1b[1mbold\x1b[0m\r\n" in out  # PTY bytes go to the terminal untouched
    assert out.count(b"\x1b") == 2 and b"\x07" not in out


def test_attach_new_with_an_agent_starts_that_agent_with_the_words_as_its_prompt(
    stack: Stack,
) -> None:
    result = tether(
        "attach", "--new", "--agent", "no-such-agent", "--server", stack.server.url,
        "fix", "the", "tests", env=stack.server.client_env(),
    )  # fmt: skip
    assert result.returncode == 1
    assert "this relay cannot run 'no-such-agent'" in result.stderr  # the relay was asked for it
