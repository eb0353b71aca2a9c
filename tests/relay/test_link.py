"""The link against a small protocol-speaking server written for these tests."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from protocol import messages as m
from protocol.codes import CloseCode, ErrorCode
from protocol.version import PROTOCOL_VERSION
from relay.errors import LinkStoppedError
from relay.link import Backoff, Link, LinkState
from relay.outbox import Outbox
from relay.settings import Settings
from relay.supervisor import Supervisor
from tests.fakes.cutting_proxy import CuttingProxy
from tests.harness import wait_until_async
from tests.relay.conftest import SettingsFactory
from tests.relay.fake_server import FakeServer

# How long the relay is watched for a send (or a redial) that must not happen: a relay that
# breaks the rule does so within milliseconds, so this window catches it without slowing the suite
QUIET_WINDOW_S = 0.3


class Relay:
    """An in-process relay: outbox + supervisor + link, as relay/app.py wires them."""

    def __init__(self, settings: Settings) -> None:
        Path(settings.state_dir).mkdir(parents=True, exist_ok=True)
        self.outbox = Outbox.open(Path(settings.state_dir))
        self.supervisor = Supervisor(settings, self.outbox, {"PATH": "/usr/bin:/bin"})
        self.link = Link(settings, self.outbox, self.supervisor, rng=lambda: 1.0)
        self.task: asyncio.Task[None] | None = None

    def emit(self, session_id: str, count: int, size: int = 10) -> None:
        if self.outbox.session_state(session_id) is None:
            self.outbox.open_session(session_id, agent="pty", workspace="work")
        for _ in range(count):
            self.outbox.append(session_id, m.TerminalOutput(data=b"x" * size))


@contextlib.asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[Relay]:
    relay = Relay(settings)
    relay.task = asyncio.create_task(relay.link.run())
    try:
        yield relay
    finally:
        await relay.supervisor.stop_all()
        await relay.link.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(relay.task, 5)
        relay.outbox.close()


def _dial_failed(caplog: pytest.LogCaptureFixture) -> bool:
    return any(
        r.name == "relay.link" and r.getMessage().startswith("connection to ")
        for r in caplog.records
    )


def _run(body: Callable[[], Awaitable[None]], timeout_s: float = 20) -> None:
    async def scenario() -> None:
        async with asyncio.timeout(timeout_s):
            await body()

    asyncio.run(scenario())


def test_hello_then_relay_info_then_events_that_get_acked(make_settings: SettingsFactory) -> None:
    async def body() -> None:
        server = await FakeServer().start()
        async with running(make_settings(server=server.url)) as relay:
            relay.emit("s1", 3)
            await wait_until_async(lambda: relay.outbox.pending_count() == 0, 5, "acks")
            assert server.authorization == ["Bearer test-token"]
            (hello,) = server.hellos
            assert hello.protocol_version == PROTOCOL_VERSION
            assert hello.capabilities == ["pty"]
            (info,) = server.infos
            assert info.hostname == "test-relay"
            assert [(w.name, w.path) for w in info.workspaces] == [
                ("work", relay.supervisor._settings.workspaces[0].path)
            ]
            assert info.agents == ["pty"]
            assert [(e.session_id, e.relay_seq) for e in server.events] == [
                ("s1", n) for n in (1, 2, 3)
            ]
            assert relay.link.state is LinkState.STREAMING
        await server.close()

    _run(body)


def test_unacked_events_are_resent_after_the_connection_drops(
    make_settings: SettingsFactory,
) -> None:
    async def body() -> None:
        server = await FakeServer(auto_ack=False).start()
        async with running(make_settings(server=server.url)) as relay:
            relay.emit("s1", 5)
            await wait_until_async(lambda: len(server.events) == 5, 5, "the first send")
            await server.send(m.Ack(acked={"s1": 2}))
            await wait_until_async(lambda: relay.outbox.pending_count() == 3, 5, "the partial ack")
            server.cut()
            await wait_until_async(
                lambda: server.connections == 2 and len(server.events) == 8, 5, "resend"
            )
            assert [e.relay_seq for e in server.batches[-1]] == [3, 4, 5]  # from the oldest unacked
            assert len(server.infos) == 2
        await server.close()

    _run(body)


def test_at_most_inflight_max_events_wait_for_an_ack(make_settings: SettingsFactory) -> None:
    async def body() -> None:
        server = await FakeServer(auto_ack=False).start()
        settings = make_settings(server=server.url, inflight_max_events=10, batch_max_events=4)
        async with running(settings) as relay:
            relay.emit("s1", 25)
            await wait_until_async(lambda: len(server.events) == 10, 5, "a full window")
            await asyncio.sleep(QUIET_WINDOW_S)  # nothing beyond the window until an ack
            assert len(server.events) == 10
            assert [len(b) for b in server.batches] == [4, 4, 2]
            await server.send(m.Ack(acked={"s1": 6}))
            await wait_until_async(lambda: len(server.events) == 16, 5, "the window to move")
            server.auto_ack = True
            await server.send(m.Ack(acked={"s1": 16}))
            await wait_until_async(lambda: relay.outbox.pending_count() == 0, 5, "everything acked")
            assert [e.relay_seq for e in server.events] == list(range(1, 26))
        await server.close()

    _run(body)


def test_batches_stay_under_the_byte_limit(make_settings: SettingsFactory) -> None:
    async def body() -> None:
        server = await FakeServer().start()
        async with running(make_settings(server=server.url, batch_max_bytes=20_000)) as relay:
            relay.emit("s1", 30, size=4000)
            await wait_until_async(lambda: relay.outbox.pending_count() == 0, 5, "acks")
            assert len(server.batches) > 5
            assert all(len(b) <= 3 for b in server.batches)
        await server.close()

    _run(body)


def test_the_relay_survives_cuts_mid_frame_without_losing_events(
    make_settings: SettingsFactory,
) -> None:
    async def body() -> None:
        server = await FakeServer().start()
        proxy = await CuttingProxy(server.port).start()
        settings = make_settings(server=f"http://127.0.0.1:{proxy.port}", batch_max_events=20)
        async with running(settings) as relay:
            for round_ in range(8):
                await wait_until_async(lambda r=round_: len(server.infos) > r, 5, "a handshake")  # type: ignore[misc]
                proxy.cut_mid_frame()  # the next chunk the relay sends is cut partway
                relay.emit("s1", 50, size=300)
                relay.emit("s2", 20, size=300)
                await wait_until_async(lambda r=round_: proxy.cuts > r, 5, "a cut")  # type: ignore[misc]
            await wait_until_async(
                lambda: relay.outbox.pending_count() == 0, 10, "everything acked"
            )
        unique = server.unique_events()
        assert sorted(k for k in unique if k[0] == "s1") == [("s1", n) for n in range(1, 401)]
        assert sorted(k for k in unique if k[0] == "s2") == [("s2", n) for n in range(1, 161)]
        for batch in server.batches:  # every batch is in order
            for sid in ("s1", "s2"):
                seqs = [e.relay_seq for e in batch if e.session_id == sid]
                assert seqs == sorted(seqs)
        assert server.connections >= 9
        await proxy.close()
        await server.close()

    _run(body, timeout_s=25)


def test_a_restarted_server_gets_what_the_dead_one_did_not_ack(
    make_settings: SettingsFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="relay.link")

    async def body() -> None:
        first = await FakeServer(auto_ack=False).start()
        port = first.port
        async with running(make_settings(server=first.url)) as relay:
            relay.emit("s1", 4)
            await wait_until_async(lambda: len(first.events) == 4, 5, "the first send")
            first.cut()
            await first.close()  # the server is gone: the relay backs off and redials
            relay.emit("s1", 2)
            await wait_until_async(
                lambda: _dial_failed(caplog), 5, "a redial to the dead server to fail"
            )
            second = await FakeServer().start(port)
            await wait_until_async(
                lambda: relay.outbox.pending_count() == 0, 10, "acks from the new server"
            )
            assert [e.relay_seq for e in second.events] == [1, 2, 3, 4, 5, 6]
        await second.close()

    _run(body)


def test_backoff_has_full_jitter_under_a_doubling_cap() -> None:
    backoff = Backoff(0.5, 30.0, rng=lambda: 1.0)
    assert [backoff.next_delay() for _ in range(9)] == [0.5, 1, 2, 4, 8, 16, 30, 30, 30]
    backoff.reset()
    assert backoff.next_delay() == 0.5
    zero = Backoff(0.5, 30.0, rng=lambda: 0.0)
    assert zero.next_delay() == 0.0
    for _ in range(100):
        delay = Backoff(0.5, 30.0, rng=__import__("random").random).next_delay()
        assert 0.0 <= delay <= 0.5


def test_reconnects_are_spaced_by_the_backoff(make_settings: SettingsFactory) -> None:
    async def body() -> None:
        server = await FakeServer(reject_code=CloseCode.GOING_AWAY).start()
        settings = make_settings(server=server.url, backoff_initial_s=0.1, backoff_max_s=0.4)
        async with running(settings):
            await wait_until_async(lambda: server.connections >= 5, 10, "five attempts")
        gaps = [b - a for a, b in zip(server.connect_times, server.connect_times[1:], strict=False)]
        for gap, cap in zip(gaps, [0.1, 0.2, 0.4, 0.4], strict=False):  # rng = 1.0: the cap itself
            assert cap * 0.9 <= gap <= cap + 0.25, (gap, cap)
        await server.close()

    _run(body)


def test_the_same_refusal_again_and_again_grows_the_delay_and_warns_once(
    make_settings: SettingsFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="relay.link")

    async def body() -> None:
        server = await FakeServer().start()
        server.refuse_after_handshake = CloseCode.INTERNAL_ERROR  # after a handshake and an ack
        settings = make_settings(server=server.url, backoff_initial_s=0.05, backoff_max_s=0.4)
        async with running(settings):
            await wait_until_async(lambda: server.connections >= 6, 10, "six attempts")
        gaps = [b - a for a, b in zip(server.connect_times, server.connect_times[1:], strict=False)]
        for gap, cap in zip(gaps, [0.05, 0.1, 0.2, 0.4, 0.4], strict=False):  # rng = 1.0
            assert cap * 0.9 <= gap <= cap + 0.25, (gaps, cap)
        again = [r for r in caplog.records if "again" in r.getMessage()]
        assert [r.levelno for r in again][:3] == [logging.WARNING, logging.DEBUG, logging.DEBUG]
        assert "4002" in again[0].getMessage()
        await server.close()

    _run(body)


def test_the_servers_committed_answer_makes_the_relay_resend_what_it_lost(
    make_settings: SettingsFactory,
) -> None:
    async def body() -> None:
        server = await FakeServer().start()
        async with running(make_settings(server=server.url)) as relay:
            relay.emit("s1", 5)
            await wait_until_async(lambda: relay.outbox.pending_count() == 0, 5, "acks")
            server.committed_override = {"s1": 2}  # as a server restored from a backup
            server.cut()
            await wait_until_async(lambda: len(server.events) == 8, 5, "the resend")
            assert [e.relay_seq for e in server.events[5:]] == [3, 4, 5]
            (mark,) = server.infos[1].sessions
            assert (mark.session_id, mark.first_kept_seq, mark.last_relay_seq) == ("s1", 1, 5)
        await server.close()

    _run(body)


def test_commands_sent_before_committed_run_after_it(make_settings: SettingsFactory) -> None:
    async def body() -> None:
        server = await FakeServer().start()
        server.early_command = m.StartSession(
            session_id="s1", workspace="work", command=["true"], command_id="c1"
        )
        async with running(make_settings(server=server.url)):
            await wait_until_async(lambda: bool(server.results), 5, "the command's result")
            assert server.results[0] == m.CommandResult(command_id="c1", ok=True)
            await wait_until_async(
                lambda: any(isinstance(e.event, m.SessionStarted) for e in server.events),
                5,
                "the session's events",
            )
        await server.close()

    _run(body)


@pytest.mark.parametrize("code", [CloseCode.UNAUTHORIZED, CloseCode.SUPERSEDED, 1008])
def test_a_stop_code_ends_the_link_for_good(make_settings: SettingsFactory, code: int) -> None:
    async def body() -> None:
        server = await FakeServer(reject_code=code).start()
        relay = Relay(make_settings(server=server.url))
        with pytest.raises(LinkStoppedError) as info:
            await asyncio.wait_for(relay.link.run(), 5)
        assert info.value.code == code
        assert relay.link.state is LinkState.STOPPED
        await asyncio.sleep(QUIET_WINDOW_S)  # no redial after a stop code
        assert server.connections == 1
        relay.outbox.close()
        await server.close()

    _run(body)


def test_an_http_401_on_upgrade_ends_the_link(make_settings: SettingsFactory) -> None:
    async def body() -> None:
        from websockets.asyncio.server import serve

        def refuse(ws: ServerConnection, request: Request) -> Response:
            return Response(401, "Unauthorized", Headers(), b"no")

        async def never(ws: ServerConnection) -> None:
            raise AssertionError("the upgrade was refused")

        async with serve(never, "127.0.0.1", 0, process_request=refuse) as server:
            port = server.sockets[0].getsockname()[1]
            relay = Relay(make_settings(server=f"http://127.0.0.1:{port}"))
            with pytest.raises(LinkStoppedError, match="HTTP 401"):
                await asyncio.wait_for(relay.link.run(), 5)
            relay.outbox.close()

    _run(body)


def test_no_hello_from_the_server_means_reconnect(make_settings: SettingsFactory) -> None:
    async def body() -> None:
        server = await FakeServer().start()
        server.send_hello = False
        async with running(make_settings(server=server.url, hello_timeout_s=0.2)):
            await wait_until_async(lambda: server.connections >= 2, 5, "a second attempt")
        await server.close()

    _run(body)


def test_commands_are_answered_with_command_results(make_settings: SettingsFactory) -> None:
    async def body() -> None:
        server = await FakeServer().start()
        async with running(make_settings(server=server.url)) as relay:
            await wait_until_async(lambda: bool(server.infos), 5, "the handshake")
            start = m.StartSession(
                session_id="s1", workspace="work", command=["cat"], command_id="c1"
            )
            assert await server.command(start) == m.CommandResult(command_id="c1", ok=True)
            result = await server.command(
                m.SendInput(session_id="s1", data="hey\n", command_id="c2")
            )
            assert result.ok
            await wait_until_async(
                lambda: (
                    b"hey"
                    in b"".join(
                        e.event.data for e in server.events if isinstance(e.event, m.TerminalOutput)
                    )
                ),
                5,
                "the echo",
            )
            refused = await server.command(
                m.StartSession(session_id="s2", workspace="nope", command_id="c3")
            )
            assert (refused.command_id, refused.ok) == ("c3", False)
            assert refused.code == ErrorCode.WORKSPACE_NOT_ALLOWED
            assert "nope" in refused.message
            unknown = await server.command(m.Interrupt(session_id="zz", command_id="c4"))
            assert unknown.code == ErrorCode.UNKNOWN_SESSION
            stop = await server.command(m.StopSession(session_id="s1", command_id="c5"))
            assert stop.ok
            await wait_until_async(
                lambda: any(isinstance(e.event, m.SessionEnded) for e in server.events),
                5,
                "the end",
            )
            assert relay.supervisor.live_sessions() == []
        await server.close()

    _run(body)


def test_live_sessions_are_announced_after_a_reconnect(make_settings: SettingsFactory) -> None:
    async def body() -> None:
        server = await FakeServer().start()
        async with running(make_settings(server=server.url)):
            await wait_until_async(lambda: bool(server.infos), 5, "the handshake")
            await server.command(m.StartSession(session_id="s1", workspace="work", command=["cat"]))
            server.cut()
            await wait_until_async(lambda: len(server.infos) == 2, 5, "the second handshake")
            assert server.infos[1].live_sessions == ["s1"]
        await server.close()

    _run(body)


def test_undecodable_messages_are_ignored(make_settings: SettingsFactory) -> None:
    async def body() -> None:
        server = await FakeServer().start()
        async with running(make_settings(server=server.url)):
            await wait_until_async(lambda: bool(server.infos), 5, "the handshake")
            await server.send_raw("this is not json")
            await server.send_raw('{"type": "launch_rockets"}')
            await server.send_raw('{"type": "resize", "session_id": "x", "cols": "wide"}')
            result = await server.command(m.Interrupt(session_id="x", command_id="after"))
            assert result.command_id == "after"
            assert server.connections == 1
        await server.close()

    _run(body)


def test_a_session_of_another_relay_is_dropped_and_stopped(make_settings: SettingsFactory) -> None:
    async def body() -> None:
        server = await FakeServer(auto_ack=False).start()
        async with running(make_settings(server=server.url)) as relay:
            await wait_until_async(lambda: bool(server.infos), 5, "the handshake")
            await server.command(m.StartSession(session_id="s1", workspace="work", command=["cat"]))
            await wait_until_async(lambda: len(server.events) >= 2, 5, "the start events")
            await server.send(
                m.RelayError(
                    code=ErrorCode.SESSION_OF_OTHER_RELAY, message="not yours", session_id="s1"
                )
            )
            await wait_until_async(lambda: not relay.supervisor.live_sessions(), 5, "the stop")
            assert relay.outbox.pending_count() == 0
            assert relay.outbox.session_state("s1") == "ended"
        await server.close()

    _run(body)
