"""A real `tether serve` and `tether relay` offering one real agent CLI, and the viewer commands
the end-to-end agent tests send through them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from protocol import messages as m
from relay.agent.config import AgentConfig
from tests.agents.conftest import relay_config
from tests.harness import Stack, Viewer


def agent_stack(tmp_path: Path, agent: AgentConfig) -> Stack:
    """A server and a relay offering `agent` (not started)."""
    table: dict[str, object] = {
        "executable": agent.executable,
        "environment": dict(agent.environment),
        "secrets": dict(agent.secrets),
    }
    return Stack(tmp_path, relay_config=relay_config(tmp_path / "relay.toml", {agent.name: table}))


def kind(name: str, **fields: Any) -> Callable[[dict[str, Any]], bool]:
    """A predicate for `Stack.wait_for_event`: an event of kind `name` with these field values."""
    return lambda e: e["kind"] == name and all(e.get(k) == v for k, v in fields.items())


def approval(session_id: str, approval_id: str, decision: m.Decision) -> m.ResolveApproval:
    return m.ResolveApproval(
        session_id=session_id, approval_id=approval_id, decision=decision, request_id="r1"
    )


async def try_command(
    stack: Stack, message: m.ClientMessage, timeout_s: float = 20.0
) -> m.Result | m.ClientError:
    """Send `message` from a new viewer; the server's answer."""
    viewer = await Viewer.open(stack.server.url)
    try:
        await viewer.send(message)
        await viewer.until(lambda: bool(viewer.results), timeout_s)
        return viewer.results[0]
    finally:
        await viewer.close()


async def command(stack: Stack, message: m.ClientMessage, timeout_s: float = 20.0) -> None:
    """Send `message` from a new viewer; the server must accept it."""
    result = await try_command(stack, message, timeout_s)
    assert isinstance(result, m.Result) and result.ok, result


def hello_written(events: list[dict[str, Any]], added: str = "+hello") -> dict[str, Any]:
    """The `file_changed` of an approved write of hello.txt: the tool call succeeded, the path is
    relative to the workspace and the diff adds `added`."""
    finished = next(e for e in events if e["kind"] == "tool_finished")
    assert not finished.get("is_error")
    changed = next(e for e in events if e["kind"] == "file_changed")
    assert changed["path"] == "hello.txt" and added in changed["diff"]
    return changed
