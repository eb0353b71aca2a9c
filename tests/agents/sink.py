"""An EventSink that records what an adapter emits, for replaying transcripts without a relay."""

from __future__ import annotations

from collections.abc import Callable

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
