"""Codex: golden transcripts through the translator, and the real `codex app-server` through the
relay.

The transcripts in `tests/golden/codex/` were captured from the real CLI
(tests/golden/codex/capture.py) and are all replayed by tests/agents/test_golden.py; the tests
here look closer at some of them.

End-to-end tests run a real `tether serve`, a real `tether relay` and the real `codex` against
the scripted Responses API in tests/fakes/responses_api.py.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from protocol import messages as m
from relay.agent.adapters.codex import CodexAdapter
from relay.agent.config import AgentConfig
from relay.errors import CommandError
from tests.agents.capture import RecordingSink, spec_for
from tests.agents.codex_home import STUB_KEY_VAR, codex_env, write_codex_home
from tests.agents.golden import Replay, replay, transcripts, translator_for
from tests.agents.relay_stack import agent_stack, approval, command, hello_written, kind
from tests.fakes.responses_api import ResponsesApi
from tests.fakes.responses_script import Reply, Usage, custom_tool_call, function_call, text
from tests.harness import Stack, running

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "codex"
TRANSCRIPTS = sorted(p.stem for p in GOLDEN.glob("*.jsonl"))
ADD_PATCH = "*** Begin Patch\n*** Add File: hello.txt\n+hello from codex\n*** End Patch\n"


# ---------------------------------------------------------------------- golden transcripts
# Every transcript is checked by tests/agents/test_golden.py; these look closer at some.


def _replay(name: str, scratch: Path) -> Replay:
    return replay(GOLDEN / f"{name}.jsonl", scratch)


@pytest.mark.parametrize("transcript", transcripts("codex"), ids=lambda p: p.stem)
def test_every_event_of_codex_keeps_its_native_message(transcript: Path, tmp_path: Path) -> None:
    record = replay(transcript, tmp_path)
    ours = (m.Status, m.ApprovalResolved, m.UserPrompt)  # Tether's own events, not the agent's
    assert all(e.raw is not None for e in record.events if not isinstance(e, ours))


def _of(events: list[m.Event], kind: type[Any]) -> list[Any]:
    return [e for e in events if isinstance(e, kind)]


def test_golden_approved_patch_gives_tool_diff_and_usage(tmp_path: Path) -> None:
    record = _replay("patch_approve", tmp_path)
    assert record.sent[-1] == {"id": 0, "result": {"decision": "accept"}}
    (changed,) = _of(record.events, m.FileChanged)
    assert changed.path == "hello.txt" and changed.change == "added"
    assert changed.diff.splitlines() == [
        "--- /dev/null",
        "+++ b/hello.txt",
        "@@ -0,0 +1 @@",
        "+hello from codex",
    ]
    (finished,) = _of(record.events, m.ToolFinished)
    assert not finished.is_error
    usage = _of(record.events, m.Usage)
    assert [(u.input_tokens, u.output_tokens, u.cached_tokens) for u in usage] == [
        (200, 30, 0),
        (260, 8, 200),
    ]
    assert record.tokens == [record.translator.thread_id]


def test_golden_edit_and_delete_diffs_and_approval_for_the_session(tmp_path: Path) -> None:
    record = _replay("edit_for_session", tmp_path)
    assert {"id": 0, "result": {"decision": "acceptForSession"}} in record.sent
    notes, old = _of(record.events, m.FileChanged)
    assert (notes.path, notes.change) == ("notes.txt", "modified")
    assert notes.diff.splitlines() == [
        "--- a/notes.txt",
        "+++ b/notes.txt",
        "@@ -1,3 +1,3 @@",
        " alpha",
        "-beta",
        "+BETA",
        " gamma",
    ]
    assert (old.path, old.change) == ("old.txt", "deleted") and "-obsolete" in old.diff


def test_golden_denied_command_runs_nothing_and_the_turn_goes_on(tmp_path: Path) -> None:
    record = _replay("command_deny", tmp_path)
    assert {"id": 0, "result": {"decision": "decline"}} in record.sent
    asked = _of(record.events, m.ApprovalRequested)[0]
    assert asked.tool == "shell" and asked.options == ["approve", "deny"]  # Codex offers no
    assert "echo hi > out.txt" in asked.input["command"]  # session-wide accept for commands
    assert not _of(record.events, m.Command)
    (finished,) = _of(record.events, m.ToolFinished)
    assert finished.is_error and finished.output == "declined"
    assert _of(record.events, m.Message)[-1].text == "Not written, as you wish."


def test_golden_approved_command_reports_exit_code_and_output(tmp_path: Path) -> None:
    record = _replay("command_approve", tmp_path)
    (command,) = _of(record.events, m.Command)
    assert command.exit_code == 0 and command.output == "written\n" and not command.truncated
    assert "echo hi > out.txt" in command.command


def test_golden_interrupt_cancels_the_pending_approval(tmp_path: Path) -> None:
    record = _replay("interrupt_approval", tmp_path)
    answers = [s for s in record.sent if "result" in s]
    assert answers == [{"id": 0, "result": {"decision": "cancel"}}]
    assert [s.get("method") for s in record.sent if "method" in s][-2:] == [
        "turn/interrupt",
        "turn/start",
    ]
    (resolved,) = _of(record.events, m.ApprovalResolved)
    assert resolved.decision == "cancelled"
    assert _of(record.events, m.ToolFinished)[0].is_error
    assert not record.translator.approvals.pending()


def test_golden_api_errors_become_error_events_once_per_turn(tmp_path: Path) -> None:
    record = _replay("api_error", tmp_path)
    errors = [e.message for e in _of(record.events, m.Error)]
    assert errors == [
        "scripted: model overloaded",
        "stream disconnected before completion: scripted stream failure",
    ]
    idle = [e.detail for e in _of(record.events, m.Status) if e.state == "idle"]
    assert idle == ["failed", "failed"]


def test_golden_resume_continues_the_thread_without_counting_old_usage(tmp_path: Path) -> None:
    record = _replay("resume", tmp_path)
    resumed = next(s for s in record.sent if s.get("method") == "thread/resume")
    assert resumed["params"]["threadId"] == record.translator.resume
    assert record.tokens == [record.translator.resume]
    assert [(u.input_tokens, u.output_tokens) for u in _of(record.events, m.Usage)] == [(400, 12)]


def test_malformed_and_unknown_lines_are_kept_and_nothing_hangs(tmp_path: Path) -> None:
    record = _replay("malformed", tmp_path)
    refused = [s for s in record.sent if "error" in s]
    assert [r["id"] for r in refused] == [7]  # an unsupported request is answered, not left
    types = {e.type for e in record.events if isinstance(e, m.Native)}
    assert {"non_json_output", "non_object_output", "brand/new", "item/completed hologram"} <= types
    assert _of(record.events, m.Message)[-1].text == "Still fine."
    # files that only the turn's diff shows (no fileChange item) are reported at the turn's end
    made, gone = _of(record.events, m.FileChanged)
    assert (made.path, made.change) == ("made_by_command.txt", "added")
    assert "+hello world" in made.diff and made.diff.startswith("diff --git")
    assert (gone.path, gone.change) == ("gone.txt", "deleted") and "-bye" in gone.diff


def _started_codex(tmp_path: Path) -> tuple[Any, Replay]:
    translator, record = translator_for("codex", tmp_path)
    translator.start()
    translator.on_message({"id": 1, "result": {}})
    translator.on_message({"id": 2, "result": {"thread": {"id": "t-1"}}})
    assert record.is_ready and record.tokens == ["t-1"]
    return translator, record


def test_a_prompt_codex_takes_is_answered_and_its_turn_runs(tmp_path: Path) -> None:
    translator, record = _started_codex(tmp_path)
    assert translator.prompt("hello") == 1
    assert record.answers == {}  # not before Codex answers turn/start
    translator.on_message({"id": 3, "result": {"turn": {"id": "turn-1"}}})
    assert record.answers == {1: None}
    assert record.of(m.Status)[-1].state == "running"


def test_a_prompt_codex_refuses_is_refused_to_the_viewer_and_the_session_goes_idle(
    tmp_path: Path,
) -> None:
    translator, record = _started_codex(tmp_path)
    translator.prompt("hello")
    assert record.sent[-1]["method"] == "turn/start"
    translator.on_message({"id": 3, "error": {"code": -32600, "message": "thread is busy"}})
    refusal = record.answers[1]
    assert refusal is not None
    assert (refusal.code, refusal.message) == (
        "bad_request",
        "Codex refused the prompt: thread is busy",
    )
    assert record.of(m.Error) == []  # the viewer's command says it, not the session's log
    assert record.of(m.Status)[-1].state == "idle"  # nothing runs: not left "running"


def test_a_prompt_refused_while_a_turn_runs_leaves_that_turn_running(tmp_path: Path) -> None:
    translator, record = _started_codex(tmp_path)
    translator.prompt("first")
    translator.on_message({"id": 3, "result": {"turn": {"id": "turn-1"}}})
    translator.prompt("second")
    translator.on_message({"id": 4, "error": {"code": -32600, "message": "thread is busy"}})
    refusal = record.answers[2]
    assert refusal is not None and refusal.message == "Codex refused the prompt: thread is busy"
    assert record.answers[1] is None
    assert [s.state for s in record.of(m.Status)] == ["running", "running"]
    translator.on_message({"method": "turn/completed", "params": {"turn": {"status": "completed"}}})
    assert record.of(m.Status)[-1].state == "idle"


def test_a_prompt_codex_does_not_take_in_time_is_a_timeout(tmp_path: Path) -> None:
    translator, record = _started_codex(tmp_path)
    translator.prompt("hello")
    translator.expired(3)
    refusal = record.answers[1]
    assert refusal is not None
    assert (refusal.code, refusal.message) == ("timeout", "Codex did not take the prompt")
    assert record.of(m.Status)[-1].state == "idle"
    translator.on_message({"id": 3, "result": {"turn": {"id": "late"}}})  # too late: kept raw
    assert record.of(m.Native)[-1].type == "unexpected_response"
    # the turn starts after all: the session shows it running again
    translator.on_message({"method": "turn/started", "params": {"turn": {"id": "late"}}})
    assert record.of(m.Status)[-1].state == "running"


BUSY_CODEX = """
import json, sys
answers = {
    "initialize": {"result": {}},
    "thread/start": {"result": {"thread": {"id": "t-1"}}},
    "turn/start": {"error": {"code": -32600, "message": "thread is busy"}},
}
for line in sys.stdin:
    message = json.loads(line)
    if message.get("method") in answers and "id" in message:
        answer = {"id": message["id"], **answers[message["method"]]}
        print(json.dumps(answer), flush=True)
