"""The tool calls of one ACP session: merged from their updates, announced, finished.

A tool call is merged as ACP specifies: an update changes only the fields it carries. Its
`tool_started` waits until something says what the call is about (rawInput, content or
locations), or until it runs, is asked about or its turn ends, so a call whose input comes in a
later update is shown with it. Finishing it gives `tool_finished`, a `file_changed` per diff in
its content (unless the same write came through fs/write_text_file) and, for `execute`, a
`command`. Part of relay/agent/translators/acp.py; no I/O.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, Literal

from protocol.messages import Command, Event, FileChanged, ToolFinished, ToolStarted
from relay.agent.diffs import truncate, unified_diff
from relay.agent.translators.acp_content import (
    command_line,
    content_text,
    output_text,
    tool_input,
)
from relay.agent.workspace_files import WorkspaceFiles

# The fields of a tool call that an update replaces when it carries them (ACP: the others stay).
TOOL_FIELDS = ("kind", "title", "status", "content", "locations", "rawInput", "rawOutput")


@dataclasses.dataclass
class ToolCall:
    """A tool call merged from its `tool_call` and every `tool_call_update` so far."""

    fields: dict[str, Any]
    announced: bool = False  # its tool_started was emitted

    def merge(self, update: dict[str, Any]) -> None:
        self.fields.update({k: update[k] for k in TOOL_FIELDS if update.get(k) is not None})

    @property
    def kind(self) -> str:
        return str(self.fields.get("kind") or "other")

    @property
    def title(self) -> str:
        return str(self.fields.get("title") or "")

    @property
    def described(self) -> bool:
        """Something says what the call is about."""
        return any(self.fields.get(k) for k in ("rawInput", "content", "locations"))


class ToolCalls:
    def __init__(
        self, emit: Callable[[Event], None], files: WorkspaceFiles, flush: Callable[[], None]
    ) -> None:
        self._emit = emit
        self._files = files
        self._flush = flush  # the agent's text so far: a message of its own before a tool call
        self.open: dict[str, ToolCall] = {}  # started, not finished
        self.written: dict[str, str] = {}  # path -> content we wrote for the agent this turn
        self._done: set[str] = set()  # finished this turn (late updates ignored)
        self.denied: set[str] = set()  # finished as denied unless the agent reports them first

    def asked(self, tool_id: str, call: dict[str, Any], raw: Any) -> ToolCall | None:
        """The call a permission request is about, announced."""
        tool = self._start({**call, "toolCallId": tool_id})
        if tool is not None:
            tool.merge(call)
            self.announce(tool_id, tool, raw)
        return tool

    def end_turn(self, stop: str) -> None:
        self.close_denied()
        for tool_id in list(self.open):  # cancelled calls get no update from some agents
            self.finish(tool_id, failed=True, reason=stop or "not run")
        self.written.clear()
        self._done.clear()

    def close_denied(self, keep: str = "") -> None:
        """Gemini CLI sends no update for a call the user rejected: finish it on its next news."""
        for tool_id in sorted(self.denied - {keep}):
            if tool_id in self.open:
                self.finish(tool_id, failed=True, reason="denied")
        self.denied &= {keep}

    def update(self, update: dict[str, Any], message: dict[str, Any]) -> None:
        """A tool_call or tool_call_update."""
        tool_id = str(update["toolCallId"])
        tool = self._start(update)
        if tool is None:
            return  # an update for a call that already finished
        tool.merge(update)
        status = tool.fields.get("status")
        if tool.described or status in ("in_progress", "completed", "failed"):
            self.announce(tool_id, tool, message)
        if status in ("completed", "failed"):
            self.finish(tool_id, failed=status == "failed", update=update, raw=message)

    def _start(self, call: dict[str, Any]) -> ToolCall | None:
        tool_id = str(call["toolCallId"])
        if tool_id in self.open:
            return self.open[tool_id]
        if tool_id in self._done:
            return None
        if call.get("sessionUpdate") == "tool_call_update" and call.get("status") is None:
            return None
        self._flush()  # text before a tool call is a message of its own
        tool = self.open[tool_id] = ToolCall({})
        return tool

    def announce(self, tool_id: str, tool: ToolCall, raw: Any) -> None:
        """tool_started, once, with what is known of the call by now."""
        if tool.announced:
            return
        tool.announced = True
        shown = tool_input(tool.fields, self._files)
        self._emit(ToolStarted(tool_id=tool_id, name=tool.title or tool.kind, input=shown, raw=raw))

    def finish(
        self,
        tool_id: str,
        *,
        failed: bool,
        update: dict[str, Any] | None = None,
        reason: str = "",
        raw: Any = None,
    ) -> None:
        """`update` completed the call; without one it is closed without running (`reason`)."""
        tool = self.open.pop(tool_id)
        self.announce(tool_id, tool, raw)
        self._done.add(tool_id)
        blocks = tool.fields.get("content") or []
        ran = update is not None
        shown = ""
        if update is not None:  # what the completing update says, before what came earlier
            shown = (
                content_text(update.get("content"))
                or output_text(update)
                or output_text(tool.fields)
                or content_text(blocks)
            )
        if not failed:
            for block in blocks:
                if isinstance(block, dict) and block.get("type") == "diff":
                    self._diff_changed(block)
        if tool.kind == "execute" and ran:  # not for a call that never ran
            self._command(tool, shown)
        output, _ = truncate(shown or reason)
        self._emit(ToolFinished(tool_id=tool_id, output=output, is_error=failed, raw=raw))

    def _command(self, tool: ToolCall, text: str) -> None:
        raw_input = tool.fields.get("rawInput")
        raw_input = raw_input if isinstance(raw_input, dict) else {}
        raw_output = tool.fields.get("rawOutput")
        raw_output = raw_output if isinstance(raw_output, dict) else {}
        command = command_line(raw_input.get("command")) or tool.title
        code = raw_output.get("exitCode", raw_output.get("exit_code"))
        for part in raw_output.get("contents") or []:  # Copilot CLI: {type: shell_exit, exitCode}
            if isinstance(part, dict) and part.get("type") == "shell_exit":
                code = part.get("exitCode", code)
        output, cut = truncate(text)
        self._emit(
            Command(
                command=command,
                exit_code=code if isinstance(code, int) else None,
                output=output,
                truncated=cut,
            )
        )

    def _diff_changed(self, block: dict[str, Any]) -> None:
        path, old, new = str(block.get("path", "")), block.get("oldText"), block.get("newText")
        if not path or not isinstance(new, str):
            return
        if self.written.pop(path, None) == new:
            return  # already announced when we wrote it for the agent
        old = old if isinstance(old, str) else ""
        if old and not old.endswith("\n") and not new.endswith("\n"):
            old, new = old + "\n", new + "\n"  # a replaced snippet (Copilot CLI), not a file
        self.file_changed(path, old, new, raw=block)

    def file_changed(self, path: str, old: str, new: str, raw: Any = None) -> None:
        """`path` as the agent names it; the event's path and diff headers are relative to the
        workspace."""
        shown = self._files.shown(path)
        diff, _ = truncate(unified_diff(shown, old, new))
        change: Literal["added", "modified", "deleted"] = "modified"
        if not old or not new:
            change = "deleted" if old else "added"
        self._emit(FileChanged(path=shown, diff=diff, change=change, raw=raw))
