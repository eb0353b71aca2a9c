"""What a line typed at an agent session means: a prompt, or a slash command.

    hello there          -> send_input "hello there" (one prompt, one turn)
    //compact            -> send_input "/compact" (a prompt that starts with a slash)
    /approve, /yes       -> resolve_approval approve              } the oldest approval
    /always              -> resolve_approval approve_for_session  } still pending
    /deny [reason], /no  -> resolve_approval deny, the reason goes to the agent
    /interrupt, /stop    -> interrupt (the turn), stop_session (the agent)
    /help, /detach       -> handled by the terminal client itself

Which approvals are pending is learnt from the event stream (replayed history included):
`approval_requested` adds one, `approval_resolved` removes it. An answer sent takes its approval
off the list at once, so a second `/approve` goes to the next one; if the server refuses the
answer for a reason other than "not pending any more", the approval is put back.
"""

from __future__ import annotations

from dataclasses import dataclass

from protocol import messages as m
from protocol.codes import ErrorCode

HELP = """commands (anything else is sent to the agent as a prompt):
  /approve, /yes      approve the oldest pending approval
  /always             approve it, and the same again for the rest of the session
  /deny [reason], /no deny it; the reason is shown to the agent
  /interrupt          stop the agent's current turn (the session stays)
  /stop               end the session
  /detach             leave the session running and exit (also Ctrl-D, Ctrl-])
  //text              send "/text" as a prompt"""

_DECISIONS: dict[str, m.Decision] = {
    "/approve": "approve",
    "/yes": "approve",
    "/always": "approve_for_session",
    "/deny": "deny",
    "/no": "deny",
}


@dataclass(frozen=True)
class Send:
    """Send this command to the server."""

    message: m.ClientMessage


@dataclass(frozen=True)
class Say:
    """Tell the user this; nothing is sent."""

    text: str


@dataclass(frozen=True)
class Detach:
    pass


Reply = Send | Say | Detach


class Approvals:
    """The session's approvals still waiting for an answer, oldest first."""

    def __init__(self) -> None:
        self._pending: dict[str, m.ApprovalRequested] = {}  # in the order they were asked
        self._answering: dict[str, m.ApprovalRequested] = {}  # by the answer's request_id

    def see(self, event: m.Event) -> None:
        if isinstance(event, m.ApprovalRequested):
            self._pending[event.approval_id] = event
        elif isinstance(event, m.ApprovalResolved):
            self._pending.pop(event.approval_id, None)
            for request_id, asked in list(self._answering.items()):
                if asked.approval_id == event.approval_id:
                    del self._answering[request_id]
        elif isinstance(event, m.SessionEnded):
            self._pending.clear()

    def oldest(self) -> m.ApprovalRequested | None:
        return next(iter(self._pending.values()), None)

    def answering(self, request_id: str, approval: m.ApprovalRequested) -> None:
        """An answer to `approval` went out with `request_id`."""
        self._pending.pop(approval.approval_id, None)
        self._answering[request_id] = approval

    def refused(self, request_id: str, code: str) -> None:
        """The server refused the command `request_id`; an answer it refused may be retried."""
        approval = self._answering.pop(request_id, None)
        if approval is not None and code != ErrorCode.UNKNOWN_APPROVAL:
            self._pending = {approval.approval_id: approval, **self._pending}


def interpret(line: str, session_id: str, request_id: str, approvals: Approvals) -> Reply | None:
    """What `line` (without its newline) asks for; None for a blank line."""
    if not line.strip():
        return None
    if line.startswith("//") or not line.startswith("/"):
        prompt = line[1:] if line.startswith("//") else line
        return Send(m.SendInput(session_id=session_id, data=prompt, request_id=request_id))
    word, _, rest = line.strip().partition(" ")
    word = word.lower()
    if word in _DECISIONS:
        return _answer(_DECISIONS[word], rest.strip(), session_id, request_id, approvals)
    if word == "/interrupt":
        return Send(m.Interrupt(session_id=session_id, request_id=request_id))
    if word == "/stop":
        return Send(m.StopSession(session_id=session_id, request_id=request_id))
    if word == "/detach":
        return Detach()
    if word == "/help":
        return Say(HELP)
    return Say(f"unknown command {word} (/help lists them; //text sends /text as a prompt)")


def _answer(
    decision: m.Decision, reason: str, session_id: str, request_id: str, approvals: Approvals
) -> Reply:
    approval = approvals.oldest()
    if approval is None:
        return Say("no approval is pending")
    if approval.options and decision not in approval.options:
        offered = ", ".join(approval.options)
        return Say(f"this approval does not offer {decision.replace('_', ' ')} ({offered})")
    approvals.answering(request_id, approval)
    return Send(
        m.ResolveApproval(
            session_id=session_id,
            approval_id=approval.approval_id,
            decision=decision,
            message=reason if decision == "deny" else "",
            request_id=request_id,
        )
    )
