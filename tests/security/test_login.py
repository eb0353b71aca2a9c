"""`tether login URL` end to end through the repository's Caddyfile, as on a LAN (`tls internal`).

A real `tether serve` behind a real Caddy (Debian's `caddy`, run with the Caddyfile's site block
and a few global options so that it stays inside the test: its own ports and storage, no admin
endpoint, its root certificate not installed anywhere). The terminal trusts Caddy's root through
SSL_CERT_FILE. A user approves the code shown by `tether login` with a software passkey through
the server's API, exactly as the app's Settings screen does; the token is then listed with the
user's browsers, acts as that user (an operator: not more), cannot manage anything, and once
revoked in the app is refused and its open socket closed.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from protocol.codes import CloseCode
from tests.fakes.authenticator import SoftAuthenticator
from tests.harness import (
    ROOT,
    ServerProcess,
    TetherCommand,
    Viewer,
    _Child,
    close_code,
    free_port,
    tether_argv,
    wait_until,
)

pytestmark = pytest.mark.skipif(
    shutil.which("caddy") is None, reason="needs Debian's caddy (scripts/test-packages installs it)"
)
COOKIE = "__Host-tether_session"  # the session cookie on an https origin (docs/security.md)
CADDY_START_S = 30.0


class CaddyProcess(_Child):
    """Caddy serving the repository's Caddyfile site on `port`, in front of `upstream`."""

    def __init__(self, tmp: Path, host: str, port: int, upstream: int) -> None:
        self.tmp = tmp
        self.host = host
        self.port = port
        self.log_path = tmp / "caddy.log"
        self.storage = tmp / "caddy-data"
        self.config = tmp / "Caddyfile"
        site = (ROOT / "Caddyfile").read_text()
        self.config.write_text(
            "{\n"
            "\tadmin off\n"
            "\tskip_install_trust\n"
            f"\thttp_port {free_port()}\n"
            f"\thttps_port {port}\n"
            f"\tstorage file_system {{\n\t\troot {self.storage}\n\t}}\n"
            "}\n\n" + site
        )
        self.env = {
            **os.environ,
            "TETHER_SITE": f"{host}:{port}",
            "TETHER_UPSTREAM": f"127.0.0.1:{upstream}",
            "HOME": str(tmp / "caddy-home"),
            "XDG_DATA_HOME": str(tmp / "caddy-home"),
            "XDG_CONFIG_HOME": str(tmp / "caddy-home"),
        }
        self.env.pop("TETHER_TLS", None)

    @property
    def root_cert(self) -> Path:
        return self.storage / "pki" / "authorities" / "local" / "root.crt"

    def trust(self) -> ssl.SSLContext:
        """What a client that trusts Caddy's root (and nothing else) verifies with."""
        return ssl.create_default_context(cafile=str(self.root_cert))

    def start(self) -> CaddyProcess:
        argv = ["caddy", "run", "--config", str(self.config), "--adapter", "caddyfile"]
        self._spawn(argv, self.env)
        wait_until(self._serving, CADDY_START_S, f"caddy on port {self.port}")
        return self

    def _serving(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise RuntimeError(f"caddy exited {self.process.returncode}:\n{self.log()}")
        if not self.root_cert.exists():
            return False
        try:
            answer = httpx.get(
                f"https://{self.host}:{self.port}/api/health", verify=self.trust(), timeout=2
            )
        except httpx.HTTPError:
            return False
        return answer.status_code == 200


class Site:
    """The server behind Caddy, and the people using it through the app's API."""

    def __init__(self, server: ServerProcess, caddy: CaddyProcess) -> None:
        self.server = server
        self.caddy = caddy
        self.origin = f"https://{caddy.host}:{caddy.port}"
        self.http = httpx.Client(
            base_url=self.origin,
            headers={"origin": self.origin},
            verify=caddy.trust(),
            timeout=10,
        )
        self.keys: dict[str, SoftAuthenticator] = {}
        self.cookies: dict[str, str] = {}

    def call(self, who: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        self.http.cookies.clear()
        headers = {"cookie": f"{COOKIE}={self.cookies[who]}"}
        return self.http.request(method, path, headers=headers, **kwargs)

    def sign_up(self, who: str, token: str) -> None:
        options = self.http.post(
            "/api/auth/register/options", json={"token": token, "user_name": who}
        )
        assert options.status_code == 200, options.text
        self.keys[who] = SoftAuthenticator(self.origin)
        credential = self.keys[who].register(options.json())
        done = self.http.post("/api/auth/register/verify", json={"credential": credential})
        assert done.status_code == 200, done.text
        self.cookies[who] = done.cookies[COOKIE]

    def approve(self, who: str, code: str) -> httpx.Response:
        """What the Settings screen does: a passkey prompt for the code, answered by `who`."""
        options = self.call(who, "POST", f"/api/auth/terminal-logins/{code}/options", json={})
        assert options.status_code == 200, options.text
        credential = self.keys[who].login(options.json())
        path = f"/api/auth/terminal-logins/{code}/approve"
        return self.call(who, "POST", path, json={"credential": credential})


def _lan_name() -> str:
    """A name of this machine that is not `localhost` (the Caddyfile's LAN mode: a name the
    phones resolve, like mybox.local): to the terminal client it is another machine."""
    name = socket.gethostname().lower()
    try:
        socket.getaddrinfo(name, None)
    except OSError:
        return ""
    return "" if name == "localhost" or name.endswith(".localhost") else name


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    host = _lan_name()
    if not host:
        pytest.skip("this machine's host name does not resolve: no LAN name to serve under")
    caddy_port = free_port()
    server = ServerProcess(
        tmp_path / "data", extra=("--public-origin", f"https://{host}:{caddy_port}")
    )
    server.start()
    caddy = CaddyProcess(tmp_path, host, caddy_port, server.port)
    s: Site | None = None
    try:
        caddy.start()
        s = Site(server, caddy)
        wait_until(lambda: "/setup#" in server.log(), 10, "the setup link")
        link = re.search(r"/setup#(\S+)", server.log())
        assert link, server.log()
        s.sign_up("olivia", link.group(1))
        invite = s.call("olivia", "POST", "/api/invites", json={"role": "operator", "grants": []})
        assert invite.status_code == 201, invite.text
        s.sign_up("opal", invite.json()["link"].split("#", 1)[1])
        yield s
    finally:
        if s is not None:
            s.http.close()
        caddy.stop()
        server.stop()


def _terminal_env(tmp: Path, caddy: CaddyProcess) -> dict[str, str]:
    """Another user's terminal: its own HOME, no console token, Caddy's root trusted."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TETHER_", "XDG_"))}
    return {**env, "HOME": str(tmp / "terminal-home"), "SSL_CERT_FILE": str(caddy.root_cert)}


def _sessions(env: dict[str, str], origin: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        tether_argv("sessions", "--server", origin),
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=60,
    )


def test_login_through_caddy_is_approved_listed_and_revoked(site: Site, tmp_path: Path) -> None:
    env = _terminal_env(tmp_path, site.caddy)
    refused = _sessions(env, site.origin)
    assert refused.returncode == 1
    assert f"tether login {site.origin}" in refused.stderr

    login = TetherCommand(
        tmp_path / "login.log", "login", site.origin, "--name", "laptop", env=env
    ).start()
    try:
        wait_until(lambda: "Login code:" in login.log(), 20, "the login code")
        code = re.search(r"Login code:\s+([A-Z0-9]{4}-[A-Z0-9]{4})", login.log())
        assert code, login.log()
        approved = site.approve("opal", code.group(1))
        assert approved.status_code == 200, approved.text
        assert approved.json() == {"name": "laptop"}
        assert login.wait(30) == 0, login.log()
    finally:
        login.stop()
    assert "Signed in to" in login.log() and "as opal (operator)" in login.log()

    saved = Path(env["HOME"]) / ".config" / "tether" / "logins.json"
    assert saved.stat().st_mode & 0o777 == 0o600
    token = json.loads(saved.read_text())["servers"][site.origin]["token"]
    assert token.startswith("tt_") and token not in login.log()

    listed = _sessions(env, site.origin)
    assert listed.returncode == 0, listed.stderr

    mine = site.call("opal", "GET", "/api/auth/sessions").json()["sessions"]
    terminal = [s for s in mine if s["kind"] == "terminal"]
    assert [s["device"] for s in terminal] == ["tether login: laptop"]

    bearer = {"authorization": f"Bearer {token}"}
    me = httpx.get(f"{site.origin}/api/auth/me", headers=bearer, verify=site.caddy.trust())
    assert me.json()["role"] == "operator" and me.json()["via"] == "terminal"
    another = httpx.post(
        f"{site.origin}/api/auth/terminal-logins",
        json={"name": "second"},
        verify=site.caddy.trust(),
    ).json()["code"]
    for method, path in (
        ("GET", "/api/users"),
        ("POST", "/api/invites"),
        ("DELETE", f"/api/auth/sessions/{terminal[0]['id']}"),
        ("POST", f"/api/auth/terminal-logins/{another}/options"),
    ):
        answer = httpx.request(
            method,
            f"{site.origin}{path}",
            headers=bearer,
            json={"role": "viewer", "grants": []} if method == "POST" else None,
            verify=site.caddy.trust(),
        )
        assert answer.status_code == 403, (path, answer.text)

    asyncio.run(_revoked_while_watching(site, token, terminal[0]["id"]))
    after = _sessions(env, site.origin)
    assert after.returncode == 1 and "(unauthorized)" in after.stderr, after.stderr
    me = httpx.get(f"{site.origin}/api/auth/me", headers=bearer, verify=site.caddy.trust())
    assert me.status_code == 401


async def _revoked_while_watching(site: Site, token: str, session_id: str) -> None:
    """Revoking the terminal in the app closes the socket it has open, through Caddy."""
    viewer = await Viewer.open(site.origin, token=token, ssl=site.caddy.trust())
    revoked = await asyncio.to_thread(
        site.call, "opal", "DELETE", f"/api/auth/sessions/{session_id}"
    )
    assert revoked.status_code == 204, revoked.text
    assert await close_code(viewer.ws) == CloseCode.UNAUTHORIZED


def test_only_a_passkey_of_the_signed_in_user_approves(site: Site) -> None:
    """A browser session alone does not approve, nor another user's passkey."""
    asked = httpx.post(
        f"{site.origin}/api/auth/terminal-logins",
        json={"name": "intruder"},
        verify=site.caddy.trust(),
    )
    assert asked.status_code == 201, asked.text
    code = asked.json()["code"]
    no_passkey = site.call(
        "opal", "POST", f"/api/auth/terminal-logins/{code}/approve", json={"credential": {}}
    )
    assert no_passkey.status_code in (400, 401), no_passkey.text
    options = site.call("opal", "POST", f"/api/auth/terminal-logins/{code}/options", json={})
    other_users_key = site.keys["olivia"].login(options.json())
    refused = site.call(
        "opal",
        "POST",
        f"/api/auth/terminal-logins/{code}/approve",
        json={"credential": other_users_key},
    )
    assert refused.status_code == 401, refused.text
    polled = httpx.post(
        f"{site.origin}/api/auth/terminal-logins/poll",
        json={"handle": asked.json()["handle"]},
        verify=site.caddy.trust(),
    )
    assert polled.json()["status"] == "pending"


def test_an_owners_terminal_token_acts_as_owner_but_manages_nothing(site: Site) -> None:
    """The decision of docs/security.md: the user's role and grants, no user, invite, relay,
    passkey or session management."""
    verify = site.caddy.trust()
    asked = httpx.post(
        f"{site.origin}/api/auth/terminal-logins", json={"name": "ci box"}, verify=verify
    ).json()
    assert site.approve("olivia", asked["code"]).status_code == 200
    polled = httpx.post(
        f"{site.origin}/api/auth/terminal-logins/poll",
        json={"handle": asked["handle"]},
        verify=verify,
    ).json()
    assert polled["status"] == "approved" and polled["role"] == "owner"
    bearer = {"authorization": f"Bearer {polled['token']}"}
    assert httpx.get(f"{site.origin}/api/sessions", headers=bearer, verify=verify).is_success
    for method, path in (
        ("GET", "/api/users"),
        ("GET", "/api/invites"),
        ("GET", "/api/relays/enrolments"),
        ("DELETE", "/api/relays/some-relay"),
        ("DELETE", "/api/auth/passkeys/some-passkey"),
    ):
        answer = httpx.request(method, f"{site.origin}{path}", headers=bearer, verify=verify)
        assert answer.status_code == 403, (path, answer.text)
        assert "terminal login cannot manage" in answer.json()["error"]["message"]
    again = httpx.post(
        f"{site.origin}/api/auth/terminal-logins/poll",
        json={"handle": asked["handle"]},
        verify=verify,
    ).json()
    assert again["status"] == "collected" and "token" not in again
