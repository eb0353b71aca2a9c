"""No credential in any log line, at any level: a full run at DEBUG, then both logs grepped.

`tether serve --log-level debug` with its local relay, a second relay with a token made by
`tether admin`, and a third that enrols; the owner registers with the setup link and signs in
again with a software passkey, invites a user who registers, opens a browser socket with the
session cookie, and the console token is used over REST and a socket. Every credential this
created (and the distinctive parts of each) is then looked for in the server's log, in what it
printed besides the setup link, and in each relay's log. uvicorn's websockets logs handshake
headers at DEBUG, so the run also checks that those lines were written, values redacted.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
from pathlib import Path
from typing import Any

import httpx
import msgspec
from websockets.asyncio.client import connect
from websockets.typing import Origin

from protocol import messages as m
from protocol.version import PROTOCOL_VERSION, SOFTWARE_VERSION
from tests.fakes.authenticator import SoftAuthenticator
from tests.harness import ROOT, RelayProcess, ServerProcess, wait_until

HELLO = m.Hello(protocol_version=PROTOCOL_VERSION, software_version=SOFTWARE_VERSION)
PREFIXED = re.compile(r"^t[a-z]_")
PART_CHARS = 12  # a run of random characters this long is found by no accident


class DebugServer(ServerProcess):
    """`tether serve --log-level debug` with its log (stderr) apart from what it prints for
    the person who started it (stdout: the one-time setup link)."""

    def _spawn(self, argv: list[str], env: dict[str, str]) -> None:
        self.printed_path = self.log_path.with_suffix(".printed")
        with self.log_path.open("ab") as log, self.printed_path.open("ab") as printed:
            self.process = subprocess.Popen(
                argv, stdout=printed, stderr=log, cwd=ROOT, env=env, start_new_session=True
            )

    def printed(self) -> str:
        return self.printed_path.read_text(errors="replace")


class Browser:
    """One person's browser: their passkey, and the secrets the server gave them."""

    def __init__(self, server: ServerProcess, secrets: list[str]) -> None:
        self.origin = f"http://localhost:{server.port}"
        self.http = httpx.Client(base_url=server.url, headers={"origin": self.origin}, timeout=10)
        self.key = SoftAuthenticator(self.origin)
        self.cookie = ""
        self.secrets = secrets

    def _signed_in(self, response: httpx.Response) -> None:
        assert response.status_code == 200, response.text
        self.cookie = response.cookies["tether_session"]
        self.secrets.append(self.cookie)
        self.http.cookies.clear()

    def register(self, token: str, name: str) -> None:
        options = self.http.post(
            "/api/auth/register/options", json={"token": token, "user_name": name}
        ).json()
        self.secrets.append(options["challenge"])
        credential = self.key.register(options)
        verified = self.http.post("/api/auth/register/verify", json={"credential": credential})
        self._signed_in(verified)

    def sign_in(self) -> None:
        options = self.http.post("/api/auth/login/options", json={}).json()
        self.secrets.append(options["challenge"])
        credential = self.key.login(options)
        verified = self.http.post("/api/auth/login/verify", json={"credential": credential})
        self._signed_in(verified)

    def post(self, path: str, body: Any = None) -> Any:
        done = self.http.post(path, json=body, headers={"cookie": f"tether_session={self.cookie}"})
        self.http.cookies.clear()
        assert done.status_code in (200, 201), done.text
        return done.json()


async def _socket_hello(url: str, headers: dict[str, str], origin: str | None = None) -> None:
    """A viewer socket that gets as far as the server's hello (admitted, not refused)."""
    ws_url = url.replace("http", "ws", 1) + "/ws/client"
    as_origin = Origin(origin) if origin else None
    async with connect(ws_url, additional_headers=headers, origin=as_origin, open_timeout=10) as ws:
        await ws.send(msgspec.json.encode(HELLO).decode())
        answer = await asyncio.wait_for(ws.recv(), 10)
        assert isinstance(msgspec.json.decode(answer, type=m.ServerToClient), m.Hello)


