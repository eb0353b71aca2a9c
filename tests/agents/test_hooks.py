"""The Claude Code hooks bridge: `tether hook install`, the hook command and the relay's socket.
The real `claude` TUI waiting in a hook for a decision made in Tether: test_hooks_tui.py."""

from __future__ import annotations

import asyncio
import io
import json
import os
import shlex
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

from protocol import messages as m
from protocol.codes import ErrorCode
from relay.errors import CommandError
from relay.hooks import cli as hook
from relay.hooks.bridge import SOCKET_NAME, HookBridge, HookListener
from relay.outbox import Outbox
from relay.settings import Settings
from relay.supervisor import Supervisor
from relay.workspaces import Workspace
from tests.agents.tether_cli import run_tether
from tests.harness import ROOT, wait_until_async

# --------------------------------------------------------------------------- install


def test_install_merges_is_idempotent_and_uninstall_keeps_other_hooks(tmp_path: Path) -> None:
    settings = tmp_path / "settings.json"
    theirs = {"type": "command", "command": "/usr/local/bin/lint-check"}
    settings.write_text(
        json.dumps(
            {
                "model": "opus",
                "hooks": {
                    "PreToolUse": [{"matcher": "Bash", "hooks": [theirs]}],
                    "Stop": [{"hooks": [{"type": "command", "command": "notify-send done"}]}],
                },
            }
        )
    )
    first = run_tether("hook", "install", "--settings", str(settings), "--state-dir", "st")
    assert first.returncode == 0, first.stderr
    once = settings.read_text()
    again = run_tether("hook", "install", "--settings", str(settings), "--state-dir", "st")
    assert again.returncode == 0 and "no change" in again.stdout
    assert settings.read_text() == once

    data = json.loads(once)
    assert data["model"] == "opus"
    for event in ("PreToolUse", "PermissionRequest", "Notification", "Stop", "SessionStart"):
        ours = [h for g in data["hooks"][event] for h in g["hooks"] if hook.is_tether_hook(h)]
        assert len(ours) == 1, event
        argv = shlex.split(ours[0]["command"])
        assert Path(argv[0]).is_absolute() and os.access(argv[0], os.X_OK)
        assert argv[-4:] == ["hook", event, "--state-dir", str((ROOT / "st").resolve())]
    pre = [h for g in data["hooks"]["PreToolUse"] for h in g["hooks"] if hook.is_tether_hook(h)]
    assert pre[0]["timeout"] >= 86400  # a decision may take a while; Claude's default is 60 s
    assert {"matcher": "Bash", "hooks": [theirs]} in data["hooks"]["PreToolUse"]

    removed = run_tether("hook", "uninstall", "--settings", str(settings))
    assert removed.returncode == 0, removed.stderr
    assert json.loads(settings.read_text()) == {
        "model": "opus",
        "hooks": {
            "PreToolUse": [{"matcher": "Bash", "hooks": [theirs]}],
            "Stop": [{"hooks": [{"type": "command", "command": "notify-send done"}]}],
        },
    }


