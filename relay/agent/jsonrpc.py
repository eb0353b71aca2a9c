"""JSON-RPC over one JSON object per line, as Codex's app-server and ACP agents speak it.

Both ends send requests. `RpcChannel` is the translator's half, without I/O or waiting: it
writes requests, notifications and answers through `send`, remembers which method each of its
requests called, and `answer_to()` turns a message from the agent that answers one of them
into an `Answer`. A request sent with a time limit is reported to `expect` (the driver, which
calls `expire()` when it passes). Codex omits the `"jsonrpc"` member (version None).
`error_text()` is an agent's error message as a user reads it.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from collections.abc import Callable
from typing import Any

METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
TIMED_OUT = -32000  # ours, from the implementation-defined range: the agent did not answer


class RpcError(Exception):
    """The agent answered a request with an error, or did not answer in time."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(f"{message} ({code})")
        self.code = code
        self.message = message
        self.data = data


def error_text(message: Any, default: str = "") -> str:
    """An agent's error message. Codex and Gemini CLI pass an API's JSON error body through as
    the message: show the message inside it."""
    text = str(message or default)
    try:
        body = json.loads(text)
    except ValueError:
        return text
    inner = body.get("error") if isinstance(body, dict) else None
    if isinstance(inner, dict) and inner.get("message"):
        return str(inner["message"])
    return text


@dataclasses.dataclass(frozen=True)
class Answer:
    """The agent's answer to one of our requests: a result, or an error."""

    method: str
    result: Any = None
    error: RpcError | None = None
    request_id: int | str = 0  # the id of the request answered


@dataclasses.dataclass(frozen=True)
class _Asked:
    method: str
    timeout_s: float | None


class RpcChannel:
    def __init__(
        self,
        send: Callable[[dict[str, Any]], None],
        version: str | None,
        expect: Callable[[int, float], None] = lambda request_id, timeout_s: None,
    ) -> None:
        self._send = send
        self._version = version
        self._expect = expect
        self._ids = itertools.count(1)
        self._asked: dict[int | str, _Asked] = {}

    def request(self, method: str, params: Any = None, timeout_s: float | None = None) -> int:
        """Send a request; its answer comes back through `answer_to()`."""
        request_id = next(self._ids)
        self._asked[request_id] = _Asked(method, timeout_s)
        self._send(self._message(id=request_id, method=method, params=params))
        if timeout_s is not None:
            self._expect(request_id, timeout_s)
        return request_id

    def notify(self, method: str, params: Any = None) -> None:
        self._send(self._message(method=method, params=params))

    def respond(self, request_id: int | str, result: Any) -> None:
        self._send(self._message(id=request_id, result=result))

    def respond_error(self, request_id: int | str, code: int, message: str) -> None:
        self._send(self._message(id=request_id, error={"code": code, "message": message}))

    def answer_to(self, message: dict[str, Any]) -> Answer | None:
        """The answer `message` is to one of our requests, or None when it is something else
        (a request or notification from the agent, or an answer nobody waits for)."""
        if "method" in message or "id" not in message:
            return None
        request_id = message["id"]
        asked = self._asked.pop(request_id, None)
        if asked is None:
            return None
        error = message.get("error")
        if isinstance(error, dict):
            code, text = int(error.get("code", 0)), str(error.get("message", ""))
            rpc_error = RpcError(code, text, error.get("data"))
            return Answer(asked.method, error=rpc_error, request_id=request_id)
        return Answer(asked.method, result=message.get("result"), request_id=request_id)

    def expire(self, request_id: int) -> Answer | None:
        """The time limit of a request passed: its answer is a timeout error, unless it came."""
        asked = self._asked.pop(request_id, None)
        if asked is None:
            return None
        text = f"no answer to {asked.method} in {asked.timeout_s:g} s"
        return Answer(asked.method, error=RpcError(TIMED_OUT, text), request_id=request_id)

    def _message(self, **fields: Any) -> dict[str, Any]:
        message = {k: v for k, v in fields.items() if v is not None or k == "result"}
        if self._version is not None:
            message = {"jsonrpc": self._version, **message}
        return message
