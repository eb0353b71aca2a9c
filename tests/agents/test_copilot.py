"""Copilot CLI over ACP: golden transcripts through the adapter, and the real `copilot --acp`
through a real server and relay against the scripted Responses API (tests/fakes/responses_api.py).

Golden transcripts in tests/golden/copilot/ were captured from copilot 1.0.102 with
`python -m tests.agents.acp_agents copilot`. Refresh the expected events with `GOLDEN_UPDATE=1`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from protocol import messages as m
from relay.agent.config import AgentConfig
from tests.agents.acp_agents import COPILOT_MODEL, copilot_config
from tests.agents.golden import check
from tests.agents.relay_stack import agent_stack, approval, command, hello_written, kind
from tests.fakes import responses_script as oa
from tests.fakes.responses_api import ResponsesApi
from tests.harness import Stack, running

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "copilot"
CONFIG = AgentConfig(name="copilot", executable="copilot")


def test_golden_usage_comes_from_the_prompt_result(tmp_path: Path) -> None:
    events = check(GOLDEN / "text.jsonl", tmp_path).events
    (usage,) = [e for e in events if isinstance(e, m.Usage)]
    assert (usage.input_tokens, usage.output_tokens, usage.cached_tokens) == (900, 12, 300)
    assert [e.text for e in events if isinstance(e, m.Message)] == ["Hello from Copilot."]


def test_golden_shell_command_has_its_exit_code_and_output(tmp_path: Path) -> None:
    events = check(GOLDEN / "shell.jsonl", tmp_path).events
    (command,) = [e for e in events if isinstance(e, m.Command)]
    assert command.command == "printf hi; exit 3" and command.exit_code == 3
    assert command.output.startswith("hi\n")


def test_golden_edit_for_session_answers_allow_always_with_a_diff(tmp_path: Path) -> None:
    events = check(GOLDEN / "edit_for_session.jsonl", tmp_path).events
    (changed,) = [e for e in events if isinstance(e, m.FileChanged)]
    assert "-TIMEOUT = 10\n+TIMEOUT = 30\n" in changed.diff and "No newline" not in changed.diff
    (resolved,) = [e for e in events if isinstance(e, m.ApprovalResolved)]
    assert resolved.decision == "approved_for_session"


# ---------------------------------------------------------------------- the real CLI


@pytest.fixture
def copilot_stack(
    tmp_path: Path, agent_bin: Callable[[str], Path]
) -> Iterator[tuple[Stack, ResponsesApi]]:
    """A server and a relay offering `copilot`, pointed at a scripted Responses API."""
    with ResponsesApi(models=(COPILOT_MODEL,)) as api:
        home = tmp_path / "copilot-home"
        config = copilot_config(home, api.base_url, str(agent_bin("copilot")))
        with running(agent_stack(tmp_path, config)) as stack:
            yield stack, api


def _write_turn(
    stack: Stack, api: ResponsesApi, decision: m.Decision
) -> tuple[str, list[dict[str, Any]]]:
    target = stack.workspace / "hello.txt"
    call = oa.function_call("create", {"path": str(target), "file_text": "hello\n"})
    api.add(oa.Reply([call]), oa.Reply([oa.text("Created it.")]))
    session_id = stack.start_session(agent="copilot", prompt="please write hello.txt")
    asked = stack.wait_for_event(session_id, kind("approval_requested"), "approval_requested", 90)
    assert not target.exists()
    approval_id = asked["event"]["approval_id"]
    asyncio.run(command(stack, approval(session_id, approval_id, decision)))
    stack.wait_for_event(session_id, kind("status", state="idle"), "the turn to end", 60)
    return session_id, [e["event"] for e in stack.events(session_id)]


def test_copilot_writes_inside_its_workspace_and_cannot_write_outside(
    copilot_stack: tuple[Stack, ResponsesApi],
) -> None:
    """Confinement: an approved shell command writes in the workspace; outside it, nothing."""
    stack, api = copilot_stack
    outside = stack.tmp / "outside.txt"
    write = f"echo in > inside.txt; echo out > {outside}; cat {outside}"
    call = oa.function_call("bash", {"command": write, "description": "write both"})
    api.add(oa.Reply([call]), oa.Reply([oa.text("Tried.")]))
    session_id = stack.start_session(agent="copilot", prompt="write both files")
    asked = stack.wait_for_event(session_id, kind("approval_requested"), "approval_requested", 90)
    asyncio.run(command(stack, approval(session_id, asked["event"]["approval_id"], "approve")))
    stack.wait_for_event(session_id, kind("status", state="idle"), "the turn to end", 60)
    assert (stack.workspace / "inside.txt").read_text() == "in\n"
    assert not outside.exists()


def test_approved_write_creates_the_file_with_a_diff_and_usage(
    copilot_stack: tuple[Stack, ResponsesApi],
) -> None:
    stack, api = copilot_stack
    _, events = _write_turn(stack, api, "approve")
    assert (stack.workspace / "hello.txt").read_text() == "hello\n"
    hello_written(events)
    usage = next(e for e in events if e["kind"] == "usage")
    assert usage["input_tokens"] > 0 and usage["output_tokens"] > 0
    assert any(e["kind"] == "message" and e["text"].endswith("Created it.") for e in events)


def test_denied_write_leaves_no_file_and_copilot_carries_on(
    copilot_stack: tuple[Stack, ResponsesApi],
) -> None:
    stack, api = copilot_stack
    session_id, events = _write_turn(stack, api, "deny")
    assert not (stack.workspace / "hello.txt").exists()
    finished = next(e for e in events if e["kind"] == "tool_finished")
    assert finished["is_error"]
    assert not any(e["kind"] == "file_changed" for e in events)
    # Copilot ends the turn on a rejection; the session takes the next prompt
    idle_before = sum(1 for e in events if e["kind"] == "status" and e["state"] == "idle")
    asyncio.run(command(stack, m.SendInput(session_id=session_id, data="go on", request_id="r2")))
    stack.wait_for_event(session_id, kind("message", text="Created it."), "the next reply", 60)
    events = [e["event"] for e in stack.events(session_id)]
    assert sum(1 for e in events if e["kind"] == "status" and e["state"] == "idle") > idle_before
    sent = api.model_calls[-1].input_texts()  # the refusal went to the model, then the prompt
    assert "The user rejected this tool call." in sent and sent[-1].endswith("go on")
    assert not (stack.workspace / "hello.txt").exists()


def test_relay_restart_loads_the_copilot_session_and_continues_it(
    copilot_stack: tuple[Stack, ResponsesApi],
) -> None:
    stack, api = copilot_stack
    api.add(
        oa.Reply([oa.text("I will remember: pineapple.")]),
        oa.Reply([oa.text("The word was pineapple.")]),
    )
    session_id = stack.start_session(agent="copilot", prompt="remember the word pineapple")
    stack.wait_for_event(session_id, kind("usage"), "the first turn", 60)
    stack.relay.kill9()
    stack.relay.start()
    stack.wait_for_event(
        session_id, kind("status", detail="resumed after a relay restart"), "resume", 60
    )
    asyncio.run(
        command(
            stack, m.SendInput(session_id=session_id, data="what was the word?", request_id="r3")
        )
    )
    stack.wait_for_event(session_id, kind("message", text="The word was pineapple."), "reply", 60)
    sent = api.model_calls[-1].input_texts()
    assert any("remember the word pineapple" in t for t in sent)
    assert "I will remember: pineapple." in sent
    events = [e["event"] for e in stack.events(session_id)]
    assert [e.get("text") for e in events if e["kind"] == "message"] == [
        "I will remember: pineapple.",
        "The word was pineapple.",
    ]  # the history session/load replays is not logged twice
    assert not any(e["kind"] in ("session_ended", "error") for e in events)
