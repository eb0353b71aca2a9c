"""`tether attach` on an agent session: lines are prompts, slash commands answer approvals.

The pure part (what a line means, which approval is pending) is tested directly; the rest runs
`tether attach` on a real PTY, or from a pipe, against a scripted viewer socket that plays the
agent's events and records what the client sends."""

from __future__ import annotations

import subprocess
import termios
from typing import cast

import pytest

from attach.agent_input import Approvals, Detach, Say, Send, interpret
from protocol import messages as m
from protocol.codes import ErrorCode
from tests.attach.scripted_server import ScriptedServer, Viewer
from tests.attach.terminal_client import AttachedTerminal
from tests.harness import ROOT, tether_argv, wait_until

SESSION = "a9e7" + "0" * 20
ALL = ["approve", "approve_for_session", "deny"]


def asked(approval_id: str, tool: str = "Bash", options: list[str] | None = None) -> m.Event:
    return m.ApprovalRequested(approval_id=approval_id, tool=tool, options=options or ALL)


def sent(line: str, approvals: Approvals, request_id: str = "r1") -> m.ClientMessage:
    reply = interpret(line, SESSION, request_id, approvals)
    assert isinstance(reply, Send), reply
    return reply.message


def test_lines_are_prompts_and_a_double_slash_sends_a_slash() -> None:
    approvals = Approvals()
    assert sent("fix the tests", approvals) == m.SendInput(
        session_id=SESSION, data="fix the tests", request_id="r1"
    )
    assert sent("//compact", approvals) == m.SendInput(
        session_id=SESSION, data="/compact", request_id="r1"
    )
    assert interpret("   ", SESSION, "r1", approvals) is None
    assert sent("/interrupt", approvals) == m.Interrupt(session_id=SESSION, request_id="r1")
    assert sent("/stop", approvals) == m.StopSession(session_id=SESSION, request_id="r1")
    assert interpret("/detach", SESSION, "r1", approvals) == Detach()
    help_text = interpret("/help", SESSION, "r1", approvals)
    assert isinstance(help_text, Say) and "/always" in help_text.text
    assert interpret("/frobnicate", SESSION, "r1", approvals) == Say(
        "unknown command /frobnicate (/help lists them; //text sends /text as a prompt)"
    )


def test_answers_go_to_the_oldest_pending_approval_replayed_history_included() -> None:
    approvals = Approvals()
    assert interpret("/approve", SESSION, "r1", approvals) == Say("no approval is pending")
    for event in [
        asked("a1"),
        asked("a2"),
        m.ApprovalResolved(approval_id="a1", decision="approved", by="phone"),
        asked("a3", options=["approve", "deny"]),
    ]:
        approvals.see(event)
    answer = sent("/deny not that file", approvals, "r1")
    assert answer == m.ResolveApproval(
        session_id=SESSION,
        approval_id="a2",
        decision="deny",
        message="not that file",
        request_id="r1",
    )
    assert interpret("/always", SESSION, "r2", approvals) == Say(
        "this approval does not offer approve for session (approve, deny)"
    )
    answer = sent("/yes", approvals, "r3")
    assert isinstance(answer, m.ResolveApproval)
    assert (answer.approval_id, answer.decision, answer.message) == ("a3", "approve", "")


@pytest.mark.parametrize(
    ("code", "pending_after"), [(ErrorCode.UNKNOWN_APPROVAL, None), ("not_connected", "a1")]
)
def test_a_refused_answer_is_retried_unless_the_approval_is_gone(
    code: str, pending_after: str | None
) -> None:
    approvals = Approvals()
    approvals.see(asked("a1"))
    sent("/no", approvals, "r1")
    assert approvals.oldest() is None  # a second answer would go to the next approval
    approvals.refused("r1", code)
    oldest = approvals.oldest()
    assert (oldest.approval_id if oldest else None) == pending_after


