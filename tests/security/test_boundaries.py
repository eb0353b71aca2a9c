"""Attacks on Tether's boundaries, each against a real `tether serve` (and a real `tether relay`
where files on disk are concerned): a relay moving a session into another workspace, files other
local users could read, a copied passkey, a user named like the console, and the browser-facing
headers, cookie and Origin rules (docs/security.md).

The server's public origin is https, as behind Caddy in production; the tests reach it on
loopback over plain http and send the https Origin a browser would.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import sqlite3
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from websockets.asyncio.client import ClientConnection, connect

from protocol import messages as m
from protocol.version import PROTOCOL_VERSION, SOFTWARE_VERSION
from tests.fakes.authenticator import SoftAuthenticator
from tests.harness import RelayProcess, ServerProcess, wait_until

ORIGIN = "https://tether.test"
COOKIE = "__Host-tether_session"
_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(m.ServerToRelay)


class Site:
    """The running server, an owner signed in by passkey, and helpers to add users."""

    def __init__(self, server: ServerProcess, relay_token: str) -> None:
        self.server = server
        self.relay_token = relay_token
        self.http = httpx.Client(base_url=server.url, headers={"origin": ORIGIN}, timeout=10)
        self.owner = ""  # the owner's session cookie
        self.cookie_name = COOKIE  # as the server names it (the cookie test checks the name)
        self.relay_id = ""

    def call(self, cookie: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        self.http.cookies.clear()
        headers = {"cookie": f"{self.cookie_name}={cookie}"} if cookie else {}
        return self.http.request(method, path, headers=headers, **kwargs)

    def console(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """As `tether attach` on the server's machine: the console token, no Origin."""
        headers = {**self.server.auth_headers(), **kwargs.pop("headers", {})}
        return httpx.request(method, self.server.url + path, headers=headers, timeout=10, **kwargs)

    def sign_up(self, token: str, name: str) -> tuple[SoftAuthenticator, httpx.Response]:
        options = self.call(
            "", "POST", "/api/auth/register/options", json={"token": token, "user_name": name}
        )
        assert options.status_code == 200, options.text
        key = SoftAuthenticator(ORIGIN)
        done = self.call(
            "",
            "POST",
            "/api/auth/register/verify",
            json={"credential": key.register(options.json())},
        )
        assert done.status_code == 200, done.text
        return key, done

    def invite(self, role: str, grants: list[dict[str, str]]) -> str:
        created = self.call(
            self.owner, "POST", "/api/invites", json={"role": role, "grants": grants}
        )
        assert created.status_code == 201, created.text
        return str(created.json()["link"]).split("#", 1)[1]

    def user(
        self, name: str, role: str, grants: list[dict[str, str]]
    ) -> tuple[SoftAuthenticator, str]:
        key, done = self.sign_up(self.invite(role, grants), name)
        return key, self.session_of(done)

    def session_of(self, response: httpx.Response) -> str:
        """The session cookie a sign-in set (learning its name from the first)."""
        (self.cookie_name,) = (n for n in response.cookies if n.endswith("tether_session"))
        return response.cookies[self.cookie_name]

    def login(self, key: SoftAuthenticator, **forged: Any) -> httpx.Response:
        options = self.call("", "POST", "/api/auth/login/options", json={})
        assert options.status_code == 200, options.text
        return self.call(
            "",
            "POST",
            "/api/auth/login/verify",
            json={"credential": key.login(options.json(), **forged)},
        )

    def audit(self) -> list[tuple[str, str, str]]:
        """(actor, action, target) of every audit entry, oldest first."""
        with sqlite3.connect(self.server.data_dir / "tether.sqlite3") as db:
            return [
                tuple(r)
                for r in db.execute("SELECT actor, action, target FROM audit_log ORDER BY id")
            ]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    server = ServerProcess(
        Path(tmp_path_factory.mktemp("boundaries")) / "data",
        extra=("--public-origin", ORIGIN),
        env={"TETHER_AUTH_ATTEMPTS_PER_MINUTE": "1000"},
    )
    token = server.create_relay_token("box")
    server.start()
    s = Site(server, token)
    try:
        wait_until(lambda: "/setup#" in server.log(), 10, "the setup link")
        link = re.search(re.escape(ORIGIN) + r"/setup#(\S+)", server.log())
        assert link, server.log()
        s.owner = s.session_of(s.sign_up(link.group(1), "olivia")[1])
        s.relay_id = s.console("GET", "/api/relays").json()["relays"][0]["id"]
        yield s
    finally:
        s.http.close()
        server.stop()


# --------------------------------------------------------------------------- a scripted relay


