"""What Codex's items, approval requests and errors carry, in Tether's terms.

Pure functions for relay/agent/translators/codex.py: a tool item's name and input, a file
change's event, an approval's subject, an error's code, and the files of a turn's
`git diff`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from protocol.messages import Command, Decision, Event, FileChanged, ToolFinished, Usage
from relay.agent.diffs import truncate, unified_diff

DECISIONS: dict[Decision, str] = {
    "approve": "accept",
    "approve_for_session": "acceptForSession",
    "deny": "decline",
}
APPROVAL_REQUESTS = ("item/commandExecution/requestApproval", "item/fileChange/requestApproval")
# Notifications Tether has no use for: their content arrives again in a mapped message.
QUIET = frozenset(
    {
        "thread/started",
        "thread/status/changed",
        "item/reasoning/summaryTextDelta",
        "item/reasoning/summaryPartAdded",
        "item/reasoning/textDelta",
        "item/commandExecution/outputDelta",
        "item/fileChange/outputDelta",
        "serverRequest/resolved",
        "account/rateLimits/updated",
        "remoteControl/status/changed",
    }
)
FileChange = Literal["added", "modified", "deleted", "renamed"]
FILE_CHANGES: dict[str, FileChange] = {"add": "added", "delete": "deleted", "update": "modified"}


def tool_of(item: dict[str, Any], shown: Callable[[str], str]) -> tuple[str, Any]:
    """The name and input shown in `tool_started` for a tool item."""
    kind = item.get("type")
    if kind == "commandExecution":
        return "shell", {"command": item.get("command"), "cwd": item.get("cwd")}
    if kind == "fileChange":
        return "apply_patch", {"changes": changes_of(item, shown, with_diff=False)}
    if kind == "mcpToolCall":
        return f"{item.get('server')}.{item.get('tool')}", item.get("arguments")
    return str(kind), {"query": item.get("query")}


def changes_of(
    item: dict[str, Any], shown: Callable[[str], str], with_diff: bool
) -> list[dict[str, Any]]:
    """A fileChange item's changes, paths relative to the workspace."""
    changes = [c for c in item.get("changes") or [] if isinstance(c, dict)]
    fields = ("kind", "diff") if with_diff else ("kind",)
    return [
        {"path": shown(str(c.get("path", ""))), **{f: c.get(f) for f in fields}} for c in changes
    ]


def approval_subject(
    method: str, params: dict[str, Any], item: dict[str, Any], shown: Callable[[str], str]
) -> tuple[str, str, dict[str, Any]]:
    """Tool name, one-line summary and input of an approval request."""
    reason = str(params.get("reason") or "")
    if method == "item/commandExecution/requestApproval":
        command = str(params.get("command") or item.get("command") or "")
        tool_input = {"command": command, "cwd": params.get("cwd"), "reason": reason}
        return "shell", reason or f"Run {command}", tool_input
    changes = changes_of(item, shown, with_diff=True)
    paths = [c["path"] for c in changes]
    summary = reason or ("Edit " + ", ".join(paths) if paths else "Edit files")
    return "apply_patch", summary, {"changes": changes, "reason": reason}


def error_code(error: dict[str, Any]) -> str:
    info = error.get("codexErrorInfo")
    if isinstance(info, str):
        return info
    if isinstance(info, dict) and info:
        return str(next(iter(info)))
    return "agent_error"


def split_git_diff(diff: str) -> list[tuple[str, str, FileChange]]:
    """(path, diff, change) per file of a `git diff` (what turn/diff/updated carries)."""
    files: list[tuple[str, str, FileChange]] = []
    for section in ("\n" + diff).split("\ndiff --git ")[1:]:
        body = "diff --git " + section.rstrip("\n") + "\n"
        lines = body.splitlines()
        new = [line[6:] for line in lines if line.startswith("+++ b/")]
        old = [line[6:] for line in lines if line.startswith("--- a/")]  # a deleted file
        change: FileChange = "modified"
        if "new file mode" in body:
            change = "added"
        elif "deleted file mode" in body:
            change = "deleted"
        elif "\nrename from " in body:
            change = "renamed"
        if new or old:
            files.append(((new or old)[0], body, change))
    return files


def file_changed_of(change: dict[str, Any], shown: Callable[[str], str], raw: Any) -> FileChanged:
    """The file_changed event of one change of a completed fileChange item."""
    path = shown(str(change.get("path", "")))
    kind = change.get("kind") or {}
    kind_type = str(kind.get("type", "update")) if isinstance(kind, dict) else str(kind)
    moved = kind.get("move_path") if isinstance(kind, dict) else None
    text = str(change.get("diff", ""))
    if kind_type == "add":
        diff = unified_diff(path, "", text)
    elif kind_type == "delete":
        diff = unified_diff(path, text, "")
    else:  # update: Codex gives the hunks without the file header
        target = shown(str(moved)) if moved else path
        diff = f"--- a/{path}\n+++ b/{target}\n{text}"
    change_kind = "renamed" if moved else FILE_CHANGES.get(kind_type, "modified")
    return FileChanged(path=path, diff=truncate(diff)[0], change=change_kind, raw=raw)


def usage_of(params: dict[str, Any], model: str, raw: Any) -> Usage | None:
    """thread/tokenUsage/updated as usage: `last`, the latest model call of this turn."""
    last = (params.get("tokenUsage") or {}).get("last")
    if not isinstance(last, dict):
        return None
    return Usage(
        input_tokens=int(last.get("inputTokens") or 0),
        output_tokens=int(last.get("outputTokens") or 0),
        cached_tokens=int(last.get("cachedInputTokens") or 0),
        model=model,
        raw=raw,
    )


def command_events(item_id: str, item: dict[str, Any], status: str, raw: Any) -> list[Event]:
    """A completed commandExecution item: `command` (when it ran) and tool_finished."""
    output, cut = truncate(str(item.get("aggregatedOutput") or ""))
    code = item.get("exitCode")
    command = str(item.get("command") or "")
    events: list[Event] = []
    if status != "declined" and command:
        events.append(
            Command(command=command, exit_code=code, output=output, truncated=cut, raw=raw)
        )
    failed = status != "completed" or (code is not None and code != 0)
    shown = output if status != "declined" else "declined"
    events.append(ToolFinished(tool_id=item_id, output=shown, is_error=failed, raw=raw))
    return events
