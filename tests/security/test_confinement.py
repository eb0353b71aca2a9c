"""Agents are confined: the operator-to-owner chain, attempted from inside a PTY session.

An operator granted one workspace starts a shell through the server and runs what an attacker
would: read the relay's environment and token, its outbox, the server's database and console
token, another workspace, another workspace's hooks socket, and write outside the workspace.
Every step must fail; writing inside the workspace must work. Real server, real relay, real
bubblewrap (docs/security.md, "Confinement").
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from relay.agent.sandbox import probe
from tests.harness import RelayProcess, Stack, running, wait_until

BWRAP, WHY_NOT = probe()
NO_CAPABILITIES = ["setpriv", "--bounding-set=-all", "--inh-caps=-all"]
needs_bwrap = pytest.mark.skipif(not BWRAP, reason=f"no sandbox on this host: {WHY_NOT}")

# Each line: a step of the attack and the shell command that succeeds only if the step works.
ATTACK = {
    "relay environment via $PPID": 'grep -aq "$TOKEN" /proc/$PPID/environ',
    "relay environment via its pid": 'grep -aq "$TOKEN" /proc/$RELAY_PID/environ',
    "any process environment": 'cat /proc/[0-9]*/environ 2>/dev/null | grep -aq "$TOKEN"',
    "relay token file": 'grep -q "$TOKEN" "$TOKEN_FILE"',
    "relay outbox": 'test -s "$STATE/outbox.sqlite3"',
    "relay state listing": 'ls "$STATE" | grep -q outbox',
    "console token": 'grep -q "$CONSOLE" "$DATA/console.token"',
    "server database": 'test -s "$DATA/tether.sqlite3"',
    "other workspace listing": 'ls "$OTHER" | grep -q secret.txt',
    "other workspace file": 'grep -q other-secret "$OTHER/secret.txt"',
    "other workspace hooks socket": '/usr/bin/python3 hook.py "$STATE/hooks.d/1.sock" "$OTHER"',
    "own hooks socket, other workspace": '/usr/bin/python3 hook.py "$STATE/hooks.sock" "$OTHER"',
    "write into the other workspace": 'echo pwned > "$OTHER/pwned.txt"',
}
ALLOWED = {
    "write inside the workspace": "echo fine > inside.txt",
    "own hooks socket, own workspace": '/usr/bin/python3 hook.py "$STATE/hooks.sock" "$PWD"',
}

# A hook as `tether hook` sends it; exits 0 when the relay took the session in.
HOOK_CLIENT = """
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(5)
s.connect(sys.argv[1])
data = {"session_id": "attack-" + sys.argv[2], "cwd": sys.argv[2], "hook_event_name": "Stop"}
s.sendall((json.dumps({"event": "Stop", "pid": 0, "input": data}) + "\\n").encode())
reply = json.loads(s.makefile().readline())
sys.exit(0 if reply["message"] == "" else 1)
"""


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    """A relay with two workspaces; its token file lies inside the one the attacker gets."""
    token_file = tmp_path / "work" / ".tether" / "relay.token"
    token_file.parent.mkdir(parents=True)
    stack = Stack(tmp_path, relay_env={"TETHER_RELAY_TOKEN_FILE": str(token_file)})
    token_file.write_text(stack.token + "\n")
    token_file.chmod(0o600)
    other = tmp_path / "other"
    other.mkdir()
    (other / "secret.txt").write_text("other-secret\n")
    stack.relay.workspaces["other"] = other
    with running(stack):
        yield stack


def _script(stack: Stack) -> str:
    """The attack as one shell script: one `NAME: succeeded|failed` line per step."""
    assert stack.relay.process is not None
    env = {
        "TOKEN": stack.token,
        "RELAY_PID": str(stack.relay.process.pid),
        "TOKEN_FILE": str(stack.workspace / ".tether" / "relay.token"),
        "STATE": str(stack.relay.state_dir),
        "CONSOLE": stack.server.console_token,
        "DATA": str(stack.server.data_dir),
        "OTHER": str(stack.tmp / "other"),
        "OUTSIDE": str(stack.tmp),
    }
    lines = [f"{name}='{value}'" for name, value in env.items()]
    for name, command in {**ATTACK, **ALLOWED}.items():
        lines.append(
            f"if {command}; then r=succeeded; else r=failed; fi; echo '{name}: '$r >> report"
        )
    # Checked on the host: inside, /tmp is the sandbox's own and this lands there, or nowhere.
    lines.append('echo pwned > "$OUTSIDE/outside.txt"')
    lines.append("touch done")
    return "\n".join(lines) + "\n"


def _attack(stack: Stack) -> dict[str, str]:
    (stack.workspace / "hook.py").write_text(HOOK_CLIENT)
    (stack.workspace / "attack.sh").write_text(_script(stack))
    stack.start_session(["sh", "attack.sh"])
    wait_until((stack.workspace / "done").exists, 60, "the attack script to finish")
    lines = (stack.workspace / "report").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines)


@needs_bwrap
@pytest.mark.timeout(180)
def test_a_pty_session_reaches_none_of_the_relays_or_servers_secrets(stack: Stack) -> None:
    report = _attack(stack)
    leaked = [name for name in ATTACK if report.get(name) != "failed"]
    assert leaked == [], f"steps of the attack that worked: {leaked}\n{report}"
    assert [name for name in ALLOWED if report.get(name) != "succeeded"] == [], report
    assert (stack.workspace / "inside.txt").read_text() == "fine\n"
    assert not (stack.tmp / "outside.txt").exists()
    assert not (stack.tmp / "other" / "pwned.txt").exists()
    sessions = stack.server.get("/api/sessions")["sessions"]
    assert {s["workspace"] for s in sessions} == {"work"}, "a session was opened in `other`"


def test_the_relay_keeps_its_token_out_of_its_environment(stack: Stack) -> None:
    """Even root, who can read any process's /proc/<pid>/environ, finds no token there."""
    assert stack.relay.process is not None
    environ = Path(f"/proc/{stack.relay.process.pid}/environ").read_bytes()
    assert stack.token.encode() not in environ
    assert b"TETHER_RELAY_TOKEN=tr_" not in environ


