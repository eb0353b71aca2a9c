"""Claude Code: golden transcripts through the translator, and the real `claude` through the relay.

The transcripts in `tests/golden/claude/` were captured from the real CLI
(tests/golden/claude/capture.py) and are all replayed by tests/agents/test_golden.py; the tests
here look closer at some of them.

End-to-end tests run a real `tether serve`, a real `tether relay` and the real `claude` against
the scripted Anthropic endpoint in tests/fakes/anthropic_api.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import select
from collections.abc import Callable, Iterator
from pathlib import Path

import msgspec
import ptyprocess
import pytest

from protocol import messages as m
from relay.agent.config import AgentConfig
from tests.agents.golden import Replay, replay, translator_for
from tests.agents.relay_stack import (
    agent_stack,
    approval,
    command,
    hello_written,
    kind,
    try_command,
)
from tests.fakes.anthropic_api import AnthropicApi, Reply
from tests.fakes.cutting_proxy import CuttingProxy
from tests.harness import Stack, Viewer, running, tether_argv, wait_until

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "claude"
TRANSCRIPTS = sorted(p.stem for p in GOLDEN.glob("*.jsonl"))
DECISIONS: dict[str, m.Decision] = {"allow": "approve", "deny": "deny"}


# ---------------------------------------------------------------------- golden transcripts
# Every transcript is checked by tests/agents/test_golden.py; these look closer at some.


def _replay(name: str, scratch: Path) -> Replay:
    return replay(GOLDEN / f"{name}.jsonl", scratch)


def _kinds(events: list[m.Event]) -> list[str]:
    skipped = (m.Native, m.TextDelta)
    return [msgspec.to_builtins(e)["kind"] for e in events if not isinstance(e, skipped)]


def test_golden_write_approved_gives_tool_diff_and_usage(tmp_path: Path) -> None:
    record = _replay("write_approved", tmp_path)
    assert _kinds(record.events)[:5] == [
        "user_prompt",
        "status",
        "message",
        "tool_started",
        "approval_requested",
    ]
    changed = [e for e in record.events if isinstance(e, m.FileChanged)]
    assert len(changed) == 1 and changed[0].change == "added"
    assert changed[0].diff.splitlines() == [
        "--- /dev/null",
        "+++ b/hello.txt",
        "@@ -0,0 +1 @@",
        "+hello",
    ]
    usage = [e for e in record.events if isinstance(e, m.Usage)]
    assert usage and usage[-1].input_tokens == 240 and usage[-1].cost_usd == pytest.approx(0.00216)
    assert record.tokens and len(set(record.tokens)) == 1


def test_golden_costs_are_per_turn_differences(tmp_path: Path) -> None:
    record = _replay("text_and_thinking", tmp_path)
    costs = [e.cost_usd for e in record.events if isinstance(e, m.Usage)]
    assert costs == [pytest.approx(0.00108), pytest.approx(0.00108)]  # cumulative 0.00108, 0.00216
    thinking = "".join(e.text for e in record.events if isinstance(e, m.Thinking))
    assert thinking == "The user greets me."
    deltas = "".join(e.text for e in record.events if isinstance(e, m.TextDelta))
    assert deltas == "Hello there, I am ready.Yes."


def test_golden_edit_diff_comes_from_the_structured_result(tmp_path: Path) -> None:
    record = _replay("edit_approved_for_session", tmp_path)
    changed = next(e for e in record.events if isinstance(e, m.FileChanged))
    assert changed.change == "modified"
    assert changed.diff.splitlines()[2:] == ["@@ -1,3 +1,3 @@", " one", "-two", "+TWO", " three"]


def test_golden_interrupt_withdraws_the_approval_without_an_error(tmp_path: Path) -> None:
    record = _replay("interrupt_while_pending", tmp_path)
    resolved = [e for e in record.events if isinstance(e, m.ApprovalResolved)]
    assert [r.decision for r in resolved] == ["cancelled"]
    assert not any(isinstance(e, (m.Error, m.Command)) for e in record.events)
    assert [s["type"] for s in record.sent] == ["user", "control_request", "user"]


def test_golden_bash_for_session_keeps_permissions_to_the_session(tmp_path: Path) -> None:
    record = _replay("bash_approved_for_session", tmp_path)
    answer = next(s for s in record.sent if s["type"] == "control_response")
    permissions = answer["response"]["response"]["updatedPermissions"]
    assert permissions and {p["destination"] for p in permissions} == {"session"}
    command = next(e for e in record.events if isinstance(e, m.Command))
    assert command.exit_code == 3 and command.output == "made"


def test_malformed_and_unknown_lines_are_kept_and_nothing_hangs(tmp_path: Path) -> None:
    record = _replay("malformed", tmp_path)
    refused = [s for s in record.sent if s["response"]["subtype"] == "error"]
    assert [r["response"]["request_id"] for r in refused] == ["hook-1"]
    types = {e.type for e in record.events if isinstance(e, m.Native)}
    assert {"non_json_output", "non_object_output", "brand_new_message"} <= types


def test_a_big_write_is_shown_cut_but_approved_whole() -> None:
    content = "x" * 300_000
    tool_input = {"file_path": "/w/big.txt", "content": content}
    request = {"subtype": "can_use_tool", "tool_name": "Write", "input": tool_input}

    translator, record = translator_for("claude", Path("/w"))
    translator.on_message({"type": "control_request", "request_id": "big", "request": request})
    translator.approvals.resolve("big", "approve", "", "")
    asked = next(e for e in record.events if isinstance(e, m.ApprovalRequested))
    assert len(msgspec.json.encode(asked.input)) < 10_000
    assert record.sent[0]["response"]["response"]["updatedInput"]["content"] == content


# ---------------------------------------------------------------------- the real CLI


@pytest.fixture
def claude_stack(
    tmp_path: Path, agent_bin: Callable[[str], Path]
) -> Iterator[tuple[Stack, AnthropicApi]]:
    """A server and a relay offering `claude`, pointed at a scripted endpoint (started)."""
    with AnthropicApi() as api, running(_claude_stack(tmp_path, agent_bin("claude"), api)) as stack:
        yield stack, api


def _claude_stack(tmp_path: Path, claude: Path, api: AnthropicApi) -> Stack:
    home = tmp_path / "claude-home"
    home.mkdir()
    environment = {
        "HOME": str(home),
        "ANTHROPIC_BASE_URL": api.url,
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_AUTOUPDATER": "1",
        "CLAUDE_CODE_MAX_RETRIES": "0",
    }
    secrets = {"ANTHROPIC_API_KEY": "sk-ant-test"}
    agent = AgentConfig(
        name="claude", executable=str(claude), environment=environment, secrets=secrets
    )
    return agent_stack(tmp_path, agent)


async def _resolve_once_reconnected(stack: Stack, session_id: str, approval_id: str) -> None:
    """Approve as soon as the server can reach the relay again (it refuses while offline)."""
    results = []
    deadline = asyncio.get_running_loop().time() + 30
    while asyncio.get_running_loop().time() < deadline:
        result = await try_command(stack, approval(session_id, approval_id, "approve"))
        results.append(result)
        if isinstance(result, m.Result) and result.ok:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"the approval was never accepted: {results}")


def _write_turn(stack: Stack, api: AnthropicApi, name: str, after: str) -> tuple[str, Path]:
    """Start a session whose first reply writes `name`; returns its id once approval is asked."""
    target = stack.workspace / name
    api.add(Reply.tool("Write", {"file_path": str(target), "content": "hello\n"}), Reply.say(after))
    session_id = stack.start_session(agent="claude", prompt=f"please write {name}")
    asked = stack.wait_for_event(session_id, kind("approval_requested"), "approval_requested")
    assert asked["event"]["tool"] == "Write"
    assert not target.exists()
    return session_id, target


def test_approved_write_creates_the_file_with_a_diff_and_usage(
    claude_stack: tuple[Stack, AnthropicApi],
) -> None:
    stack, api = claude_stack
    session_id, target = _write_turn(stack, api, "hello.txt", "Written.")
    asked = stack.wait_for_event(session_id, kind("approval_requested"), "approval")
    asyncio.run(command(stack, approval(session_id, asked["event"]["approval_id"], "approve")))
    stack.wait_for_event(session_id, kind("usage"), "usage")
    assert target.read_text() == "hello\n"
    events = [e["event"] for e in stack.events(session_id)]
    hello_written(events)
    assert any(e["kind"] == "message" and e["text"] == "Written." for e in events)
    usage = next(e for e in events if e["kind"] == "usage")
    assert usage["input_tokens"] > 0 and usage["cost_usd"] > 0
    resolved = next(e for e in events if e["kind"] == "approval_resolved")
    assert resolved["decision"] == "approved"
    assert resolved["by"]  # who decided, as the server knows them


def test_denied_write_leaves_no_file_and_claude_carries_on(
    claude_stack: tuple[Stack, AnthropicApi],
) -> None:
    stack, api = claude_stack
    session_id, target = _write_turn(stack, api, "hello.txt", "Understood, I did not write it.")
    asked = stack.wait_for_event(session_id, kind("approval_requested"), "approval")
    asyncio.run(command(stack, approval(session_id, asked["event"]["approval_id"], "deny")))
    stack.wait_for_event(session_id, kind("usage"), "usage")
    events = [e["event"] for e in stack.events(session_id)]
    assert not target.exists()
    finished = next(e for e in events if e["kind"] == "tool_finished")
    assert finished["is_error"]
    assert not any(e["kind"] == "file_changed" for e in events)
    assert any(e["kind"] == "message" and e["text"].startswith("Understood") for e in events)
    # the refusal went back to the model as the tool's result
    assert "Denied" in api.texts_sent(-1)


def test_approved_for_session_is_not_asked_again_in_that_session(
    claude_stack: tuple[Stack, AnthropicApi],
) -> None:
    stack, api = claude_stack
    touch = {"command": "touch made.txt", "description": "make a file"}
    api.add(Reply.tool("Bash", touch), Reply.tool("Bash", touch), Reply.say("Made it twice."))
    session_id = stack.start_session(agent="claude", prompt="make a file, twice")
    asked = stack.wait_for_event(session_id, kind("approval_requested"), "approval_requested")
    approval_id = asked["event"]["approval_id"]
    asyncio.run(command(stack, approval(session_id, approval_id, "approve_for_session")))
    stack.wait_for_event(session_id, kind("usage"), "usage")
    events = [e["event"] for e in stack.events(session_id)]
    assert [e["kind"] for e in events].count("approval_requested") == 1
    commands = [e for e in events if e["kind"] == "command"]
    assert [(c["command"], c["exit_code"]) for c in commands] == [("touch made.txt", 0)] * 2
    assert (stack.workspace / "made.txt").exists()
    assert not (stack.workspace / ".claude").exists()  # the rule was not written to settings


def test_claude_writes_inside_its_workspace_and_cannot_write_outside(
    claude_stack: tuple[Stack, AnthropicApi],
) -> None:
    """Confinement: an approved shell command writes in the workspace; outside it, nothing."""
    stack, api = claude_stack
    outside = stack.tmp / "outside.txt"
    write = f"echo in > inside.txt; echo out > {outside}; cat {outside}"
    api.add(Reply.tool("Bash", {"command": write}), Reply.say("Tried."))
    session_id = stack.start_session(agent="claude", prompt="write both files")
    asked = stack.wait_for_event(session_id, kind("approval_requested"), "approval_requested")
    asyncio.run(command(stack, approval(session_id, asked["event"]["approval_id"], "approve")))
    stack.wait_for_event(session_id, kind("usage"), "usage")
    assert (stack.workspace / "inside.txt").read_text() == "in\n"
    assert not outside.exists()


def test_interrupt_withdraws_the_pending_approval_and_the_session_goes_on(
    claude_stack: tuple[Stack, AnthropicApi],
) -> None:
    stack, api = claude_stack
    api.add(Reply.tool("Bash", {"command": "touch never.txt"}), Reply.say("Still here."))
    session_id = stack.start_session(agent="claude", prompt="make a file")
    stack.wait_for_event(session_id, kind("approval_requested"), "approval_requested")

    asyncio.run(command(stack, m.Interrupt(session_id=session_id, request_id="i1"), 30))
    stack.wait_for_event(session_id, kind("status", state="idle"), "the turn to end")
    asyncio.run(
        command(stack, m.SendInput(session_id=session_id, data="anyone?", request_id="p1"), 30)
    )
    stack.wait_for_event(session_id, kind("message", text="Still here."), "the next turn")
    events = [e["event"] for e in stack.events(session_id)]
    resolved = [e for e in events if e["kind"] == "approval_resolved"]
    assert [r["decision"] for r in resolved] == ["cancelled"]
    assert not any(e["kind"] == "error" for e in events)
    assert not (stack.workspace / "never.txt").exists()


@pytest.mark.parametrize("how", ["kill9", "stop"])
def test_relay_restart_resumes_the_claude_conversation(
    claude_stack: tuple[Stack, AnthropicApi], how: str
) -> None:
    """A crash (kill -9) or a clean restart (SIGTERM, as systemd does) of the relay."""
    stack, api = claude_stack
    api.add(Reply.say("I will remember: pineapple."), Reply.say("The word was pineapple."))
    session_id = stack.start_session(agent="claude", prompt="remember the word pineapple")
    stack.wait_for_event(session_id, kind("usage"), "the first turn")
    getattr(stack.relay, how)()
    stack.relay.start()
    stack.wait_for_event(
        session_id, kind("status", detail="resumed after a relay restart"), "resume", 30
    )

    ask = m.SendInput(session_id=session_id, data="what was the word?", request_id="p1")
    asyncio.run(command(stack, ask, 30))
    wait_until(lambda: len(api.requests) >= 2, 30, "the second turn's request")
    stack.wait_for_event(session_id, kind("message", text="The word was pineapple."), "reply")
    second = api.texts_sent(-1)
    assert "remember the word pineapple" in second and "I will remember: pineapple." in second
    events = [e["event"] for e in stack.events(session_id)]
    assert [e["kind"] for e in events].count("session_started") == 1
    assert not any(e["kind"] == "session_ended" for e in events)


def test_an_approval_pending_when_the_relay_dies_is_cancelled_on_its_restart(
    claude_stack: tuple[Stack, AnthropicApi],
) -> None:
    stack, api = claude_stack
    session_id, target = _write_turn(stack, api, "never.txt", "unused")
    asked = stack.wait_for_event(session_id, kind("approval_requested"), "approval")
    stack.relay.kill9()
    stack.relay.start()
    approval_id = asked["event"]["approval_id"]
    stack.wait_for_event(
        session_id,
        kind("approval_resolved", approval_id=approval_id, decision="cancelled"),
        "the dead approval to be cancelled",
        30,
    )
    answer = asyncio.run(try_command(stack, approval(session_id, approval_id, "approve")))
    assert answer.code == "unknown_approval"
    assert not target.exists()


def test_pending_approval_survives_a_cut_relay_link(
    tmp_path: Path, agent_bin: Callable[[str], Path]
) -> None:
    with AnthropicApi() as api:
        stack = _claude_stack(tmp_path, agent_bin("claude"), api)

        async def run() -> None:
            proxy = await CuttingProxy(stack.server.port).start()
            stack.relay = stack.new_relay(f"http://127.0.0.1:{proxy.port}")
            await asyncio.to_thread(stack.relay.start)
            await asyncio.to_thread(stack.wait_relay_online)
            session_id, target = await asyncio.to_thread(
                _write_turn, stack, api, "kept.txt", "Written after the cut."
            )
            asked = await asyncio.to_thread(
                stack.wait_for_event, session_id, kind("approval_requested"), "approval"
            )
            proxy.cut_mid_frame()
            viewer = await Viewer.open(stack.server.url)
            # a command makes the relay answer through the proxy, which cuts that frame
            await viewer.send(m.Resize(session_id=session_id, cols=100, rows=30, request_id="z"))
            await asyncio.to_thread(wait_until, lambda: proxy.cuts >= 1, 20, "the cut")
            await viewer.close()
            approval_id = asked["event"]["approval_id"]
            await _resolve_once_reconnected(stack, session_id, approval_id)
            await asyncio.to_thread(
                stack.wait_for_event, session_id, kind("usage"), "the turn to end"
            )
            assert target.read_text() == "hello\n"
            assert stack.relay.log().count("connected to") >= 2  # it did reconnect in between
            await proxy.close()

        try:
            asyncio.run(run())
        finally:
            stack.close()


def test_tether_attach_drives_claude_and_answers_its_approval(
    claude_stack: tuple[Stack, AnthropicApi],
) -> None:
    """As a user in a terminal: start Claude with a prompt, see the approval, /approve it."""
    stack, api = claude_stack
    target = stack.workspace / "from-terminal.txt"
    api.add(Reply.tool("Write", {"file_path": str(target), "content": "hi\n"}), Reply.say("Done."))
    argv = tether_argv("attach", "--server", stack.server.url, "--new", "--agent", "claude")
    env = {**stack.server.client_env(), "TERM": "xterm"}
    child = ptyprocess.PtyProcessUnicode.spawn([*argv, "write the file"], env=env)
    screen: list[str] = []

    def shows(text: str) -> Callable[[], bool]:
        def seen() -> bool:
            with contextlib.suppress(EOFError):
                while child.isalive() and select.select([child.fd], [], [], 0.05)[0]:
                    screen.append(child.read(4096))
            return text in "".join(screen)

        return seen

    try:
        wait_until(shows("[approval requested"), 60, f"the approval hint in {screen}")
        assert not target.exists()
        child.write("/approve\n")
        wait_until(target.exists, 30, "the approved write")
        wait_until(shows("Done."), 30, f"Claude's reply in {screen}")
    finally:
        child.terminate(force=True)
    assert target.read_text() == "hi\n"
