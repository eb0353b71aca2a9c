"""Passkey registration and sign-in end to end at the API, with a software authenticator."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from litestar.testing import AsyncTestClient

from server.domain.core import Core
from server.domain.identity.service import CHALLENGE_TTL_S
from tests.fakes.authenticator import FLAG_UP, SoftAuthenticator
from tests.server.identity_app import COOKIE, ORIGIN, as_user, owner, register, running_app

Scenario = Callable[[AsyncTestClient[Any], Core], Awaitable[None]]


def run(tmp: Path, scenario: Scenario) -> None:
    async def main() -> None:
        async with running_app(tmp) as (client, core):
            await scenario(client, core)

    asyncio.run(main())


async def login_options(client: AsyncTestClient[Any]) -> dict[str, Any]:
    response = await client.post("/api/auth/login/options", json={})
    assert response.status_code == 200, response.text
    options: dict[str, Any] = response.json()
    assert options["userVerification"] == "required"
    assert options["rpId"] == "tether.example"
    return options


async def login(client: AsyncTestClient[Any], credential: dict[str, Any]) -> Any:
    response = await client.post("/api/auth/login/verify", json={"credential": credential})
    client.cookies.clear()
    return response


def refused(response: Any, words: str) -> None:
    assert response.status_code == 401, response.text
    error = response.json()["error"]
    assert error["code"] == "unauthorized"
    assert words in error["message"], error["message"]


def audit_actions(tmp: Path) -> list[str]:
    with sqlite3.connect(tmp / "tether.sqlite3") as db:
        return [row[0] for row in db.execute("SELECT action FROM audit_log ORDER BY id")]


def test_setup_link_registers_the_owner_who_then_signs_in(tmp_path: Path) -> None:
    async def scenario(client: AsyncTestClient[Any], core: Core) -> None:
        key, cookie = await owner(client, core)
        me = await client.get("/api/auth/me", headers=as_user(cookie))
        assert me.json()["role"] == "owner" and me.json()["name"] == "olivia"
        assert await core.identity.setup_link() is None  # there is a user now

        response = await login(client, key.login(await login_options(client)))
        assert response.status_code == 200, response.text
        assert response.json()["name"] == "olivia"
        set_cookie = response.headers["set-cookie"].lower()
        for attribute in ("httponly", "secure", "samesite=strict", "path=/"):
            assert attribute in set_cookie
        assert len(response.cookies[COOKIE]) >= 43  # 256 bits, base64url

    run(tmp_path, scenario)
    assert {"auth.setup_completed", "auth.login"} <= set(audit_actions(tmp_path))
    with sqlite3.connect(tmp_path / "tether.sqlite3") as db:  # only hashes are stored
        stored = [row[0] for row in db.execute("SELECT token_hash FROM browser_sessions")]
    assert all(len(h) == 64 for h in stored)


def test_setup_link_is_single_use_and_a_newer_one_replaces_it(tmp_path: Path) -> None:
    async def scenario(client: AsyncTestClient[Any], core: Core) -> None:
        first = await core.identity.setup_link()
        second = await core.identity.setup_link()
        assert first and second and first != second
        stale = await client.post(
            "/api/auth/register/options", json={"token": first.split("#")[1], "user_name": "x"}
        )
        refused(stale, "used, revoked or expired")
        token = second.split("#")[1]
        await register(client, token, "olivia")
        again = await client.post(
            "/api/auth/register/options", json={"token": token, "user_name": "mallory"}
        )
        refused(again, "used, revoked or expired")

    run(tmp_path, scenario)


def test_an_invite_creates_a_user_with_its_role_once(tmp_path: Path) -> None:
    async def scenario(client: AsyncTestClient[Any], core: Core) -> None:
        _, cookie = await owner(client, core)
        created = await client.post(
            "/api/invites",
            json={"role": "viewer", "grants": [{"relay_id": "r1", "workspace": "web"}]},
            headers=as_user(cookie),
        )
        assert created.status_code == 201, created.text
        link = created.json()["link"]
        assert link.startswith(f"{ORIGIN}/invite#")
        shown = await client.post("/api/auth/link", json={"token": link.split("#")[1]})
        assert shown.status_code == 200, shown.text
        assert shown.json()["kind"] == "invite" and shown.json()["role"] == "viewer"
        assert shown.json()["grants"] == [{"relay_id": "r1", "workspace": "web"}]
        assert shown.json()["relay_names"] == {}  # no relay r1 registered
        _, vera = await register(client, link.split("#")[1], "vera")
        refused(await client.post("/api/auth/link", json={"token": link.split("#")[1]}), "used")
        me = (await client.get("/api/auth/me", headers=as_user(vera))).json()
        assert me["role"] == "viewer"
        assert me["grants"] == [{"relay_id": "r1", "workspace": "web"}]
        reused = await client.post(
            "/api/auth/register/options", json={"token": link.split("#")[1], "user_name": "eve"}
        )
        refused(reused, "used, revoked or expired")

    run(tmp_path, scenario)
    assert {"invite.created", "invite.accepted"} <= set(audit_actions(tmp_path))


def test_a_user_lists_renames_and_revokes_passkeys(tmp_path: Path) -> None:
    async def scenario(client: AsyncTestClient[Any], core: Core) -> None:
        _, cookie = await owner(client, core)
        headers = as_user(cookie)
        options = await client.post("/api/auth/register/options", json={}, headers=headers)
        assert options.status_code == 200, options.text
        laptop = SoftAuthenticator(ORIGIN)
        added = await client.post(
            "/api/auth/register/verify",
            json={"credential": laptop.register(options.json()), "passkey_name": "laptop"},
            headers=headers,
        )
        assert added.status_code == 200, added.text
        listed = (await client.get("/api/auth/passkeys", headers=headers)).json()["passkeys"]
        assert [p["name"] for p in listed] == ["phone", "laptop"]
        renamed = await client.patch(
            f"/api/auth/passkeys/{listed[1]['id']}", json={"name": "work laptop"}, headers=headers
        )
        assert [p["name"] for p in renamed.json()["passkeys"]] == ["phone", "work laptop"]
        gone = await client.delete(f"/api/auth/passkeys/{listed[1]['id']}", headers=headers)
        assert gone.status_code == 204
        last = await client.delete(f"/api/auth/passkeys/{listed[0]['id']}", headers=headers)
        assert last.status_code == 400 and "only passkey" in last.json()["error"]["message"]

    run(tmp_path, scenario)
    assert {"passkey.added", "passkey.renamed", "passkey.revoked"} <= set(audit_actions(tmp_path))


def test_wrong_origin_is_refused(tmp_path: Path) -> None:
    async def scenario(client: AsyncTestClient[Any], core: Core) -> None:
        key, _ = await owner(client, core)
        forged = key.login(await login_options(client), origin="https://evil.example")
        refused(await login(client, forged), "origin")

    run(tmp_path, scenario)


def test_wrong_rp_id_is_refused(tmp_path: Path) -> None:
    async def scenario(client: AsyncTestClient[Any], core: Core) -> None:
        key, _ = await owner(client, core)
        forged = key.login(await login_options(client), rp_id="evil.example")
        refused(await login(client, forged), "RP ID")

    run(tmp_path, scenario)


def test_registration_for_another_rp_or_origin_is_refused(tmp_path: Path) -> None:
    async def scenario(client: AsyncTestClient[Any], core: Core) -> None:
        token = (await core.identity.setup_link() or "").split("#")[1]
        for forge in ({"origin": "https://evil.example"}, {"rp_id": "evil.example"}):
            options = await client.post(
                "/api/auth/register/options", json={"token": token, "user_name": "olivia"}
            )
            credential = SoftAuthenticator(ORIGIN).register(options.json(), **forge)
            response = await client.post(
                "/api/auth/register/verify", json={"credential": credential}
            )
            refused(response, "registration refused")

    run(tmp_path, scenario)


def test_missing_user_verification_is_refused(tmp_path: Path) -> None:
    async def scenario(client: AsyncTestClient[Any], core: Core) -> None:
        key, _ = await owner(client, core)
        forged = key.login(await login_options(client), flags=FLAG_UP)
        refused(await login(client, forged), "verif")

    run(tmp_path, scenario)


def test_replayed_challenge_is_refused(tmp_path: Path) -> None:
    async def scenario(client: AsyncTestClient[Any], core: Core) -> None:
        key, _ = await owner(client, core)
        credential = key.login(await login_options(client))
        assert (await login(client, credential)).status_code == 200
        refused(await login(client, credential), "already answered")

    run(tmp_path, scenario)


def test_expired_challenge_is_refused(tmp_path: Path) -> None:
    async def scenario(client: AsyncTestClient[Any], core: Core) -> None:
        key, _ = await owner(client, core)
        credential = key.login(await login_options(client))
        real_clock = core.identity.clock
        core.identity.clock = lambda: real_clock() + CHALLENGE_TTL_S + 1
        refused(await login(client, credential), "expired")

    run(tmp_path, scenario)


def test_unknown_credential_is_refused(tmp_path: Path) -> None:
    async def scenario(client: AsyncTestClient[Any], core: Core) -> None:
        await owner(client, core)
        stranger = SoftAuthenticator(ORIGIN)
        refused(await login(client, stranger.login(await login_options(client))), "not registered")

    run(tmp_path, scenario)


def test_revoked_passkey_is_refused(tmp_path: Path) -> None:
    async def scenario(client: AsyncTestClient[Any], core: Core) -> None:
        phone, cookie = await owner(client, core)
        headers = as_user(cookie)
        options = await client.post("/api/auth/register/options", json={}, headers=headers)
        laptop = SoftAuthenticator(ORIGIN)
        await client.post(
            "/api/auth/register/verify",
            json={"credential": laptop.register(options.json())},
            headers=headers,
        )
        listed = (await client.get("/api/auth/passkeys", headers=headers)).json()["passkeys"]
        await client.delete(f"/api/auth/passkeys/{listed[0]['id']}", headers=headers)  # phone
        refused(await login(client, phone.login(await login_options(client))), "revoked")
        assert (await login(client, laptop.login(await login_options(client)))).status_code == 200

    run(tmp_path, scenario)


def test_signature_counter_regression_is_refused_flagged_and_audited(tmp_path: Path) -> None:
    async def scenario(client: AsyncTestClient[Any], core: Core) -> None:
        key, cookie = await owner(client, core)
        user_id = (await client.get("/api/auth/me", headers=as_user(cookie))).json()["user_id"]
        for _ in range(3):
            assert (await login(client, key.login(await login_options(client)))).status_code == 200
        cloned = key.login(await login_options(client), sign_count=2)  # behind the stored 3
        refused(await login(client, cloned), "counter went backwards")
        (passkey,) = await core.identity.store.passkeys(user_id)
        assert passkey.flagged_at is not None
        # the sessions it signed in end too: the copy may be the one that signed in first
        assert (await client.get("/api/auth/me", headers=as_user(cookie))).status_code == 401

    run(tmp_path, scenario)
    assert "auth.passkey_counter_regressed" in audit_actions(tmp_path)


def test_logout_ends_the_session(tmp_path: Path) -> None:
    async def scenario(client: AsyncTestClient[Any], core: Core) -> None:
        _, cookie = await owner(client, core)
        headers = as_user(cookie)
        assert (await client.post("/api/auth/logout", headers=headers)).status_code == 204
        after = await client.get("/api/auth/me", headers=headers)
        assert after.status_code == 401

    run(tmp_path, scenario)
    assert "auth.logout" in audit_actions(tmp_path)


def test_sessions_time_out_when_idle_and_absolutely(tmp_path: Path) -> None:
    async def scenario(client: AsyncTestClient[Any], core: Core) -> None:
        key, cookie = await owner(client, core)
        real_clock = core.identity.clock
        timeouts = core.identity.config.timeouts
        core.identity.clock = lambda: real_clock() + timeouts.idle_s + 1
        assert (await client.get("/api/auth/me", headers=as_user(cookie))).status_code == 401
        core.identity.clock = real_clock
        response = await login(client, key.login(await login_options(client)))
        fresh = response.cookies[COOKIE]
        start = real_clock()
        step = timeouts.idle_s / 2
        elapsed = 0.0
        while elapsed + step < timeouts.absolute_s:  # used often, but only until the cap
            elapsed += step
            core.identity.clock = lambda e=elapsed: start + e
            assert (await client.get("/api/auth/me", headers=as_user(fresh))).status_code == 200
        core.identity.clock = lambda: start + timeouts.absolute_s + 1
        assert (await client.get("/api/auth/me", headers=as_user(fresh))).status_code == 401

    run(tmp_path, scenario)


def test_sign_in_attempts_are_rate_limited(tmp_path: Path) -> None:
    async def main() -> None:
        async with running_app(tmp_path, auth_attempts_per_minute=3) as (client, _):
            codes = [
                (await client.post("/api/auth/login/options", json={})).status_code
                for _ in range(4)
            ]
            assert codes == [200, 200, 200, 429]

    asyncio.run(main())


def test_cross_site_sign_in_is_refused(tmp_path: Path) -> None:
    async def scenario(client: AsyncTestClient[Any], core: Core) -> None:
        for headers in ({"origin": "https://evil.example"}, {"sec-fetch-site": "cross-site"}):
            response = await client.post("/api/auth/login/options", json={}, headers=headers)
            assert response.status_code == 403, headers

    run(tmp_path, scenario)


def test_every_response_carries_the_security_headers(tmp_path: Path) -> None:
    async def scenario(client: AsyncTestClient[Any], core: Core) -> None:
        for method, path in (
            ("GET", "/api/health"),
            ("GET", "/api/sessions"),  # 401
            ("GET", "/api/nothing-here"),  # 404
            ("POST", "/api/auth/login/options"),
        ):
            response = await client.request(method, path, json={} if method == "POST" else None)
            csp = response.headers["content-security-policy"]
            for directive in (
                "default-src 'self'",
                "object-src 'none'",
                "base-uri 'none'",
                "frame-ancestors 'none'",
            ):
                assert directive in csp, (path, csp)
            assert "unsafe-inline" not in csp
            assert response.headers["x-content-type-options"] == "nosniff"
            assert response.headers["referrer-policy"] == "no-referrer"
            assert response.headers["strict-transport-security"].startswith("max-age=")

    run(tmp_path, scenario)