@needs_bwrap
def test_the_relay_reports_its_sandbox(stack: Stack) -> None:
    (relay,) = stack.server.get("/api/relays")["relays"]
    assert (relay["sandbox"], relay["sandbox_note"]) == ("bwrap", "")


@pytest.mark.timeout(120)
def test_a_relay_that_cannot_sandbox_starts_says_so_once_and_reports_it(tmp_path: Path) -> None:
    no_bwrap = tmp_path / "bin"
    no_bwrap.mkdir()
    (no_bwrap / "sh").symlink_to("/bin/sh")
    with running(Stack(tmp_path, relay_env={"PATH": str(no_bwrap)})) as stack:
        (relay,) = stack.server.get("/api/relays")["relays"]
        log = stack.relay.log()
    assert relay["sandbox"] == "none"
    assert "bwrap is not installed" in relay["sandbox_note"]
    assert log.count("agents on this relay are not sandboxed") == 1, log


class _RelayWithoutCapabilities(RelayProcess):
    """The relay as an ordinary user's process: no capabilities (root keeps none either)."""

    def _spawn(self, argv: list[str], env: dict[str, str]) -> None:
        super()._spawn([*NO_CAPABILITIES, *argv], env)


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="setpriv (util-linux) is missing")
def test_another_process_of_the_relays_user_cannot_read_its_environment(tmp_path: Path) -> None:
    """Non-dumpable: a process of the same user (without root's capabilities, which read any
    process) is refused /proc/<relay>/environ and /proc/<relay>/mem."""
    stack = Stack(tmp_path)
    relay = stack.relay
    stack.relay = _RelayWithoutCapabilities(
        relay.server_url, relay.token, relay.state_dir, relay.workspaces
    )
    with running(stack):
        assert stack.relay.process is not None
        pid = stack.relay.process.pid
        for name in ("environ", "mem"):
            read = [*NO_CAPABILITIES, "head", "-c", "1", f"/proc/{pid}/{name}"]
            done = subprocess.run(read, capture_output=True, text=True, timeout=10, check=False)
            assert done.returncode != 0 and "Permission denied" in done.stderr, (name, done)