"""  # a scripted `codex app-server` that refuses every prompt


def _busy_codex(
    tmp_path: Path, prompt: str = "", on_event: Callable[[m.Event], None] | None = None
) -> tuple[CodexAdapter, RecordingSink]:
    script = tmp_path / "codex"
    script.write_text(f"#!{sys.executable}\n{BUSY_CODEX}")
    script.chmod(0o755)
    config = AgentConfig(name="codex", executable=str(script))
    sink = RecordingSink(on_event)
    spec = dataclasses.replace(spec_for(tmp_path, config), prompt=prompt)
    return CodexAdapter(spec, sink), sink


def test_the_viewer_s_prompt_command_fails_when_codex_refuses_it(tmp_path: Path) -> None:
    async def run() -> CommandError:
        adapter, _ = _busy_codex(tmp_path)
        await adapter.start()
        runner = asyncio.create_task(adapter.run())
        try:
            async with asyncio.timeout(30):
                await adapter.started()
                with pytest.raises(CommandError) as refused:
                    await adapter.send_input("hello")
        finally:
            await adapter.stop(5)
            await runner
            adapter.close()
        with pytest.raises(CommandError) as ended:  # once the agent is gone
            await adapter.send_input("hello again")
        assert (ended.value.code, ended.value.message) == ("session_ended", "the agent exited")
        return refused.value

    refusal = asyncio.run(run())
    assert (refusal.code, refusal.message) == (
        "bad_request",
        "Codex refused the prompt: thread is busy",
    )


def test_a_first_prompt_codex_refuses_is_an_error_event(tmp_path: Path) -> None:
    async def run() -> list[m.Event]:
        failed = asyncio.Event()
        adapter, sink = _busy_codex(
            tmp_path, "hello", lambda e: failed.set() if isinstance(e, m.Error) else None
        )
        await adapter.start()
        runner = asyncio.create_task(adapter.run())
        try:
            async with asyncio.timeout(30):
                await failed.wait()
            return sink.events
        finally:
            await adapter.stop(5)
            await runner
            adapter.close()

    events = asyncio.run(run())
    (error,) = [e for e in events if isinstance(e, m.Error)]
    assert (error.code, error.message) == (
        "internal",
        "starting the agent failed: Codex refused the prompt: thread is busy",
    )
    assert [e.state for e in events if isinstance(e, m.Status)] == ["running", "idle"]


# ---------------------------------------------------------------------- the real CLI


@pytest.fixture
def codex_stack(
    tmp_path: Path, agent_bin: Callable[[str], Path]
) -> Iterator[tuple[Stack, ResponsesApi]]:
    """A server and a relay offering `codex`, pointed at a scripted endpoint (started)."""
    codex = agent_bin("codex")
    with ResponsesApi() as api:
        home = write_codex_home(tmp_path / "codex-home", codex, api.base_url, tmp_path / "work")
        environment = codex_env(home)
        agent = AgentConfig(
            name="codex",
            executable=str(codex),
            environment={k: v for k, v in environment.items() if k != STUB_KEY_VAR},
            secrets={STUB_KEY_VAR: environment[STUB_KEY_VAR]},
        )
        with running(agent_stack(tmp_path, agent)) as stack:
            yield stack, api


def _patch_turn(stack: Stack, api: ResponsesApi, after: str, decision: m.Decision) -> str:
    """A session whose first reply adds hello.txt with apply_patch; decides its approval."""
    api.add(
        Reply([custom_tool_call("apply_patch", ADD_PATCH)], Usage(200, 30)),
        Reply([text(after)], Usage(260, 8, 200)),
    )
    session_id = stack.start_session(agent="codex", prompt="please create hello.txt")
    asked = stack.wait_for_event(session_id, kind("approval_requested"), "approval_requested")
    assert asked["event"]["tool"] == "apply_patch"
    assert not (stack.workspace / "hello.txt").exists()
    asyncio.run(command(stack, approval(session_id, asked["event"]["approval_id"], decision)))
    stack.wait_for_event(session_id, kind("status", state="idle"), "the end of the turn")
    return session_id


def test_codex_writes_inside_its_workspace_and_cannot_write_outside(
    codex_stack: tuple[Stack, ResponsesApi],
) -> None:
    """Confinement: an approved command writes in the workspace; outside it, nothing."""
    stack, api = codex_stack
    outside = stack.tmp / "outside.txt"
    write = {
        "cmd": f"echo in > inside.txt; echo out > {outside}; cat {outside}",
        "sandbox_permissions": "require_escalated",
        "justification": "Write both files?",
    }
    api.add(
        Reply([function_call("exec_command", write)], Usage(200, 30)),
        Reply([text("Tried.")], Usage(260, 8)),
    )
    session_id = stack.start_session(agent="codex", prompt="write both files")
    asked = stack.wait_for_event(session_id, kind("approval_requested"), "approval_requested")
    asyncio.run(command(stack, approval(session_id, asked["event"]["approval_id"], "approve")))
    stack.wait_for_event(session_id, kind("status", state="idle"), "the end of the turn")
    assert (stack.workspace / "inside.txt").read_text() == "in\n"
    assert not outside.exists()


def test_approved_patch_creates_the_file_with_a_diff_and_usage(
    codex_stack: tuple[Stack, ResponsesApi],
) -> None:
    stack, api = codex_stack
    session_id = _patch_turn(stack, api, "Created hello.txt.", "approve")
    assert (stack.workspace / "hello.txt").read_text() == "hello from codex\n"
    events = [e["event"] for e in stack.events(session_id)]
    changed = hello_written(events, "+hello from codex")
    assert changed["diff"].startswith("--- /dev/null\n+++ b/hello.txt\n")
    usage = [e for e in events if e["kind"] == "usage"]
    assert [(u["input_tokens"], u["output_tokens"]) for u in usage] == [(200, 30), (260, 8)]
    assert any(e["kind"] == "message" and e["text"] == "Created hello.txt." for e in events)
    resolved = next(e for e in events if e["kind"] == "approval_resolved")
    assert resolved["decision"] == "approved"


def test_denied_patch_leaves_no_file_and_codex_carries_on(
    codex_stack: tuple[Stack, ResponsesApi],
) -> None:
    stack, api = codex_stack
    session_id = _patch_turn(stack, api, "Understood, I left it alone.", "deny")
    assert not (stack.workspace / "hello.txt").exists()
    events = [e["event"] for e in stack.events(session_id)]
    finished = next(e for e in events if e["kind"] == "tool_finished")
    assert finished["is_error"]
    assert not any(e["kind"] in ("file_changed", "error") for e in events)
    assert any(e["kind"] == "message" and e["text"].startswith("Understood") for e in events)
    # the refusal went back to the model as the patch call's output
    second = api.model_calls[1].body["input"]
    outputs = [i for i in second if i.get("type") == "custom_tool_call_output"]
    assert outputs and "reject" in json.dumps(outputs[-1]).lower()


def test_relay_restart_resumes_the_codex_thread(codex_stack: tuple[Stack, ResponsesApi]) -> None:
    stack, api = codex_stack
    api.add(Reply([text("I will remember: pineapple.")]), Reply([text("The word was pineapple.")]))
    session_id = stack.start_session(agent="codex", prompt="remember the word pineapple")
    stack.wait_for_event(session_id, kind("status", state="idle"), "the first turn")
    stack.relay.kill9()
    stack.relay.start()
    stack.wait_for_event(
        session_id, kind("status", detail="resumed after a relay restart"), "resume", 30
    )

    ask = m.SendInput(session_id=session_id, data="what was the word?", request_id="r1")
    asyncio.run(command(stack, ask, 60))
    stack.wait_for_event(session_id, kind("message", text="The word was pineapple."), "reply")
    second = " ".join(api.model_calls[1].input_texts())
    assert "remember the word pineapple" in second and "I will remember: pineapple." in second
    events = [e["event"] for e in stack.events(session_id)]
    assert [e["kind"] for e in events].count("session_started") == 1
    assert not any(e["kind"] in ("session_ended", "error") for e in events)
