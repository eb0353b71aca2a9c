"""Full disks, held locks and damaged files, against real processes on small tmpfs mounts.

A full relay disk pauses the agents (back-pressure), costs no CPU and says so once; a full server
disk keeps the relay connected and says "server storage full"; space coming back resumes both
without a restart, and every line arrives exactly once.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from protocol import messages as m
from tests.fakes.ticker import expected
from tests.harness import (
    ROOT,
    RelayProcess,
    ServerProcess,
    Stack,
    running,
    terminal_text,
    ticker,
    wait_until,
)

CANNOT_WRITE = "outbox: cannot write (disk full): agent output paused"
WRITING_AGAIN = "outbox: writing again"


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A tmpfs of `size` mounted at `path` for the test (skipped where mounting is not allowed)."""
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(directory: Path) -> Path:
    """Write zeros into `directory` until its file system is full; the file to delete later."""
    filler = directory / "filler"
    block = b"\0" * 4096
    with filler.open("ab", buffering=0) as out, contextlib.suppress(OSError):  # ENOSPC
        while True:
            out.write(block)
    return filler


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process, from /proc/PID/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def post_session(server: ServerProcess, relay_id: str) -> tuple[int, dict[str, str], Any]:
    body = json.dumps({"relay_id": relay_id, "workspace": "work", "agent": "pty"}).encode()
    request = urllib.request.Request(
        server.url + "/api/sessions",
        data=body,
        method="POST",
        headers={"content-type": "application/json", **server.auth_headers()},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), json.loads(exc.read())


def assert_every_line_once(stack: Stack, session_id: str, stop: Path) -> None:
    """The session's log: seq 1..n, relay_seq 1..n, and the ticker's lines exactly once."""
    lines = int(Path(f"{stop}.count").read_text())
    events = stack.events(session_id)
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    logged = msgspec.convert(events, list[m.LoggedEvent])
    assert terminal_text(logged) == expected(lines)


def _wait_ended(stack: Stack, session_id: str, timeout_s: float) -> None:
    wait_until(
        lambda: stack.server.get(f"/api/sessions/{session_id}")["status"] == "ended",
        timeout_s,
        "the session to end",
    )


@pytest.mark.timeout(300)
def test_relay_disk_full_pauses_the_agent_idles_and_resumes(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "relay", "8m") as state_dir, running(Stack(tmp_path)) as stack:
        stop = stack.workspace / "stop"  # where the sandboxed ticker can see it
        session_id = stack.start_session(ticker(1_000_000, 0.005, stop_file=stop))
        wait_until(
            lambda: stack.server.get(f"/api/sessions/{session_id}")["last_seq"] > 20,
            30,
            "the first lines on the server",
        )
        stack.server.kill9()  # nothing is acked: the outbox must grow
        filler = fill(state_dir)
        wait_until(lambda: CANNOT_WRITE in stack.relay.log(), 60, "the outbox to stall")
        assert stack.relay.process is not None
        pid = stack.relay.process.pid
        before, started = cpu_seconds(pid), time.monotonic()
        time.sleep(3)  # a measurement window, not a wait for a condition
        share = (cpu_seconds(pid) - before) / (time.monotonic() - started)
        print(f"relay CPU while its disk was full: {share:.1%} of a core")
        assert share < 0.05, f"the relay used {share:.0%} of a core while its disk was full"
        stack.server.start()
        filler.unlink()
        wait_until(lambda: WRITING_AGAIN in stack.relay.log(), 30, "the outbox to write again")
        wait_until(
            lambda: stack.server.get(f"/api/sessions/{session_id}")["last_seq"] > 2000,
            120,
            "the stream to go on",
        )
        stop.touch()
        _wait_ended(stack, session_id, 60)
        assert_every_line_once(stack, session_id, stop)
        log = stack.relay.log()
        assert log.count("outbox: cannot write") == 1, log[-4000:]
        assert log.count(WRITING_AGAIN) == 1
        assert "Traceback" not in log


def _storage(server: ServerProcess) -> str:
    return str(server.get("/api/sessions")["storage"])


