"""Agents that speak the Agent Client Protocol (ACP v1, JSON-RPC 2.0 over stdio, one per line).

    client (this adapter)                      agent
    initialize {protocolVersion: 1, fs}   ->
    session/new {cwd} | session/load      ->   (sessionId: the resume token)
    session/prompt {prompt}               ->   session/update ...   (text, thoughts, tool calls)
                                          <-   session/request_permission  (approval)
                                          <-   fs/read_text_file, fs/write_text_file
                                          <-   result {stopReason, usage | _meta.quota}
    session/cancel (notification)         ->

One turn runs at a time; prompts sent meanwhile wait their turn. Files are read and written for
the agent only inside the workspace. Gemini CLI (`gemini --acp`) and Copilot CLI
(`copilot --acp`) are registered by name; `acp`, and any other `[agents.<name>]` of the config,
runs an ACP agent from its config (`acp_agent()`).

A tool call is merged as ACP specifies: an update changes only the fields it carries. Its
`tool_started` waits until something says what the call is about (rawInput, content or
locations), or until it runs, is asked about or its turn ends, so a call whose input comes in a
later update is shown with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import shlex
from typing import Any, ClassVar, Literal

from protocol.messages import (
    MAX_OUTPUT_CHARS,
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
from relay.agent.adapters.base import EventSink, SessionSpec
from relay.agent.diffs import truncate, unified_diff
from relay.agent.jsonrpc import INVALID_PARAMS, METHOD_NOT_FOUND, JsonRpc, RpcError
from relay.agent.structured import StructuredAdapter
from relay.agent.workspace_files import FileAccessRefusedError, WorkspaceFiles

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
# session/update kinds kept as `native` events: nothing in Tether's event set stands for them.
UNMAPPED_UPDATES = (
    "user_message_chunk",
    "plan",
    "available_commands_update",
    "current_mode_update",
    "config_option_update",
    "session_info_update",
)


# The fields of a tool call that an update replaces when it carries them (ACP: the others stay).
TOOL_FIELDS = ("kind", "title", "status", "content", "locations", "rawInput", "rawOutput")


@dataclasses.dataclass
class _Tool:
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


class AcpAdapter(StructuredAdapter):
    """Any ACP agent: executable and args from the `[agents.acp]` config, nothing added."""

    agent = "acp"
    executable: ClassVar[str | None] = ""
    acp_args: ClassVar[tuple[str, ...]] = ()  # Tether's own flags, before the configured ones
    model_flag: ClassVar[str] = ""  # how the agent takes `model`; "" ignores the setting

    def __init__(self, spec: SessionSpec, sink: EventSink) -> None:
        super().__init__(spec, sink)
        self.rpc = JsonRpc(lambda message: self.send(message), version="2.0")
        self.files = WorkspaceFiles(spec.workspace.path)
        self.session = ""  # the agent's sessionId
        self._turn_lock = asyncio.Lock()
        self._loading = False  # session/load replays history: not news, not re-emitted
        self._text: list[str] = []
        self._message_id = ""
        self._tools: dict[str, _Tool] = {}  # started, not finished
        self._written: dict[str, str] = {}  # path -> content we wrote for the agent this turn
        self._done: set[str] = set()  # tool calls finished this turn (late updates ignored)
        self._denied: set[str] = set()  # finished as denied unless the agent reports them first
        self._cost_total = 0.0  # cumulative session cost in USD, from usage_update
        self._cost_usd: float | None = None  # this turn's share of it

    # ------------------------------------------------------------------ StructuredAdapter

    def argv(self) -> list[str]:
        config = self.spec.agent
        model = [self.model_flag, config.model] if config.model and self.model_flag else []
        return [config.executable, *self.acp_args, *model, *config.args]

    async def on_start(self) -> None:
        init = await self.rpc.request(
            "initialize",
            {
                "protocolVersion": PROTOCOL_VERSION,
                "clientCapabilities": {"fs": {"readTextFile": True, "writeTextFile": True}},
                "clientInfo": {"name": "tether", "version": SOFTWARE_VERSION},
            },
            timeout_s=SETUP_TIMEOUT_S,
        )
        capabilities = (init or {}).get("agentCapabilities") or {}
        where = {"cwd": str(self.files.root), "mcpServers": []}
        if self.spec.resume and capabilities.get("loadSession"):
            self._loading = True
            try:
                load = {"sessionId": self.spec.resume, **where}
                await self.rpc.request("session/load", load, timeout_s=SETUP_TIMEOUT_S)
                self.session = self.spec.resume
            except RpcError as exc:
                reason = _rpc_reason(exc)
                self.emit(Error(message=f"cannot resume the conversation: {reason}", raw=exc.data))
            finally:
                self._loading = False
        elif self.spec.resume:
            self.emit(Error(message=f"{self.agent} cannot resume a conversation (no loadSession)"))
        if not self.session:
            result = await self.rpc.request("session/new", where, timeout_s=SETUP_TIMEOUT_S)
            self.session = str(result["sessionId"])
        self.sink.resumable(self.session)

    async def on_message(self, message: dict[str, Any]) -> None:
        incoming = self.rpc.feed(message)
        if incoming is None:
            return
        method = incoming.get("method")
        params = incoming.get("params") or {}
        if method is None:
            self.raw(incoming, type="unexpected_response")
        elif "id" in incoming:
            self._on_request(incoming["id"], method, params, incoming)
        elif method == "session/update":
            self._on_update(params.get("update") or {}, incoming)
        else:
            self.raw(incoming, type=method)

    async def prompt(self, text: str) -> None:
        self.background(self._turn(text), "prompt")

    async def cancel(self) -> None:
        if self.session:
            self.rpc.notify("session/cancel", {"sessionId": self.session})

    async def on_exit(self) -> None:
        self.rpc.fail_all("the agent exited")

    # ------------------------------------------------------------------ turns

    async def _turn(self, text: str) -> None:
        async with self._turn_lock:
            params = {"sessionId": self.session, "prompt": [{"type": "text", "text": text}]}
            try:
                result = await self.rpc.request("session/prompt", params)
            except RpcError as exc:
                self._end_turn("error")
                self.emit(Error(message=_error_text(exc.message), code="agent_error", raw=exc.data))
                self.emit(Status(state="idle", detail="error"))
                return
            result = result if isinstance(result, dict) else {}
            stop = str(result.get("stopReason", ""))
            self._end_turn(stop)
            usage = self._usage(result)
            if usage is not None:
                self.emit(usage)
            self.emit(Status(state="idle", detail=stop if stop != "end_turn" else ""))

    def _end_turn(self, stop: str) -> None:
        self._close_denied()
        self._flush_message()
        for tool_id in list(self._tools):  # cancelled calls get no update from some agents
            self._finish_tool(tool_id, failed=True, reason=stop or "not run", ran=False)
        self._written.clear()
        self._done.clear()

    def _close_denied(self, keep: str = "") -> None:
        """Gemini CLI sends no update for a call the user rejected: finish it on its next news."""
        for tool_id in sorted(self._denied - {keep}):
            if tool_id in self._tools:
                self._finish_tool(tool_id, failed=True, reason="denied", ran=False)
        self._denied &= {keep}

    def _usage(self, result: dict[str, Any]) -> Usage | None:
        cost = None
        if self._cost_usd is not None:
            cost, self._cost_usd = self._cost_usd, None
        usage = result.get("usage")
        quota = ((result.get("_meta") or {}).get("quota")) or {}
        if isinstance(usage, dict):  # ACP PromptResponse.usage (Copilot, claude-agent-acp)
            return Usage(
                input_tokens=int(usage.get("inputTokens") or 0),
                output_tokens=int(usage.get("outputTokens") or 0),
                cached_tokens=int(usage.get("cachedReadTokens") or 0),
                cost_usd=cost,
                raw=usage,
            )
        if isinstance(quota.get("token_count"), dict):  # Gemini CLI
            tokens = quota["token_count"]
            models = [m.get("model", "") for m in quota.get("model_usage") or [] if m.get("model")]
            return Usage(
                input_tokens=int(tokens.get("input_tokens") or 0),
                output_tokens=int(tokens.get("output_tokens") or 0),
                cost_usd=cost,
                model=next((m for m in models if m != "auto"), ""),
                raw=quota,
            )
        return Usage(cost_usd=cost) if cost is not None else None

    def _flush_message(self) -> None:
        if self._text:
            self.emit(Message(text="".join(self._text), message_id=self._message_id))
        self._text, self._message_id = [], ""

    # ------------------------------------------------------------------ session/update

    def _on_update(self, update: dict[str, Any], message: dict[str, Any]) -> None:
        kind = update.get("sessionUpdate", "")
        if self._loading:
            return  # history replayed by session/load is already in the session's log
        self._close_denied(keep=str(update.get("toolCallId") or ""))
        text = _text(update.get("content"))
        if kind == "agent_message_chunk" and text is not None:
            self._message_id = str(update.get("messageId") or self._message_id)
            self._text.append(text)
            self.emit(TextDelta(text=text, message_id=self._message_id))
        elif kind == "agent_thought_chunk" and text is not None:
            self.emit(Thinking(text=text))
        elif kind in ("tool_call", "tool_call_update") and update.get("toolCallId"):
            self._on_tool(update, message)
        elif kind == "usage_update":
            self._on_usage_update(update, message)
        else:
            self.raw(message, type=kind or "session/update")

    def _on_tool(self, update: dict[str, Any], message: dict[str, Any]) -> None:
        tool_id = str(update["toolCallId"])
        tool = self._start_tool(update)
        if tool is None:
            return  # an update for a call that already finished
        tool.merge(update)
        status = tool.fields.get("status")
        if tool.described or status in ("in_progress", "completed", "failed"):
            self._announce(tool_id, tool, message)
        if status in ("completed", "failed"):
            self._finish_tool(tool_id, failed=status == "failed", raw=message)

    def _start_tool(self, call: dict[str, Any]) -> _Tool | None:
        tool_id = str(call["toolCallId"])
        if tool_id in self._tools:
            return self._tools[tool_id]
        if tool_id in self._done:
            return None
        if call.get("sessionUpdate") == "tool_call_update" and call.get("status") is None:
            return None
        self._flush_message()  # text before a tool call is a message of its own
        tool = self._tools[tool_id] = _Tool({})
        return tool

    def _announce(self, tool_id: str, tool: _Tool, raw: Any) -> None:
        """tool_started, once, with what is known of the call by now."""
        if tool.announced:
            return
        tool.announced = True
        name = tool.title or tool.kind
        self.emit(
            ToolStarted(tool_id=tool_id, name=name, input=self._tool_input(tool.fields), raw=raw)
        )

    def _finish_tool(
        self, tool_id: str, *, failed: bool, reason: str = "", raw: Any = None, ran: bool = True
    ) -> None:
        tool = self._tools.pop(tool_id)
        self._announce(tool_id, tool, raw)
        self._done.add(tool_id)
        blocks = tool.fields.get("content") or []
        text = "\n".join(_text_of(b) for b in blocks if _text_of(b)) or _output_text(tool.fields)
        if not failed:
            for block in blocks:
                if isinstance(block, dict) and block.get("type") == "diff":
                    self._diff_changed(block)
        if tool.kind == "execute" and ran:  # not for a call that never ran
            self._command(tool, text)
        output, _ = truncate(text or reason)
        self.emit(ToolFinished(tool_id=tool_id, output=output, is_error=failed, raw=raw))

    def _command(self, tool: _Tool, text: str) -> None:
        raw_input = tool.fields.get("rawInput")
        raw_input = raw_input if isinstance(raw_input, dict) else {}
        raw_output = tool.fields.get("rawOutput")
        raw_output = raw_output if isinstance(raw_output, dict) else {}
        command = _command_line(raw_input.get("command")) or tool.title
        code = raw_output.get("exitCode", raw_output.get("exit_code"))
        for part in raw_output.get("contents") or []:  # Copilot CLI: {type: shell_exit, exitCode}
            if isinstance(part, dict) and part.get("type") == "shell_exit":
                code = part.get("exitCode", code)
        output, cut = truncate(text)
        self.emit(
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
        if self._written.pop(path, None) == new:
            return  # already announced when we wrote it for the agent
        old = old if isinstance(old, str) else ""
        if old and not old.endswith("\n") and not new.endswith("\n"):
            old, new = old + "\n", new + "\n"  # a replaced snippet (Copilot CLI), not a file
        self._file_changed(path, old, new, raw=block)

    def _file_changed(self, path: str, old: str, new: str, raw: Any = None) -> None:
        """`path` as the agent names it; the event's path and diff headers are relative to the
        workspace."""
        shown = self.files.shown(path)
        diff, _ = truncate(unified_diff(shown, old, new))
        change: Literal["added", "modified", "deleted"] = "modified"
        if not old or not new:
            change = "deleted" if old else "added"
        self.emit(FileChanged(path=shown, diff=diff, change=change, raw=raw))

    def _on_usage_update(self, update: dict[str, Any], message: dict[str, Any]) -> None:
        cost = update.get("cost")
        if isinstance(cost, dict) and cost.get("currency") == "USD":
            total = float(cost.get("amount") or 0.0)
            self._cost_usd = (self._cost_usd or 0.0) + total - self._cost_total
            self._cost_total = total
        self.raw(message, type="usage_update")

    # ------------------------------------------------------------------ agent -> client requests

    def _on_request(
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
            log.info("session %s: refused %s: %s", self.spec.session_id, method, exc)
            self.rpc.respond_error(
                request_id, FS_REFUSED if exc.outside else INVALID_PARAMS, str(exc)
            )

    def _ask(self, request_id: int | str, params: dict[str, Any], message: dict[str, Any]) -> None:
        call = params.get("toolCall") or {}
        options = [o for o in params.get("options") or [] if isinstance(o, dict)]
        tool_id = str(call.get("toolCallId") or f"permission-{request_id}")
        tool = self._start_tool({**call, "toolCallId": tool_id})
        if tool is not None:
            tool.merge(call)
            self._announce(tool_id, tool, message)
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
                self._denied.add(tool_id)

        def cancelled() -> None:
            self.rpc.respond(request_id, {"outcome": {"outcome": "cancelled"}})

        self.approvals.ask(
            tool_id,
            tool=title,
            summary=title,
            input=self._tool_input(tool.fields if tool else call),
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
        self._written[str(params["path"])] = content
        self._file_changed(str(params["path"]), old, content)

    def _tool_input(self, call: dict[str, Any]) -> Any:
        """What a tool call is about: its rawInput when the agent sends one, else kind and paths
        (with a unified diff of a proposed edit, headers relative to the workspace)."""
        if call.get("rawInput") is not None:
            return call["rawInput"]
        summary: dict[str, Any] = {"kind": call.get("kind") or "other"}
        paths = [loc.get("path") for loc in call.get("locations") or [] if isinstance(loc, dict)]
        if paths:
            summary["paths"] = paths
        for block in call.get("content") or []:
            if isinstance(block, dict) and block.get("type") == "diff" and block.get("path"):
                old, new = block.get("oldText"), block.get("newText")
                old = old if isinstance(old, str) else ""
                new = new if isinstance(new, str) else ""
                shown = self.files.shown(str(block["path"]))
                summary["diff"] = truncate(unified_diff(shown, old, new))[0]
            elif _text_of(block):
                summary["description"] = _text_of(block)
        return summary


def acp_agent(name: str) -> type[AcpAdapter]:
    """The adapter of an `[agents.<name>]` that Tether does not know: an ACP agent."""
    return type(f"AcpAdapter_{name}", (AcpAdapter,), {"agent": name})


class GeminiAdapter(AcpAdapter):
    """Gemini CLI in ACP mode."""

    agent = "gemini"
    executable = "gemini"
    acp_args = ("--acp",)
    model_flag = "--model"


class CopilotAdapter(AcpAdapter):
    """GitHub Copilot CLI in ACP mode; never updates itself, sends no client telemetry."""

    agent = "copilot"
    executable = "copilot"
    acp_args = ("--acp", "--no-auto-update", "--disable-client-telemetry")
    model_flag = "--model"


def _text(content: Any) -> str | None:
    """The text of a text content block, None for any other block."""
    if isinstance(content, dict) and content.get("type") == "text":
        text = content.get("text")
        return text if isinstance(text, str) else None
    return None


def _text_of(block: Any) -> str:
    """The text of a tool-call content block ({type: content, content: {type: text}})."""
    if isinstance(block, dict) and block.get("type") == "content":
        return _text(block.get("content")) or ""
    return ""


def _output_text(update: dict[str, Any]) -> str:
    raw_output = update.get("rawOutput")
    if isinstance(raw_output, str):
        return raw_output
    if isinstance(raw_output, dict):
        for key in ("output", "stdout", "content", "message"):
            if isinstance(raw_output.get(key), str):
                return str(raw_output[key])
    return ""


def _command_line(command: Any) -> str:
    """A command as a shell command line: an argv list joined with shell quoting."""
    if isinstance(command, list) and all(isinstance(part, str) for part in command):
        return shlex.join(command)
    return str(command or "")


def _rpc_reason(exc: RpcError) -> str:
    """The error's message, with the agent's `data.details` when it gives them."""
    details = exc.data.get("details") if isinstance(exc.data, dict) else None
    return f"{exc.message}: {details}" if isinstance(details, str) else exc.message


def _error_text(message: str) -> str:
    """Gemini CLI wraps the API's JSON error body in the message: show its own message."""
    with contextlib.suppress(ValueError, AttributeError, TypeError):
        body = json.loads(message)
        return str(body["error"]["message"])
    return message[:MAX_OUTPUT_CHARS]