def _enrol(server: ServerProcess, owner: Browser, secrets: list[str]) -> str:
    made = httpx.post(server.url + "/api/relays/enrolments", json={"name": "enrolled"}, timeout=10)
    assert made.status_code == 201, made.text
    code, handle = made.json()["code"], made.json()["handle"]
    secrets += [code, code.replace("-", ""), handle]
    owner.post(f"/api/relays/enrolments/{code}/approve", {})
    polled = httpx.post(
        server.url + "/api/relays/enrolments/poll", json={"handle": handle}, timeout=10
    ).json()
    secrets.append(polled["token"])
    return str(polled["token"])


def _parts(secret: str) -> list[str]:
    """The secret, its random part, and runs of it long enough to identify it."""
    body = PREFIXED.sub("", secret)
    return [secret, body, body[:PART_CHARS], body[-PART_CHARS:]]


def _relay(server: ServerProcess, tmp: Path, name: str, token: str) -> RelayProcess:
    workspace = tmp / f"{name}-work"
    workspace.mkdir()
    return RelayProcess(
        server.url, token, tmp / name, {"work": workspace}, extra=("--name", name)
    ).start()


def _relays_online(server: ServerProcess, count: int) -> bool:
    return sum(r["online"] for r in server.get("/api/relays")["relays"]) == count


def test_a_debug_run_logs_no_credential(tmp_path: Path) -> None:
    local_work = tmp_path / "local-work"
    local_work.mkdir()
    server = DebugServer(
        tmp_path / "server",
        local_relay=True,
        extra=("--log-level", "debug", "--workspace", f"local={local_work}"),
    )
    made_token = server.create_relay_token("made")
    secrets: list[str] = [made_token]
    relays: list[RelayProcess] = []
    browsers: list[Browser] = []
    server.start()
    try:
        wait_until(lambda: "/setup#" in server.printed(), 10, "the setup link")
        found = re.search(r"/setup#(\S+)", server.printed())
        assert found is not None
        setup_token = found.group(1)
        secrets += [setup_token, server.console_token]
        secrets.append((server.data_dir / "local-relay.token").read_text().strip())

        owner = Browser(server, secrets)
        invitee = Browser(server, secrets)
        browsers += [owner, invitee]
        owner.register(setup_token, "olivia")
        owner.sign_in()
        invite = owner.post("/api/invites", {"role": "viewer", "grants": []})
        invite_token = invite["link"].split("#", 1)[1]
        secrets.append(invite_token)
        invitee.register(invite_token, "vera")

        server.get("/api/sessions")  # the console token over REST, then on a socket
        asyncio.run(_socket_hello(server.url, server.auth_headers()))
        asyncio.run(
            _socket_hello(server.url, {"cookie": f"tether_session={owner.cookie}"}, owner.origin)
        )

        enrolled_token = _enrol(server, owner, secrets)
        relays += [
            _relay(server, tmp_path, "made", made_token),
            _relay(server, tmp_path, "enrolled", enrolled_token),
        ]
        wait_until(lambda: _relays_online(server, 3), 30, "three relays online")
    finally:
        for browser in browsers:
            browser.http.close()
        for relay in relays:
            relay.stop()
        server.stop()

    logs = {"server log": server.log(), "server output": server.printed()}
    logs.update({f"relay {r.state_dir.name} log": r.log() for r in relays})
    assert all(secrets) and len(secrets) == 15, secrets
    for secret in secrets:
        for part in _parts(secret):
            for name, text in logs.items():
                if name == "server output" and secret == setup_token:
                    continue  # printed for the owner by design, never logged
                assert part not in text, f"{name} holds a credential ({part[:6]}...)"
    # the handshake lines that carried the credentials were written, with the values redacted
    assert "authorization: [redacted]" in logs["server log"].lower()
    assert "cookie: [redacted]" in logs["server log"].lower()
    # the relays logged at DEBUG (their websockets client keeps handshake headers out: WIRE_LOG)
    assert all(" DEBUG relay.link: " in logs[f"relay {n} log"] for n in ("made", "enrolled"))
