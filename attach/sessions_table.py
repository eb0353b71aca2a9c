"""`tether sessions`: the sessions as a plain-text table, most recently active first."""

from __future__ import annotations

import time

from attach.event_text import clean
from attach.server_api import SessionInfo

MAX_TITLE_CHARS = 40
HEADER = ("ID", "STATUS", "AGENT", "WORKSPACE", "TITLE", "LAST ACTIVITY")


def ago(then: float, now: float) -> str:
    """`then` relative to `now`, as `45s ago`, `3m ago`, `2h ago`, `5d ago`."""
    seconds = int(now - then)
    if seconds < 5:
        return "just now"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


def _cell(text: str, limit: int = 0) -> str:
    text = " ".join(clean(text).split())  # one line, no control characters
    if limit and len(text) > limit:
        return text[: limit - 1] + "…"
    return text or "-"


def render(sessions: list[SessionInfo], now: float | None = None) -> str:
    if not sessions:
        return "no sessions\n"
    now = time.time() if now is None else now
    rows = [HEADER] + [
        (
            s.id,
            _cell(str(s.status)),
            _cell(s.agent),
            _cell(s.workspace),
            _cell(s.title, MAX_TITLE_CHARS),
            ago(s.last_activity_at, now),
        )
        for s in sorted(sessions, key=lambda s: s.last_activity_at, reverse=True)
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    return "\n".join(lines) + "\n"
