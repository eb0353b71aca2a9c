"""Record the golden Claude Code transcripts from the real CLI against the scripted endpoint.

    .venv/bin/python -m tests.golden.claude.capture [CLAUDE_EXECUTABLE]

Each scenario runs `claude -p --input-format stream-json --output-format stream-json --verbose
--include-partial-messages --permission-prompt-tool stdio` in a fresh workspace, writes the user
turns and the answers to permission requests on stdin as a client would, and saves both
directions and the viewer's actions to `<scenario>.jsonl` in the transcript format of
tests/agents/golden.py. The answers here are written by hand from the protocol reference, not by
the translator, so the golden test also checks that the translator writes what the real CLI
accepted. Then refresh the `*.events.json` files:
`GOLDEN_UPDATE=1 .venv/bin/python -m pytest tests/agents/test_golden.py -k claude`.
`malformed.jsonl` is written by hand (lines a real CLI should not send) and is not captured.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from relay.agent.adapters.claude import STREAM_FLAGS
from tests.fakes.anthropic_api import AnthropicApi, Reply

HERE = Path(__file__).resolve().parent
DEFAULT_CLAUDE = Path.home() / ".cache/tether-agents/node_modules/.bin/claude"
BASE = Path("/tmp/tether-golden-claude")
WORKSPACE = BASE / "ws"
NOTES = WORKSPACE / "notes.txt"
HELLO = WORKSPACE / "hello.txt"
TIMEOUT_S = 60


@dataclasses.dataclass
class Scenario:
    replies: list[Reply]
    prompts: list[str]
    answers: list[str] = dataclasses.field(
        default_factory=list
    )  # allow / session / deny / interrupt
    env: dict[str, str] = dataclasses.field(default_factory=dict)


SCENARIOS = {
    "text_and_thinking": Scenario(
        [Reply.say("Hello there, I am ready.", thinking="The user greets me."), Reply.say("Yes.")],
        ["hi", "are you still there?"],
    ),
    "write_approved": Scenario(
        [
            Reply.tool(
                "Write", {"file_path": str(HELLO), "content": "hello\n"}, text="Writing it."
            ),
            Reply.say("Done."),
        ],
        ["write hello.txt"],
        ["allow"],
    ),
    "edit_approved_for_session": Scenario(
        [
            Reply.tool("Edit", {"file_path": str(NOTES), "old_string": "two", "new_string": "TWO"}),
            Reply.say("Edited."),
        ],
        ["capitalise two"],
        ["session"],
    ),
    "write_denied": Scenario(
        [
            Reply.tool("Write", {"file_path": str(HELLO), "content": "hello\n"}),
            Reply.say("Understood, I will not write it."),
        ],
        ["write hello.txt"],
        ["deny"],
    ),
    "bash_approved_for_session": Scenario(
        [
            Reply.tool(
                "Bash", {"command": "touch made.txt; echo made; exit 3", "description": "make"}
            ),
            Reply.say("It exited with 3."),
        ],
        ["make a file"],
        ["session"],
    ),
    "interrupt_while_pending": Scenario(
        [
            Reply.tool("Bash", {"command": "touch made.txt", "description": "make"}),
            Reply.say("Stopped."),
        ],
        ["make a file", "what now?"],
        ["interrupt"],
    ),
    "api_error": Scenario(
        [Reply.error(529, "overloaded_error", "Overloaded")],
        ["hello"],
        env={"CLAUDE_CODE_MAX_RETRIES": "0"},
    ),
}


def capture(name: str, scenario: Scenario, claude: str) -> None:
    shutil.rmtree(BASE, ignore_errors=True)
    WORKSPACE.mkdir(parents=True)
    NOTES.write_text("one\ntwo\nthree\n")
    prompts, answers = list(scenario.prompts), list(scenario.answers)
    lines: list[dict[str, Any]] = [{"session": {"workspace": str(WORKSPACE)}}]
    with AnthropicApi(scenario.replies) as api:
        env = {
            "PATH": os.environ["PATH"],
            "HOME": str(BASE / "home"),
            "ANTHROPIC_BASE_URL": api.url,
            "ANTHROPIC_API_KEY": "sk-golden",
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
            "DISABLE_TELEMETRY": "1",
            "DISABLE_AUTOUPDATER": "1",
            **scenario.env,
        }
        argv = [claude, *STREAM_FLAGS]  # what the relay runs
        child = subprocess.Popen(
            argv, cwd=WORKSPACE, env=env, text=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        timer = threading.Timer(TIMEOUT_S, child.kill)
        timer.start()
        assert child.stdin is not None and child.stdout is not None

        def send(message: dict[str, Any], viewer: dict[str, Any]) -> None:
            lines.extend([viewer, {"from": "client", "message": message}])
            assert child.stdin is not None
            child.stdin.write(json.dumps(message) + "\n")
            child.stdin.flush()

        def user(text: str) -> None:
            message = {"type": "user", "message": {"role": "user", "content": text}}
            send(message, {"viewer": "prompt", "text": text})

        user(prompts.pop(0))
        for line in child.stdout:
            message = json.loads(line)
            lines.append({"from": "agent", "message": message})
            if message.get("type") == "control_request":
                send(*answer(message, answers.pop(0)))
            elif message.get("type") == "result":
                if prompts:
                    user(prompts.pop(0))
                else:
                    child.stdin.close()
        child.wait()
        timer.cancel()
    text = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)
    (HERE / f"{name}.jsonl").write_text(text)
    print(f"{name}: {len(lines)} lines, exit {child.returncode}")


def answer(message: dict[str, Any], how: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The reply to a permission request, and the viewer's action it stands for."""
    request = message["request"]
    if how == "interrupt":
        interrupt = {"subtype": "interrupt"}
        reply_line = {"type": "control_request", "request_id": "tether-1", "request": interrupt}
        return reply_line, {"viewer": "interrupt"}
    decision = {"deny": "deny", "session": "approve_for_session"}.get(how, "approve")
    viewer = {"viewer": "resolve", "decision": decision, "approval": message["request_id"]}
    if how == "deny":
        reply: dict[str, Any] = {"behavior": "deny", "message": "Denied in Tether: not now"}
        viewer["message"] = "Denied in Tether: not now"
    else:
        reply = {"behavior": "allow", "updatedInput": request["input"]}
    if how == "session":
        suggestions = request.get("permission_suggestions") or []
        reply["updatedPermissions"] = [{**s, "destination": "session"} for s in suggestions]
    response = {"subtype": "success", "request_id": message["request_id"], "response": reply}
    return {"type": "control_response", "response": response}, viewer


def main() -> None:
    claude = sys.argv[1] if len(sys.argv) > 1 else str(DEFAULT_CLAUDE)
    only = sys.argv[2:]
    for name, scenario in SCENARIOS.items():
        if not only or name in only:
            capture(name, scenario, claude)


if __name__ == "__main__":
    main()