def test_terminal_stays_cooked_lines_drive_the_agent_and_ctrl_bracket_detaches() -> None:
    received: list[m.ClientMessage] = []

    async def agent(viewer: Viewer) -> None:
        await viewer.subscribed("e1", recovered=False, last_seq=5)
        await viewer.log(
            "e1",
            1,
            [
                m.SessionStarted(agent="claude", workspace="work"),
                asked("a1"),
                m.ApprovalResolved(approval_id="a1", decision="approved", by="phone"),
                m.ApprovalRequested(
                    approval_id="a2", tool="Write", summary="hello.txt", options=ALL
                ),
                m.Native(type="system", raw={"secret": "native-only"}),
            ],
        )
        for _ in range(2):  # a prompt, then /deny for a2
            received.append(await viewer.command())
        await viewer.send(
            m.Result(
                request_id=getattr(received[-1], "request_id", ""),
                ok=False,
                session_id=SESSION,
                code=ErrorCode.UNKNOWN_APPROVAL,
                message="no pending approval a2",
            )
        )
        await viewer.log(
            "e1",
            6,
            [
                m.ApprovalResolved(approval_id="a2", decision="approved", by="tablet"),
                m.ApprovalRequested(
                    approval_id="a3", tool="Bash", summary="make test", options=["approve", "deny"]
                ),
            ],
        )
        for _ in range(2):  # /approve for a3, /interrupt
            received.append(await viewer.command())

    with ScriptedServer(SESSION, [agent], agent="claude") as server:
        terminal = AttachedTerminal(SESSION, "--server", server.url)
        try:
            terminal.expect(r"\(claude\): type a prompt, /help for commands")
            terminal.expect(
                r"\[approval requested \(medium risk\) for Write: hello.txt"
                r" — /approve, /always, /deny \[reason\]\]"
            )
            local_flags = cast(int, terminal.mode()[3])
            assert local_flags & termios.ICANON and local_flags & termios.ECHO  # cooked, not raw
            terminal.type(b"fix the bug\r")
            terminal.type(b"/deny too risky\r")
            terminal.expect(r"refused: no pending approval a2 \(unknown_approval\)")
            terminal.expect(r"for Bash: make test — /approve, /deny \[reason\]\]")
            terminal.type(b"/always\r")
            terminal.expect("does not offer approve for session")
            terminal.type(b"/approve\r/interrupt\r")
            wait_until(lambda: len(received) == 4, 10, "the answer and the interrupt")
            terminal.type(b"\x1d")  # Ctrl-], without Enter
            assert terminal.wait() == 0
            assert "detached" in terminal.output
            assert "native-only" not in terminal.output
            assert terminal.mode() == terminal.saved_mode
        finally:
            terminal.close()
    assert received == [
        m.SendInput(session_id=SESSION, data="fix the bug", request_id="attach-line-1"),
        m.ResolveApproval(
            session_id=SESSION,
            approval_id="a2",
            decision="deny",
            message="too risky",
            request_id="attach-line-2",
        ),
        m.ResolveApproval(
            session_id=SESSION, approval_id="a3", decision="approve", request_id="attach-line-4"
        ),
        m.Interrupt(session_id=SESSION, request_id="attach-line-5"),
    ]


def test_prompts_from_a_pipe_are_sent_line_by_line_and_following_goes_on() -> None:
    received: list[m.ClientMessage] = []

    async def agent(viewer: Viewer) -> None:
        await viewer.subscribed("e1", recovered=False, last_seq=1)
        await viewer.log("e1", 1, [m.SessionStarted(agent="codex", workspace="work")])
        for _ in range(2):
            received.append(await viewer.command())
        await viewer.log(
            "e1", 2, [m.Message(text="done \x1b]0;title\x07"), m.SessionEnded(exit_code=0)]
        )

    with ScriptedServer(SESSION, [agent], agent="codex") as server:
        result = subprocess.run(
            tether_argv("attach", SESSION, "--server", server.url),
            input="explain the code\n\n//compact\n",
            capture_output=True, text=True, cwd=ROOT, timeout=60,
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert [getattr(c, "data", None) for c in received] == ["explain the code", "/compact"]
    assert result.stdout.endswith("done \n[session ended: exit 0]\n")
