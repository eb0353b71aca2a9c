"""Claude Code's stream-json protocol, translated (the process: relay/agent/adapters/claude.py).

stdin stays open for the session's life: a user turn is one line
`{"type":"user","message":{"role":"user","content":"..."}}`. stdout is one JSON message a line:

    system/init, stream_event, assistant, user, result   -> events (docs/agents/claude.md)
    control_request can_use_tool                         -> an approval; others are refused
    control_cancel_request                               -> native (follows our interrupt)
    keep_alive                                           -> dropped
    anything else                                        -> native

Interrupting sends our own `control_request` `interrupt`; Claude answers with a
`control_response`, withdraws a pending permission request and ends the turn with a `result`.
"""

from __future__ import annotations

import itertools
from typing import Any, Literal, TypeVar

from protocol.messages import (
    Decision,
    Error,
    FileChanged,
    Message,
    Status,
    TextDelta,
    Thinking,
    ToolFinished,
    ToolStarted,
    Usage,
)
from relay.agent.claude_tools import (
    FILE_TOOLS,
    SHELL_TOOLS,
    capped,
    command_of,
    new_content,
    not_run,
    session_permissions,
    summary,
    text_of,
)
from relay.agent.diffs import keep_head, truncate, unified_diff
from relay.agent.translator import Translator

MAX_OPEN_TOOLS = 256  # tool calls remembered until their result arrives
MAX_SNAPSHOTS = 16  # file contents kept from approval to result (each at most 1 MiB)
_T = TypeVar("_T")