class ScriptedRelay:
    """The relay protocol spoken by hand: declares workspaces, answers starts, sends events."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.seq: dict[str, int] = {}
        self.errors: list[m.RelayError] = []

    @classmethod
    async def connect(cls, site: Site, info: m.RelayInfo) -> ScriptedRelay:
        url = site.server.url.replace("http", "ws", 1) + "/ws/relay"
        ws = await connect(url, additional_headers={"Authorization": f"Bearer {site.relay_token}"})
        relay = cls(ws)
        await relay.send(
            m.Hello(protocol_version=PROTOCOL_VERSION, software_version=SOFTWARE_VERSION)
        )
        await relay.receive(m.Hello)
        await relay.send(info)
        await relay.receive(m.Committed)
        return relay

    async def send(self, message: m.RelayMessage) -> None:
        await self.ws.send(_encoder.encode(message).decode())

    async def receive(self, kind: type[Any], timeout_s: float = 10) -> Any:
        while True:
            message = _decoder.decode(await asyncio.wait_for(self.ws.recv(), timeout_s))
            if isinstance(message, m.RelayError):
                self.errors.append(message)
            if isinstance(message, kind):
                return message

    async def answer_start(self) -> str:
        start = await self.receive(m.StartSession)
        await self.send(m.CommandResult(command_id=start.command_id, ok=True))
        return str(start.session_id)

    async def events(self, session_id: str, *events: m.Event) -> None:
        first = self.seq.get(session_id, 0) + 1
        self.seq[session_id] = first + len(events) - 1
        batch = [
            m.RelayEvent(session_id=session_id, relay_seq=first + n, ts=time.time(), event=e)
            for n, e in enumerate(events)
        ]
        await self.send(m.Events(events=batch))
        while (await self.receive(m.Ack)).acked.get(session_id) != self.seq[session_id]:
            pass


def _started(workspace: str) -> m.SessionStarted:
    return m.SessionStarted(agent="pty", workspace=workspace, command=["sh"])


# --------------------------------------------------------------------------- point 2


def test_a_relay_cannot_move_a_session_into_another_workspace(site: Site) -> None:
    """A relay token holder tries to show an operator's session to another workspace's viewer,
    and to place its own session in a workspace it never declared."""
    _, beta_viewer = site.user("bea", "viewer", [{"relay_id": site.relay_id, "workspace": "beta"}])
    info = m.RelayInfo(
        hostname="box",
        workspaces=[m.Workspace(name="alpha", path="/a"), m.Workspace(name="beta", path="/b")],
        agents=["pty"],
    )

    async def attack() -> tuple[str, list[m.RelayError]]:
        relay = await ScriptedRelay.connect(site, info)
        try:
            body = {"relay_id": site.relay_id, "workspace": "alpha", "command": ["sh"]}
            started = asyncio.create_task(
                asyncio.to_thread(site.console, "POST", "/api/sessions", json=body)
            )
            session_id = await relay.answer_start()
            assert (await started).status_code == 201
            await relay.events(session_id, _started("beta"))  # move it
            await relay.events("own-session", _started("alpha"), _started("beta"))
            await relay.events("undeclared", _started("payroll"))
            too_long = m.RelayEvent(session_id="x" * 65, relay_seq=1, ts=0.0, event=_started("a"))
            await relay.send(m.Events(events=[too_long]))
            await relay.events("undeclared", m.Status(state="idle"))  # answered after it
            with contextlib.suppress(TimeoutError):  # its error may follow that ack
                await relay.receive(m.RelayError, timeout_s=2)
            return session_id, relay.errors
        finally:
            await relay.ws.close()

    session_id, errors = asyncio.run(attack())
    workspace = {
        sid: site.console("GET", f"/api/sessions/{sid}").json()["workspace"]
        for sid in (session_id, "own-session", "undeclared")
    }
    assert workspace == {session_id: "alpha", "own-session": "alpha", "undeclared": ""}
    assert site.call(beta_viewer, "GET", f"/api/sessions/{session_id}").status_code == 403
    listed = site.call(beta_viewer, "GET", "/api/sessions").json()["sessions"]
    assert [s["id"] for s in listed] == []
    assert [(e.code, e.session_id) for e in errors] == [("bad_request", "x" * 65)]


def test_relay_supplied_names_keep_the_name_rule(site: Site) -> None:
    """A hostname, workspace and agent names with control characters or over 64 characters
    are not kept: the rule for names people type holds for what a relay says about itself."""
    info = m.RelayInfo(
        hostname="box\x1b]0;owned\x07",
        workspaces=[
            m.Workspace(name="ok", path="/ok"),
            m.Workspace(name="w" * 65, path="/long"),
            m.Workspace(name="bad\nname", path="/nl"),
        ],
        agents=["pty", "a" * 65, "\u202eevil"],
    )

    async def announce() -> None:
        relay = await ScriptedRelay.connect(site, info)
        await relay.ws.close()

    asyncio.run(announce())
    (relay,) = site.console("GET", "/api/relays").json()["relays"]
    assert relay["hostname"] == ""
    assert [w["name"] for w in relay["workspaces"]] == ["ok"]
    assert relay["agents"] == ["pty"]


# --------------------------------------------------------------------------- point 4


def _modes(directory: Path) -> dict[str, str]:
    """Every path under `directory` (itself as ".") with its mode, in octal."""
    found = {".": oct(stat.S_IMODE(directory.lstat().st_mode))}
    for root, dirs, files in os.walk(directory):
        for name in dirs + files:
            path = Path(root) / name
            found[str(path.relative_to(directory))] = oct(stat.S_IMODE(path.lstat().st_mode))
    return found


def _private(modes: dict[str, str]) -> dict[str, str]:
    """The entries of `modes` that other users could read, write or enter."""
    return {p: mode for p, mode in modes.items() if int(mode, 8) & 0o077}


def _start_relay(site: Site, state_dir: Path, workspace: Path) -> RelayProcess:
    relay = RelayProcess(site.server.url, site.relay_token, state_dir, {"work": workspace}).start()
    wait_until(
        lambda: (state_dir / "commands.sqlite3").exists() and "connected" in relay.log(),
        20,
        "the relay",
    )
    return relay


def test_a_fresh_data_dir_and_relay_state_dir_are_private(site: Site, tmp_path: Path) -> None:
    """Another local user can read no transcript, token or anchor: 0700 directories, 0600 files,
    while an agent's own files keep its user's umask."""
    data = _modes(site.server.data_dir)
    assert {
        "tether.sqlite3",
        "tether.sqlite3-wal",
        "tether.sqlite3-shm",
        "console.token",
        "audit.head",
    } <= set(data)
    assert _private(data) == {}
    workspace = tmp_path / "work"
    workspace.mkdir()
    relay = _start_relay(site, tmp_path / "state", workspace)
    try:
        state = _modes(tmp_path / "state")
        assert {"outbox.sqlite3", "commands.sqlite3", "relay.lock"} <= set(state), state
        assert _private(state) == {}
        body = {
            "relay_id": site.relay_id,
            "workspace": "work",
            "command": ["sh", "-c", "echo x > made-by-agent"],
        }
        assert site.console("POST", "/api/sessions", json=body).status_code == 201
        wait_until((workspace / "made-by-agent").exists, 20, "the agent's file")
    finally:
        relay.stop()
    umask = os.umask(0o022)
    os.umask(umask)
    assert stat.S_IMODE((workspace / "made-by-agent").stat().st_mode) == 0o666 & ~umask


def test_an_upgraded_data_dir_and_relay_state_dir_are_made_private(tmp_path: Path) -> None:
    """Directories an earlier version left 0755 with 0644 files are fixed at start."""
    data, state = tmp_path / "data", tmp_path / "state"
    for directory, names in (
        (data, ("tether.sqlite3", "notes.txt")),
        (state, ("outbox.sqlite3", "relay.lock")),
    ):
        (directory / "old").mkdir(parents=True)
        for name in names:
            (directory / name).touch()
        (directory / "old" / "file").write_text("readable by all\n")
        for path in (directory, directory / "old"):
            path.chmod(0o755)
        for path in (*(directory / n for n in names), directory / "old" / "file"):
            path.chmod(0o644)
    sqlite3.connect(data / "tether.sqlite3").close()  # an empty database: migrated at start
    server = ServerProcess(data)
    token = server.create_relay_token("upgraded")
    server.start()
    relay = RelayProcess(server.url, token, state, {"work": tmp_path}).start()
    try:
        wait_until(lambda: "connected" in relay.log(), 20, "the relay")
        assert _private(_modes(data)) == {}
        assert _private(_modes(state)) == {}
    finally:
        relay.stop()
        server.stop()


# --------------------------------------------------------------------------- point 8


def test_a_counter_regressed_passkey_cannot_sign_in_until_reapproved(site: Site) -> None:
    """A copied passkey shows up as a counter going backwards: from then on neither copy signs
    in, its sessions are signed out, until its owner (with another passkey) re-approves it."""
    phone, first = site.user("reggie", "operator", [])
    options = site.call(first, "POST", "/api/auth/register/options", json={})
    laptop = SoftAuthenticator(ORIGIN)
    added = site.call(
        first,
        "POST",
        "/api/auth/register/verify",
        json={"credential": laptop.register(options.json()), "passkey_name": "laptop"},
    )
    assert added.status_code == 200, added.text
    for _ in range(3):
        assert site.login(phone).status_code == 200
    phone_session = site.session_of(site.login(phone))  # the copy's, say: count 4
    assert site.login(phone, sign_count=2).status_code == 401  # the other holder, behind

    refused = site.login(phone)  # count 5: above the stored one, yet flagged
    assert refused.status_code == 401 and "flagged" in refused.text
    for signed_in_by_phone in (first, phone_session):
        assert site.call(signed_in_by_phone, "GET", "/api/auth/me").status_code == 401
    from_laptop = site.session_of(site.login(laptop))
    listed = site.call(from_laptop, "GET", "/api/auth/passkeys").json()["passkeys"]
    flagged = next(p["id"] for p in listed if p["name"] != "laptop")
    assert [p["flagged"] for p in listed] == [True, False]

    _, stranger = site.user("stan", "operator", [])
    assert site.call(stranger, "POST", f"/api/auth/passkeys/{flagged}/reapprove").status_code == 403
    assert (
        site.call(from_laptop, "POST", f"/api/auth/passkeys/{flagged}/reapprove").status_code == 204
    )
    assert site.login(phone).status_code == 200

    assert site.login(phone, sign_count=1).status_code == 401  # flagged again; an owner clears it
    assert site.console("POST", f"/api/auth/passkeys/{flagged}/reapprove").status_code == 204
    assert site.login(phone).status_code == 200
    me = site.call(from_laptop, "GET", "/api/auth/me").json()["user_id"]
    reapprovals = [
        (actor, target) for actor, action, target in site.audit() if action == "passkey.reapproved"
    ]
    assert reapprovals == [(f"user:{me}", flagged), ("console", flagged)]


def test_an_invitee_named_console_is_not_the_console_in_the_audit_log(site: Site) -> None:
    key, cookie = site.user("console", "viewer", [])
    user_id = site.call(cookie, "GET", "/api/auth/me").json()["user_id"]
    assert site.login(key).status_code == 200
    assert (
        site.console("POST", "/api/invites", json={"role": "viewer", "grants": []}).status_code
        == 201
    )
    entries = site.audit()
    theirs = [
        (actor, action)
        for actor, action, target in entries
        if target == user_id and action in ("invite.accepted", "auth.login")
    ]
    assert theirs == [
        (f"user:{user_id}", "invite.accepted"),
        (f"user:{user_id}", "auth.login"),
        (f"user:{user_id}", "auth.login"),
    ]
    as_console = {action for actor, action, _ in entries if actor == "console"}
    assert "auth.login" not in as_console and "invite.created" in as_console
    assert all(
        re.fullmatch(r"(user|relay|enrolment):[\w-]+|console|cli|system|anonymous", actor)
        for actor, _, _ in entries
    )


# --------------------------------------------------------------------------- point 10


def test_the_session_cookie_is_host_prefixed_and_api_answers_are_not_cached(site: Site) -> None:
    key, cookie = site.user("hector", "viewer", [])
    signed_in = site.login(key)
    set_cookie = signed_in.headers["set-cookie"]
    assert set_cookie.startswith(f"{COOKIE}=")
    attributes = {a.strip().split("=")[0].lower() for a in set_cookie.split(";")[1:]}
    assert {"secure", "httponly", "path", "samesite"} <= attributes and "domain" not in attributes
    assert site.call(cookie, "GET", "/api/auth/me").status_code == 200
    site.http.cookies.clear()
    plain = site.http.get("/api/auth/me", headers={"cookie": f"tether_session={cookie}"})
    assert plain.status_code == 401  # only the prefixed name counts on https

    for response in (
        site.call(cookie, "GET", "/api/auth/me"),
        site.http.get("/api/nothing-here"),
        signed_in,
    ):
        assert response.headers["cache-control"] == "no-store", response.request.url
    page = site.http.get("/")
    assert "no-store" not in page.headers.get("cache-control", "")
    for response in (page, signed_in):
        policy = [p.strip() for p in response.headers["permissions-policy"].split(",")]
        assert "microphone=(self)" in policy and {"camera=()", "geolocation=()", "usb=()"} <= set(
            policy
        )
        assert [p for p in policy if not p.endswith("=()")] == ["microphone=(self)"]


def test_a_bearer_token_with_a_foreign_origin_is_refused(site: Site) -> None:
    """docs/security.md: bearer clients send no Origin, and one that does must send the public
    origin; a page elsewhere holding the console token cannot use it from a browser."""
    foreign = {"origin": "https://evil.example"}
    assert site.console("GET", "/api/sessions", headers=foreign).status_code == 403
    invite = {"role": "owner", "grants": []}
    assert site.console("POST", "/api/invites", json=invite, headers=foreign).status_code == 403
    assert site.console("GET", "/api/sessions").status_code == 200
    assert site.console("GET", "/api/sessions", headers={"origin": ORIGIN}).status_code == 200
