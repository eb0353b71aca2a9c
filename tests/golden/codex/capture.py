"""Capture the golden transcripts of this directory from the real `codex app-server`.

    .venv/bin/python -m tests.golden.codex.capture [SCENARIO ...]

Runs CodexAdapter against the real CLI and the scripted Responses API (tests/fakes), and writes
per scenario `<name>.jsonl` (the transcript format of tests/agents/golden.py: both directions
and the viewer's actions) and `<name>.events.json` (the events emitted, without their `raw`
payloads). Review the events by eye before committing them: tests/agents/test_golden.py replays
the transcripts through the translator and compares with these files.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import msgspec

from protocol.messages import ApprovalRequested, Event, Status
from relay.agent.adapters.base import SessionSpec
from relay.agent.adapters.codex import CodexAdapter
from relay.agent.config import AgentConfig
from relay.workspaces import Workspace
from tests.agents.capture import Tap
from tests.agents.codex_home import codex_env, write_codex_home
from tests.fakes.responses_api import ResponsesApi
from tests.fakes.responses_script import (
    Reply,
    Usage,
    custom_tool_call,
    function_call,
    reasoning,
    text,
)

HERE = Path(__file__).parent
BIN = Path(os.environ.get("TETHER_TEST_AGENTS_BIN", "/root/.cache/tether-agents/node_modules/.bin"))
STEP_TIMEOUT_S = 60

ADD_PATCH = "*** Begin Patch\n*** Add File: hello.txt\n+hello from codex\n*** End Patch\n"
EDIT_PATCH = (
    "*** Begin Patch\n*** Update File: notes.txt\n@@\n alpha\n-beta\n+BETA\n gamma\n"
    "*** Delete File: old.txt\n*** End Patch\n"
)
WRITE_CMD = {
    "cmd": "echo hi > out.txt; echo written",
    "sandbox_permissions": "require_escalated",
    "justification": "Write out.txt?",
}


@dataclasses.dataclass
class Scenario:
    replies: list[Reply]
    prompts: list[str]
    decision: str = ""  # approve / approve_for_session / deny / interrupt
    resume_from: str = ""  # a scenario whose thread is resumed (run it first)


SCENARIOS = {
    "text": Scenario(
        [
            Reply(
                [reasoning("Thinking about a greeting"), text("Hello! I am Codex.")],
                Usage(120, 9, 40),
            )
        ],
        ["Say hello"],
    ),
    "patch_approve": Scenario(
        [
            Reply([custom_tool_call("apply_patch", ADD_PATCH)], Usage(200, 30)),
            Reply([text("Created hello.txt.")], Usage(260, 8, 200)),
        ],
        ["Create hello.txt"],
        decision="approve",
    ),
    "patch_deny": Scenario(
        [
            Reply([custom_tool_call("apply_patch", ADD_PATCH)], Usage(200, 30)),
            Reply([text("Understood, I left it alone.")], Usage(260, 8)),
        ],
        ["Create hello.txt"],
        decision="deny",
    ),
    "edit_for_session": Scenario(
        [
            Reply([custom_tool_call("apply_patch", EDIT_PATCH)], Usage(300, 40)),
            Reply([text("Edited notes.txt, removed old.txt.")], Usage(350, 10, 300)),
        ],
        ["Edit notes"],
        decision="approve_for_session",
    ),
    "command_approve": Scenario(
        [
            Reply([function_call("exec_command", WRITE_CMD)], Usage(200, 30)),
            Reply([text("Wrote out.txt.")], Usage(260, 8)),
        ],
        ["Write out.txt with a command"],
        decision="approve",
    ),
    "command_deny": Scenario(
        [
            Reply([function_call("exec_command", WRITE_CMD)], Usage(200, 30)),
            Reply([text("Not written, as you wish.")], Usage(260, 8)),
        ],
        ["Write out.txt with a command"],
        decision="deny",
    ),
    "api_error": Scenario(
        [
            Reply(status=400, error="scripted: model overloaded"),
            Reply(fail="scripted stream failure"),
        ],
        ["First try", "Second try"],
    ),
    "interrupt_approval": Scenario(
        [
            Reply([custom_tool_call("apply_patch", ADD_PATCH)], Usage(200, 30)),
            Reply([text("Fresh start.")]),
        ],
        ["Create hello.txt", "Never mind"],
        decision="interrupt",
    ),
    "resume": Scenario(
        [Reply([text("Still here: you said hello before.")], Usage(400, 12, 120))],
        ["Do you remember?"],
        resume_from="text",
    ),
}


class Recorder:
    def __init__(self) -> None:
        self.lines: list[dict[str, Any]] = []
        self.events: list[Event] = []
        self.tokens: list[str] = []
        self.changed = asyncio.Event()
        self.ready = asyncio.Event()  # the adapter reported its thread id

    def emit(self, event: Event) -> None:
        self.events.append(event)
        self.changed.set()

    @property
    def full(self) -> bool:
        return False

    def resumable(self, token: str) -> None:
        self.tokens.append(token)
        self.ready.set()

    async def wait_for(self, predicate: Any, start: int = 0) -> int:
        async with asyncio.timeout(STEP_TIMEOUT_S):
            while True:
                for index in range(start, len(self.events)):
                    if predicate(self.events[index]):
                        return index
                self.changed.clear()
                await self.changed.wait()


async def capture(name: str, root: Path, threads: dict[str, tuple[Path, str]]) -> None:
    scenario = SCENARIOS[name]
    workspace = root / name / "work"
    workspace.mkdir(parents=True)
    (workspace / "notes.txt").write_text("alpha\nbeta\ngamma\n")
    (workspace / "old.txt").write_text("obsolete\n")
    resume = ""
    if scenario.resume_from:
        home, resume = threads[scenario.resume_from]
        workspace = home.parent / "work"
    else:
        home = root / name / "home"
    with ResponsesApi(scenario.replies) as api:
        write_codex_home(home, BIN / "codex", api.base_url, workspace)
        env = {"PATH": os.environ["PATH"], **codex_env(home)}
        spec = SessionSpec(
            session_id=name,
            workspace=Workspace(name="golden", path=str(workspace)),
            command=(),
            prompt="",
            cols=80,
            rows=24,
            shell="/bin/sh",
            env=env,
            agent=AgentConfig(name="codex", executable=str(BIN / "codex")),
            resume=resume,
        )
        recorder = Recorder()
        adapter = CodexAdapter(spec, recorder)
        header: dict[str, Any] = {"workspace": str(workspace)}
        if resume:
            header["resume"] = resume
        tap = Tap(adapter, {"session": header})
        await adapter.start()
        runner = asyncio.create_task(adapter.run())
        async with asyncio.timeout(STEP_TIMEOUT_S):
            await recorder.ready.wait()
        seen = 0
        for prompt in scenario.prompts:
            tap.viewer("prompt", text=prompt)
            await adapter.send_input(prompt)
            if scenario.decision:
                asked = await recorder.wait_for(lambda e: isinstance(e, ApprovalRequested), seen)
                approval = recorder.events[asked]
                assert isinstance(approval, ApprovalRequested)
                if scenario.decision == "interrupt":
                    tap.viewer("interrupt")
                    await adapter.interrupt()
                    scenario.decision = ""
                else:
                    tap.viewer("resolve", decision=scenario.decision)
                    await adapter.resolve_approval(approval.approval_id, scenario.decision, "")  # type: ignore[arg-type]
            seen = (
                await recorder.wait_for(lambda e: isinstance(e, Status) and e.state == "idle", seen)
                + 1
            )
        await asyncio.sleep(0.3)  # late notifications after turn/completed
        await adapter.stop(5)
        await runner
        adapter.close()
    threads[name] = (home, getattr(adapter.translator, "thread_id"))  # noqa: B009
    _write(name, tap, recorder, root)


def _write(name: str, tap: Tap, recorder: Recorder, root: Path) -> None:
    text = json.dumps(tap.lines)
    text = text.replace(str(root), "/golden")  # no temp paths in the files
    lines = json.loads(text)
    with open(HERE / f"{name}.jsonl", "w") as out:
        for line in lines:
            out.write(json.dumps(line) + "\n")
    events = [_without_raw(e) for e in recorder.events]
    events_text = json.dumps(events, indent=1).replace(str(root), "/golden")
    (HERE / f"{name}.events.json").write_text(events_text + "\n")
    print(f"{name}: {len(lines)} lines, {len(events)} events")


def _without_raw(event: Event) -> dict[str, Any]:
    body = msgspec.to_builtins(event)
    body.pop("raw", None)
    return body  # type: ignore[no-any-return]


async def main(names: list[str]) -> None:
    root = Path(tempfile.mkdtemp(prefix="codex-golden-"))
    threads: dict[str, tuple[Path, str]] = {}
    try:
        for name in names or list(SCENARIOS):
            if SCENARIOS[name].resume_from and SCENARIOS[name].resume_from not in threads:
                await capture(SCENARIOS[name].resume_from, root, threads)
            await capture(name, root, threads)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
