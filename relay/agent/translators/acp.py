"""The Agent Client Protocol (ACP v1, JSON-RPC 2.0, one message per line), translated (the
process: relay/agent/adapters/acp.py).

    client (this translator)                   agent
    initialize {protocolVersion: 1, fs}   ->
    session/new {cwd} | session/load      ->   (sessionId: the resume token)
    session/prompt {prompt}               ->   session/update ...   (text, thoughts, tool calls)
                                          <-   session/request_permission  (approval)
                                          <-   fs/read_text_file, fs/write_text_file
                                          <-   result {stopReason, usage | _meta.quota}
    session/cancel (notification)         ->

One turn runs at a time; prompts sent meanwhile wait their turn. Files are read and written for
the agent only inside the workspace (WorkspaceFiles). Each setup request has SETUP_TIMEOUT_S:
a `session/load` that gets no answer starts a new conversation, said so.

Tool calls are merged and finished by ToolCalls (relay/agent/translators/acp_tools.py).
"""

from __future__ import annotations

import logging
from typing import Any

from protocol.messages import (
    MAX_OUTPUT_CHARS,
    Decision,
    Error,
    Message,
    Status,
    TextDelta,
    Thinking,
)
from protocol.version import SOFTWARE_VERSION
from relay.agent.jsonrpc import INVALID_PARAMS, METHOD_NOT_FOUND, Answer, error_text
from relay.agent.translator import RpcTranslator
from relay.agent.translators.acp_content import (
    TurnCost,
    chunk_text,
    rpc_reason,
    tool_input,
    usage_of,
)
from relay.agent.translators.acp_tools import ToolCalls
from relay.agent.workspace_files import FileAccessRefusedError

log = logging.getLogger(__name__)

PROTOCOL_VERSION = 1
# initialize, session/load and session/new take a few seconds; an agent that never answers one
# fails the start (a load: a new conversation, said so) instead of hanging the session.
SETUP_TIMEOUT_S = 30.0
FS_REFUSED = -32001  # JSON-RPC error for a path outside the workspace (server-defined range)
ALLOW_KINDS: dict[Decision, tuple[str, ...]] = {
    "approve": ("allow_once",),
    "approve_for_session": ("allow_always",),
    "deny": ("reject_once", "reject_always"),
}


