"""protocol/redaction.py: every credential shape Tether has is cut from a log line; the rest of
the line, and ordinary text, are kept."""

from __future__ import annotations

import logging
import secrets
import sys

import pytest

from protocol.redaction import REDACTED, RedactingFormatter, redact

SECRET = secrets.token_urlsafe(32)


@pytest.mark.parametrize(
    ("line", "kept"),
    [
        (f"< Authorization: Bearer tr_{SECRET}", "< Authorization: "),
        (f"> cookie: tether_session={SECRET}; theme=dark", "> cookie: "),
        (f"set-cookie: __Host-tether_session={SECRET}; Path=/", "set-cookie: "),
        (f"headers [(b'authorization', b'Bearer tc_{SECRET}')]", "headers"),
        (f"opened http://localhost:8765/setup#ti_{SECRET}", "/setup#ti_"),
        (f"poll handle te_{SECRET} unknown", "poll handle te_"),
        (f"session {SECRET} ended", "session "),
        (f"challenge ('{secrets.token_urlsafe(64)}', 'register')", "'register'"),
        ("POST /api/relays/enrolments/ABCDEFGH/approve 500", "/approve 500"),
        ("the code ABCD-EFGH expired", "the code "),
        ("connected to https://me:hunter2@tether.example/ws/relay", "tether.example/ws/relay"),
    ],
)
def test_a_credential_shape_is_redacted(line: str, kept: str) -> None:
    redacted = redact(line)
    assert REDACTED in redacted
    assert kept in redacted
    for secret in (SECRET, "ABCDEFGH", "ABCD-EFGH", "hunter2"):
        assert secret not in redacted


@pytest.mark.parametrize(
    "line",
    [
        "session 3f9c2a1b0d4e5f60 started pty in work (pid 4242)",
        "relay box connected from 127.0.0.1; 12 events acked up to relay_seq 9001",
        "the local relay exited with 2; restarting in about 4 s",
        "GET /api/sessions/abc/events?after=10&limit=1000",
    ],
)
def test_ordinary_lines_are_kept(line: str) -> None:
    assert redact(line) == line


def test_the_formatter_redacts_arguments_and_tracebacks() -> None:
    try:
        raise ValueError(f"refused token tr_{SECRET}")
    except ValueError:
        record = logging.LogRecord(
            "t", logging.ERROR, __file__, 1, "bad bearer %s", (f"Bearer {SECRET}",), None
        )
        record.exc_info = sys.exc_info()
    text = RedactingFormatter("%(message)s").format(record)
    assert "Traceback" in text
    assert SECRET not in text