def test_install_project_settings_and_refuse_broken_file(tmp_path: Path) -> None:
    result = run_tether("hook", "install", "--project", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    written = tmp_path / ".claude/settings.json"
    assert set(json.loads(written.read_text())["hooks"]) >= {"PreToolUse", "SessionStart"}
    assert written.stat().st_mode & 0o777 == 0o600

    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    result = run_tether("hook", "install", "--settings", str(broken))
    assert result.returncode == 1 and "broken.json" in result.stderr
    assert broken.read_text() == "{not json"


def test_hook_without_a_relay_prints_nothing_and_exits_0_quickly(tmp_path: Path) -> None:
    hook_input = {"session_id": "s1", "cwd": str(tmp_path), "hook_event_name": "PreToolUse"}
    started = time.monotonic()
    result = run_tether(
        "hook", "PreToolUse", "--state-dir", str(tmp_path / "nothing"), stdin=json.dumps(hook_input)
    )
    assert result.returncode == 0
    assert result.stdout == ""
    assert "no Tether relay" in result.stderr and "Claude Code decides" in result.stderr
    assert time.monotonic() - started < 5


# --------------------------------------------------------------------------- relay side, in process

_decode_relay_event = msgspec.json.Decoder(m.RelayEvent).decode


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    path = tmp_path / "work"
    path.mkdir()
    return path.resolve()


@pytest.fixture
def settings(tmp_path: Path, workspace: Path) -> Settings:
    return Settings(
        server="http://127.0.0.1:9",
        token="test-token",
        state_dir=str(tmp_path / "state"),
        workspaces=(Workspace("work", str(workspace)),),
        shell="/bin/sh",
        stop_grace_s=1.0,
    )


class _Relay:
    """A supervisor, its outbox and the hook listener, as the relay wires them; hooks are sent
    by the real `tether hook` client code (in a thread: it blocks, as in Claude Code)."""

    def __init__(self, supervisor: Supervisor, outbox: Outbox, listener: HookListener) -> None:
        self.supervisor = supervisor
        self.outbox = outbox
        self.listener = listener

    async def raw(self, request: dict[str, Any]) -> dict[str, Any]:
        """One request as `tether hook` sends it, with a pid of our choosing."""
        reader, writer = await asyncio.open_unix_connection(str(self.listener.path))
        writer.write(json.dumps(request).encode() + b"\n")
        reply = json.loads(await reader.readline())
        writer.close()
        assert isinstance(reply, dict)
        return reply

    async def hook(self, event: str, **fields: Any) -> dict[str, Any] | None:
        data = {"session_id": "claude-1", "cwd": fields.pop("cwd", None), **fields}
        data["hook_event_name"] = event
        out = io.StringIO()
        payload = json.dumps(data).encode()
        code = await asyncio.to_thread(hook.run_hook, event, self.listener.path, payload, out)
        assert code == 0
        return json.loads(out.getvalue()) if out.getvalue() else None

    def events(self) -> list[m.Event]:
        self.outbox.flush()
        rows = self.outbox.read_batch(0, max_events=10_000, max_bytes=1 << 30)
        return [_decode_relay_event(r.payload).event for r in rows]

    def session_id(self) -> str:
        (session_id,) = self.supervisor.live_sessions()
        return session_id

    async def until(self, kind: type[m.Event], count: int = 1) -> list[m.Event]:
        found: list[m.Event] = []

        def enough() -> bool:
            found[:] = [e for e in self.events() if isinstance(e, kind)]
            return len(found) >= count

        await wait_until_async(enough, 10, f"{count} {kind.__name__} in the outbox")
        return found


def _with_relay(settings: Settings, body: Callable[[_Relay], Awaitable[None]]) -> None:
    state = Path(settings.state_dir)
    state.mkdir(parents=True, exist_ok=True, mode=0o700)

    async def scenario() -> None:
        outbox = Outbox.open(state)
        supervisor = Supervisor(settings, outbox, {"PATH": "/usr/bin:/bin"})
        listener = HookListener(state / SOCKET_NAME, HookBridge(settings.workspaces, supervisor))
        await listener.start()
        try:
            await body(_Relay(supervisor, outbox, listener))
        finally:
            await listener.close()
            await supervisor.stop_all()
            outbox.close()

    asyncio.run(scenario())


# How long a hook is watched for an answer that must not come before a decision: a relay that
# answers on its own does so at once
HOOK_WATCH_S = 0.3


def _bash(command: str) -> dict[str, Any]:
    return {"tool_name": "Bash", "tool_input": {"command": command}, "tool_use_id": "toolu_1"}


def test_pre_tool_use_waits_for_the_viewer_and_answers_natively(
    settings: Settings, workspace: Path
) -> None:
    async def body(relay: _Relay) -> None:
        assert oct(relay.listener.path.stat().st_mode & 0o777) == "0o600"
        asking = asyncio.create_task(relay.hook("PreToolUse", cwd=str(workspace), **_bash("make")))
        (asked,) = await relay.until(m.ApprovalRequested)
        assert isinstance(asked, m.ApprovalRequested)
        assert (asked.tool, asked.summary, asked.input) == (
            "Bash",
            "Bash: make",
            {"command": "make"},
        )
        await asyncio.sleep(HOOK_WATCH_S)
        assert not asking.done()  # no timeout in the relay: it waits for a decision
        session_id = relay.session_id()
        await relay.supervisor.handle(
            m.ResolveApproval(
                session_id=session_id, approval_id=asked.approval_id, decision="approve"
            )
        )
        assert await asking == {
            "hookSpecificOutput": {
                "hookEventName": "PreToolUse",
                "permissionDecision": "allow",
                "permissionDecisionReason": "approved in Tether",
            }
        }
        asking = asyncio.create_task(
            relay.hook("PreToolUse", cwd=str(workspace), **_bash("rm -rf /"))
        )
        second = (await relay.until(m.ApprovalRequested, 2))[1]
        assert isinstance(second, m.ApprovalRequested)
        await relay.supervisor.handle(
            m.ResolveApproval(
                session_id=session_id,
                approval_id=second.approval_id,
                decision="deny",
                message="no!",
            )
        )
        answer = await asking
        assert answer is not None
        assert answer["hookSpecificOutput"]["permissionDecision"] == "deny"
        assert answer["hookSpecificOutput"]["permissionDecisionReason"] == "no!"

        # a read-only tool is left to Claude Code's own rules: reported, not asked
        assert (
            await relay.hook("PreToolUse", cwd=str(workspace), tool_name="Read", tool_input={})
            is None
        )
        with pytest.raises(CommandError) as refused:
            await relay.supervisor.handle(m.SendInput(session_id=session_id, data="hello"))
        assert refused.value.code == ErrorCode.NOT_SUPPORTED
        assert "driven from its own terminal" in refused.value.message

        started = relay.events()[0]
        assert isinstance(started, m.SessionStarted)
        assert (started.agent, started.workspace, started.cwd) == (
            "claude-hooks",
            "work",
            str(workspace),
        )
        kinds = [type(e).__name__ for e in relay.events()]
        assert kinds[:7] == [
            "SessionStarted", "Status", "ToolStarted", "ApprovalRequested", "Status",
            "ApprovalResolved", "Status",
        ]  # fmt: skip
        resolved = [e for e in relay.events() if isinstance(e, m.ApprovalResolved)]
        assert [r.decision for r in resolved] == ["approved", "denied"]

    _with_relay(settings, body)


def test_permission_request_for_session_passes_claudes_suggestions(
    settings: Settings, workspace: Path
) -> None:
    suggestions = [{"type": "addRules", "rules": [{"toolName": "Bash"}], "behavior": "allow"}]

    async def body(relay: _Relay) -> None:
        asking = asyncio.create_task(
            relay.hook(
                "PermissionRequest",
                cwd=str(workspace / "sub"),
                tool_name="WebFetch",
                tool_input={"url": "https://example.com"},
                permission_suggestions=suggestions,
            )
        )
        (asked,) = await relay.until(m.ApprovalRequested)
        assert isinstance(asked, m.ApprovalRequested)
        await relay.supervisor.handle(
            m.ResolveApproval(
                session_id=relay.session_id(),
                approval_id=asked.approval_id,
                decision="approve_for_session",
            )
        )
        assert await asking == {
            "hookSpecificOutput": {
                "hookEventName": "PermissionRequest",
                "decision": {"behavior": "allow", "updatedPermissions": suggestions},
            }
        }

    (workspace / "sub").mkdir()
    _with_relay(settings, body)


def test_outside_every_workspace_claude_decides_and_no_session_appears(
    settings: Settings, tmp_path: Path
) -> None:
    async def body(relay: _Relay) -> None:
        assert await relay.hook("PreToolUse", cwd=str(tmp_path), **_bash("ls")) is None
        assert await relay.hook("Stop", cwd=str(tmp_path)) is None
        assert relay.supervisor.live_sessions() == [] and relay.events() == []

    _with_relay(settings, body)


def test_a_cancelled_hook_withdraws_its_approval(settings: Settings, workspace: Path) -> None:
    async def body(relay: _Relay) -> None:
        reader, writer = await asyncio.open_unix_connection(str(relay.listener.path))
        data = {"session_id": "claude-1", "cwd": str(workspace), "hook_event_name": "PreToolUse"}
        request = {"event": "PreToolUse", "pid": 0, "input": {**data, **_bash("sleep 1")}}
        writer.write(json.dumps(request).encode() + b"\n")
        await relay.until(m.ApprovalRequested)
        writer.close()  # Claude Code killed the hook (Esc in the TUI)
        (resolved,) = await relay.until(m.ApprovalResolved)
        assert isinstance(resolved, m.ApprovalResolved) and resolved.decision == "cancelled"
        assert relay.supervisor.pending_approvals() == []
        assert await reader.read() == b""

    _with_relay(settings, body)


def test_stop_ends_only_tethers_view(settings: Settings, workspace: Path) -> None:
    async def body(relay: _Relay) -> None:
        assert await relay.hook("SessionStart", cwd=str(workspace), source="startup") is None
        asking = asyncio.create_task(relay.hook("PreToolUse", cwd=str(workspace), **_bash("ls")))
        await relay.until(m.ApprovalRequested)
        await relay.supervisor.handle(m.StopSession(session_id=relay.session_id()))
        assert await asking is None  # Claude Code shows its own prompt
        (ended,) = await relay.until(m.SessionEnded)
        assert isinstance(ended, m.SessionEnded) and ended.reason == "stopped"
        (resolved,) = await relay.until(m.ApprovalResolved)
        assert isinstance(resolved, m.ApprovalResolved) and resolved.decision == "cancelled"
        # the same Claude session keeps running; it does not come back as a new Tether session
        assert await relay.hook("PreToolUse", cwd=str(workspace), **_bash("ls")) is None
        assert relay.supervisor.live_sessions() == []

    _with_relay(settings, body)


def test_session_end_and_a_vanished_claude_end_the_session(
    settings: Settings, workspace: Path
) -> None:
    async def body(relay: _Relay) -> None:
        await relay.hook("UserPromptSubmit", cwd=str(workspace), prompt="fix the tests")
        await relay.hook("Stop", cwd=str(workspace))
        await relay.hook("SessionEnd", cwd=str(workspace), reason="prompt_input_exit")
        (ended,) = await relay.until(m.SessionEnded)
        assert isinstance(ended, m.SessionEnded) and ended.reason == "exited"
        prompt = next(e for e in relay.events() if isinstance(e, m.UserPrompt))
        assert prompt.text == "fix the tests"
        assert any(isinstance(e, m.Status) and e.state == "idle" for e in relay.events())

        gone = await asyncio.create_subprocess_exec("true")  # a Claude Code that has exited
        await gone.wait()
        data = {"session_id": "claude-2", "cwd": str(workspace), "hook_event_name": "Stop"}
        reply = await relay.raw({"event": "Stop", "pid": gone.pid, "input": data})
        assert reply == {"output": None, "message": ""}
        await relay.until(m.SessionEnded, 2)
        assert relay.supervisor.live_sessions() == []

    _with_relay(settings, body)


def test_finished_tools_report_commands_and_diffs(settings: Settings, workspace: Path) -> None:
    async def body(relay: _Relay) -> None:
        path = workspace / "notes.txt"
        path.write_text("one\nTWO\n")
        await relay.hook(
            "PostToolUse",
            cwd=str(workspace),
            tool_name="Edit",
            tool_use_id="toolu_e",
            tool_input={"file_path": str(path), "old_string": "two", "new_string": "TWO"},
            tool_response={"filePath": str(path), "originalFile": "one\ntwo\n"},
        )
        await relay.hook(
            "PostToolUse",
            cwd=str(workspace),
            tool_use_id="toolu_b",
            **{k: v for k, v in _bash("echo hi").items() if k != "tool_use_id"},
            tool_response={"stdout": "hi\n", "stderr": "", "interrupted": False},
        )
        (changed,) = await relay.until(m.FileChanged)
        assert isinstance(changed, m.FileChanged)
        assert (changed.path, changed.change) == ("notes.txt", "modified")
        assert "--- a/notes.txt" in changed.diff and "-two\n+TWO\n" in changed.diff
        (command,) = await relay.until(m.Command)
        assert isinstance(command, m.Command)
        assert (command.command, command.exit_code, command.output) == ("echo hi", 0, "hi\n")
        finished = await relay.until(m.ToolFinished, 2)
        assert [f.tool_id for f in finished if isinstance(f, m.ToolFinished)] == [
            "toolu_e",
            "toolu_b",
        ]

    _with_relay(settings, body)
