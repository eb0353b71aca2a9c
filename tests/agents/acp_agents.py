"""Gemini CLI and Copilot CLI set up to run offline against a scripted endpoint on 127.0.0.1.

`gemini_config()` / `copilot_config()` give the agent's relay config (environment and the home
directory it reads); the end-to-end tests and `main()` use them. `main()` refreshes the golden
transcripts from the real CLIs:

    .venv/bin/python -m tests.agents.acp_agents gemini|copilot [scenario ...]
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from relay.agent.adapters.acp import AcpAdapter, CopilotAdapter, GeminiAdapter
from relay.agent.config import AgentConfig
from tests.agents.capture import capture, spec_for
from tests.agents.golden import event_dicts
from tests.fakes import responses_script as oa
from tests.fakes.gemini_api import GeminiApi, Reply
from tests.fakes.responses_api import ResponsesApi

DEFAULT_BIN = Path("/root/.cache/tether-agents/node_modules/.bin")
GOLDEN = Path(__file__).resolve().parent.parent / "golden"
COPILOT_MODEL = "tether-test"


def agents_bin() -> Path:
    return Path(os.environ.get("TETHER_TEST_AGENTS_BIN", DEFAULT_BIN))


def gemini_config(home: Path, api_url: str, executable: str = "") -> AgentConfig:
    """Gemini CLI with an API key, no telemetry, usage statistics, update checks or trust prompt."""
    settings = {
        "security": {"auth": {"selectedType": "gemini-api-key"}, "folderTrust": {"enabled": False}},
        "privacy": {"usageStatisticsEnabled": False},
        "telemetry": {"enabled": False},
        "general": {"disableAutoUpdate": True, "disableUpdateNag": True},
    }
    (home / ".gemini").mkdir(parents=True, exist_ok=True)
    (home / ".gemini" / "settings.json").write_text(json.dumps(settings))
    return AgentConfig(
        name="gemini",
        executable=executable or str(agents_bin() / "gemini"),
        environment={
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "GEMINI_CLI_HOME": str(home),
            "GOOGLE_GEMINI_BASE_URL": api_url,
            "GEMINI_CLI_NO_RELAUNCH": "true",
        },
        secrets={"GEMINI_API_KEY": "test-key"},
    )


def copilot_config(home: Path, base_url: str, executable: str = "") -> AgentConfig:
    """Copilot CLI against a bring-your-own-key Responses endpoint; no sign-in, no updates."""
    home.mkdir(parents=True, exist_ok=True)
    return AgentConfig(
        name="copilot",
        executable=executable or str(agents_bin() / "copilot"),
        environment={
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "COPILOT_HOME": str(home),
            "COPILOT_OFFLINE": "true",
            "COPILOT_PROVIDER_BASE_URL": base_url,
            "COPILOT_PROVIDER_WIRE_API": "responses",
            "COPILOT_MODEL": COPILOT_MODEL,
            "COPILOT_AUTO_UPDATE": "false",
        },
        secrets={"COPILOT_PROVIDER_API_KEY": "test-key"},
    )


# name -> (prompts, scripted replies with {W} for the workspace, decisions, files)
GEMINI_SCENARIOS: dict[str, tuple[list[str], list[Reply], list[str], dict[str, str]]] = {
    "text": (
        ["hi", "and again"],
        [
            Reply(
                (
                    {"text": "**Greeting**\nThe user says hi.", "thought": True},
                    {"text": "Hello"},
                    {"text": " there."},
                ),
                prompt_tokens=100,
                output_tokens=12,
            ),
            Reply.text("Second ", "answer.", prompt_tokens=150, output_tokens=8),
        ],
        [],
        {},
    ),
    "write_approve": (
        ["write hello.txt"],
        [
            Reply.call("write_file", {"file_path": "{W}/hello.txt", "content": "hello\n"}),
            Reply.text("Done."),
        ],
        ["approve"],
        {},
    ),
    "write_deny": (
        ["write hello.txt"],
        [
            Reply.call("write_file", {"file_path": "{W}/hello.txt", "content": "hello\n"}),
            Reply.text("Understood, I will not write it."),
        ],
        ["deny"],
        {},
    ),
    "edit_for_session": (
        ["raise the timeout"],
        [
            Reply.call(
                "replace",
                {
                    "file_path": "{W}/config.py",
                    "old_string": "TIMEOUT = 10",
                    "new_string": "TIMEOUT = 30",
                    "instruction": "raise the timeout",
                },
                text="Raising it.",
            ),
            Reply.text("Raised the timeout."),
        ],
        ["approve_for_session"],
        {"config.py": "import os\nTIMEOUT = 10\nRETRIES = 2\n"},
    ),
    "shell": (
        ["run it"],
        [
            Reply.call(
                "run_shell_command", {"command": "printf hi > said.txt", "description": "say hi"}
            ),
            Reply.text("It said hi."),
        ],
        ["approve"],
        {},
    ),
    "interrupt_while_pending": (
        ["write hello.txt"],
        [Reply.call("write_file", {"file_path": "{W}/hello.txt", "content": "hello\n"})],
        ["interrupt"],
        {},
    ),
    "api_error": (
        ["hi"],
        [Reply.error(400, "API key not valid. Please pass a valid API key.")],
        [],
        {},
    ),
}

COPILOT_SCENARIOS: dict[str, tuple[list[str], list[oa.Reply], list[str], dict[str, str]]] = {
    "text": (
        ["hi"],
        [
            oa.Reply(
                [oa.reasoning("The user greets me."), oa.text("Hello from Copilot.")],
                usage=oa.Usage(input_tokens=900, output_tokens=12, cached_tokens=300),
            )
        ],
        [],
        {},
    ),
    "write_approve": (
        ["write hello.txt"],
        [
            oa.Reply(
                [oa.function_call("create", {"path": "{W}/hello.txt", "file_text": "hello\n"})]
            ),
            oa.Reply([oa.text("Created hello.txt.")]),
        ],
        ["approve"],
        {},
    ),
    "write_deny": (
        ["write hello.txt"],
        [
            oa.Reply(
                [oa.function_call("create", {"path": "{W}/hello.txt", "file_text": "hello\n"})]
            ),
            oa.Reply([oa.text("Understood.")]),
        ],
        ["deny"],
        {},
    ),
    "edit_for_session": (
        ["raise the timeout"],
        [
            oa.Reply(
                [
                    oa.function_call(
                        "edit",
                        {
                            "path": "{W}/config.py",
                            "old_str": "TIMEOUT = 10",
                            "new_str": "TIMEOUT = 30",
                        },
                    )
                ]
            ),
            oa.Reply([oa.text("Raised the timeout.")]),
        ],
        ["approve_for_session"],
        {"config.py": "import os\nTIMEOUT = 10\nRETRIES = 2\n"},
    ),
    "shell": (
        ["run it"],
        [
            oa.Reply(
                [
                    oa.function_call(
                        "bash", {"command": "printf hi; exit 3", "description": "say hi"}
                    )
                ]
            ),
            oa.Reply([oa.text("It said hi.")]),
        ],
        ["approve"],
        {},
    ),
    "interrupt_while_pending": (
        ["write hello.txt"],
        [oa.Reply([oa.function_call("create", {"path": "{W}/hello.txt", "file_text": "hello\n"})])],
        ["interrupt"],
        {},
    ),
    "api_error": (
        ["hi"],
        [oa.Reply(status=400, error="Invalid API key.")],
        [],
        {},
    ),
}


def _fill(value: Any, workspace: Path) -> Any:
    return json.loads(json.dumps(value).replace("{W}", str(workspace)))


async def _capture_one(agent: str, name: str, tmp: Path) -> None:
    workspace = tmp / "work"
    workspace.mkdir()
    adapter_cls: type[AcpAdapter]
    if agent == "gemini":
        prompts, replies, decisions, files = GEMINI_SCENARIOS[name]
        filled = [Reply(_fill(r.parts, workspace), *_reply_rest(r)) for r in replies]
        with GeminiApi(filled) as gemini:
            config = gemini_config(tmp / "home", gemini.url)
            adapter_cls = GeminiAdapter
            events = await _run(adapter_cls, workspace, config, prompts, decisions, files, name)
    else:
        prompts, oa_replies, decisions, files = COPILOT_SCENARIOS[name]
        filled_oa = [
            oa.Reply(
                [oa.Item(_fill(i.body, workspace)) for i in r.items],
                r.usage,
                r.fail,
                r.status,
                r.error,
            )
            for r in oa_replies
        ]
        with ResponsesApi(filled_oa, models=(COPILOT_MODEL,)) as responses:
            config = copilot_config(tmp / "home", responses.base_url)
            adapter_cls = CopilotAdapter
            events = await _run(adapter_cls, workspace, config, prompts, decisions, files, name)
    print(f"{agent}/{name}: {len(events)} events")
    for event in event_dicts(events):
        print("   ", json.dumps(event).replace(str(workspace), "{WORKSPACE}")[:200])


def _reply_rest(reply: Reply) -> tuple[Any, ...]:
    return (
        reply.prompt_tokens,
        reply.output_tokens,
        reply.cached_tokens,
        reply.status,
        reply.error_message,
    )


async def _run(
    adapter_cls: type[AcpAdapter],
    workspace: Path,
    config: AgentConfig,
    prompts: list[str],
    decisions: list[str],
    files: dict[str, str],
    name: str,
) -> list[Any]:
    spec = spec_for(workspace, config)
    out = GOLDEN / adapter_cls.agent / f"{name}.jsonl"
    return await capture(adapter_cls, spec, prompts, decisions, out, files)


def main() -> None:
    agent, names = sys.argv[1], sys.argv[2:]
    scenarios = GEMINI_SCENARIOS if agent == "gemini" else COPILOT_SCENARIOS
    for name in names or list(scenarios):
        tmp = Path(tempfile.mkdtemp(prefix="acp-capture-"))
        try:
            asyncio.run(_capture_one(agent, name, tmp))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
