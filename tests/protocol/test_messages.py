"""The wire contract: schema freshness, round trips, code ranges."""

from __future__ import annotations

import typing

import msgspec
import pytest

from protocol import codes
from protocol import messages as m
from protocol.schema import SCHEMA_PATH, render


def test_committed_json_schema_matches_the_structs() -> None:
    assert SCHEMA_PATH.read_text() == render(), "stale: run python -m protocol.schema"


def _members(union: object) -> list[type[msgspec.Struct]]:
    return list(typing.get_args(union))


def test_every_event_kind_of_the_design_is_declared() -> None:
    kinds = {t.__struct_config__.tag for t in _members(m.Event)}
    # plus `native`: an agent message Tether does not map, kept in `raw` (docs/protocol.md),
    # and `events_lost`: logged by the server, never by an agent
    assert kinds - {"native", "events_lost"} == {
        "session_started",
        "session_ended",
        "user_prompt",
        "text_delta",
        "message",
        "thinking",
        "tool_started",
        "tool_finished",
        "file_changed",
        "command",
        "approval_requested",
        "approval_resolved",
        "usage",
        "terminal_output",
        "status",
        "error",
    }


def test_every_direction_has_hello_and_unique_tags() -> None:
    for union in (m.RelayMessage, m.ServerToRelay, m.ClientMessage, m.ServerToClient):
        tags = [t.__struct_config__.tag for t in _members(union)]
        assert "hello" in tags
        assert len(tags) == len(set(tags))


@pytest.mark.parametrize(
    "message",
    [
        m.Events(
            events=[
                m.RelayEvent(
                    session_id="s",
                    relay_seq=1,
                    ts=1.5,
                    event=m.TerminalOutput(data=b"\x00\xff\x1b[2J"),
                )
            ]
        ),
        m.Subscribe(session_id="s", since=m.Since(epoch="e", seq=3)),
        m.StartSession(workspace="w", relay_id="r", command=["sh"], cols=100, rows=30),
        m.SessionEvents(
            session_id="s",
            epoch="e",
            events=[
                m.LoggedEvent(
                    seq=1,
                    ts=2.0,
                    event=m.ApprovalRequested(
                        approval_id="a", tool="Bash", input={"command": "ls"}
                    ),
                ),
            ],
        ),
    ],
)
def test_messages_round_trip(message: msgspec.Struct) -> None:
    union = {
        m.Events: m.RelayMessage,
        m.Subscribe: m.ClientMessage,
        m.StartSession: m.ClientMessage,
        m.SessionEvents: m.ServerToClient,
    }[type(message)]
    assert msgspec.json.decode(msgspec.json.encode(message), type=union) == message


def test_close_code_ranges_say_reconnect_or_stop() -> None:
    for code in codes.CloseCode:
        expect_reconnect = code < 4500
        assert codes.should_reconnect(code) is expect_reconnect, code.name
    assert codes.should_reconnect(None) and codes.should_reconnect(1006)
    assert not codes.should_reconnect(1009)
