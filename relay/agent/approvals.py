"""Pending approvals of one session: asked by the agent, answered by a viewer (never timed out).

`ask()` emits `approval_requested` and keeps the translator's `answer` callback, which writes the
agent's native reply; `resolve()` calls it once and emits `approval_resolved`. While any approval
is pending the session's status is `waiting_for_approval`. Nothing here waits or does I/O.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any, Literal

from protocol.codes import ErrorCode
from protocol.messages import ApprovalRequested, ApprovalResolved, Decision, Event, Status
from relay.errors import CommandError

Answer = Callable[[Decision, str], None]
Cancel = Callable[[], None]
ALL_DECISIONS: tuple[Decision, ...] = ("approve", "approve_for_session", "deny")
RESOLVED: dict[Decision, Literal["approved", "approved_for_session", "denied"]] = {
    "approve": "approved",
    "approve_for_session": "approved_for_session",
    "deny": "denied",
}


@dataclasses.dataclass(frozen=True)
class _Pending:
    options: tuple[Decision, ...]
    answer: Answer
    cancel: Cancel | None


class Approvals:
    def __init__(self, emit: Callable[[Event], None]) -> None:
        self._emit = emit
        self._pending: dict[str, _Pending] = {}

    def ask(
        self,
        approval_id: str,
        *,
        tool: str,
        answer: Answer,
        summary: str = "",
        input: Any = None,
        options: Sequence[Decision] = ALL_DECISIONS,
        cancel: Cancel | None = None,
        raw: Any = None,
    ) -> None:
        """Announce a request; `answer(decision, message)` writes the native reply later.
        `cancel()` answers natively when the turn is interrupted (default: a denial)."""
        self._pending[approval_id] = _Pending(tuple(options), answer, cancel)
        self._emit(
            ApprovalRequested(
                approval_id=approval_id,
                tool=tool,
                summary=summary,
                input=input,
                options=list(options),
                raw=raw,
            )
        )
        self._emit(Status(state="waiting_for_approval", detail=summary or tool))

    def resolve(self, approval_id: str, decision: Decision, message: str, by: str) -> None:
        pending = self._pending.get(approval_id)
        if pending is None:
            raise CommandError(ErrorCode.UNKNOWN_APPROVAL, f"no pending approval {approval_id}")
        if decision not in pending.options:
            offered = ", ".join(pending.options)
            raise CommandError(ErrorCode.BAD_REQUEST, f"{decision} is not offered ({offered})")
        del self._pending[approval_id]
        pending.answer(decision, message)
        self._emit(
            ApprovalResolved(
                approval_id=approval_id, decision=RESOLVED[decision], by=by, message=message
            )
        )
        self._after_answer()

    def cancel_all(self, reason: str) -> None:
        """The turn was interrupted: answer every pending request natively as cancelled."""
        pending, self._pending = self._pending, {}
        for approval_id, entry in pending.items():
            if entry.cancel is not None:
                entry.cancel()
            else:
                entry.answer("deny", reason)
            self._emit(
                ApprovalResolved(approval_id=approval_id, decision="cancelled", message=reason)
            )
        if pending:
            self._after_answer()

    def withdraw(self, approval_id: str, reason: str) -> None:
        """The agent stopped waiting for this request by itself: no native answer is sent."""
        if self._pending.pop(approval_id, None) is None:
            return
        self._emit(ApprovalResolved(approval_id=approval_id, decision="cancelled", message=reason))
        self._after_answer()

    def pending(self) -> list[str]:
        return list(self._pending)

    def _after_answer(self) -> None:
        if not self._pending:
            self._emit(Status(state="running"))
