"""What `tether attach` prints for agent events, the `tether sessions` table, and how the
session, relay and workspace the user means are chosen (pure functions, no processes)."""

from __future__ import annotations

from typing import cast

import pytest

from attach import selection
from attach.cli import _start
from attach.errors import ChoiceError
from attach.event_text import EventText, clean, ended_line
from attach.server_api import (
    RelayInfo,
    ServerApi,
    SessionInfo,
    normalize_url,
    viewer_socket_url,
)
from attach.sessions_table import ago, render
from protocol import messages as m


@pytest.mark.parametrize(
    ("hostile", "shown"),
    [
        ("\x1b]0;new title\x07after", "after"),  # window title (OSC, BEL-terminated)
        ("\x1b]52;c;ZXZpbA==\x1b\\after", "after"),  # clipboard write (OSC 52, ST-terminated)
        ("\x1b[2J\x1b[Hclear", "clear"),  # clear screen, cursor home
        ("\x1b[8mhidden\x1b[0m", "hidden"),  # concealed text is shown
        ("\x9b31mred", "red"),  # 8-bit CSI
        ("bell\x07", "bell\\x07"),
        ("over\rwrite", "over\\x0dwrite"),  # a lone CR could overwrite the line
        ("\x1b]0;unterminated", "0;unterminated"),  # no terminator: the text stays visible
        ("abc\u202edcba", "abc\\u202edcba"),  # bidi override
        ("tab\tand\r\nnewline", "tab\tand\nnewline"),
        ("ünïcödé ✓", "ünïcödé ✓"),
    ],
)
def test_clean_defuses_escape_sequences_and_control_characters(hostile: str, shown: str) -> None:
    assert clean(hostile) == shown


def test_streamed_text_is_not_repeated_by_the_finished_message() -> None:
    text = EventText()
    shown = "".join(
        text.render(event)
        for event in [
            m.TextDelta(text="Hel", message_id="a"),
            m.TextDelta(text="lo", message_id="a"),
            m.Message(text="Hello", message_id="a"),
            m.Message(text="Next", message_id="b"),
        ]
    )
    assert shown == "Hello\nNext\n"


def test_event_lines_name_what_happened() -> None:
    text = EventText()
    assert text.render(m.Command(command="ls", exit_code=2, output="x")) == "$ ls\nx\n[exit 2]\n"
    assert text.render(m.Status(state="running")) == ""
    assert text.render(m.Status(state="waiting_for_approval")) == "[status: waiting for approval]\n"
    assert "— /approve, /always, /deny [reason]]" in text.render(
        m.ApprovalRequested(approval_id="1", tool="Bash", summary="rm -rf build", risk="high")
    )
    assert ended_line(m.SessionEnded(exit_code=3)) == "[session ended: exit 3]"
    assert (
        ended_line(m.SessionEnded(reason="relay_restarted")) == "[session ended: relay_restarted]"
    )


def test_ago_uses_the_largest_whole_unit() -> None:
    assert [ago(1000 - d, 1000) for d in (0, 30, 200, 7300, 200000)] == [
        "just now",
        "30s ago",
        "3m ago",
        "2h ago",
        "2d ago",
    ]


def test_sessions_table_is_newest_first_with_titles_cleaned_and_cut() -> None:
    sessions = [
        SessionInfo(id="old", status="ended", agent="pty", workspace="w", last_activity_at=0),
        SessionInfo(
            id="new", status="running", agent="claude", workspace="w",
            title="\x1b[31mfix\x1b[0m the " + "x" * 60, last_activity_at=990,
        ),
    ]  # fmt: skip
    lines = render(sessions, now=1000).splitlines()
    assert lines[0].split()[:2] == ["ID", "STATUS"]
    assert lines[1].startswith("new  running  claude  w          fix the xxx")
    assert lines[1].endswith("…  10s ago")
    assert lines[2].startswith("old  ended") and "-" in lines[2]
    assert render([]) == "no sessions\n"


def test_relay_choice_is_the_only_online_one_or_a_clear_error() -> None:
    home = RelayInfo(
        id="aa11", name="home", online=True, workspaces=[m.Workspace(name="w", path="/")]
    )
    work = RelayInfo(id="bb22", name="work", online=False)
    assert selection.relay([home, work], None) is home
    assert selection.relay([home, work], "aa") is home
    with pytest.raises(ChoiceError, match=r"relay work \(bb22\) is offline"):
        selection.relay([home, work], "work")
    work.online = True
    with pytest.raises(ChoiceError, match=r"several relays are online.*home \(aa11\).*work"):
        selection.relay([home, work], None)
    with pytest.raises(ChoiceError, match="no relay is online"):
        selection.relay([], None)
    assert selection.workspace(home, None) == "w"


def test_session_prefix_must_be_unique() -> None:
    sessions = [SessionInfo(id="abc1"), SessionInfo(id="abc2"), SessionInfo(id="abd3")]
    assert selection.session(sessions, "abd").id == "abd3"
    with pytest.raises(ChoiceError, match="matches 2 sessions: abc1, abc2"):
        selection.session(sessions, "abc")


def test_server_url_forms_map_to_http_and_the_viewer_socket() -> None:
    assert normalize_url("localhost:8765/") == "http://localhost:8765"
    assert viewer_socket_url(normalize_url("https://tether.example/t")) == (
        "wss://tether.example/t/ws/client"
    )
    assert viewer_socket_url(normalize_url("ws://127.0.0.1:1")) == "ws://127.0.0.1:1/ws/client"


class _StartRecorder:
    """The two calls `tether attach --new` makes of the server, recorded."""

    def __init__(self) -> None:
        self.started: list[tuple[object, ...]] = []

    def relays(self) -> list[RelayInfo]:
        work = m.Workspace(name="work", path="/")
        return [RelayInfo(id="r1", name="box", online=True, workspaces=[work])]

    def start_session(self, *args: object) -> SessionInfo:
        self.started.append(args)
        return SessionInfo(id="s1", agent=str(args[2]))


@pytest.mark.parametrize(
    ("agent", "command", "prompt"),
    [("pty", ["make", "watch"], ""), ("claude", [], "make watch")],
)
def test_new_session_words_are_the_command_of_a_pty_and_the_prompt_of_an_agent(
    agent: str, command: list[str], prompt: str
) -> None:
    api = _StartRecorder()
    started = _start(cast(ServerApi, api), None, None, agent, ["make", "watch"])
    assert started.agent == agent
    assert [args[:5] for args in api.started] == [("r1", "work", agent, command, prompt)]
