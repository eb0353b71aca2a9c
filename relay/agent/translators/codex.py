"""Codex's app-server protocol, translated (the process: relay/agent/adapters/codex.py):
JSON-RPC, one object per line, no `"jsonrpc"` member.

Handshake: `initialize` → `initialized` → `thread/start` (or `thread/resume` with the thread id
the relay kept, `SessionSpec.resume`); each prompt is a `turn/start`, an interrupt a
`turn/interrupt`. The thread id is reported with `resume_token()` as soon as it is known. A
prompt Codex refuses, or does not take within TURN_START_TIMEOUT_S, is an `error` and the
session goes back to idle.

What Codex says, and what it becomes:

    item/agentMessage/delta               text_delta
    item/completed agentMessage           message
    item/completed reasoning              thinking (its summary, else its text)
    item/started   commandExecution       tool_started
    item/completed commandExecution       command (when it ran) + tool_finished
    item/started   fileChange             tool_started
    item/completed fileChange             file_changed per file (when applied) + tool_finished
    item/started|completed mcpToolCall    tool_started / tool_finished
    turn/diff/updated                     kept; at turn end, files it shows that no fileChange
                                          item reported become file_changed too
    thread/tokenUsage/updated             usage (`last`: the latest model call of this turn)
    error / a failed turn                 error
    turn/completed                        status idle
    item/commandExecution/requestApproval approval_requested; answered accept /
    item/fileChange/requestApproval       acceptForSession / decline, `cancel` when interrupted

Anything else is kept as a `native` event, except chatter listed in `QUIET`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any, Literal

from protocol.codes import ErrorCode
from protocol.messages import (
    Command,
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
from protocol.version import SOFTWARE_VERSION
from relay.agent.diffs import truncate, unified_diff
from relay.agent.jsonrpc import METHOD_NOT_FOUND, TIMED_OUT, Answer, RpcChannel
from relay.agent.translator import Translator

log = logging.getLogger(__name__)

CLIENT_INFO = {"name": "tether", "title": "Tether", "version": SOFTWARE_VERSION}
APPROVAL_POLICY = "on-request"  # Codex asks before anything its sandbox does not allow
TURN_START_TIMEOUT_S = 30.0  # Codex answers turn/start at once; the turn itself runs on
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


class CodexTranslator(Translator):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rpc = RpcChannel(
            lambda message: self.out.send(message),
            version=None,
            expect=lambda request_id, timeout_s: self.out.expect(request_id, timeout_s),
        )
        self.thread_id = ""
        self.model = self.config.model
        self._turn_id = ""  # the running turn, "" between turns
        self._turn_error = False  # the running turn's error was reported already
        self._turn_diff = ""  # the latest turn/diff/updated of the running turn
        self._reported: set[str] = set()  # files of the running turn with a file_changed
        self._items: dict[str, dict[str, Any]] = {}  # started, not completed
        self._open_requests: set[int | str] = set()  # approval requests Codex still waits on

    # ------------------------------------------------------------------ Translator

    def start(self) -> None:
        self.rpc.request("initialize", {"clientInfo": CLIENT_INFO})

    def on_message(self, message: dict[str, Any]) -> None:
        answer = self.rpc.answer_to(message)
        method = message.get("method")
        if answer is not None:
            self._answered(answer)
        elif not isinstance(method, str):
            self.raw(message, type="unexpected_response")
        elif "id" in message:
            self._on_request(message["id"], method, message)
        else:
            self._on_notification(method, message)

    def send_prompt(self, text: str) -> None:
        params = {"threadId": self.thread_id, "input": [{"type": "text", "text": text}]}
        self.rpc.request("turn/start", params, timeout_s=TURN_START_TIMEOUT_S)

    def cancel(self) -> None:
        if self._turn_id:
            self.rpc.request(
                "turn/interrupt", {"threadId": self.thread_id, "turnId": self._turn_id}
            )

    def expired(self, request_id: int) -> None:
        answer = self.rpc.expire(request_id)
        if answer is not None:
            self._answered(answer)

    # ------------------------------------------------------------------ answers

    def _answered(self, answer: Answer) -> None:
        handle = {
            "initialize": self._initialized,
            "thread/start": self._thread_opened,
            "thread/resume": self._thread_opened,
            "turn/start": self._turn_taken,
            "turn/interrupt": self._interrupted,
        }.get(answer.method)
        if handle is not None:
            handle(answer)

    def _thread_params(self) -> dict[str, Any]:
        params: dict[str, Any] = {"cwd": str(self.files.root), "approvalPolicy": APPROVAL_POLICY}
        if self.model:
            params["model"] = self.model
        return params

    def _initialized(self, answer: Answer) -> None:
        if answer.error is not None:
            self.start_failed(answer.error.message)
            return
        self.rpc.notify("initialized")
        if self.resume:
            resume = {**self._thread_params(), "threadId": self.resume, "excludeTurns": True}
            self.rpc.request("thread/resume", resume)
        else:
            self.rpc.request("thread/start", self._thread_params())

    def _thread_opened(self, answer: Answer) -> None:
        if answer.error is not None and answer.method == "thread/resume":
            message = f"cannot resume Codex thread {self.resume}: {answer.error.message}"
            self.emit(Error(message=message + "; starting a new one", code="resume_failed"))
            self.rpc.request("thread/start", self._thread_params())
            return
        if answer.error is not None:
            self.start_failed(answer.error.message)
            return
        result = answer.result if isinstance(answer.result, dict) else {}
        self.thread_id = str(result["thread"]["id"])
        self.model = str(result.get("model") or self.model)
        self.out.resume_token(self.thread_id)
        self.out.ready()

    def _turn_taken(self, answer: Answer) -> None:
        """turn/start answered: the turn runs, or the prompt was refused (the turn is over)."""
        if answer.error is None:
            result = answer.result if isinstance(answer.result, dict) else {}
            self._begin_turn(str(result.get("turn", {}).get("id", "")))
            return
        error = answer.error
        timed_out = error.code == TIMED_OUT
        text = (
            "Codex did not take the prompt"
            if timed_out
            else f"Codex refused the prompt: {error.message}"
        )
        code = ErrorCode.TIMEOUT if timed_out else ErrorCode.BAD_REQUEST
        self.emit(Error(message=text, code=code))
        self.emit(Status(state="idle", detail="error"))

    def _interrupted(self, answer: Answer) -> None:
        if answer.error is not None:
            log.info("%s: turn/interrupt: %s", self.agent, answer.error.message)

    # ------------------------------------------------------------------ notifications

    def _on_notification(self, method: str, message: dict[str, Any]) -> None:
        params = message.get("params") or {}
        if method == "item/agentMessage/delta":
            delta = str(params.get("delta") or "")
            if delta:
                item_id = str(params.get("itemId", ""))
                self.emit(TextDelta(text=delta, message_id=item_id, raw=message))
        elif method == "item/started":
            self._item_started(params.get("item") or {}, message)
        elif method == "item/completed":
            self._item_completed(params.get("item") or {}, message)
        elif method == "turn/started":
            self._begin_turn(str(params.get("turn", {}).get("id", "")))
        elif method == "turn/diff/updated":
            self._turn_diff = str(params.get("diff", ""))
        elif method == "thread/tokenUsage/updated":
            self._usage(params, message)
        elif method == "error":
            self._error(params, message)
        elif method == "turn/completed":
            self._end_turn(params.get("turn") or {}, message)
        elif method not in QUIET:
            self.raw(message, type=method)

    def _begin_turn(self, turn_id: str) -> None:
        if turn_id and turn_id != self._turn_id:
            self._turn_id = turn_id
            self._turn_error = False
            self._turn_diff = ""
            self._reported.clear()

    def _end_turn(self, turn: dict[str, Any], message: dict[str, Any]) -> None:
        for path, diff, change in _split_git_diff(self._turn_diff):
            if path not in self._reported:
                diff = truncate(diff)[0]
                self.emit(FileChanged(path=path, diff=diff, change=change, raw=message))
        status = str(turn.get("status", ""))
        for item_id in self._items:  # never completed: the turn was interrupted or failed
            self.emit(ToolFinished(tool_id=item_id, output=status, is_error=True, raw=message))
        error = turn.get("error") or {}
        if status == "failed" and not self._turn_error:
            text = _error_text(error.get("message"), "the turn failed")
            self.emit(Error(message=text, code=_error_code(error), raw=message))
        self._turn_id = ""
        self._items.clear()
        # Codex drops its pending requests when a turn ends: withdraw them here too.
        self._open_requests.clear()
        if self.approvals.pending():
            self.approvals.cancel_all("the turn ended")
        self.emit(Status(state="idle", detail="" if status == "completed" else status))

    def _usage(self, params: dict[str, Any], message: dict[str, Any]) -> None:
        last = (params.get("tokenUsage") or {}).get("last")
        if not self._turn_id or params.get("turnId") != self._turn_id:
            return  # the totals of an earlier turn, repeated on thread/resume
        if not isinstance(last, dict):
            self.raw(message, type="thread/tokenUsage/updated")
            return
        self.emit(
            Usage(
                input_tokens=int(last.get("inputTokens") or 0),
                output_tokens=int(last.get("outputTokens") or 0),
                cached_tokens=int(last.get("cachedInputTokens") or 0),
                model=self.model,
                raw=message,
            )
        )

    def _error(self, params: dict[str, Any], message: dict[str, Any]) -> None:
        error = params.get("error") or {}
        if params.get("willRetry"):
            self.emit(Status(state="running", detail=f"retrying: {error.get('message', '')}"))
            return
        self._turn_error = True
        text = _error_text(error.get("message"), "Codex reported an error")
        self.emit(Error(message=text, code=_error_code(error), raw=message))

    # ------------------------------------------------------------------ items

    def _item_started(self, item: dict[str, Any], message: dict[str, Any]) -> None:
        kind, item_id = item.get("type"), str(item.get("id", ""))
        if kind in ("commandExecution", "fileChange", "mcpToolCall", "webSearch"):
            self._items[item_id] = item
            name, tool_input = _tool(item, self.files.shown)
            self.emit(ToolStarted(tool_id=item_id, name=name, input=tool_input, raw=message))
        elif kind not in ("agentMessage", "reasoning", "userMessage"):
            self.raw(message, type=f"item/started {kind}")

    def _item_completed(self, item: dict[str, Any], message: dict[str, Any]) -> None:
        kind, item_id = item.get("type"), str(item.get("id", ""))
        self._items.pop(item_id, None)
        status = str(item.get("status", ""))
        if kind == "agentMessage":
            self.emit(Message(text=str(item.get("text", "")), message_id=item_id, raw=message))
        elif kind == "reasoning":
            text = "\n".join(map(str, item.get("summary") or item.get("content") or []))
            if text:
                self.emit(Thinking(text=text, raw=message))
        elif kind == "commandExecution":
            self._command_completed(item_id, item, status, message)
        elif kind == "fileChange":
            if status == "completed":
                for change in item.get("changes") or []:
                    self._file_changed(change, message)
            failed = status != "completed"
            output = status if failed else f"{len(item.get('changes') or [])} file(s) changed"
            self.emit(ToolFinished(tool_id=item_id, output=output, is_error=failed, raw=message))
        elif kind in ("mcpToolCall", "webSearch"):
            output, _ = truncate(str(item.get("result") or item.get("error") or status))
            failed = status not in ("completed", "")
            self.emit(ToolFinished(tool_id=item_id, output=output, is_error=failed, raw=message))
        elif kind != "userMessage":  # the user_prompt event was emitted when it was sent
            self.raw(message, type=f"item/completed {kind}")

    def _command_completed(
        self, item_id: str, item: dict[str, Any], status: str, message: dict[str, Any]
    ) -> None:
        output, cut = truncate(str(item.get("aggregatedOutput") or ""))
        code = item.get("exitCode")
        command = str(item.get("command") or "")
        if status != "declined" and command:
            self.emit(
                Command(command=command, exit_code=code, output=output, truncated=cut, raw=message)
            )
        failed = status != "completed" or (code is not None and code != 0)
        shown = output if status != "declined" else "declined"
        self.emit(ToolFinished(tool_id=item_id, output=shown, is_error=failed, raw=message))

    def _file_changed(self, change: dict[str, Any], message: dict[str, Any]) -> None:
        path = self.files.shown(str(change.get("path", "")))
        kind = change.get("kind") or {}
        kind_type = str(kind.get("type", "update")) if isinstance(kind, dict) else str(kind)
        moved = kind.get("move_path") if isinstance(kind, dict) else None
        text = str(change.get("diff", ""))
        if kind_type == "add":
            diff = unified_diff(path, "", text)
        elif kind_type == "delete":
            diff = unified_diff(path, text, "")
        else:  # update: Codex gives the hunks without the file header
            target = self.files.shown(str(moved)) if moved else path
            diff = f"--- a/{path}\n+++ b/{target}\n{text}"
        change_kind = "renamed" if moved else FILE_CHANGES.get(kind_type, "modified")
        self._reported.add(path)
        self.emit(FileChanged(path=path, diff=truncate(diff)[0], change=change_kind, raw=message))

    # ------------------------------------------------------------------ approvals

    def _on_request(self, request_id: int | str, method: str, message: dict[str, Any]) -> None:
        if method not in APPROVAL_REQUESTS:
            self.rpc.respond_error(request_id, METHOD_NOT_FOUND, f"Tether does not offer {method}")
            self.raw(message, type=method)
            return
        params = message.get("params") or {}
        item_id = str(params.get("itemId", ""))
        approval_id = str(params.get("approvalId") or item_id or request_id)
        if approval_id in self.approvals.pending():
            approval_id = f"{approval_id}-{request_id}"
        item = self._items.get(item_id, {})
        tool, summary, tool_input = _approval_subject(method, params, item, self.files.shown)
        offered = params.get("availableDecisions")
        options: list[Decision] = ["approve", "approve_for_session", "deny"]
        if isinstance(offered, list) and "acceptForSession" not in offered:
            options.remove("approve_for_session")
        self._open_requests.add(request_id)

        def answer(decision: Decision, _message: str) -> None:
            self._reply(request_id, DECISIONS[decision])

        def cancelled() -> None:
            self._reply(request_id, "cancel")

        self.approvals.ask(
            approval_id,
            tool=tool,
            summary=summary,
            input=tool_input,
            options=options,
            answer=answer,
            cancel=cancelled,
            raw=message,
        )

    def _reply(self, request_id: int | str, decision: str) -> None:
        """Answer an approval request, unless Codex has dropped it (its turn ended)."""
        if request_id in self._open_requests:
            self._open_requests.discard(request_id)
            self.rpc.respond(request_id, {"decision": decision})


def _tool(item: dict[str, Any], shown: Callable[[str], str]) -> tuple[str, Any]:
    """The name and input shown in `tool_started` for a tool item."""
    kind = item.get("type")
    if kind == "commandExecution":
        return "shell", {"command": item.get("command"), "cwd": item.get("cwd")}
    if kind == "fileChange":
        return "apply_patch", {"changes": _changes(item, shown, with_diff=False)}
    if kind == "mcpToolCall":
        return f"{item.get('server')}.{item.get('tool')}", item.get("arguments")
    return str(kind), {"query": item.get("query")}


def _changes(
    item: dict[str, Any], shown: Callable[[str], str], with_diff: bool
) -> list[dict[str, Any]]:
    """A fileChange item's changes, paths relative to the workspace."""
    changes = [c for c in item.get("changes") or [] if isinstance(c, dict)]
    fields = ("kind", "diff") if with_diff else ("kind",)
    return [
        {"path": shown(str(c.get("path", ""))), **{f: c.get(f) for f in fields}} for c in changes
    ]


