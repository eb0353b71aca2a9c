"""Claude Code's tools as Tether shows them, for the `claude` adapter and the hooks session.

Both see the same tool calls (a tool name and its JSON input): stream-json's `tool_use` blocks
and `can_use_tool` requests, and the hooks' `tool_name` / `tool_input`. What they show of them
is decided here once:

- `summary()`: the one line of an approval, "Tool: <what it acts on>".
- `capped()`: a tool input small enough for an event. Every string over 8 KiB is cut (saying
  how long it was), which keeps a big `Write` readable; an input still over 16 KiB after that
  (many long strings) becomes `{"truncated": true, "bytes": N}`. The agent always gets the
  whole input back when a call is approved.
- `new_content()`: a file after an edit tool ran, from its input and structured result;
  `command_of()`: a Bash result as a `command` event; `not_run()`: a result of a call that
  never ran; `session_permissions()`: "approve for this session" as Claude's permission rules.
"""

from __future__ import annotations

import json
import re
from typing import Any

from protocol.messages import MAX_RAW_BYTES, Command
from relay.agent.diffs import truncate

FILE_TOOLS = frozenset({"Write", "Edit", "MultiEdit"})  # their result has originalFile
SHELL_TOOLS = frozenset({"Bash"})
# Tools that only read or talk to the user: Claude Code's own permission rules decide them.
READ_ONLY_TOOLS = frozenset(
    {
        "Read",
        "Glob",
        "Grep",
        "LS",
        "NotebookRead",
        "TodoWrite",
        "TaskCreate",
        "TaskGet",
        "TaskUpdate",
        "TaskList",
        "AskUserQuestion",
        "EnterPlanMode",
        "ExitPlanMode",
        "ListMcpResourcesTool",
        "ReadMcpResourceTool",
    }
)
SUMMARY_CHARS = 200  # an approval's one-line summary
MAX_INPUT_STRING_CHARS = 8 << 10  # one string of a tool input in an event (file contents)
MAX_INPUT_BYTES = MAX_RAW_BYTES  # a whole tool input in an event, once encoded
EXIT_CODE = re.compile(r"^Exit code (\d+)")  # how Claude reports a failed command
SUBJECT_KEYS = ("command", "file_path", "notebook_path", "url", "pattern", "path")


def summary(tool: str, tool_input: Any, description: str = "") -> str:
    """ "Tool: subject": the command, file, URL or pattern it acts on, else `description`
    (Claude's own words for the request), else its input as JSON."""
    if isinstance(tool_input, dict):
        for key in SUBJECT_KEYS:
            value = tool_input.get(key)
            if isinstance(value, str) and value:
                return f"{tool}: {value}"[:SUMMARY_CHARS]
    if description:
        return f"{tool}: {description}"[:SUMMARY_CHARS]
    if not tool_input:
        return tool[:SUMMARY_CHARS]
    return f"{tool}: {_json(tool_input)}"[:SUMMARY_CHARS]


def capped(value: Any) -> Any:
    """A tool input for an event: long strings cut; a marker if it is still too big."""
    short = _cut_strings(value)
    size = len(_json(short).encode())
    return short if size <= MAX_INPUT_BYTES else {"truncated": True, "bytes": size}


def new_content(tool_input: dict[str, Any], result: dict[str, Any], old: str | None) -> str | None:
    """The file after an edit tool ran, from its structured result and input (no disk access)."""
    if isinstance(result.get("content"), str):  # Write
        return str(result["content"])
    if old is None:
        return None
    edits = tool_input.get("edits")
    new = old
    for edit in edits if isinstance(edits, list) else [tool_input]:
        edit = edit if isinstance(edit, dict) else {}
        old_string, new_string = edit.get("old_string"), edit.get("new_string")
        if not isinstance(old_string, str) or not isinstance(new_string, str):
            return None
        new = new.replace(old_string, new_string, -1 if edit.get("replace_all") else 1)
    return new


def _cut_strings(value: Any) -> Any:
    if isinstance(value, str) and len(value) > MAX_INPUT_STRING_CHARS:
        return f"{value[:MAX_INPUT_STRING_CHARS]}… ({len(value)} characters)"
    if isinstance(value, dict):
        return {k: _cut_strings(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_cut_strings(v) for v in value]
    return value


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def command_of(tool_input: dict[str, Any], text: str, is_error: bool) -> Command:
    """A Bash call's result as `command`. Claude reports a failed command as "Exit code N" then
    its output (stdout and stderr merged, as the model saw them); a successful one as just the
    output."""
    exit_code: int | None = 0
    if is_error:
        match = EXIT_CODE.match(text)
        exit_code = int(match.group(1)) if match else None
        if match:
            text = text[match.end() :].lstrip("\n")
    output, cut = truncate(text)
    command = str(tool_input.get("command") or "")
    return Command(command=command, exit_code=exit_code, output=output, truncated=cut)


def session_permissions(tool: str, suggestions: list[Any]) -> list[dict[str, Any]]:
    """Claude's own suggestions (a rule for this command, accept-edits mode, ...), kept to this
    session so nothing is written to settings files; without any, the whole tool."""
    kept = [{**s, "destination": "session"} for s in suggestions if isinstance(s, dict)]
    rule = {"type": "addRules", "rules": [{"toolName": tool}], "behavior": "allow"}
    return kept or [{**rule, "destination": "session"}]


def not_run(message: dict[str, Any], tool_id: str) -> bool:
    """Claude marks tool results of calls that never ran (denied, interrupted)."""
    meta = message.get("tool_result_meta")
    entries = [m for m in meta if isinstance(m, dict)] if isinstance(meta, list) else []
    return any(e.get("id") == tool_id and e.get("non_execution_kind") for e in entries)


def text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [
            b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text"
        ]
        return "\n".join(p for p in parts if isinstance(p, str))
    return ""
