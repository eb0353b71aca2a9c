"""Replaying agent transcripts without a relay: a recording EventSink and golden-file checks."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from protocol import messages as m


class RecordingSink:
    def __init__(self, on_event: Callable[[m.Event], None] | None = None) -> None:
        self.events: list[m.Event] = []
        self.tokens: list[str] = []  # conversation ids passed to resumable()
        self._on_event = on_event

    def emit(self, event: m.Event) -> None:
        self.events.append(event)
        if self._on_event is not None:
            self._on_event(event)

    @property
    def full(self) -> bool:
        return False

    def resumable(self, token: str) -> None:
        self.tokens.append(token)


def event_dicts(events: list[m.Event]) -> list[dict[str, Any]]:
    """Events as JSON, without `raw` (checked separately: native events must keep theirs)."""
    out = []
    for event in events:
        body = msgspec.to_builtins(event)
        body.pop("raw", None)
        out.append(body)
    return out


def compare_golden(got: list[dict[str, Any]], path: Path) -> None:
    """`got` must equal the golden events in `path`; GOLDEN_UPDATE=1 rewrites the file instead."""
    if os.environ.get("GOLDEN_UPDATE"):
        path.write_text(json.dumps(got, indent=1, ensure_ascii=False) + "\n")
    assert got == json.loads(path.read_text())