class ClaudeTranslator(Translator):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._conversation = self.resume
        self._model = self.config.model
        self._cost_so_far = 0.0  # total_cost_usd of the previous result in this process
        self._tools: dict[str, tuple[str, dict[str, Any]]] = {}  # tool_use_id -> name, input
        self._before: dict[str, str | None] = {}  # tool_use_id -> file content when approved
        self._control_ids = itertools.count(1)
        self._error_in_turn = False  # an API error was reported: the result need not repeat it
        self._interrupted = False  # we interrupted the turn: its error result is expected
        self._in_turn = False  # a user turn was sent and its `result` has not come yet

    # ------------------------------------------------------------------ Translator
    # Claude has no handshake: it says `system/init` once it gets the first turn.

    def send_prompt(self, text: str) -> None:
        self.out.send({"type": "user", "message": {"role": "user", "content": text}})
        self._in_turn = True

    def cancel(self) -> None:
        self._interrupted = self._in_turn
        request = {"subtype": "interrupt"}
        request_id = f"tether-{next(self._control_ids)}"
        self.out.send({"type": "control_request", "request_id": request_id, "request": request})

    def on_message(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "stream_event":
            self._on_stream_event(message)
        elif kind == "assistant":
            self._on_assistant(message)
        elif kind == "user":
            self._on_user(message)
        elif kind == "result":
            self._on_result(message)
        elif kind == "system" and message.get("subtype") == "init":
            self._on_init(message)
        elif kind == "control_request":
            self._on_control_request(message)
        elif kind == "control_cancel_request":  # after our interrupt, which cancelled it
            self.raw(message, type="control_cancel_request")
        elif kind == "control_response":
            self._on_control_response(message)
        elif kind == "keep_alive":
            return  # liveness only; one every few seconds would flood the log
        else:
            self.raw(message, type=_native_type(message))

    # ------------------------------------------------------------------ native -> events

    def _on_init(self, message: dict[str, Any]) -> None:
        session_id = message.get("session_id")
        if isinstance(session_id, str) and session_id and session_id != self._conversation:
            self._conversation = session_id
            self.out.resume_token(session_id)
        if isinstance(message.get("model"), str):
            self._model = message["model"]

    def _on_stream_event(self, message: dict[str, Any]) -> None:
        event = _dict(message.get("event"))
        if event.get("type") != "content_block_delta":
            return  # starts, stops and tool input arrive whole in the `assistant` message
        delta = _dict(event.get("delta"))
        message_id = str(message.get("api_message_id") or "")
        if delta.get("type") == "text_delta" and delta.get("text"):
            self.emit(TextDelta(text=delta["text"], message_id=message_id))
        elif delta.get("type") == "thinking_delta" and delta.get("thinking"):
            self.emit(Thinking(text=delta["thinking"]))

    def _on_assistant(self, message: dict[str, Any]) -> None:
        body = _dict(message.get("message"))
        if isinstance(body.get("model"), str) and not body["model"].startswith("<"):
            self._model = body["model"]
        if message.get("error") or message.get("is_api_error_message"):
            text = text_of(body.get("content"))
            code = str(message.get("api_error_type") or message.get("error") or "")
            self._error_in_turn = True
            self.emit(Error(message=text or "the model API failed", code=code, raw=message))
            return
        content = body.get("content")
        if not isinstance(content, list):
            self.raw(message, type="assistant")
            return
        for block in map(_dict, content):
            kind = block.get("type")
            if kind == "text" and block.get("text"):
                self.emit(
                    Message(text=block["text"], message_id=str(body.get("id") or ""), raw=message)
                )
            elif kind == "tool_use":
                self._tool_started(block, message)

    def _tool_started(self, block: dict[str, Any], message: dict[str, Any]) -> None:
        tool_id, name = str(block.get("id") or ""), str(block.get("name") or "")
        tool_input = _dict(block.get("input"))
        _remember(self._tools, tool_id, (name, tool_input), MAX_OPEN_TOOLS)
        shown = capped(tool_input)
        self.emit(ToolStarted(tool_id=tool_id, name=name, input=shown, raw=message))

    def _on_user(self, message: dict[str, Any]) -> None:
        content = _dict(message.get("message")).get("content")
        results = [
            b for b in content or [] if isinstance(b, dict) and b.get("type") == "tool_result"
        ]
        if not results:
            self.raw(message, type="user")  # e.g. "[Request interrupted by user]"
            return
        for block in results:
            self._tool_finished(block, message)

    def _tool_finished(self, block: dict[str, Any], message: dict[str, Any]) -> None:
        tool_id = str(block.get("tool_use_id") or "")
        name, tool_input = self._tools.pop(tool_id, ("", {}))
        before = self._before.pop(tool_id, None)
        text = text_of(block.get("content"))
        is_error = bool(block.get("is_error"))
        output, _ = truncate(text)
        self.emit(ToolFinished(tool_id=tool_id, output=output, is_error=is_error, raw=message))
        if not_run(message, tool_id):
            return  # refused or withdrawn before it ran: no command, no change
        if name in SHELL_TOOLS:
            self.emit(command_of(tool_input, text, is_error))
        elif name in FILE_TOOLS and not is_error:
            result = message.get("tool_use_result")
            self._file_changed(tool_input, result if isinstance(result, dict) else {}, before)

    def _file_changed(
        self, tool_input: dict[str, Any], result: dict[str, Any], before: str | None
    ) -> None:
        path = str(result.get("filePath") or tool_input.get("file_path") or "")
        if not path:
            return
        if "originalFile" in result:
            old = result["originalFile"]
            new = new_content(tool_input, result, old)
        else:  # no structured result: compare the snapshot taken at approval with the disk
            old = before
            new = self.files.read_small(path)
        if new is None:
            return
        shown = self.files.shown(path)
        diff = keep_head(unified_diff(shown, old or "", new))
        change: Literal["added", "modified"] = "added" if old is None else "modified"
        self.emit(FileChanged(path=shown, diff=diff, change=change, raw=result))

    def _on_result(self, message: dict[str, Any]) -> None:
        usage = _dict(message.get("usage"))
        total = message.get("total_cost_usd")
        cost: float | None = None
        if isinstance(total, (int, float)):
            cost = max(0.0, float(total) - self._cost_so_far)
            self._cost_so_far = float(total)
        self.emit(
            Usage(
                input_tokens=_int(usage.get("input_tokens")),
                output_tokens=_int(usage.get("output_tokens")),
                cached_tokens=_int(usage.get("cache_read_input_tokens")),
                cost_usd=cost,
                model=self._model,
                raw=message,
            )
        )
        if message.get("is_error") and not (self._error_in_turn or self._interrupted):
            errors = message.get("errors")
            text = "; ".join(map(str, errors)) if isinstance(errors, list) and errors else ""
            text = text or str(message.get("result") or "the turn failed")
            self.emit(Error(message=text, code=str(message.get("subtype") or "")))
        self._error_in_turn = self._interrupted = self._in_turn = False
        self.emit(Status(state="idle"))

    # ------------------------------------------------------------------ control protocol

    def _on_control_request(self, message: dict[str, Any]) -> None:
        request_id = str(message.get("request_id") or "")
        request = _dict(message.get("request"))
        if request.get("subtype") != "can_use_tool":
            subtype = request.get("subtype")
            self.raw(message, type=f"control_request/{subtype}"[:100])
            self._control_error(request_id, f"Tether does not support control request {subtype!r}")
            return
        tool = str(request.get("tool_name") or "")
        tool_input = _dict(request.get("input"))
        tool_use_id = str(request.get("tool_use_id") or "")
        if tool in FILE_TOOLS and tool_use_id:  # for a diff if Claude gives no structured result
            before = self.files.read_small(str(tool_input.get("file_path") or ""))
            _remember(self._before, tool_use_id, before, MAX_SNAPSHOTS)
        suggestions = request.get("permission_suggestions")
        suggestions = suggestions if isinstance(suggestions, list) else []

        def answer(decision: Decision, text: str) -> None:
            self._answer(request_id, decision, text, tool, tool_input, suggestions)

        self.approvals.ask(
            request_id,
            tool=tool,
            summary=summary(tool, tool_input, str(request.get("description") or "")),
            input=capped(tool_input),  # the answer sends the whole input back
            answer=answer,
            cancel=_withdrawn_by_claude,
            raw=message,
        )

    def _answer(
        self,
        request_id: str,
        decision: Decision,
        text: str,
        tool: str,
        tool_input: dict[str, Any],
        suggestions: list[Any],
    ) -> None:
        if decision == "deny":
            reply: dict[str, Any] = {"behavior": "deny", "message": text or "Denied in Tether"}
        else:
            reply = {"behavior": "allow", "updatedInput": tool_input}
        if decision == "approve_for_session":
            reply["updatedPermissions"] = session_permissions(tool, suggestions)
        response = {"subtype": "success", "request_id": request_id, "response": reply}
        self.out.send({"type": "control_response", "response": response})

    def _on_control_response(self, message: dict[str, Any]) -> None:
        response = _dict(message.get("response"))
        if response.get("subtype") == "error":
            self.emit(
                Error(message=str(response.get("error") or "control request failed"), raw=message)
            )

    def _control_error(self, request_id: str, text: str) -> None:
        response = {"subtype": "error", "request_id": request_id, "error": text}
        self.out.send({"type": "control_response", "response": response})


# ---------------------------------------------------------------------- helpers


def _withdrawn_by_claude() -> None:
    """An interrupt cancels pending approvals: Claude withdraws its requests itself
    (`control_cancel_request`), so no native answer is written."""


def _remember(table: dict[str, _T], key: str, value: _T, limit: int) -> None:
    """Insert, dropping the oldest entry beyond `limit` (a result that never came)."""
    table[key] = value
    if len(table) > limit:
        del table[next(iter(table))]


def _native_type(message: dict[str, Any]) -> str:
    kind, subtype = message.get("type"), message.get("subtype")
    return f"{kind}/{subtype}"[:100] if subtype else str(kind)[:100]


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _int(value: Any) -> int:
    return value if isinstance(value, int) else 0
