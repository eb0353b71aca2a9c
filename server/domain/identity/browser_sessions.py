"""Browser sessions: when one is still good, and the sockets to close when it ends.

A session dies at the first of: revocation (logout, an admin, the user's account disabled), the
idle timeout (no request for `idle_s`) or the absolute timeout (`absolute_s` after login). An
open WebSocket counts as activity until the absolute timeout, which the socket checks itself on
every message (Principal.expires_at).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable

from server.domain.identity.records import BrowserSessionRecord

log = logging.getLogger(__name__)

TOUCH_INTERVAL_S = 60.0  # last_seen_at is written at most this often per session


@dataclasses.dataclass(frozen=True)
class Timeouts:
    idle_s: float
    absolute_s: float

    def alive(self, session: BrowserSessionRecord, now: float) -> bool:
        return (
            session.revoked_at is None
            and now - session.last_seen_at < self.idle_s
            and now - session.created_at < self.absolute_s
        )

    def expires_at(self, session: BrowserSessionRecord) -> float:
        return session.created_at + self.absolute_s


class OpenSockets:
    """The WebSockets opened with each browser session, so ending the session closes them."""

    def __init__(self) -> None:
        self._by_session: dict[str, dict[int, Callable[[], None]]] = {}
        self._user_of: dict[str, str] = {}

    def add(self, user_id: str, session_id: str, close: Callable[[], None]) -> Callable[[], None]:
        """Remember `close` for that session; returns the function that forgets it again."""
        closers = self._by_session.setdefault(session_id, {})
        key = id(close)
        closers[key] = close
        self._user_of[session_id] = user_id

        def forget() -> None:
            held = self._by_session.get(session_id)
            if held is not None:
                held.pop(key, None)
                if not held:
                    del self._by_session[session_id]
                    self._user_of.pop(session_id, None)

        return forget

    def close_session(self, session_id: str) -> int:
        closers = self._by_session.pop(session_id, {})
        self._user_of.pop(session_id, None)
        for close in closers.values():
            close()
        return len(closers)

    def close_user(self, user_id: str) -> int:
        sessions = [s for s, u in self._user_of.items() if u == user_id]
        return sum(self.close_session(s) for s in sessions)

    def count(self, session_id: str) -> int:
        return len(self._by_session.get(session_id, {}))