def _approval_subject(
    method: str, params: dict[str, Any], item: dict[str, Any], shown: Callable[[str], str]
) -> tuple[str, str, dict[str, Any]]:
    """Tool name, one-line summary and input of an approval request."""
    reason = str(params.get("reason") or "")
    if method == "item/commandExecution/requestApproval":
        command = str(params.get("command") or item.get("command") or "")
        tool_input = {"command": command, "cwd": params.get("cwd"), "reason": reason}
        return "shell", reason or f"Run {command}", tool_input
    changes = _changes(item, shown, with_diff=True)
    paths = [c["path"] for c in changes]
    summary = reason or ("Edit " + ", ".join(paths) if paths else "Edit files")
    return "apply_patch", summary, {"changes": changes, "reason": reason}


def _error_text(message: Any, default: str) -> str:
    """Codex passes an API's error body through as its message: show the message inside."""
    text = str(message or default)
    try:
        body = json.loads(text)
    except ValueError:
        return text
    inner = body.get("error") if isinstance(body, dict) else None
    if isinstance(inner, dict) and inner.get("message"):
        return str(inner["message"])
    return text


def _error_code(error: dict[str, Any]) -> str:
    info = error.get("codexErrorInfo")
    if isinstance(info, str):
        return info
    if isinstance(info, dict) and info:
        return str(next(iter(info)))
    return "agent_error"


def _split_git_diff(diff: str) -> list[tuple[str, str, FileChange]]:
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
