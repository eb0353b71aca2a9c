"""Real agent runs recorded as golden transcripts (the format of tests/agents/golden.py).

`capture()` runs the real CLI through its adapter and driver, as a relay does, and writes what
went each way and what the viewer did; the capture scripts (tests/agents/acp_agents.py,
tests/golden/codex/capture.py) refresh the golden files with it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from protocol import messages as m
from protocol.version import SOFTWARE_VERSION
from relay.agent.adapters.base import SessionSpec
from relay.agent.config import AgentConfig
from relay.agent.structured import StructuredAdapter
from relay.workspaces import Workspace
from tests.agents.golden import VERSION, WORKSPACE

STARTUP_TIMEOUT_S = 60.0  # node CLIs start slowly


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


class RecordingSink:
    """An EventSink that keeps what it is given."""

    def __init__(self, on_event: Callable[[m.Event], None] | None = None) -> None:
        self.events: list[m.Event] = []
        self.tokens: list[str] = []
        self._on_event = on_event

    def emit(self, event: m.Event) -> None:
        self.events.append(event)
        if self._on_event is not None:
            self._on_event(event)

    @property
    def full(self) -> bool:
        return False

    def resumable(self, token: str) -> None:
        self.tokens.append(token)


class Tap:
    """Records both directions of a real adapter's stdio, and the viewer's actions."""

    def __init__(self, adapter: StructuredAdapter, header: dict[str, Any] | None = None) -> None:
        self.lines: list[dict[str, Any]] = [header] if header else []
        send, on_line = adapter.send, adapter.translator.on_line

        def sent(message: dict[str, Any]) -> None:
            self.lines.append({"from": "client", "message": message})
            send(message)

        def read(line: str) -> None:
            try:
                message = json.loads(line)
            except ValueError:
                message = None
            entry = {"message": message} if isinstance(message, dict) else {"line": line.strip()}
            self.lines.append({"from": "agent", **entry})
            on_line(line)

        adapter.send = sent  # type: ignore[method-assign]
        adapter.translator.on_line = read  # type: ignore[method-assign]

    def viewer(self, action: str, **fields: Any) -> None:
        self.lines.append({"viewer": action, **fields})

    def text(self, workspace: str = "") -> str:
        """The transcript; `workspace` (if given) written as {WORKSPACE}."""
        text = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in self.lines)
        if workspace:
            text = text.replace(workspace, WORKSPACE)
        ours = '"name": "tether", "version": '  # clientInfo: the only place our version appears
        return text.replace(ours + json.dumps(SOFTWARE_VERSION), ours + f'"{VERSION}"')


async def capture(
    adapter_cls: type[StructuredAdapter],
    spec: SessionSpec,
    prompts: list[str],
    decisions: list[str],
    out: Path,
    files: dict[str, str] | None = None,
    turn_timeout_s: float = 90.0,
) -> list[m.Event]:
    """Run the real agent through its adapter; write the run as a transcript in which the
    workspace is {WORKSPACE}. `decisions` answer the approvals in order ("interrupt" too)."""
    workspace = Path(spec.workspace.path)
    for name, content in (files or {}).items():
        (workspace / name).write_text(content)
    decisions = list(decisions)
    idle = asyncio.Event()
    tasks: set[asyncio.Task[None]] = set()  # viewer actions, kept until the run ends

    def on_event(event: m.Event) -> None:
        if isinstance(event, m.ApprovalRequested):
            decision = decisions.pop(0)
            if decision == "interrupt":
                tap.viewer("interrupt")
                tasks.add(asyncio.get_running_loop().create_task(adapter.interrupt()))
                return
            tap.viewer("resolve", decision=decision)
            answer = adapter.resolve_approval(event.approval_id, decision, "")  # type: ignore[arg-type]
            tasks.add(asyncio.get_running_loop().create_task(answer))
        if isinstance(event, m.Status) and event.state == "idle":
            idle.set()

    sink = RecordingSink(on_event)
    adapter = adapter_cls(spec, sink)
    tap = Tap(adapter, {"files": files} if files else None)
    await adapter.start()
    runner = asyncio.create_task(adapter.run())
    try:
        async with asyncio.timeout(STARTUP_TIMEOUT_S):
            await adapter.started()
        for text in prompts:
            idle.clear()
            tap.viewer("prompt", text=text)
            await adapter.send_input(text)
            async with asyncio.timeout(turn_timeout_s):
                await idle.wait()
    finally:
        await adapter.stop(5)
        await runner
        adapter.close()
    await asyncio.to_thread(out.write_text, tap.text(str(workspace)))
    return sink.events
