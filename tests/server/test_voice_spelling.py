"""Transcripts respelled with the session's names (server/domain/voice/spelling.py): what
tiny.en was heard writing for them in bench/voice.py, and what must be left alone."""

from __future__ import annotations

import pytest

from server.domain.voice.hotwords import hot_words
from server.domain.voice.spelling import respell

NAMES = hot_words(
    workspace="tether",
    repo="tether",
    agents=["claude", "codex"],
    files=["outbox.py", "tether_relay.py", "events_store.py", "ARCHITECTURE.md", "bootstrap"],
).names


@pytest.mark.parametrize(
    ("heard", "written"),
    [
        ("Open upbox.py, and fix the test.", "Open outbox.py, and fix the test."),
        ("Rename the function in event store.py.", "Rename the function in events_store.py."),
        ("Move it out of tether relay dot py.", "Move it out of tether_relay.py."),
        ("The bug is in event store not py.", "The bug is in events_store.py."),
        ("Read narcitecture.md and summarise it.", "Read ARCHITECTURE.md and summarise it."),
        ("Ask code x to review it.", "Ask Codex to review it."),
        ("What does the out box keep?", "What does the outbox keep?"),
        ("Check the boot strap script.", "Check the bootstrap script."),
    ],
)
def test_names_heard_as_other_words_are_written_as_the_session_writes_them(
    heard: str, written: str
) -> None:
    assert respell(heard, NAMES) == written


@pytest.mark.parametrize(
    "text",
    [
        "Fix the failing test in main.py.",  # no session file sounds like it
        "Open outbox.ts and fix it.",  # another extension: another file
        "Show me the diff, not the log.",  # "not" before no extension
        "Codex, not py.",  # a dot with no name before it
        "Ask the code to run.",  # one ordinary word is never replaced
        "Run it in the box now.",
        "",
        "dot py",
    ],
)
def test_other_words_are_left_alone(text: str) -> None:
    assert respell(text, NAMES) == text


def test_without_names_nothing_changes() -> None:
    assert respell("open upbox.py", ()) == "open upbox.py"


def test_the_closest_name_wins_and_earlier_words_are_kept() -> None:
    names = ["relay.py", "tether_relay.py"]
    assert respell("fix tether relay.py now", names) == "fix tether_relay.py now"
    assert respell("fix the relay.py now", names) == "fix the relay.py now"