class AcpTranslator(RpcTranslator):
    rpc_version = "2.0"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.session = ""  # the agent's sessionId
        self._queued: list[str] = []  # prompts waiting for the running turn to end
        self._turn_running = False
        self._loading = False  # session/load replays history: not news, not re-emitted
        self._text: list[str] = []
        self._message_id = ""
        self.tools = ToolCalls(self.emit, self.files, self._flush_message)
        self._cost = TurnCost()

    # ------------------------------------------------------------------ Translator

    def start(self) -> None:
        capabilities = {"fs": {"readTextFile": True, "writeTextFile": True}}
        params = {
            "protocolVersion": PROTOCOL_VERSION,
            "clientCapabilities": capabilities,
            "clientInfo": {"name": "tether", "version": SOFTWARE_VERSION},
        }
        self.rpc.request("initialize", params, timeout_s=SETUP_TIMEOUT_S)

    def on_notification(self, method: str, params: dict[str, Any], message: dict[str, Any]) -> None:
        if method == "session/update":
            self._on_update(params.get("update") or {}, message)
        else:
            self.raw(message, type=method)

    def send_prompt(self, text: str) -> None:
        self._queued.append(text)
        self._next_turn()

    def cancel(self) -> None:
        if self.session:
            self.rpc.notify("session/cancel", {"sessionId": self.session})

    # ------------------------------------------------------------------ answers

    def answered(self, answer: Answer) -> None:
        handle = {
            "initialize": self._initialized,
            "session/load": self._loaded,
            "session/new": self._created,
            "session/prompt": self._turn_ended,
        }.get(answer.method)
        if handle is not None:
            handle(answer)

    def _where(self) -> dict[str, Any]:
        return {"cwd": str(self.files.root), "mcpServers": []}

    def _initialized(self, answer: Answer) -> None:
        if answer.error is not None:
            self.start_failed(rpc_reason(answer.error))
            return
        init = answer.result if isinstance(answer.result, dict) else {}
        capabilities = init.get("agentCapabilities") or {}
        if self.resume and capabilities.get("loadSession"):
            self._loading = True
            load = {"sessionId": self.resume, **self._where()}
            self.rpc.request("session/load", load, timeout_s=SETUP_TIMEOUT_S)
            return
        if self.resume:
            self.emit(Error(message=f"{self.agent} cannot resume a conversation (no loadSession)"))
        self.rpc.request("session/new", self._where(), timeout_s=SETUP_TIMEOUT_S)

    def _loaded(self, answer: Answer) -> None:
        self._loading = False
        if answer.error is None:
            self._ready(self.resume)
            return
        reason = rpc_reason(answer.error)
        self.emit(Error(message=f"cannot resume the conversation: {reason}", raw=answer.error.data))
        self.rpc.request("session/new", self._where(), timeout_s=SETUP_TIMEOUT_S)

    def _created(self, answer: Answer) -> None:
        if answer.error is not None:
            self.start_failed(rpc_reason(answer.error))
            return
        result = answer.result if isinstance(answer.result, dict) else {}
        if not result.get("sessionId"):
            self.start_failed("session/new answered without a sessionId")
            return
        self._ready(str(result["sessionId"]))

    def _ready(self, session: str) -> None:
        self.session = session
        self.out.resume_token(session)
        self.out.ready()

    # ------------------------------------------------------------------ turns

    def _next_turn(self) -> None:
        if self._turn_running or not self._queued:
            return
        self._turn_running = True
        prompt = [{"type": "text", "text": self._queued.pop(0)}]
        self.rpc.request("session/prompt", {"sessionId": self.session, "prompt": prompt})

    def _turn_ended(self, answer: Answer) -> None:
        self._turn_running = False
        if answer.error is not None:
            self._end_turn("error")
            message = error_text(answer.error.message)[:MAX_OUTPUT_CHARS]
            self.emit(Error(message=message, code="agent_error", raw=answer.error.data))
            self.emit(Status(state="idle", detail="error"))
        else:
            result = answer.result if isinstance(answer.result, dict) else {}
            stop = str(result.get("stopReason", ""))
            self._end_turn(stop)
            usage = usage_of(result, self._cost.take())
            if usage is not None:
                self.emit(usage)
            self.emit(Status(state="idle", detail=stop if stop != "end_turn" else ""))
        self._next_turn()

    def _end_turn(self, stop: str) -> None:
        self.tools.close_denied()
        self._flush_message()
        self.tools.end_turn(stop)

    def _flush_message(self) -> None:
        if self._text:
            self.emit(Message(text="".join(self._text), message_id=self._message_id))
        self._text, self._message_id = [], ""

    # ------------------------------------------------------------------ session/update

    def _on_update(self, update: dict[str, Any], message: dict[str, Any]) -> None:
        kind = update.get("sessionUpdate", "")
        if self._loading:
            return  # history replayed by session/load is already in the session's log
        self.tools.close_denied(keep=str(update.get("toolCallId") or ""))
        chunk = chunk_text(update.get("content"))
        if kind == "agent_message_chunk" and chunk is not None:
            self._message_id = str(update.get("messageId") or self._message_id)
            self._text.append(chunk)
            self.emit(TextDelta(text=chunk, message_id=self._message_id))
        elif kind == "agent_thought_chunk" and chunk is not None:
            self.emit(Thinking(text=chunk))
        elif kind in ("tool_call", "tool_call_update") and update.get("toolCallId"):
            self.tools.update(update, message)
        elif kind == "usage_update":
            self._cost.update(update)
            self.raw(message, type="usage_update")
        else:
            self.raw(message, type=kind or "session/update")

    # ------------------------------------------------------------------ agent -> client requests

    def on_request(
        self, request_id: int | str, method: str, params: dict[str, Any], message: dict[str, Any]
    ) -> None:
        if method == "session/request_permission":
            self._ask(request_id, params, message)
            return
        try:
            if method == "fs/read_text_file":
                self.rpc.respond(request_id, {"content": self._read(params)})
            elif method == "fs/write_text_file":
                self._write(params)
                self.rpc.respond(request_id, None)
            else:
                self.rpc.respond_error(request_id, METHOD_NOT_FOUND, f"{method} is not supported")
                self.raw(message, type=method)
        except FileAccessRefusedError as exc:
            log.info("%s: refused %s: %s", self.agent, method, exc)
            self.rpc.respond_error(
                request_id, FS_REFUSED if exc.outside else INVALID_PARAMS, str(exc)
            )

    def _ask(self, request_id: int | str, params: dict[str, Any], message: dict[str, Any]) -> None:
        call = params.get("toolCall") or {}
        options = [o for o in params.get("options") or [] if isinstance(o, dict)]
        tool_id = str(call.get("toolCallId") or f"permission-{request_id}")
        tool = self.tools.asked(tool_id, call, message)
        title = str(call.get("title") or (tool.title if tool else "") or "tool")

        def option_for(decision: Decision) -> str | None:
            kinds = ALLOW_KINDS[decision]
            return next((str(o["optionId"]) for o in options if o.get("kind") in kinds), None)

        offered: list[Decision] = [d for d in ALLOW_KINDS if option_for(d) is not None]
        if "deny" not in offered:
            offered.append("deny")  # without a reject option a denial is a cancelled outcome

        def answer(decision: Decision, _message: str) -> None:
            option = option_for(decision)
            if option is None:
                self.rpc.respond(request_id, {"outcome": {"outcome": "cancelled"}})
            else:
                self.rpc.respond(
                    request_id, {"outcome": {"outcome": "selected", "optionId": option}}
                )
            if decision == "deny":
                self.tools.denied.add(tool_id)

        def cancelled() -> None:
            self.rpc.respond(request_id, {"outcome": {"outcome": "cancelled"}})

        self.approvals.ask(
            tool_id,
            tool=title,
            summary=title,
            input=tool_input(tool.fields if tool else call, self.files),
            options=offered,
            answer=answer,
            cancel=cancelled,
            raw=message,
        )

    def _read(self, params: dict[str, Any]) -> str:
        return self.files.read_for_agent(
            params.get("path"), params.get("line"), params.get("limit")
        )

    def _write(self, params: dict[str, Any]) -> None:
        content = params.get("content")
        old = self.files.write_for_agent(params.get("path"), content)
        assert isinstance(content, str)  # write_for_agent refuses anything else
        self.tools.written[str(params["path"])] = content
        self.tools.file_changed(str(params["path"]), old, content)
