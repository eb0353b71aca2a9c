"""Any ACP agent: hand-written transcripts of shapes the ACP spec allows that Gemini and Copilot
do not send, through the translator; handshakes that fail, and a request a real (scripted)
agent process never answers, timed out by the driver; and which `[agents.<name>]` a relay
offers, and why not.

The transcripts in tests/golden/acp/ follow the ACP v1 schema (tool-call updates change only
the fields they carry). Refresh the expected events with `GOLDEN_UPDATE=1`.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from protocol import messages as m
from relay.agent.adapters import ADAPTERS, with_acp_agents
from relay.agent.adapters.acp import AcpAdapter
from relay.agent.config import AgentConfig, offered_agents
from tests.agents.capture import RecordingSink, spec_for
from tests.agents.golden import check, translator_for

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "acp"
CONFIG = AgentConfig(name="acp", executable="some-acp-agent")


def test_a_diff_sent_before_the_completing_update_still_changes_the_file(tmp_path: Path) -> None:
    events = check(GOLDEN / "diff_in_intermediate_update.jsonl", tmp_path).events
    (changed,) = [e for e in events if isinstance(e, m.FileChanged)]
    assert (changed.path, changed.change) == ("notes.txt", "modified")
    assert changed.diff.splitlines()[:2] == ["--- a/notes.txt", "+++ b/notes.txt"]
    assert "-two" in changed.diff and "+TWO" in changed.diff
    (finished,) = [e for e in events if isinstance(e, m.ToolFinished)]
    assert not finished.is_error


def test_tool_started_waits_for_the_input_of_a_later_update(tmp_path: Path) -> None:
    events = check(GOLDEN / "input_in_later_update.jsonl", tmp_path).events
    (started,) = [e for e in events if isinstance(e, m.ToolStarted)]
    assert (started.name, started.input) == ("grep", {"pattern": "TODO", "path": "."})
    (finished,) = [e for e in events if isinstance(e, m.ToolFinished)]
    assert finished.output == "notes.txt:1: TODO"


def test_an_argv_command_is_shown_as_a_shell_command_line(tmp_path: Path) -> None:
    events = check(GOLDEN / "argv_command.jsonl", tmp_path).events
    (command,) = [e for e in events if isinstance(e, m.Command)]
    assert command.command == "/bin/bash -lc 'ls -la'"
    assert (command.exit_code, command.output) == (0, "total 0")


def _executable(path: Path, mode: int = 0o755) -> Path:
    path.write_text("#!/bin/sh\n")
    path.chmod(mode)
    return path


def test_every_unknown_agent_name_is_an_acp_agent_offered_under_that_name(tmp_path: Path) -> None:
    goose = _executable(tmp_path / "goose")
    configured = {
        "goose": AgentConfig(name="goose", executable=str(goose), args=("acp",)),
        "other": AgentConfig(name="other", executable="other-acp", enabled=False),
        "claude-hooks": AgentConfig(name="claude-hooks", executable=str(goose)),
    }
    adapters = with_acp_agents(ADAPTERS, configured)
    assert issubclass(adapters["goose"], AcpAdapter) and adapters["goose"].agent == "goose"
    assert adapters["gemini"] is ADAPTERS["gemini"]
    assert "claude-hooks" not in adapters  # Tether's own name, never an ACP agent
    executables = {name: adapter.executable for name, adapter in adapters.items()}
    offered, refused = offered_agents(configured, executables, str(tmp_path))
    assert offered["goose"].executable == str(goose)
    assert "other" not in offered and "other" not in refused  # disabled: nothing to say


def test_an_agent_not_offered_is_given_the_true_reason(tmp_path: Path) -> None:
    script = _executable(tmp_path / "agent.js", mode=0o644)
    configured = {
        name: AgentConfig(name=name, executable=executable)
        for name, executable in (
            ("plain_file", str(script)),
            ("missing", str(tmp_path / "nowhere")),
            ("folder", str(tmp_path)),
            ("not_on_path", "no-such-agent"),
            ("no_executable", ""),
        )
    }
    executables = {
        name: adapter.executable for name, adapter in with_acp_agents({}, configured).items()
    }
    offered, refused = offered_agents(configured, executables, str(tmp_path))
    assert not offered
    assert refused == {
        "plain_file": f"{script} is not executable"
        " (chmod +x, or name its interpreter as executable)",
        "missing": f"{tmp_path / 'nowhere'} does not exist",
        "folder": f"{tmp_path} is a directory",
        "not_on_path": f"'no-such-agent' is not on PATH ({tmp_path})",
        "no_executable": "no executable is configured (an ACP agent needs `executable`)",
    }


def test_a_configured_agent_without_an_adapter_is_reported() -> None:
    configured = {"goose": AgentConfig(name="goose", executable="goose")}
    offered, refused = offered_agents(configured, {"pty": None}, "")
    assert list(offered) == ["pty"] and refused == {"goose": "no adapter of that name"}


def test_a_handshake_the_agent_refuses_ends_the_start_with_its_reason(tmp_path: Path) -> None:
    translator, record = translator_for("acp", tmp_path)
    translator.start()
    translator.on_message({"jsonrpc": "2.0", "id": 1, "result": {"protocolVersion": 1}})
    error = {"code": -32000, "message": "Authentication required"}
    translator.on_message({"jsonrpc": "2.0", "id": 2, "error": error})
    (failed,) = record.of(m.Error)
    assert (failed.code, failed.message) == (
        "start_failed",
        "acp did not start: Authentication required",
    )
    assert record.gave_up and not record.is_ready


def test_a_session_without_an_id_is_not_started(tmp_path: Path) -> None:
    translator, record = translator_for("acp", tmp_path)
    translator.start()
    translator.on_message({"jsonrpc": "2.0", "id": 1, "result": {"protocolVersion": 1}})
    translator.on_message({"jsonrpc": "2.0", "id": 2, "result": {}})
    (failed,) = record.of(m.Error)
    assert failed.message == "acp did not start: session/new answered without a sessionId"
    assert record.gave_up and not record.is_ready


SILENT_AGENT = """
import json, sys
for line in sys.stdin:
    message = json.loads(line)
    if message.get("method") == "initialize":
        print(json.dumps({"jsonrpc": "2.0", "id": message["id"], "result": {}}), flush=True)
