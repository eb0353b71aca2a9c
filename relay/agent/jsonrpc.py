"""JSON-RPC over one JSON object per line, as Codex's app-server and ACP agents speak it.

Both ends send requests. `feed()` takes every message read from the agent: answers to our
requests resolve the matching `request()`; requests and notifications from the agent are
returned for the adapter to handle. Codex omits the `"jsonrpc"` member (version None).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from typing import Any

METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
TIMED_OUT = -32000  # ours, from the implementation-defined range: the agent did not answer


class RpcError(Exception):
    """The agent answered a request with an error, or went away before answering."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(f"{message} ({code})")
        self.code = code
        self.message = message
        self.data = data


class JsonRpc:
    def __init__(self, send: Callable[[dict[str, Any]], None], version: str | None) -> None:
        self._send = send
        self._version = version
        self._ids = itertools.count(1)
        self._waiting: dict[int | str, asyncio.Future[Any]] = {}

    async def request(self, method: str, params: Any = None, timeout_s: float | None = None) -> Any:
        """Send a request and wait for its result; raises RpcError for an error answer, or for
        no answer within `timeout_s` (a later answer is then handed back by feed() as raw)."""
        request_id = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = future
        try:
            self._send(self._message(id=request_id, method=method, params=params))
            return await asyncio.wait_for(future, timeout_s)
        except TimeoutError as exc:
            raise RpcError(TIMED_OUT, f"no answer to {method} in {timeout_s:g} s") from exc
        finally:
            self._waiting.pop(request_id, None)

    def notify(self, method: str, params: Any = None) -> None:
        self._send(self._message(method=method, params=params))

    def respond(self, request_id: int | str, result: Any) -> None:
        self._send(self._message(id=request_id, result=result))

    def respond_error(self, request_id: int | str, code: int, message: str) -> None:
        self._send(self._message(id=request_id, error={"code": code, "message": message}))

    def feed(self, message: dict[str, Any]) -> dict[str, Any] | None:
        """Consume an answer to one of our requests; return anything else to the caller."""
        if "method" in message or "id" not in message:
            return message
        future = self._waiting.get(message["id"])
        if future is None or future.done():
            return message  # an answer nobody waits for: the adapter keeps it as raw
        error = message.get("error")
        if isinstance(error, dict):
            future.set_exception(
                RpcError(
                    int(error.get("code", 0)), str(error.get("message", "")), error.get("data")
                )
            )
        else:
            future.set_result(message.get("result"))
        return None

    def fail_all(self, reason: str) -> None:
        """The agent is gone: every waiting request raises RpcError."""
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(RpcError(INTERNAL_ERROR, reason))

    def _message(self, **fields: Any) -> dict[str, Any]:
        message = {k: v for k, v in fields.items() if v is not None or k == "result"}
        if self._version is not None:
            message = {"jsonrpc": self._version, **message}
        return message