@pytest.mark.timeout(300)
def test_server_disk_full_keeps_the_relay_and_says_so(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "server", "64m") as data_dir, running(Stack(tmp_path)) as stack:
        stop = stack.workspace / "stop"  # where the sandboxed ticker can see it
        session_id = stack.start_session(ticker(1_000_000, 0.05, stop_file=stop))
        wait_until(
            lambda: stack.server.get(f"/api/sessions/{session_id}")["last_seq"] > 20,
            30,
            "the first lines on the server",
        )
        filler = fill(data_dir)
        wait_until(lambda: _storage(stack.server) == "full", 60, "storage full")
        status, _, body = post_session(stack.server, stack.relay_id)
        assert (status, body["error"]["code"]) == (507, "storage_full")
        assert body["error"]["message"] == "server storage full"
        assert stack.server.get("/api/relays")["relays"][0]["online"]
        filler.unlink()
        wait_until(lambda: _storage(stack.server) == "ok", 30, "storage ok again")
        seq = stack.server.get(f"/api/sessions/{session_id}")["last_seq"]
        wait_until(
            lambda: stack.server.get(f"/api/sessions/{session_id}")["last_seq"] > seq + 40,
            60,
            "the stream to go on without a restart",
        )
        assert "disconnected" not in stack.relay.log()

        filler = fill(data_dir)  # full again, then a restart while full
        wait_until(lambda: _storage(stack.server) == "full", 60, "storage full again")
        stack.server.stop()
        restarted = ServerProcess(data_dir, stack.server.port, start_timeout_s=30)
        restarted.log_path = tmp_path / "server-restart.log"
        with pytest.raises(RuntimeError):
            restarted.start()
        said = restarted.log()
        assert restarted.process is not None and restarted.process.returncode == 1, said
        assert "Traceback" not in said, said
        told = [line for line in said.splitlines() if line.startswith("tether: server storage")]
        assert len(told) == 1, said

        filler.unlink()
        stack.server.start()
        stop.touch()
        _wait_ended(stack, session_id, 120)
        assert_every_line_once(stack, session_id, stop)
        server_log = stack.server.log()
        assert server_log.count("storage: server storage full") == 2  # once per episode
        assert "Traceback" not in server_log


def test_held_write_lock_gives_503_storage_busy(stack: Stack) -> None:
    conn = sqlite3.connect(stack.server.data_dir / "tether.sqlite3", isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        status, headers, body = post_session(stack.server, stack.relay_id)
    finally:
        conn.execute("ROLLBACK")
        conn.close()
    assert (status, body["error"]["code"]) == (503, "storage_busy")
    assert int({k.lower(): v for k, v in headers.items()}["retry-after"]) > 0
    status, _, body = post_session(stack.server, stack.relay_id)
    assert status == 201, body


@pytest.mark.parametrize("damage", ["not-a-database", "malformed-page"])
def test_damaged_outbox_stops_the_relay_with_one_line(tmp_path: Path, damage: str) -> None:
    state_dir = tmp_path / "relay"
    state_dir.mkdir()
    outbox = state_dir / "outbox.sqlite3"
    if damage == "not-a-database":
        outbox.write_bytes(os.urandom(16384))
    else:
        _outbox_with_a_damaged_page(outbox)
    relay = RelayProcess("http://127.0.0.1:9", "tr_x", state_dir, {"work": tmp_path})
    relay.start()
    assert relay.wait(30) == 1
    said = relay.log()
    assert "Traceback" not in said, said
    lines = [line for line in said.splitlines() if "outbox" in line]
    assert len(lines) == 1, said
    assert str(outbox) in lines[0] and "move it aside" in lines[0]
    assert "lost" in lines[0]


def test_outbox_damaged_while_running_stops_the_relay_with_one_line(stack: Stack) -> None:
    session_id = stack.start_session(ticker(5, 0.01))
    _wait_ended(stack, session_id, 30)
    outbox = stack.relay.state_dir / "outbox.sqlite3"
    wait_until(lambda: _unacked(outbox) == 0, 10, "every event acked")
    _damage_table(outbox, "outbox")
    with contextlib.suppress(urllib.error.HTTPError, OSError):
        stack.start_session(ticker(5, 0.01))  # its first event is written to the damaged table
    assert stack.relay.wait(30) == 1
    said = stack.relay.log()
    assert "Traceback" not in said, said[-3000:]
    lines = [line for line in said.splitlines() if line.startswith("tether relay:")]
    assert len(lines) == 1 and "is damaged" in lines[0] and str(outbox) in lines[0], said[-3000:]


def _unacked(outbox: Path) -> int:
    conn = sqlite3.connect(f"file:{outbox}?mode=ro", uri=True)
    try:
        (count,) = conn.execute("SELECT COUNT(*) FROM outbox WHERE acked_at IS NULL").fetchone()
    finally:
        conn.close()
    return int(count)


def _outbox_with_a_damaged_page(path: Path) -> None:
    """A real outbox holding events, then one of its table pages overwritten."""
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from pathlib import Path; from relay.outbox import Outbox;"
            "from protocol.messages import TerminalOutput;"
            "o = Outbox.open(Path(sys.argv[1]));"
            "o.open_session('s1', agent='pty', workspace='work');"
            "[o.append('s1', TerminalOutput(data=b'x' * 200)) for _ in range(300)];"
            "o.close()",
            str(path.parent),
        ],
        check=True,
        cwd=ROOT,
    )
    _damage_table(path, "relay_sessions")


def _damage_table(path: Path, table: str) -> None:
    """Overwrite the root page of `table` in the database file, then write through another
    connection so that whoever has the file open reads its pages again."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # every page in the main file
        (page_size,) = conn.execute("PRAGMA page_size").fetchone()
        (root,) = conn.execute(
            "SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)
        ).fetchone()
        with path.open("r+b") as out:
            out.seek((root - 1) * page_size)
            out.write(b"\xff" * page_size)
        (version,) = conn.execute("PRAGMA user_version").fetchone()
        conn.execute(f"PRAGMA user_version = {version}")  # a write: other caches are dropped
    finally:
        conn.close()