"""  # answers initialize, then never session/new


def _errors_of_a_run(tmp_path: Path, agent: str, close_first: bool = False) -> list[m.Error]:
    """The error events of an AcpAdapter driving the Python program `agent` until it exits
    (with `close_first`, its input is closed right after the spawn)."""
    script = tmp_path / "agent.py"
    script.write_text(agent)
    config = AgentConfig(name="acp", executable=sys.executable, args=(str(script),))
    sink = RecordingSink()

    async def run() -> int | None:
        adapter = AcpAdapter(spec_for(tmp_path, config), sink)
        await adapter.start()
        if close_first:
            adapter.close()
        try:
            async with asyncio.timeout(30):
                return await adapter.run()
        finally:
            adapter.close()

    asyncio.run(run())
    return [e for e in sink.events if isinstance(e, m.Error)]


def test_the_driver_times_out_a_request_the_agent_never_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("relay.agent.translators.acp.SETUP_TIMEOUT_S", 0.2)
    (error,) = _errors_of_a_run(tmp_path, SILENT_AGENT)
    assert (error.code, error.message) == (
        "start_failed",
        "acp did not start: no answer to session/new in 0.2 s",
    )


def test_a_handshake_that_cannot_be_written_ends_the_start_with_its_reason(
    tmp_path: Path,
) -> None:
    # the agent ends when its input closes, which happens before the handshake is written
    (error,) = _errors_of_a_run(tmp_path, "import sys\nsys.stdin.read()\n", close_first=True)
    assert (error.code, error.message) == (
        "start_failed",
        "acp did not start: the agent's input is closed",
    )
