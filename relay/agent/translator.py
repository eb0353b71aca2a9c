"""The pure half of a structured agent: native messages in, Tether events and replies out.

A translator holds one conversation's state (the handshake, the turn, open tool calls, pending
approvals) and does no I/O of its own: no process, no asyncio, no clock. Its driver
(relay/agent/structured.py) hands it each line the agent writes and each viewer action; the
translator answers through its `Outlet`. Files it needs (a diff's old content, ACP's file
requests) go through `WorkspaceFiles`. The golden tests (tests/agents/test_golden.py) drive
translators exactly so, from a transcript, without a process.

    start()            the handshake's first messages; outlet.ready() once prompts may go
    on_line(line)      one line of the agent's stdout
    prompt(text)       a viewer's prompt: user_prompt, status running, the native turn;
                       outlet.prompt_answered() says whether the agent took it
    interrupt()        pending approvals cancelled, the turn interrupted natively
    approvals          resolve() / pending() for a viewer's decisions
    expired(id)        a request's time limit passed (outlet.expect asked for it)

Lines that are not JSON objects, and messages a translator does not map, become `native`
events (kept as `raw`). `RpcTranslator` is the base of the JSON-RPC agents (Codex, ACP).
"""

from __future__ import annotations

import abc
import json
import logging
from typing import Any, ClassVar, Protocol

from protocol.messages import Error, Event, Native, Status, UserPrompt
from relay.agent.approvals import Approvals
from relay.agent.config import AgentConfig
from relay.agent.jsonrpc import Answer, RpcChannel
from relay.agent.workspace_files import WorkspaceFiles
from relay.errors import CommandError

log = logging.getLogger(__name__)


class Outlet(Protocol):
    """Where a translator's output goes: the driver, or a test's recorder."""

    def emit(self, event: Event) -> None:
        """An event for the session's log."""

    def send(self, message: dict[str, Any]) -> None:
        """One JSON message to the agent's stdin. Raises CommandError when it is closed."""

    def resume_token(self, token: str) -> None:
        """The agent's conversation id, to resume the session after a relay restart."""

    def ready(self) -> None:
        """The handshake is done: prompts may be sent."""

    def give_up(self) -> None:
        """The handshake failed (an `error` event says why): end the agent."""

    def expect(self, request_id: int, timeout_s: float) -> None:
        """Call `expired(request_id)` after `timeout_s` (the translator ignores it if the
        answer came)."""

    def prompt_answered(self, number: int, refusal: CommandError | None) -> None:
        """The agent took prompt `number` (counted from 1), or refused it (`refusal` is the
        viewer's command error)."""


class Translator(abc.ABC):
    # The agent answers each prompt (Codex's turn/start), and the translator reports that
    # answer; otherwise a prompt is taken once it is written.
    answers_prompts: ClassVar[bool] = False

    def __init__(
        self,
        outlet: Outlet,
        files: WorkspaceFiles,
        config: AgentConfig,
        *,
        agent: str,
        resume: str = "",
    ) -> None:
        self.out = outlet
        self.files = files
        self.config = config
        self.agent = agent  # the agent's name, in messages
        self.resume = resume  # the conversation to continue; "" starts a new one
        self.approvals = Approvals(outlet.emit)
        self.prompts = 0  # sent so far; the last one's number

    def emit(self, event: Event) -> None:
        self.out.emit(event)

    def raw(self, message: Any, type: str = "") -> None:
        """Keep a message Tether does not map."""
        self.emit(Native(type=type, raw=message))

    def start(self) -> None:
        """The handshake: agents without one are ready at once."""
        self.out.ready()

    def start_failed(self, reason: str) -> None:
        """The handshake cannot go on: say why and end the agent."""
        self.emit(Error(message=f"{self.agent} did not start: {reason}", code="start_failed"))
        self.out.give_up()

    def on_line(self, line: str) -> None:
        text = line.strip()
        if not text:
            return
        try:
            message = json.loads(text)
        except ValueError:
            self.raw(text, type="non_json_output")
            return
        if not isinstance(message, dict):
            self.raw(message, type="non_object_output")
            return
        try:
            self.on_message(message)
        except Exception:  # a message the translator cannot handle must not end the session
            log.exception("%s: cannot handle %.200s", self.agent, text)
            self.raw(message, type="unhandled")

    def prompt(self, text: str) -> int:
        """Send a viewer's prompt; returns its number, as `outlet.prompt_answered()` gives it."""
        self.prompts += 1
        self.emit(UserPrompt(text=text))
        self.emit(Status(state="running"))
        self.send_prompt(text)
        if not self.answers_prompts:
            self.out.prompt_answered(self.prompts, None)
        return self.prompts

    def interrupt(self) -> None:
        self.approvals.cancel_all("interrupted")
        self.cancel()

    def expired(self, request_id: int) -> None:  # noqa: B027 - most translators set no limit
        """A request's time limit passed; translators that set none ignore this."""

    @abc.abstractmethod
    def on_message(self, message: dict[str, Any]) -> None:
        """One JSON object from the agent's stdout."""

    @abc.abstractmethod
    def send_prompt(self, text: str) -> None:
        """Start a native turn (or queue it behind the running one); prompt number
        `self.prompts`."""

    @abc.abstractmethod
    def cancel(self) -> None:
        """Interrupt the current turn natively."""


class RpcTranslator(Translator):
    """A translator of an agent that speaks JSON-RPC (Codex, ACP): it writes its requests
    through `rpc`; each answer (or a time limit passed) comes to `answered()`, each request
    from the agent to `on_request()`, each notification to `on_notification()`, and anything
    else is kept as `native`."""

    rpc_version: ClassVar[str | None]  # the "jsonrpc" member; None: Codex omits it

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rpc = RpcChannel(
            lambda message: self.out.send(message),
            self.rpc_version,
            expect=lambda request_id, timeout_s: self.out.expect(request_id, timeout_s),
        )

    def expired(self, request_id: int) -> None:
        answer = self.rpc.expire(request_id)
        if answer is not None:
            self.answered(answer)

    def on_message(self, message: dict[str, Any]) -> None:
        answer = self.rpc.answer_to(message)
        method = message.get("method")
        params = message.get("params") or {}
        if answer is not None:
            self.answered(answer)
        elif not isinstance(method, str):
            self.raw(message, type="unexpected_response")
        elif "id" in message:
            self.on_request(message["id"], method, params, message)
        else:
            self.on_notification(method, params, message)

    @abc.abstractmethod
    def answered(self, answer: Answer) -> None:
        """The agent answered one of our requests (or did not in time: an error answer)."""

    @abc.abstractmethod
    def on_request(
        self, request_id: int | str, method: str, params: dict[str, Any], message: dict[str, Any]
    ) -> None:
        """A request from the agent: answer it through `rpc`."""

    @abc.abstractmethod
    def on_notification(self, method: str, params: dict[str, Any], message: dict[str, Any]) -> None:
        """A notification from the agent."""
