"""Agent events other than raw terminal output, as safe, readable text.

Agent output is hostile: a message could carry escape sequences that retitle the window, move
the cursor over earlier lines, write to the clipboard (OSC 52) or hide text. Everything shown
here goes through `clean()`: ANSI escape sequences are removed and every remaining control
character (C0, DEL, C1, bidirectional overrides) is shown escaped, e.g. `\\x07`.
Only `terminal_output` of PTY sessions is written raw; that is what a terminal is for.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from protocol import messages as m

MAX_DIFF_LINES = 40  # of a file_changed diff; the rest is counted, not shown
MAX_FIELD_CHARS = 400  # tool input / output summaries
# How each decision an approval offers is given in `tether attach` (attach.agent_input)
_ANSWERS = {"approve": "/approve", "approve_for_session": "/always", "deny": "/deny [reason]"}

# CSI (ESC [ or the C1 byte), OSC / DCS / SOS / PM / APC strings up to their terminator,
# two-character escapes. Any ESC left over (an unterminated sequence, say) is escaped by
# _CONTROL below, so it is shown instead of obeyed.
_ESCAPE = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f]).*?(?:\x07|\x1b\\|\x9c)"
    r"|\x1b[ -/]*[0-~]",
    re.DOTALL,
)
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def clean(text: str) -> str:
    """`text` with escape sequences removed and other control characters escaped.
    Newlines and tabs stay; CRLF becomes LF."""
    text = _ESCAPE.sub("", text.replace("\r\n", "\n"))
    return _CONTROL.sub(_escaped, text)


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _short(value: object, limit: int = MAX_FIELD_CHARS) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    text = clean(text)
    return text if len(text) <= limit else text[:limit] + f"… ({len(text) - limit} more)"


class EventText:
    """Turns events into text. Keeps the little state streaming needs: `text_delta` chunks are
    written as they come and the `message` that completes them is not printed again."""

    def __init__(self) -> None:
        self._streaming = ""  # message_id of the deltas being streamed ("" for none)
        self._streamed = False

    def render(self, event: m.Event) -> str:
        """What to print for `event` ("" for nothing). Complete items end with a newline."""
        if isinstance(event, m.TextDelta):
            prefix = self._end_stream() if event.message_id != self._streaming else ""
            self._streaming, self._streamed = event.message_id, True
            return prefix + clean(event.text)
        if (
            isinstance(event, m.Message)
            and self._streamed
            and (event.message_id == self._streaming or not event.message_id)
        ):
            return self._end_stream()
        return self._end_stream() + _describe(event)

    def flush(self) -> str:
        """What ends a text stream still open (a newline), or ""."""
        return self._end_stream()

    def _end_stream(self) -> str:
        streamed, self._streaming, self._streamed = self._streamed, "", False
        return "\n" if streamed else ""


def _describe(event: m.Event) -> str:
    """One event as lines of text; terminal_output and session_ended are the caller's, and
    native events have nothing to read ("")."""
    describe = _DESCRIBE.get(type(event))
    return describe(event) if describe is not None else ""


def _session_started(event: m.SessionStarted) -> str:
    command = " ".join(event.command) or event.agent
    where = event.cwd or event.workspace
    return f"[session started: {clean(command)} in {clean(where)}]\n"


def _user_prompt(event: m.UserPrompt) -> str:
    who = f" ({clean(event.user)})" if event.user else ""
    return f"> {clean(event.text)}{who}\n"


def _message(event: m.Message) -> str:
    role = "" if event.role == "assistant" else f"[{clean(event.role)}] "
    return f"{role}{clean(event.text)}\n"


def _thinking(event: m.Thinking) -> str:
    return f"(thinking) {clean(event.text)}\n"


def _tool_started(event: m.ToolStarted) -> str:
    shown = f" {_short(event.input)}" if event.input is not None else ""
    return f"[tool {clean(event.name)}]{shown}\n"


def _tool_finished(event: m.ToolFinished) -> str:
    outcome = "failed" if event.is_error else "done"
    shown = f": {_short(event.output)}" if event.output else ""
    return f"[tool {outcome}]{shown}\n"


def _file_changed(event: m.FileChanged) -> str:
    return f"[file {event.change}: {clean(event.path)}]\n" + _diff(event.diff)


def _command(event: m.Command) -> str:
    out = clean(event.output)
    out = out if not out or out.endswith("\n") else out + "\n"
    cut = "[output truncated]\n" if event.truncated else ""
    code = "" if event.exit_code is None else f"[exit {event.exit_code}]\n"
    return f"$ {clean(event.command)}\n{out}{cut}{code}"


def _approval_requested(event: m.ApprovalRequested) -> str:
    summary = f": {clean(event.summary)}" if event.summary else ""
    offered = [_ANSWERS[o] for o in event.options if o in _ANSWERS]
    answers = ", ".join(offered or _ANSWERS.values())
    return (
        f"[approval requested ({event.risk} risk) for {clean(event.tool)}{summary} — {answers}]\n"
    )


def _approval_resolved(event: m.ApprovalResolved) -> str:
    by = f" by {clean(event.by)}" if event.by else ""
    return f"[approval {event.decision.replace('_', ' ')}{by}]\n"


def _usage(event: m.Usage) -> str:
    cost = f", ${event.cost_usd:.4f}" if event.cost_usd is not None else ""
    return f"[usage: {event.input_tokens} in, {event.output_tokens} out{cost}]\n"


def _status(event: m.Status) -> str:
    if event.state in ("running", "ended"):
        return ""  # implied by session_started / session_ended
    detail = f": {clean(event.detail)}" if event.detail else ""
    return f"[status: {event.state.replace('_', ' ')}{detail}]\n"


def _error(event: m.Error) -> str:
    code = f" ({clean(event.code)})" if event.code else ""
    return f"[error{code}: {clean(event.message)}]\n"


_DESCRIBE: dict[type, Callable[[Any], str]] = {
    m.SessionStarted: _session_started,
    m.UserPrompt: _user_prompt,
    m.Message: _message,
    m.Thinking: _thinking,
    m.ToolStarted: _tool_started,
    m.ToolFinished: _tool_finished,
    m.FileChanged: _file_changed,
    m.Command: _command,
    m.ApprovalRequested: _approval_requested,
    m.ApprovalResolved: _approval_resolved,
    m.Usage: _usage,
    m.Status: _status,
    m.Error: _error,
}


def _diff(diff: str) -> str:
    if not diff:
        return ""
    lines = clean(diff).splitlines()
    shown = "".join(f"  {line}\n" for line in lines[:MAX_DIFF_LINES])
    if len(lines) > MAX_DIFF_LINES:
        shown += f"  … {len(lines) - MAX_DIFF_LINES} more lines\n"
    return shown


def ended_line(event: m.SessionEnded) -> str:
    if event.exit_code is not None:
        return f"[session ended: exit {event.exit_code}]"
    return f"[session ended: {clean(event.reason) or 'unknown reason'}]"
