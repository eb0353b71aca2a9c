"""Relay enrolment as the README tells a new user to do it, with real processes throughout.

`tether serve`, then on "another machine" (its own HOME): `tether relay enroll URL`, an admin
approves the printed code over the API, then plain `tether relay` with no flags connects.
Revocation closes the link at once and the relay does not come back.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import stat
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.harness import ROOT, ServerProcess, TetherCommand, tether_argv, wait_until

CODE = re.compile(r"Enrolment code:\s+([A-Z0-9]{4}-[A-Z0-9]{4})")


def _host_env(home: Path) -> dict[str, str]:
    """The environment of a fresh agent host: its own home, config and state, no relay vars."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TETHER_")}
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_STATE_HOME=str(home / ".local/state"),
    )
    return env


def _api(
    server: ServerProcess, method: str, path: str, body: Any = None, *, auth: bool = True
) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json", **(server.auth_headers() if auth else {})}
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(server.url + path, data, headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


class Enrolling:
    """A running `tether relay enroll` process and the code it printed."""

    def __init__(self, server: ServerProcess, home: Path, name: str) -> None:
        self.process = TetherCommand(
            home / "enroll.log", "relay", "enroll", server.url, "--name", name, env=_host_env(home)
        ).start()
        wait_until(lambda: CODE.search(self.output()) is not None, 20, "the enrolment code")
        match = CODE.search(self.output())
        assert match is not None
        self.code = match.group(1)

    def output(self) -> str:
        return self.process.log()

    def wait(self) -> int:
        return self.process.wait(30)

    def stop(self) -> None:
        self.process.stop()


def _relay_online(server: ServerProcess, name: str) -> bool:
    return any(r["name"] == name and r["online"] for r in server.get("/api/relays")["relays"])


def _audit_actions(server: ServerProcess) -> list[str]:
    conn = sqlite3.connect(server.data_dir / "tether.sqlite3")
    try:
        return [r[0] for r in conn.execute("SELECT action FROM audit_log ORDER BY id")]
    finally:
        conn.close()


@pytest.fixture
def server(tmp_path: Path) -> Any:
    server = ServerProcess(tmp_path / "server", env={"TETHER_ENROLMENT_TTL_S": "3"})
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_enrol_approve_run_without_flags_then_revoke(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "server").start()
    home = tmp_path / "agent-host"
    relay = TetherCommand(home / "relay.log", "relay", env=_host_env(home))
    enrolling = Enrolling(server, home, "build-box")
    try:
        status, pending = _api(server, "GET", "/api/relays/enrolments")
        assert status == 200
        assert [e["name"] for e in pending["enrolments"]] == ["build-box"]
        assert enrolling.code.replace("-", "") not in json.dumps(pending)  # codes are never listed

        status, approved = _api(server, "POST", f"/api/relays/enrolments/{enrolling.code}/approve")
        assert status == 200, approved
        assert enrolling.wait() == 0, enrolling.output()
        assert "Start the relay with:  tether relay" in enrolling.output()
        assert "tr_" not in enrolling.output()  # the token is saved, never shown

        token_file = home / ".config/tether/relay.token"
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        assert token_file.read_text().startswith("tr_")
        config = (home / ".config/tether/relay.toml").read_text()
        assert f'server = "{server.url}"' in config

        relay.start()  # no flags, no TETHER_RELAY_* variables
        wait_until(lambda: _relay_online(server, "build-box"), 30, "the enrolled relay online")

        status, _ = _api(server, "POST", f"/api/relays/enrolments/{enrolling.code}/approve")
        assert status == 400  # single use

        started = time.monotonic()
        status, _ = _api(server, "DELETE", f"/api/relays/{approved['relay_id']}")
        assert status == 204
        assert relay.wait(10) == 2  # the relay stops: 4500 means "do not reconnect"
        assert time.monotonic() - started < 5
        assert "refused this relay's token" in relay.log()
        assert not _relay_online(server, "build-box")

        status, error = _api(server, "DELETE", f"/api/relays/{approved['relay_id']}")
        assert status == 400 and "revoked already" in error["error"]["message"]

        actions = _audit_actions(server)
        for action in (
            "relay_enrolment_requested",
            "relay_enrolment_approved",
            "relay_token_created",
            "relay_connected",
            "relay_token_revoked",
        ):
            assert action in actions, actions
        verify = subprocess.run(
            tether_argv("audit", "--data-dir", str(server.data_dir), "verify"),
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=60,
        )
        assert verify.returncode == 0 and verify.stdout.startswith("ok: "), verify.stderr
    finally:
        enrolling.stop()
        relay.stop()
        server.stop()


def test_wrong_malformed_used_and_denied_codes_are_refused_clearly(
    server: ServerProcess, tmp_path: Path
) -> None:
    status, error = _api(server, "POST", "/api/relays/enrolments/ABCD-EFGH/approve")
    assert status == 404
    assert "no enrolment has the code ABCD-EFGH" in error["error"]["message"]
    status, error = _api(server, "POST", "/api/relays/enrolments/not-a-code/approve")
    assert status == 400
    assert "like ABCD-EFGH" in error["error"]["message"]
    status, error = _api(server, "POST", "/api/relays/enrolments/ABCD-EFGH/approve", auth=False)
    assert status == 401

    enrolling = Enrolling(server, tmp_path / "host", "denied-box")
    try:
        status, _ = _api(server, "POST", f"/api/relays/enrolments/{enrolling.code}/deny")
        assert status == 204
        assert enrolling.wait() == 2
        assert "an admin denied this enrolment" in enrolling.output()
        status, error = _api(server, "POST", f"/api/relays/enrolments/{enrolling.code}/approve")
        assert status == 400
        assert "was used already (denied)" in error["error"]["message"]
        assert not (tmp_path / "host/.config/tether/relay.token").exists()
    finally:
        enrolling.stop()


def test_an_expired_code_is_refused_and_the_relay_is_told(
    server: ServerProcess, tmp_path: Path
) -> None:
    enrolling = Enrolling(server, tmp_path / "host", "slow-box")  # codes live 3 s here
    try:
        assert enrolling.wait() == 2
        assert "the code expired before it was approved" in enrolling.output()
        status, error = _api(server, "POST", f"/api/relays/enrolments/{enrolling.code}/approve")
        assert status == 400
        assert "has expired" in error["error"]["message"]
    finally:
        enrolling.stop()


def test_enrolment_requests_are_rate_limited(server: ServerProcess) -> None:
    statuses = [
        _api(server, "POST", "/api/relays/enrolments", {"name": f"r{i}"}, auth=False)[0]
        for i in range(11)
    ]
    assert statuses[:10] == [201] * 10
    assert statuses[10] == 429


def test_cli_revocation_closes_a_live_link(server: ServerProcess, tmp_path: Path) -> None:
    token = server.create_relay_token("cli-box")
    env = {**_host_env(tmp_path / "host"), "TETHER_RELAY_TOKEN": token}
    relay = TetherCommand(tmp_path / "relay.log", "relay", "--server", server.url, env=env)
    relay.start()
    try:
        wait_until(lambda: _relay_online(server, "cli-box"), 30, "the relay online")
        revoked = subprocess.run(
            tether_argv(
                "admin", "--data-dir", str(server.data_dir), "relay-token", "revoke", "cli-box"
            ),
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=30,
        )
        assert revoked.returncode == 0, revoked.stderr
        assert relay.wait(15) == 2  # within REVOCATION_CHECK_INTERVAL_S, and no reconnect
        assert "relay_token_revoked" in _audit_actions(server)
    finally:
        relay.stop()
