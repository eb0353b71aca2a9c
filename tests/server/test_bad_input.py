"""Bad input on both sockets gets a clear close code or error, is logged, and hurts no one else."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
from websockets.asyncio.client import ClientConnection, connect

from protocol import messages as m
from protocol.codes import CloseCode, ErrorCode
from protocol.version import PROTOCOL_VERSION
from tests.harness import ServerProcess, Viewer, close_code

_encoder = msgspec.json.Encoder()
HELLO = _encoder.encode(
    m.Hello(protocol_version=PROTOCOL_VERSION, software_version="test")
).decode()


class Env:
    def __init__(self, server: ServerProcess, tokens: dict[str, str]) -> None:
        self.server = server
        self.tokens = tokens


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    server = ServerProcess(Path(tmp_path_factory.mktemp("bad-input")))
    tokens = {name: server.create_relay_token(name) for name in ("one", "two")}
    server.start()
    try:
        yield Env(server, tokens)
    finally:
        server.stop()


async def _relay(env: Env, name: str = "one", hello: bool = True) -> ClientConnection:
    ws = await connect(
        f"ws://127.0.0.1:{env.server.port}/ws/relay",
        additional_headers={"Authorization": f"Bearer {env.tokens[name]}"},
        max_size=None,
    )
    if hello:
        await ws.send(HELLO)
        assert b"hello" in await asyncio.wait_for(ws.recv(decode=False), 10)
    return ws


async def _viewer_ws(env: Env, hello: bool = True, **kwargs: object) -> ClientConnection:
    ws = await connect(  # type: ignore[misc]
        f"ws://127.0.0.1:{env.server.port}/ws/client",
        max_size=None,
        additional_headers=env.server.auth_headers(),
        **kwargs,  # type: ignore[arg-type]
    )
    if hello:
        await ws.send(HELLO)
        assert b"hello" in await asyncio.wait_for(ws.recv(decode=False), 10)
    return ws


def _events(session_id: str, first: int, count: int) -> str:
    batch = [
        m.RelayEvent(
            session_id=session_id, relay_seq=n, ts=time.time(), event=m.TerminalOutput(data=b"x")
        )
        for n in range(first, first + count)
    ]
    return _encoder.encode(m.Events(events=batch)).decode()


def _still_serving(env: Env) -> None:
    """Another relay and viewer work normally afterwards."""

    async def run() -> None:
        relay = await _relay(env, "two")
        session_id = f"ok-{time.monotonic_ns()}"
        await relay.send(_events(session_id, 1, 3))
        assert msgspec.json.decode(await asyncio.wait_for(relay.recv(), 10), type=m.Ack).acked == {
            session_id: 3
        }
        viewer = await Viewer.open(env.server.url)
        await viewer.subscribe(session_id)
        await viewer.until(lambda: len(viewer.events.get(session_id, [])) == 3)
        await viewer.close()
        await relay.close()

    asyncio.run(run())
    assert env.server.healthy()


BAD_FRAMES = {
    "malformed_json": ("{not json", CloseCode.INVALID_MESSAGE),
    "unknown_type": ('{"type":"launch_missiles"}', CloseCode.INVALID_MESSAGE),
    "wrong_field_type": (
        '{"type":"hello","protocol_version":"one","software_version":"x"}',
        CloseCode.INVALID_MESSAGE,
    ),
    "wrong_protocol_version": (
        '{"type":"hello","protocol_version":99,"software_version":"x"}',
        CloseCode.UNSUPPORTED_PROTOCOL,
    ),
    "not_hello_first": ('{"type":"relay_info"}', CloseCode.INVALID_MESSAGE),
    "oversized": ("x" * (m.MAX_FRAME_BYTES + 1), CloseCode.MESSAGE_TOO_BIG),
}


@pytest.mark.parametrize("case", sorted(BAD_FRAMES))
def test_bad_first_frame_on_relay_socket_is_closed_with_a_clear_code(env: Env, case: str) -> None:
    frame, code = BAD_FRAMES[case]

    async def run() -> int | None:
        ws = await _relay(env, hello=False)
        await ws.send(frame)
        return await close_code(ws)

    assert asyncio.run(run()) == code
    _still_serving(env)


@pytest.mark.parametrize("case", sorted(BAD_FRAMES))
def test_bad_first_frame_on_viewer_socket_is_closed_with_a_clear_code(env: Env, case: str) -> None:
    frame, code = BAD_FRAMES[case]
    if case == "not_hello_first":
        frame = '{"type":"unsubscribe","session_id":"x"}'

    async def run() -> int | None:
        ws = await _viewer_ws(env, hello=False)
        await ws.send(frame)
        return await close_code(ws)

    assert asyncio.run(run()) == code
    _still_serving(env)


@pytest.mark.parametrize("case", ["malformed_json", "unknown_type", "oversized"])
def test_bad_frame_after_hello_closes_only_that_socket(env: Env, case: str) -> None:
    frame, code = BAD_FRAMES[case]

    async def run() -> tuple[int | None, int | None]:
        relay = await _relay(env)
        await relay.send(frame)
        viewer = await _viewer_ws(env)
        await viewer.send(frame)
        return await close_code(relay), await close_code(viewer)

    assert asyncio.run(run()) == (code, code)
    _still_serving(env)
    assert f"closing {int(code)}" in env.server.log()


def test_relay_without_or_with_a_wrong_token_is_unauthorized(env: Env) -> None:
    async def run() -> list[int | None]:
        codes = []
        for headers in ({}, {"Authorization": "Bearer tr_forged"}, {"Authorization": "Basic x"}):
            ws = await connect(
                f"ws://127.0.0.1:{env.server.port}/ws/relay", additional_headers=headers
            )
            codes.append(await close_code(ws))
        return codes

    assert asyncio.run(run()) == [CloseCode.UNAUTHORIZED] * 3
    assert "relay connection from 127.0.0.1 refused" in env.server.log()
    _still_serving(env)


def test_events_for_another_relays_session_are_refused_and_not_stored(env: Env) -> None:
    session_id = f"owned-by-one-{time.monotonic_ns()}"

    async def run() -> m.RelayError:
        one = await _relay(env, "one")
        await one.send(_events(session_id, 1, 2))
        await asyncio.wait_for(one.recv(), 10)  # ack
        two = await _relay(env, "two")
        await two.send(_events(session_id, 3, 5))
        reply = msgspec.json.decode(await asyncio.wait_for(two.recv(), 10), type=m.ServerToRelay)
        assert isinstance(reply, m.RelayError)
        await one.close()
        await two.close()
        return reply

    reply = asyncio.run(run())
    assert reply.code == ErrorCode.SESSION_OF_OTHER_RELAY and reply.session_id == session_id
    assert env.server.get(f"/api/sessions/{session_id}")["last_seq"] == 2
    _still_serving(env)


def test_viewer_commands_for_missing_sessions_get_errors_and_the_socket_stays_open(
    env: Env,
) -> None:
    async def run() -> list[m.Result | m.ClientError]:
        viewer = await Viewer.open(env.server.url)
        await viewer.send(m.SendInput(session_id="nope", data="ls\n", request_id="r1"))
        await viewer.send(m.Resize(session_id="nope", cols=80, rows=24))
        await viewer.send(m.Subscribe(session_id="nope", request_id="r2"))
        await viewer.send(m.StartSession(relay_id="nope", workspace="w", request_id="r3"))
        await viewer.until(lambda: len(viewer.results) == 4)
        await viewer.close()
        return viewer.results

    results = asyncio.run(run())
    codes = sorted((getattr(r, "request_id", ""), r.code) for r in results)
    assert codes == [
        ("", ErrorCode.UNKNOWN_SESSION),
        ("r1", ErrorCode.UNKNOWN_SESSION),
        ("r2", ErrorCode.UNKNOWN_SESSION),
        ("r3", ErrorCode.UNKNOWN_RELAY),
    ]
    assert all(r.message for r in results)


def test_command_for_a_session_whose_relay_is_offline_is_refused(env: Env) -> None:
    session_id = f"orphan-{time.monotonic_ns()}"

    async def run() -> m.Result:
        relay = await _relay(env, "one")
        await relay.send(_events(session_id, 1, 1))
        await asyncio.wait_for(relay.recv(), 10)
        await relay.close()
        viewer = await Viewer.open(env.server.url)
        await viewer.send(m.SendInput(session_id=session_id, data="x", request_id="r"))
        await viewer.until(lambda: len(viewer.results) == 1)
        await viewer.close()
        result = viewer.results[0]
        assert isinstance(result, m.Result)
        return result

    result = asyncio.run(run())
    assert not result.ok and result.code == ErrorCode.RELAY_OFFLINE


def test_viewer_socket_with_a_foreign_origin_is_forbidden(env: Env) -> None:
    async def run() -> int | None:
        ws = await _viewer_ws(env, hello=False, origin="https://evil.example")
        return await close_code(ws)

    assert asyncio.run(run()) == CloseCode.FORBIDDEN


def test_rest_errors_have_one_shape(env: Env) -> None:
    import json
    import urllib.error
    import urllib.request

    for path, status, code in [
        ("/api/sessions/nope", 404, "unknown_session"),
        ("/api/sessions/nope/events", 404, "unknown_session"),
        ("/api/sessions/x/events?limit=0", 400, "bad_request"),
        ("/api/sessions/x/events?after=-1", 400, "bad_request"),
        ("/api/nothing-here", 404, "not_found"),
    ]:
        with pytest.raises(urllib.error.HTTPError) as caught:
            request = urllib.request.Request(
                env.server.url + path, headers=env.server.auth_headers()
            )
            urllib.request.urlopen(request, timeout=10)
        body = json.loads(caught.value.read())
        assert caught.value.code == status, path
        assert body["error"]["code"] == code, (path, body)
        assert body["error"]["message"]
