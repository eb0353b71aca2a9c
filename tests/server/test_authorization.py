"""Every route and every viewer-socket message is authorized; every socket checks Origin.

A real server on loopback, its owner set up from the printed link with a software passkey,
then an admin, an operator and a viewer (granted workspace "work" of relay "a"), and a viewer
of another workspace, each invited by link. ROUTES and MESSAGES classify every route of the app
and every ClientMessage type: a new one fails this test until it is classified.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from litestar.routes import HTTPRoute, WebSocketRoute
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from protocol import messages as m
from protocol.codes import CloseCode, ErrorCode
from protocol.version import PROTOCOL_VERSION
from server.app import create_app
from server.settings import Settings
from tests.fakes.authenticator import SoftAuthenticator
from tests.fakes.scripted_relay import publish
from tests.harness import ServerProcess, close_code, wait_until

# Who may call each route: public (anyone), viewer / operator / admin (that role or higher, 401
# without credentials, 403 below it). Sessions are further checked against workspace grants.
ROUTES: dict[str, str] = {
    "GET /api/health": "public",
    "POST /api/auth/login/options": "public",
    "POST /api/auth/login/verify": "public",
    "POST /api/auth/link": "public",  # what a setup or invite link grants (400 without one)
    "POST /api/auth/register/options": "viewer",  # or anyone with a setup or invite link
    "POST /api/auth/register/verify": "public",  # needs the challenge of the above
    "POST /api/auth/logout": "viewer",
    "GET /api/auth/me": "viewer",
    "GET /api/auth/passkeys": "viewer",
    "PATCH /api/auth/passkeys/{passkey_id:str}": "viewer",
    "DELETE /api/auth/passkeys/{passkey_id:str}": "viewer",
    # its owner from another passkey, or an admin; the domain checks which (test_boundaries.py)
    "POST /api/auth/passkeys/{passkey_id:str}/reapprove": "viewer",
    "GET /api/auth/sessions": "viewer",
    "DELETE /api/auth/sessions/{session_id:str}": "viewer",
    "POST /api/auth/terminal-logins": "public",  # `tether login` asks; its user approves
    "POST /api/auth/terminal-logins/poll": "public",  # the terminal polls with its secret
    "POST /api/auth/terminal-logins/{code:str}/options": "viewer",  # browser sessions only
    "POST /api/auth/terminal-logins/{code:str}/approve": "viewer",  # and a fresh passkey
    "GET /api/users": "admin",
    "PATCH /api/users/{user_id:str}": "admin",
    "DELETE /api/users/{user_id:str}": "admin",
    "GET /api/invites": "admin",
    "POST /api/invites": "admin",
    "DELETE /api/invites/{invite_id:str}": "admin",
    "GET /api/sessions": "viewer",
    "POST /api/sessions": "operator",
    "GET /api/sessions/{session_id:str}": "viewer",
    "GET /api/sessions/{session_id:str}/events": "viewer",
    "POST /api/sessions/{session_id:str}/approvals/{approval_id:str}": "operator",
    "GET /api/relays": "viewer",
    "POST /api/relays/enrolments": "public",  # a relay asks to enrol; an admin approves
    "POST /api/relays/enrolments/poll": "public",  # the relay polls with its secret
    "GET /api/relays/enrolments": "admin",
    "POST /api/relays/enrolments/{code:str}/approve": "admin",
    "POST /api/relays/enrolments/{code:str}/deny": "admin",
    "DELETE /api/relays/{relay_id:str}": "admin",
    # The web app (server/http/pwa.py): its shell and static files hold no data.
    "GET /": "public",
    "GET /sessions/{session_id:str}": "public",
    "GET /sessions/{session_id:str}/terminal": "public",
    "GET /approvals": "public",
    "GET /approvals/{session_id:str}/{approval_id:str}": "public",
    "GET /new": "public",
    "GET /admin": "public",
    "GET /settings": "public",
    "GET /login": "public",
    "GET /setup": "public",
    "GET /invite": "public",
    "GET /assets/{name:path}": "public",
    "GET /icons/{name:path}": "public",
    "GET /sw.js": "public",
    "GET /manifest.webmanifest": "public",
    "GET /robots.txt": "public",
    "GET /api/voice": "operator",
    "POST /api/voice/transcriptions": "operator",  # a JSON body: 400 bad_request past the guard
    "WS /ws/client": "viewer-socket",  # every message checked: MESSAGES
    "WS /ws/relay": "relay",  # relay token; other relays' sessions: test_bad_input.py
}
SCHEMA_PREFIX = "/api/schema"  # the OpenAPI document and its viewers: public, read only

# The role each viewer-socket message needs on its session's workspace.
MESSAGES: dict[str, str] = {
    "hello": "handshake",
    "subscribe": "viewer",
    "unsubscribe": "viewer",
    "start_session": "operator",
    "send_input": "operator",
    "resize": "operator",
    "interrupt": "operator",
    "stop_session": "operator",
    "resolve_approval": "operator",
}
RANK = {"viewer": 1, "operator": 2, "admin": 3, "owner": 4}
_encoder = msgspec.json.Encoder()
HELLO = _encoder.encode(m.Hello(protocol_version=PROTOCOL_VERSION, software_version="t")).decode()


def app_routes() -> list[str]:
    app = create_app(Settings(data_dir=Path("/nonexistent")))
    found = []
    for route in app.routes:
        if isinstance(route, WebSocketRoute):
            found.append(f"WS {route.path}")
        elif isinstance(route, HTTPRoute) and not route.path.startswith(SCHEMA_PREFIX):
            found += [f"{method} {route.path}" for method in route.methods - {"OPTIONS", "HEAD"}]
    return sorted(found)


class World:
    """The running server and one signed-in browser session per kind of user."""

    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        self.origin = f"http://localhost:{server.port}"
        self.http = httpx.Client(base_url=server.url, headers={"origin": self.origin}, timeout=10)
        self.cookies: dict[str, str] = {}
        self.relay_ids: dict[str, str] = {}
        self.session_id = "authz-session-000000000001"

    def call(self, who: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"cookie": f"tether_session={self.cookies[who]}"} if who != "nobody" else {}
        self.http.cookies.clear()
        return self.http.request(method, path, headers=headers, **kwargs)

    def sign_up(self, token: str, name: str) -> str:
        options = self.http.post(
            "/api/auth/register/options", json={"token": token, "user_name": name}
        )
        assert options.status_code == 200, options.text
        key = SoftAuthenticator(self.origin)
        done = self.http.post(
            "/api/auth/register/verify", json={"credential": key.register(options.json())}
        )
        assert done.status_code == 200, done.text
        cookie = done.cookies["tether_session"]
        self.http.cookies.clear()
        return cookie

    def invite(self, role: str, grants: list[dict[str, str]]) -> str:
        created = self.call("owner", "POST", "/api/invites", json={"role": role, "grants": grants})
        assert created.status_code == 201, created.text
        link: str = created.json()["link"]
        return link.split("#", 1)[1]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    server = ServerProcess(Path(tmp_path_factory.mktemp("authz")))
    tokens = {name: server.create_relay_token(name) for name in ("a", "b")}
    server.start()
    w = World(server)
    try:
        # The owner, as a new user would: the link `tether serve` printed.
        wait_until(lambda: "/setup#" in server.log(), 10, "the setup link")
        link = re.search(r"http://localhost:\d+/setup#(\S+)", server.log())
        assert link, server.log()
        w.cookies["owner"] = w.sign_up(link.group(1), "olivia")
        w.relay_ids = {r["name"]: r["id"] for r in server.get("/api/relays")["relays"]}
        work = [{"relay_id": w.relay_ids["a"], "workspace": "work"}]
        other = [{"relay_id": w.relay_ids["b"], "workspace": "other"}]
        w.cookies["admin"] = w.sign_up(w.invite("admin", []), "adam")
        w.cookies["operator"] = w.sign_up(w.invite("operator", work), "opal")
        w.cookies["viewer"] = w.sign_up(w.invite("viewer", work), "vera")
        w.cookies["outsider"] = w.sign_up(w.invite("viewer", other), "otto")
        publish(
            server.url,
            tokens["a"],
            w.session_id,
            [m.SessionStarted(agent="pty", workspace="work")],
        )
        yield w
    finally:
        w.http.close()
        server.stop()


def _fill(world: World, path: str) -> str:
    return (
        path.replace("{session_id:str}", world.session_id)
        .replace("{relay_id:str}", "no-such-relay")
        .replace(":str}", "}")
        .replace("{passkey_id}", "no-such-passkey")
        .replace("{user_id}", "no-such-user")
        .replace("{invite_id}", "no-such-invite")
        .replace("{code}", "NOSUCH")
        .replace("{approval_id}", "no-such-approval")
    )


def _body(world: World, method: str, path: str) -> dict[str, Any] | None:
    if method not in ("POST", "PATCH"):
        return None
    if path == "/api/sessions":
        return {"relay_id": world.relay_ids["a"], "workspace": "work", "command": ["true"]}
    if path.startswith("/api/users/"):
        return {"role": "viewer"}
    if "/approvals/" in path:
        return {"decision": "deny"}
    if path == "/api/invites":
        return {"role": "viewer", "grants": []}
    if path.startswith("/api/auth/passkeys/"):
        return {"name": "x"}
    return {}


def test_every_route_is_classified() -> None:
    unclassified = [r for r in app_routes() if r not in ROUTES]
    assert not unclassified, f"classify these routes in ROUTES: {unclassified}"
    stale = [r for r in ROUTES if r not in app_routes()]
    assert not stale, f"ROUTES lists routes the app no longer has: {stale}"


def test_every_client_message_is_classified() -> None:
    tags = {t.__struct_config__.tag for t in typing.get_args(m.ClientMessage)}
    unclassified = tags - set(MESSAGES)
    assert not unclassified, f"classify these messages in MESSAGES: {unclassified}"


@pytest.mark.parametrize("route", sorted(r for r in ROUTES if not r.startswith("WS ")))
def test_route_refuses_the_anonymous_and_the_lesser_roles(world: World, route: str) -> None:
    method, path = route.split(" ", 1)
    needed = ROUTES[route]
    url, body = _fill(world, path), _body(world, method, path)
    anonymous = world.call("nobody", method, url, json=body)
    if needed == "public":
        assert anonymous.status_code not in (401, 403), anonymous.text
        return
    assert anonymous.status_code == 401, anonymous.text
    assert anonymous.json()["error"]["code"] == "unauthorized"
    if route == "POST /api/auth/logout":
        return  # would end the shared sessions; signing out is tested on its own below
    for who in ("viewer", "operator", "admin", "owner"):
        response = world.call(who, method, url, json=body)
        if RANK[who] < RANK[needed]:
            assert response.status_code == 403, (who, response.text)
            assert response.json()["error"]["code"] == "forbidden"
        else:
            assert response.status_code not in (401, 403), (who, response.text)


def test_a_viewer_sees_only_sessions_of_granted_workspaces(world: World) -> None:
    listed = world.call("viewer", "GET", "/api/sessions").json()["sessions"]
    assert [s["id"] for s in listed] == [world.session_id]
    assert world.call("outsider", "GET", "/api/sessions").json()["sessions"] == []
    for path in (f"/api/sessions/{world.session_id}", f"/api/sessions/{world.session_id}/events"):
        refused = world.call("outsider", "GET", path)
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    relays = world.call("outsider", "GET", "/api/relays").json()["relays"]
    assert [r["name"] for r in relays] == ["b"]
    start = {"relay_id": world.relay_ids["a"], "workspace": "work", "command": ["true"]}
    assert world.call("outsider", "POST", "/api/sessions", json=start).status_code == 403
    elsewhere = {**start, "workspace": "secret"}
    assert world.call("operator", "POST", "/api/sessions", json=elsewhere).status_code == 403


def test_cookie_state_changes_need_the_public_origin(world: World) -> None:
    body = {"role": "viewer", "grants": []}
    cookie = {"cookie": f"tether_session={world.cookies['owner']}"}
    for headers in ({"origin": "https://evil.example"}, {"origin": "null"}):
        world.http.cookies.clear()
        response = world.http.post("/api/invites", json=body, headers={**cookie, **headers})
        assert response.status_code == 403, headers
    bare = httpx.post(f"{world.server.url}/api/invites", json=body, headers=cookie, timeout=10)
    assert bare.status_code == 403  # neither Origin nor Sec-Fetch-Site: not provably ours


def test_console_token_is_the_owner_from_loopback_only(world: World) -> None:
    auth = world.server.auth_headers()
    me = httpx.get(f"{world.server.url}/api/auth/me", headers=auth, timeout=10)
    assert me.status_code == 200 and me.json()["role"] == "owner"
    forged = httpx.get(
        f"{world.server.url}/api/auth/me", headers={"authorization": "Bearer tc_x"}, timeout=10
    )
    assert forged.status_code == 401


# --------------------------------------------------------------------------- sockets


async def _socket(
    world: World, who: str, origin: str | None, path: str = "/ws/client", hello: bool = True
) -> ClientConnection:
    headers: dict[str, str] = {}
    if who == "console":
        headers = world.server.auth_headers()
    elif who != "nobody":
        headers = {"cookie": f"tether_session={world.cookies[who]}"}
    ws = await connect(
        f"ws://127.0.0.1:{world.server.port}{path}",
        additional_headers=headers,
        origin=origin,  # type: ignore[arg-type]
        open_timeout=10,
    )
    if hello:
        with contextlib.suppress(ConnectionClosed):  # a refused socket may be closed already
            await ws.send(HELLO)
    return ws


def _message(world: World, tag: str) -> m.ClientMessage:
    sid = world.session_id
    relay = world.relay_ids["a"]
    built: dict[str, m.ClientMessage] = {
        "subscribe": m.Subscribe(session_id=sid, request_id="r"),
        "unsubscribe": m.Unsubscribe(session_id=sid, request_id="r"),
        "start_session": m.StartSession(relay_id=relay, workspace="work", request_id="r"),
        "send_input": m.SendInput(session_id=sid, data="x", request_id="r"),
        "resize": m.Resize(session_id=sid, cols=80, rows=24, request_id="r"),
        "interrupt": m.Interrupt(session_id=sid, request_id="r"),
        "stop_session": m.StopSession(session_id=sid, request_id="r"),
        "resolve_approval": m.ResolveApproval(
            session_id=sid, approval_id="a1", decision="deny", request_id="r"
        ),
    }
    return built[tag]


async def _answer(world: World, who: str, message: m.ClientMessage) -> m.Result:
    ws = await _socket(world, who, world.origin if who != "console" else None)
    try:
        await ws.send(_encoder.encode(message).decode())
        decoder = msgspec.json.Decoder(m.ServerToClient)
        while True:
            reply = decoder.decode(await asyncio.wait_for(ws.recv(), 10))
            if isinstance(reply, m.Result):
                return reply
            if isinstance(reply, m.Subscribed):
                return m.Result(request_id="r", ok=True)
    finally:
        await ws.close()


@pytest.mark.parametrize("tag", sorted(t for t in MESSAGES if t != "hello"))
def test_every_socket_message_is_checked_against_role_and_workspace(world: World, tag: str) -> None:
    tags = {t.__struct_config__.tag for t in typing.get_args(m.ClientMessage)}
    assert tag in tags, f"MESSAGES lists {tag!r}, a message the protocol no longer has"
    needed = MESSAGES[tag]
    message = _message(world, tag)

    async def run() -> dict[str, m.Result]:
        return {who: await _answer(world, who, message) for who in RANK if who != "owner"} | {
            "outsider": await _answer(world, "outsider", message)
        }

    answers = asyncio.run(run())
    for who, result in answers.items():
        allowed = who != "outsider" and RANK[who] >= RANK[needed]
        if tag == "unsubscribe":
            allowed = True  # drops only the caller's own subscription
        if allowed:
            assert result.code != ErrorCode.FORBIDDEN, (who, result)
        else:
            assert result.code == ErrorCode.FORBIDDEN, (who, result)


def test_sockets_without_credentials_are_unauthorized(world: World) -> None:
    async def run() -> list[int | None]:
        return [
            await close_code(await _socket(world, "nobody", None)),
            await close_code(await _socket(world, "nobody", world.origin)),
            await close_code(await _socket(world, "nobody", None, "/ws/relay")),
        ]

    assert asyncio.run(run()) == [CloseCode.UNAUTHORIZED] * 3


def test_socket_handshakes_with_a_wrong_or_missing_origin_are_refused(world: World) -> None:
    wrong = ("https://evil.example", "null", f"http://127.0.0.1:{world.server.port}")
    cases: list[tuple[str, str | None, str]] = [("viewer", None, "/ws/client")]
    for origin in wrong:
        for who in ("viewer", "owner", "console", "nobody"):
            cases.append((who, origin, "/ws/client"))
        cases.append(("nobody", origin, "/ws/relay"))

    async def run() -> list[int | None]:
        return [await close_code(await _socket(world, *case)) for case in cases]

    codes = asyncio.run(run())
    assert codes == [CloseCode.FORBIDDEN] * len(cases), list(zip(cases, codes, strict=True))


def test_signing_out_closes_that_sessions_sockets_at_once(world: World) -> None:
    cookie = world.sign_up(world.invite("viewer", []), "sam")
    world.cookies["sam"] = cookie

    async def run() -> int | None:
        ws = await _socket(world, "sam", world.origin)
        await asyncio.wait_for(ws.recv(), 10)  # hello: admitted
        signed_out = await asyncio.to_thread(world.call, "sam", "POST", "/api/auth/logout")
        assert signed_out.status_code == 204
        async with asyncio.timeout(2):
            return await close_code(ws)

    assert asyncio.run(run()) == CloseCode.UNAUTHORIZED
    assert world.call("sam", "GET", "/api/auth/me").status_code == 401
