"""Codex's app-server protocol, translated (the process: relay/agent/adapters/codex.py):
JSON-RPC, one object per line, no `"jsonrpc"` member.

Handshake: `initialize` → `initialized` → `thread/start` (or `thread/resume` with the thread id
the relay kept, `SessionSpec.resume`); each prompt is a `turn/start`, an interrupt a
`turn/interrupt`. The thread id is reported with `resume_token()` as soon as it is known.
Codex answers each `turn/start`: a prompt it refuses, or does not take within
TURN_START_TIMEOUT_S, is refused to the viewer (`outlet.prompt_answered()`), and the session
goes back to idle unless a turn is running.

What each message becomes is the table in docs/agents/codex.md. Anything else is kept as a
`native` event, except chatter listed in `QUIET`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from protocol.codes import ErrorCode
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
)
from protocol.version import SOFTWARE_VERSION
from relay.agent.diffs import truncate
from relay.agent.jsonrpc import METHOD_NOT_FOUND, TIMED_OUT, Answer, error_text
from relay.agent.translator import RpcTranslator
from relay.agent.translators.codex_items import (
    APPROVAL_REQUESTS,
    DECISIONS,
    QUIET,
    approval_subject,
    command_events,
    error_code,
    file_changed_of,
    split_git_diff,
    tool_of,
    usage_of,
)
from relay.errors import CommandError

log = logging.getLogger(__name__)

CLIENT_INFO = {"name": "tether", "title": "Tether", "version": SOFTWARE_VERSION}
APPROVAL_POLICY = "on-request"  # Codex asks before anything its sandbox does not allow
TURN_START_TIMEOUT_S = 30.0  # Codex answers turn/start at once; the turn itself runs on


class CodexTranslator(RpcTranslator):
    rpc_version = None
    answers_prompts = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.thread_id = ""
        self.model = self.config.model
        self._turn_id = ""  # the running turn, "" between turns
        self._turn_error = False  # the running turn's error was reported already
        self._turn_diff = ""  # the latest turn/diff/updated of the running turn
        self._reported: set[str] = set()  # files of the running turn with a file_changed
        self._items: dict[str, dict[str, Any]] = {}  # started, not completed
        self._open_requests: set[int | str] = set()  # approval requests Codex still waits on
        self._prompt_of: dict[int | str, int] = {}  # turn/start request id → prompt number
        self._shown_idle = False  # idle after a refused prompt: a turn that starts is running

    # ------------------------------------------------------------------ Translator

    def start(self) -> None:
        self.rpc.request("initialize", {"clientInfo": CLIENT_INFO})

    def send_prompt(self, text: str) -> None:
        params = {"threadId": self.thread_id, "input": [{"type": "text", "text": text}]}
        self._shown_idle = False
        request_id = self.rpc.request("turn/start", params, timeout_s=TURN_START_TIMEOUT_S)
        self._prompt_of[request_id] = self.prompts

    def cancel(self) -> None:
        if self._turn_id:
            self.rpc.request(
                "turn/interrupt", {"threadId": self.thread_id, "turnId": self._turn_id}
            )

    # ------------------------------------------------------------------ answers

    def answered(self, answer: Answer) -> None:
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
        thread = result.get("thread")
        if not isinstance(thread, dict) or not thread.get("id"):
            self.start_failed(f"{answer.method} answered without a thread id")
            return
        self.thread_id = str(thread["id"])
        self.model = str(result.get("model") or self.model)
        self.out.resume_token(self.thread_id)
        self.out.ready()

    def _turn_taken(self, answer: Answer) -> None:
        """turn/start answered: the prompt was taken (its turn runs) or refused."""
        number = self._prompt_of.pop(answer.request_id, 0)
        if answer.error is None:
            result = answer.result if isinstance(answer.result, dict) else {}
            self._begin_turn(str(result.get("turn", {}).get("id", "")))
            self.out.prompt_answered(number, None)
            return
        if answer.error.code == TIMED_OUT:
            refusal = CommandError(ErrorCode.TIMEOUT, "Codex did not take the prompt")
        else:
            message = f"Codex refused the prompt: {answer.error.message}"
            refusal = CommandError(ErrorCode.BAD_REQUEST, message)
        self.out.prompt_answered(number, refusal)
        if not self._turn_id:  # nothing runs (a busy thread's turn goes on: it stays running)
            self._shown_idle = True
            self.emit(Status(state="idle", detail="error"))

    def _interrupted(self, answer: Answer) -> None:
        if answer.error is not None:
            log.info("%s: turn/interrupt: %s", self.agent, answer.error.message)

    # ------------------------------------------------------------------ notifications

    def on_notification(self, method: str, params: dict[str, Any], message: dict[str, Any]) -> None:
        handle: Callable[[dict[str, Any], dict[str, Any]], None] | None = {
            "item/agentMessage/delta": self._delta,
            "item/started": lambda p, m: self._item_started(p.get("item") or {}, m),
            "item/completed": lambda p, m: self._item_completed(p.get("item") or {}, m),
            "turn/started": lambda p, m: self._begin_turn(str(p.get("turn", {}).get("id", ""))),
            "turn/diff/updated": self._diff_updated,
            "thread/tokenUsage/updated": self._usage,
            "error": self._error,
            "turn/completed": lambda p, m: self._end_turn(p.get("turn") or {}, m),
        }.get(method)
        if handle is not None:
            handle(params, message)
        elif method not in QUIET:
            self.raw(message, type=method)

    def _delta(self, params: dict[str, Any], message: dict[str, Any]) -> None:
        delta = str(params.get("delta") or "")
        if delta:
            item_id = str(params.get("itemId", ""))
            self.emit(TextDelta(text=delta, message_id=item_id, raw=message))

    def _diff_updated(self, params: dict[str, Any], message: dict[str, Any]) -> None:
        self._turn_diff = str(params.get("diff", ""))

    def _begin_turn(self, turn_id: str) -> None:
        if turn_id and turn_id != self._turn_id:
            if self._shown_idle:  # a prompt that timed out was taken after all
                self._shown_idle = False
                self.emit(Status(state="running"))
            self._turn_id = turn_id
            self._turn_error = False
            self._turn_diff = ""
            self._reported.clear()

    def _end_turn(self, turn: dict[str, Any], message: dict[str, Any]) -> None:
        for path, diff, change in split_git_diff(self._turn_diff):
            if path not in self._reported:
                diff = truncate(diff)[0]
                self.emit(FileChanged(path=path, diff=diff, change=change, raw=message))
        status = str(turn.get("status", ""))
        for item_id in self._items:  # never completed: the turn was interrupted or failed
            self.emit(ToolFinished(tool_id=item_id, output=status, is_error=True, raw=message))
        error = turn.get("error") or {}
        if status == "failed" and not self._turn_error:
            text = error_text(error.get("message"), "the turn failed")
            self.emit(Error(message=text, code=error_code(error), raw=message))
        self._turn_id = ""
        self._items.clear()
        # Codex drops its pending requests when a turn ends: withdraw them here too.
        self._open_requests.clear()
        if self.approvals.pending():
            self.approvals.cancel_all("the turn ended")
        self.emit(Status(state="idle", detail="" if status == "completed" else status))

    def _usage(self, params: dict[str, Any], message: dict[str, Any]) -> None:
        if not self._turn_id or params.get("turnId") != self._turn_id:
            return  # the totals of an earlier turn, repeated on thread/resume
        usage = usage_of(params, self.model, raw=message)
        if usage is None:
            self.raw(message, type="thread/tokenUsage/updated")
        else:
            self.emit(usage)

    def _error(self, params: dict[str, Any], message: dict[str, Any]) -> None:
        error = params.get("error") or {}
        if params.get("willRetry"):
            self.emit(Status(state="running", detail=f"retrying: {error.get('message', '')}"))
            return
        self._turn_error = True
        text = error_text(error.get("message"), "Codex reported an error")
        self.emit(Error(message=text, code=error_code(error), raw=message))

    # ------------------------------------------------------------------ items

    def _item_started(self, item: dict[str, Any], message: dict[str, Any]) -> None:
        kind, item_id = item.get("type"), str(item.get("id", ""))
        if kind in ("commandExecution", "fileChange", "mcpToolCall", "webSearch"):
            self._items[item_id] = item
            name, tool_input = tool_of(item, self.files.shown)
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
            for event in command_events(item_id, item, status, raw=message):
                self.emit(event)
        elif kind == "fileChange":
            self._file_change_completed(item_id, item, status, message)
        elif kind in ("mcpToolCall", "webSearch"):
            output, _ = truncate(str(item.get("result") or item.get("error") or status))
            failed = status not in ("completed", "")
            self.emit(ToolFinished(tool_id=item_id, output=output, is_error=failed, raw=message))
        elif kind != "userMessage":  # the user_prompt event was emitted when it was sent
            self.raw(message, type=f"item/completed {kind}")

    def _file_change_completed(
        self, item_id: str, item: dict[str, Any], status: str, message: dict[str, Any]
    ) -> None:
        changes = item.get("changes") or []
        for change in changes if status == "completed" else []:
            event = file_changed_of(change, self.files.shown, raw=message)
            self._reported.add(event.path)
            self.emit(event)
        failed = status != "completed"
        output = status if failed else f"{len(changes)} file(s) changed"
        self.emit(ToolFinished(tool_id=item_id, output=output, is_error=failed, raw=message))

    # ------------------------------------------------------------------ approvals

    def on_request(
        self, request_id: int | str, method: str, params: dict[str, Any], message: dict[str, Any]
    ) -> None:
        if method not in APPROVAL_REQUESTS:
            self.rpc.respond_error(request_id, METHOD_NOT_FOUND, f"Tether does not offer {method}")
            self.raw(message, type=method)
            return
        item_id = str(params.get("itemId", ""))
        approval_id = str(params.get("approvalId") or item_id or request_id)
        if approval_id in self.approvals.pending():
            approval_id = f"{approval_id}-{request_id}"
        item = self._items.get(item_id, {})
        tool, summary, tool_input = approval_subject(method, params, item, self.files.shown)
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
