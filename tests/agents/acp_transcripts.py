"""Native ACP transcripts: captured from the real CLIs, replayed through the adapter's parsing.

A transcript (`tests/golden/<agent>/<name>.jsonl`) holds one JSON object per line:

    {"files": {"config.py": "..."}}             workspace files before the run (optional, first)
    {"from": "client", "message": {...}}        what the adapter wrote to the agent's stdin
    {"from": "agent", "message": {...}}         what the agent wrote to its stdout
    {"from": "agent", "line": "..."}            a stdout line that is not JSON
    {"viewer": "prompt", "text": "..."}         a viewer's prompt (send_input)
    {"viewer": "resolve", "decision": "..."}    a viewer's decision on the pending approval
    {"viewer": "interrupt"}

Paths inside the workspace are stored as `{WORKSPACE}` and Tether's version as `{VERSION}`.
`replay()` feeds the agent's side through the adapter (no process) and returns the events it
emitted and what it wrote back; the golden test compares them with `<name>.events.json` and the
transcript's client lines. `capture()` runs the real CLI through the same adapter and writes a
transcript; `tests/agents/acp_capture.py` uses it to refresh the golden files.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from protocol import messages as m
from protocol.version import SOFTWARE_VERSION
from relay.agent.adapters.acp import AcpAdapter
from relay.agent.adapters.base import SessionSpec
from relay.agent.config import AgentConfig
from relay.workspaces import Workspace
from tests.agents.sink import RecordingSink, compare_golden, event_dicts

WORKSPACE = "{WORKSPACE}"
VERSION = "{VERSION}"


def spec_for(workspace: Path, agent: AgentConfig, resume: str = "") -> SessionSpec:
    return SessionSpec(
        session_id="s-golden",
        workspace=Workspace(name="work", path=str(workspace)),
        command=(),
        prompt="",
        cols=80,
        rows=24,
        shell="",
        env={**agent.environment, **agent.secrets},
        agent=agent,
        resume=resume,
    )


def load(path: Path, workspace: Path) -> list[dict[str, Any]]:
    text = path.read_text().replace(WORKSPACE, str(workspace)).replace(VERSION, SOFTWARE_VERSION)
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def normalise(value: Any, workspace: Path) -> Any:
    text = json.dumps(value).replace(str(workspace), WORKSPACE)
    ours = '"name": "tether", "version": '  # clientInfo: the only place our version appears
    return json.loads(text.replace(ours + json.dumps(SOFTWARE_VERSION), ours + f'"{VERSION}"'))


def normalised_events(events: list[m.Event], workspace: Path) -> list[dict[str, Any]]:
    return list(normalise(event_dicts(events), workspace))


async def _settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def replay(
    adapter_cls: type[AcpAdapter], transcript: Path, workspace: Path, agent: AgentConfig
) -> tuple[RecordingSink, list[dict[str, Any]], list[dict[str, Any]]]:
    """Run a transcript's agent side through the adapter; returns (sink, sent, expected sent)."""
    entries = load(transcript, workspace)
    sent: list[dict[str, Any]] = []

    class Replayed(adapter_cls):  # type: ignore[valid-type,misc]
        def send(self, message: dict[str, Any]) -> None:
            sent.append(message)

    sink = RecordingSink()
    adapter = Replayed(spec_for(workspace, agent), sink)
    start = asyncio.create_task(adapter.on_start())
    expected: list[dict[str, Any]] = []
    for entry in entries:
        if "files" in entry:
            for name, content in entry["files"].items():
                (workspace / name).write_text(content)
        elif entry.get("from") == "client":
            expected.append(entry["message"])
        elif entry.get("from") == "agent":
            line = entry["line"] if "line" in entry else json.dumps(entry["message"])
            await adapter._dispatch(line.encode())
        elif entry.get("viewer") == "prompt":
            sink.emit(m.UserPrompt(text=entry["text"]))
            sink.emit(m.Status(state="running"))
            await adapter.prompt(entry["text"])
        elif entry.get("viewer") == "resolve":
            (pending,) = adapter.pending_approvals()
            await adapter.resolve_approval(pending, entry["decision"], "")
        elif entry.get("viewer") == "interrupt":
            await adapter.interrupt()
        await _settle()
    await _settle()
    assert start.done(), "the handshake did not finish"
    start.result()
    return sink, sent, expected


async def capture(
    adapter_cls: type[AcpAdapter],
    spec: SessionSpec,
    prompts: list[str],
    decisions: list[str],
    out: Path,
    files: dict[str, str] | None = None,
    turn_timeout_s: float = 90.0,
) -> list[m.Event]:
    """Run the real agent through the adapter; write both directions as a transcript."""
    workspace = Path(spec.workspace.path)
    lines: list[dict[str, Any]] = [{"files": files}] if files else []
    for name, content in (files or {}).items():
        (workspace / name).write_text(content)
    decisions = list(decisions)
    idle = asyncio.Event()
    tasks: set[asyncio.Task[None]] = set()  # viewer actions, kept until the run ends

    def on_event(event: m.Event) -> None:
        if isinstance(event, m.ApprovalRequested):
            decision = decisions.pop(0)
            loop = asyncio.get_running_loop()
            if decision == "interrupt":
                lines.append({"viewer": "interrupt"})
                tasks.add(loop.create_task(adapter.interrupt()))
                return
            lines.append({"viewer": "resolve", "decision": decision})
            answer = adapter.resolve_approval(event.approval_id, decision, "")  # type: ignore[arg-type]
            tasks.add(loop.create_task(answer))
        if isinstance(event, m.Status) and event.state == "idle":
            idle.set()

    class Tapped(adapter_cls):  # type: ignore[valid-type,misc]
        def send(self, message: dict[str, Any]) -> None:
            lines.append({"from": "client", "message": message})
            super().send(message)

        async def on_message(self, message: dict[str, Any]) -> None:
            lines.append({"from": "agent", "message": message})
            await super().on_message(message)

    sink = RecordingSink(on_event)
    adapter = Tapped(spec, sink)
    await adapter.start()
    runner = asyncio.create_task(adapter.run())
    try:
        async with asyncio.timeout(60):
            await adapter._ready.wait()
        for text in prompts:
            idle.clear()
            lines.append({"viewer": "prompt", "text": text})
            await adapter.send_input(text)
            async with asyncio.timeout(turn_timeout_s):
                await idle.wait()
    finally:
        await adapter.stop(5)
        await runner
        adapter.close()
    text = "".join(json.dumps(normalise(line, workspace)) + "\n" for line in lines)
    await asyncio.to_thread(out.write_text, text)
    return sink.events


def check_golden(
    adapter_cls: type[AcpAdapter], transcript: Path, workspace: Path, agent: AgentConfig
) -> list[m.Event]:
    """Replay `transcript` and compare with its golden events and the recorded client side.
    With GOLDEN_UPDATE=1 the events file is (re)written instead."""
    sink, sent, expected = asyncio.run(replay(adapter_cls, transcript, workspace, agent))
    compare_golden(
        normalised_events(sink.events, workspace), transcript.with_suffix(".events.json")
    )
    assert normalise(sent, workspace) == normalise(expected, workspace)
    assert all(e.raw is not None for e in sink.events if isinstance(e, m.Native))
    return sink.events
