"""One Claude Code session that a developer started by hand, seen through its hooks.

The agent runs in the developer's own terminal, not under the relay: this adapter spawns
nothing. It turns each hook (forwarded by `tether hook` through relay/hooks/bridge.py) into events,
and for the hooks that decide (PreToolUse, PermissionRequest) it asks Tether and returns
Claude Code's hook output once a viewer has answered.

    SessionStart        status idle
    UserPromptSubmit    user_prompt, status running
    PreToolUse          tool_started; then, unless the tool only reads (Claude's own rules
                        decide those), approval_requested and a wait for the decision
    PermissionRequest   approval_requested and a wait (Claude was about to show its dialog)
    PostToolUse[Failure] tool_finished; `command` for Bash, `file_changed` (with a diff) for
                        Write / Edit / MultiEdit
    Notification        native, and status waiting_for_approval / idle where it says so
    Stop                status idle
    SessionEnd          the session ends ("exited"), as it does when Claude's process is gone

A hook answered with nothing (None) leaves the decision to Claude Code's own prompt: that is
what happens when the hook is cancelled (Esc in the TUI), when a viewer stops the session (only
Tether's view ends) and for everything after the end. Prompts cannot be sent to this session.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
from pathlib import Path
from typing import Any, Literal

from protocol.codes import ErrorCode
from protocol.messages import (
    ApprovalRequested,
    ApprovalResolved,
    Command,
    Decision,
    FileChanged,
    Native,
    Status,
    ToolFinished,
    ToolStarted,
    UserPrompt,
)
from relay.agent.adapters.base import Adapter, EventSink, SessionSpec
from relay.agent.approvals import RESOLVED
from relay.agent.claude_tools import FILE_TOOLS, READ_ONLY_TOOLS, SHELL_TOOLS, capped, summary
from relay.agent.diffs import truncate, unified_diff
from relay.agent.workspace_files import WorkspaceFiles
from relay.errors import CommandError

log = logging.getLogger(__name__)

AGENT = "claude-hooks"
PID_POLL_S = 2.0  # how often the session checks that Claude Code's process is still there
MAX_ARGV_BYTES = 4096  # Claude's command line read from /proc, for session_started
OPTIONS = ["approve", "approve_for_session", "deny"]
# Tools that only read or talk to the user: Claude Code's own permission rules decide them (and
# if those would ask, a PermissionRequest hook comes to Tether). Every other tool asks Tether.
CLAUDE_DECIDES = READ_ONLY_TOOLS
NOT_HERE = "this session is driven from its own terminal"


@dataclasses.dataclass
class _Pending:
    future: asyncio.Future[tuple[Decision, str] | None]
    tool: str


class HookSession(Adapter):
    agent = AGENT

    def __init__(self, spec: SessionSpec, sink: EventSink, *, claude_pid: int) -> None:
        super().__init__(spec, sink)
        self.claude_pid = claude_pid
        self.files = WorkspaceFiles(spec.workspace.path)
        self._argv = _cmdline(claude_pid) or ["claude"]
        self._ended = asyncio.Event()
        self._pending: dict[str, _Pending] = {}
        self._allowed_tools: set[str] = set()  # "approve for this session", by tool name
        self._approval_ids = 0

    @property
    def command(self) -> list[str]:
        return list(self._argv)

    @property
    def ended(self) -> bool:
        return self._ended.is_set()

    async def start(self) -> None:
        return None  # the developer started Claude Code; there is nothing to spawn

    async def run(self) -> int | None:
        """Wait until Claude's process is gone, SessionEnd arrives or a viewer stops the view."""
        while not self._ended.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(PID_POLL_S):
                    await self._ended.wait()
            if not _alive(self.claude_pid):
                log.info(
                    "session %s: Claude Code (pid %d) is gone",
                    self.spec.session_id,
                    self.claude_pid,
                )
                self._end("Claude Code exited")
        return None

    async def send_input(self, data: str) -> None:
        raise CommandError(ErrorCode.NOT_SUPPORTED, NOT_HERE)

    async def resize(self, cols: int, rows: int) -> None:
        return None  # no terminal of ours to resize

    async def interrupt(self) -> None:
        raise CommandError(ErrorCode.NOT_SUPPORTED, f"{NOT_HERE}: press Esc there")

    async def stop(self, grace_s: float) -> None:
        """End Tether's view only: Claude Code keeps running and asks its own questions."""
        self._end("the session was stopped in Tether")

    def close(self) -> None:
        return None

    async def resolve_approval(
        self, approval_id: str, decision: Decision, message: str, by: str = ""
    ) -> None:
        pending = self._pending.pop(approval_id, None)
        if pending is None or pending.future.done():
            raise CommandError(ErrorCode.UNKNOWN_APPROVAL, f"no pending approval {approval_id}")
        if decision == "approve_for_session":
            self._allowed_tools.add(pending.tool)
        pending.future.set_result((decision, message))
        self.sink.emit(
            ApprovalResolved(
                approval_id=approval_id, decision=RESOLVED[decision], by=by, message=message
            )
        )
        if not self._pending:
            self.sink.emit(Status(state="running"))

    def pending_approvals(self) -> list[str]:
        return list(self._pending)

    # ------------------------------------------------------------------ hooks

    async def on_hook(
        self, event: str, data: dict[str, Any], hangup: asyncio.Future[None]
    ) -> dict[str, Any] | None:
        """One hook from Claude Code; returns its hook output, or None to let Claude decide."""
        if self.ended:
            return None
        if event == "PreToolUse":
            return await self._pre_tool_use(data, hangup)
        if event == "PermissionRequest":
            return await self._permission_request(data, hangup)
        if event == "UserPromptSubmit":
            text, _ = truncate(str(data.get("prompt", "")))
            self.sink.emit(UserPrompt(text=text, raw=data))
            self.sink.emit(Status(state="running"))
        elif event in ("PostToolUse", "PostToolUseFailure"):
            self._post_tool_use(data, failed=event == "PostToolUseFailure")
        elif event in ("SessionStart", "Stop"):
            self.sink.emit(Status(state="idle", detail=str(data.get("source", "")), raw=data))
        elif event == "Notification":
            self._notification(data)
        elif event == "SessionEnd":
            self.sink.emit(Native(type="SessionEnd", raw=data))
            self._end(f"Claude Code session ended ({data.get('reason', '')})")
        else:
            self.sink.emit(Native(type=event, raw=data))
        return None

    def _notification(self, data: dict[str, Any]) -> None:
        self.sink.emit(Native(type="Notification", raw=data))
        kind = data.get("notification_type")
        if kind == "permission_prompt" and not self._pending:
            self.sink.emit(Status(state="waiting_for_approval", detail="in Claude Code"))
        elif kind == "idle_prompt":
            self.sink.emit(Status(state="idle"))

    async def _pre_tool_use(
        self, data: dict[str, Any], hangup: asyncio.Future[None]
    ) -> dict[str, Any] | None:
        tool = str(data.get("tool_name", ""))
        tool_input = data.get("tool_input")
        tool_id = str(data.get("tool_use_id", ""))
        self.sink.emit(ToolStarted(tool_id=tool_id, name=tool, input=capped(tool_input), raw=data))
        if tool in CLAUDE_DECIDES:
            return None
        if tool in self._allowed_tools:
            return _pre_tool_output("allow", "allowed in Tether for this session")
        answer = await self._ask(tool_id or self._new_id(), tool, tool_input, data, hangup)
        if answer is None:
            return None
        decision, message = answer
        if decision == "deny":
            return _pre_tool_output("deny", message or "denied in Tether")
        return _pre_tool_output("allow", message or "approved in Tether")

    def _post_tool_use(self, data: dict[str, Any], *, failed: bool) -> None:
        """tool_finished; and for a shell command `command`, for a file edit `file_changed`."""
        tool = str(data.get("tool_name", ""))
        tool_input = data.get("tool_input")
        tool_input = tool_input if isinstance(tool_input, dict) else {}
        result = data.get("error") if failed else data.get("tool_response")
        text = result if isinstance(result, str) else _json(result)
        output, _ = truncate(text)
        tool_id = str(data.get("tool_use_id", ""))
        self.sink.emit(ToolFinished(tool_id=tool_id, output=output, is_error=failed, raw=data))
        if tool in SHELL_TOOLS:
            if isinstance(result, dict) and isinstance(result.get("stdout"), str):
                text = result["stdout"] + str(result.get("stderr") or "")
            output, cut = truncate(text)
            command = str(tool_input.get("command", ""))
            exit_code = None if failed else 0  # Claude reports a non-zero exit as a failure
            self.sink.emit(
                Command(command=command, exit_code=exit_code, output=output, truncated=cut)
            )
        elif tool in FILE_TOOLS and not failed and isinstance(result, dict):
            self._file_changed(result, tool_input)

    def _file_changed(self, result: dict[str, Any], tool_input: dict[str, Any]) -> None:
        """The diff of an edit Claude made: its `originalFile` against the file now on disk."""
        path = str(result.get("filePath") or tool_input.get("file_path") or "")
        old = result.get("originalFile")
        if not path or "originalFile" not in result or not isinstance(old, str | None):
            return
        new = self.files.read_small(path)
        if new is None:
            return  # gone, or too big to diff here; tool_finished still says what happened
        shown = self.files.shown(path)
        diff, _ = truncate(unified_diff(shown, old or "", new))
        change: Literal["added", "modified"] = "added" if old is None else "modified"
        self.sink.emit(FileChanged(path=shown, diff=diff, change=change))

    async def _permission_request(
        self, data: dict[str, Any], hangup: asyncio.Future[None]
    ) -> dict[str, Any] | None:
        tool = str(data.get("tool_name", ""))
        answer = await self._ask(self._new_id(), tool, data.get("tool_input"), data, hangup)
        if answer is None:
            return None
        decision, message = answer
        result: dict[str, Any] = {"behavior": "allow"}
        if decision == "deny":
            result = {"behavior": "deny", "message": message or "denied in Tether"}
        elif decision == "approve_for_session":
            suggestions = data.get("permission_suggestions")
            if isinstance(suggestions, list) and suggestions:
                result["updatedPermissions"] = suggestions  # Claude's own "don't ask again"
        return {"hookSpecificOutput": {"hookEventName": "PermissionRequest", "decision": result}}

    async def _ask(
        self,
        approval_id: str,
        tool: str,
        tool_input: Any,
        data: dict[str, Any],
        hangup: asyncio.Future[None],
    ) -> tuple[Decision, str] | None:
        """Announce an approval and wait for a viewer's decision; None if it was withdrawn."""
        if approval_id in self._pending:
            approval_id = self._new_id()
        future: asyncio.Future[tuple[Decision, str] | None] = (
            asyncio.get_running_loop().create_future()
        )
        self._pending[approval_id] = _Pending(future, tool)
        self.sink.emit(
            ApprovalRequested(
                approval_id=approval_id,
                tool=tool,
                summary=summary(tool, tool_input),
                input=capped(tool_input),
                options=list(OPTIONS),
                raw=data,
            )
        )
        self.sink.emit(Status(state="waiting_for_approval"))
        waiters: set[asyncio.Future[Any]] = {future, hangup}
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        if future.done():
            return future.result()
        # Claude Code gave up on the hook (Esc in the TUI, its hook timeout): withdraw it.
        self._withdraw(approval_id, "the hook was cancelled in Claude Code")
        return None

    def _withdraw(self, approval_id: str, message: str) -> None:
        pending = self._pending.pop(approval_id, None)
        if pending is None or pending.future.done():
            return
        pending.future.set_result(None)
        self.sink.emit(
            ApprovalResolved(approval_id=approval_id, decision="cancelled", message=message)
        )
        if not self._pending and not self.ended:
            self.sink.emit(Status(state="running"))

    def _end(self, why: str) -> None:
        if self._ended.is_set():
            return
        self._ended.set()
        for approval_id in list(self._pending):
            self._withdraw(approval_id, f"{why}; Claude Code asks in its terminal")

    def _new_id(self) -> str:
        self._approval_ids += 1
        return f"hook-{self._approval_ids}"


def _pre_tool_output(decision: str, reason: str) -> dict[str, Any]:
    return {
        "hookSpecificOutput": {
            "hookEventName": "PreToolUse",
            "permissionDecision": decision,
            "permissionDecisionReason": reason,
        }
    }


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def _alive(pid: int) -> bool:
    if pid <= 1:
        return True  # unknown: rely on SessionEnd and stop
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()[:MAX_ARGV_BYTES]
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]
