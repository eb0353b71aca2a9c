"""Forwarded headers count only from proxies the server was told to trust (`trusted_proxies`).

Against a real `tether serve`: without the setting, a client on loopback that rotates
`X-Forwarded-For` is still one client to the sign-in rate limit, the audit log records where the
request really came from, and a forwarded request is never taken for loopback (so the console
token does not work through a proxy). With the setting, the address the trusted proxy forwarded
is the one every decision uses, and an address that is not in it cannot speak for anyone.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.harness import ROOT, ServerProcess, free_port, tether_argv

ATTEMPTS_PER_MINUTE = 5
PROXY_ADDRESS = "127.0.0.2"  # a proxy on this machine, not on the address the server trusts


def _server(tmp_path: Path, **env: str) -> Iterator[ServerProcess]:
    server = ServerProcess(
        tmp_path / "server",
        env={"TETHER_AUTH_ATTEMPTS_PER_MINUTE": str(ATTEMPTS_PER_MINUTE), **env},
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    yield from _server(tmp_path)


@pytest.fixture
def behind_proxy(tmp_path: Path) -> Iterator[ServerProcess]:
    """A server told to trust the proxies of this machine's loopback network."""
    yield from _server(tmp_path, TETHER_TRUSTED_PROXIES="127.0.0.0/8")


def _client(server: ServerProcess, source: str = "127.0.0.1") -> httpx.Client:
    origin = f"http://localhost:{server.port}"
    return httpx.Client(
        base_url=server.url,
        headers={"origin": origin},
        timeout=10,
        transport=httpx.HTTPTransport(local_address=source),
    )


def _sign_in_statuses(client: httpx.Client, forwarded_for: list[str]) -> list[int]:
    return [
        client.post(
            "/api/auth/login/options", json={}, headers={"x-forwarded-for": address}
        ).status_code
        for address in forwarded_for
    ]


def _enrolment_ips(server: ServerProcess) -> list[str]:
    conn = sqlite3.connect(f"file:{server.data_dir / 'tether.sqlite3'}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT ip FROM audit_log WHERE action = 'relay_enrolment_requested' ORDER BY id"
        )
        return [row[0] for row in rows]
    finally:
        conn.close()


def _request_enrolment(client: httpx.Client, forwarded_for: str) -> None:
    made = client.post(
        "/api/relays/enrolments", json={"name": "box"}, headers={"x-forwarded-for": forwarded_for}
    )
    assert made.status_code == 201, made.text


def _console(server: ServerProcess, **headers: str) -> Any:
    return httpx.get(
        server.url + "/api/auth/me", headers={**server.auth_headers(), **headers}, timeout=10
    )


def test_rotating_forwarded_for_does_not_get_past_the_sign_in_limit(
    server: ServerProcess,
) -> None:
    with _client(server) as client:
        forged = [f"203.0.113.{i}" for i in range(1, ATTEMPTS_PER_MINUTE + 3)]
        statuses = _sign_in_statuses(client, forged)
    assert statuses == [200] * ATTEMPTS_PER_MINUTE + [429, 429]


def test_a_forged_forwarded_for_does_not_land_in_the_audit_log(server: ServerProcess) -> None:
    with _client(server) as client:
        _request_enrolment(client, "203.0.113.9")
    assert _enrolment_ips(server) == ["127.0.0.1"]
    listed = server.get("/api/relays/enrolments")["enrolments"]
    assert [e["ip"] for e in listed] == ["127.0.0.1"]


def test_a_forwarded_request_is_not_loopback_for_the_console_token(
    server: ServerProcess,
) -> None:
    """What reached the server through a proxy it does not trust came from elsewhere: a proxy
    on this machine must not turn the world's requests into loopback ones."""
    assert _console(server).status_code == 200
    assert _console(server, **{"x-forwarded-for": "127.0.0.1"}).status_code == 401
    assert _console(server, forwarded="for=127.0.0.1").status_code == 401


def test_with_trusted_proxies_the_forwarded_address_is_used(
    behind_proxy: ServerProcess,
) -> None:
    with _client(behind_proxy, source=PROXY_ADDRESS) as proxy:
        _request_enrolment(proxy, "198.51.100.7")
        # a client's own forged entry is left of what the proxy appended: not believed
        _request_enrolment(proxy, "10.9.9.9, 198.51.100.8")
        # the limit counts per forwarded client: one is stopped, another is not
        first = _sign_in_statuses(proxy, ["198.51.100.20"] * (ATTEMPTS_PER_MINUTE + 1))
        other = _sign_in_statuses(proxy, ["198.51.100.21"])
    assert _enrolment_ips(behind_proxy) == ["198.51.100.7", "198.51.100.8"]
    assert first == [200] * ATTEMPTS_PER_MINUTE + [429]
    assert other == [200]
    # the console token: loopback only, and the proxy's client is not on loopback
    assert _console(behind_proxy).status_code == 200
    assert _console(behind_proxy, **{"x-forwarded-for": "198.51.100.7"}).status_code == 401


def test_a_trusted_proxy_that_is_not_an_address_stops_the_server(tmp_path: Path) -> None:
    done = subprocess.run(
        tether_argv(
            "serve",
            "--data-dir",
            str(tmp_path / "data"),
            "--port",
            str(free_port()),
            "--no-local-relay",
        ),
        env={**os.environ, "TETHER_TRUSTED_PROXIES": "caddy"},
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=30,
    )
    assert done.returncode == 2
    assert "trusted_proxies: 'caddy' is not an IP address" in done.stderr
