"""A scripted Anthropic Messages API on loopback, for driving the real `claude` CLI offline.

`POST /v1/messages` answers with the next scripted `Reply`, streamed as server-sent events exactly
as the real API streams them (`message_start`, `content_block_start` / `_delta` / `_stop`,
`message_delta` with `stop_reason` and `usage`, `message_stop`), or as one JSON body when the
request does not ask for a stream. `POST /v1/messages/count_tokens` answers a fixed count.
Every request body is kept in `requests`, so a test can check what the CLI sent (earlier turns,
tool results). When the script runs out, each further request gets `DEFAULT_TEXT`.

    api = AnthropicApi([Reply.tool("Write", {"file_path": p, "content": "hi"}), Reply.say("Done.")])
    with api:
        env["ANTHROPIC_BASE_URL"] = api.url
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODEL = "claude-sonnet-4-5-20250929"
DEFAULT_TEXT = "(the script has no more replies)"
MAX_BODY_BYTES = 64 << 20  # Claude sends the whole conversation and tool list every turn
CHUNK_CHARS = 8  # text is streamed in small deltas, as the real API does


@dataclasses.dataclass(frozen=True)
class Reply:
    """One scripted model turn: content blocks, or an API error."""

    blocks: tuple[dict[str, Any], ...] = ()
    stop_reason: str = "end_turn"
    input_tokens: int = 120
    output_tokens: int = 30
    cache_read_tokens: int = 0
    error_status: int = 0  # non-zero: answer with this HTTP status and an error body
    error_type: str = ""
    error_message: str = ""

    @classmethod
    def say(cls, text: str, *, thinking: str = "") -> Reply:
        blocks: list[dict[str, Any]] = []
        if thinking:
            blocks.append({"type": "thinking", "thinking": thinking, "signature": "c2ln"})
        blocks.append({"type": "text", "text": text})
        return cls(blocks=tuple(blocks))

    @classmethod
    def tool(cls, name: str, tool_input: dict[str, Any], *, text: str = "") -> Reply:
        blocks: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
        blocks.append({"type": "tool_use", "name": name, "input": tool_input})
        return cls(blocks=tuple(blocks), stop_reason="tool_use")

    @classmethod
    def error(cls, status: int, error_type: str, message: str) -> Reply:
        return cls(error_status=status, error_type=error_type, error_message=message)


class AnthropicApi:
    """The scripted endpoint: a ThreadingHTTPServer on 127.0.0.1, port chosen by the OS."""

    def __init__(self, replies: list[Reply] | tuple[Reply, ...] = ()) -> None:
        self._replies = list(replies)
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self.requests: list[dict[str, Any]] = []  # every /v1/messages body, in order
        self.paths: list[str] = []  # every request path, for checking what else the CLI calls
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def add(self, *replies: Reply) -> None:
        with self._lock:
            self._replies.extend(replies)

    def __enter__(self) -> AnthropicApi:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def texts_sent(self, index: int = -1) -> str:
        """All text of one logged request (system prompt aside): its messages, as JSON."""
        return json.dumps(self.requests[index].get("messages", []))

    def _next(self, body: dict[str, Any], path: str) -> Reply:
        with self._lock:
            self.paths.append(path)
            self.requests.append(body)
            return self._replies.pop(0) if self._replies else Reply.say(DEFAULT_TEXT)

    def _log_path(self, path: str) -> None:
        with self._lock:
            self.paths.append(path)

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}_{next(self._ids):024d}"


class _Handler(BaseHTTPRequestHandler):
    """The fake's HTTP side; `api` is set by _handler_for."""

    api: AnthropicApi
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean; paths are in api.paths

    def do_HEAD(self) -> None:
        self.api._log_path(self.path)
        self._send_json(200, {})

    def do_GET(self) -> None:
        self.api._log_path(self.path)
        self._send_json(404, _error_body("not_found_error", "no such endpoint"))

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        if length > MAX_BODY_BYTES:
            self._send_json(413, _error_body("request_too_large", "body too large"))
            return
        body = json.loads(self.rfile.read(length) or b"{}")
        path = self.path.split("?", 1)[0]
        if path.endswith("/v1/messages/count_tokens"):
            self.api._log_path(self.path)
            self._send_json(200, {"input_tokens": 100})
            return
        if not path.endswith("/v1/messages"):
            self.api._log_path(self.path)
            self._send_json(404, _error_body("not_found_error", f"no endpoint {path}"))
            return
        reply = self.api._next(body, self.path)
        if reply.error_status:
            self._send_json(reply.error_status, _error_body(reply.error_type, reply.error_message))
            return
        message = _message(self.api, reply, body.get("model") or MODEL)
        if body.get("stream"):
            self._send_stream(message, reply)
        else:
            self._send_json(200, message)

    def _send_json(self, status: int, obj: Any) -> None:
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("request-id", self.api._new_id("req"))
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _send_stream(self, message: dict[str, Any], reply: Reply) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream; charset=utf-8")
        self.send_header("cache-control", "no-cache")
        self.send_header("request-id", self.api._new_id("req"))
        self.send_header("connection", "close")
        self.end_headers()
        for event in _stream_events(message, reply):
            data = json.dumps(event, separators=(",", ":"))
            self.wfile.write(f"event: {event['type']}\ndata: {data}\n\n".encode())
            self.wfile.flush()
        self.close_connection = True


def _handler_for(api: AnthropicApi) -> type[BaseHTTPRequestHandler]:
    return type("Handler", (_Handler,), {"api": api})


def _message(api: AnthropicApi, reply: Reply, model: str) -> dict[str, Any]:
    content = []
    for block in reply.blocks:
        if block["type"] == "tool_use":
            block = {"id": api._new_id("toolu"), **block}
        content.append(block)
    return {
        "id": api._new_id("msg"),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": reply.stop_reason,
        "stop_sequence": None,
        "usage": _usage(reply, reply.output_tokens),
    }


def _usage(reply: Reply, output_tokens: int) -> dict[str, Any]:
    return {
        "input_tokens": reply.input_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": reply.cache_read_tokens,
        "output_tokens": output_tokens,
        "service_tier": "standard",
    }


def _stream_events(message: dict[str, Any], reply: Reply) -> list[dict[str, Any]]:
    start = {**message, "content": [], "stop_reason": None, "usage": _usage(reply, 1)}
    events: list[dict[str, Any]] = [{"type": "message_start", "message": start}, {"type": "ping"}]
    for index, block in enumerate(message["content"]):
        events.extend(_block_events(index, block))
    events.append(
        {
            "type": "message_delta",
            "delta": {"stop_reason": reply.stop_reason, "stop_sequence": None},
            "usage": {"output_tokens": reply.output_tokens},
        }
    )
    events.append({"type": "message_stop"})
    return events


def _block_events(index: int, block: dict[str, Any]) -> list[dict[str, Any]]:
    kind = block["type"]
    if kind == "text":
        empty: dict[str, Any] = {"type": "text", "text": ""}
        deltas = [{"type": "text_delta", "text": part} for part in _chunks(block["text"])]
    elif kind == "thinking":
        empty = {"type": "thinking", "thinking": "", "signature": ""}
        deltas = [{"type": "thinking_delta", "thinking": p} for p in _chunks(block["thinking"])]
        deltas.append({"type": "signature_delta", "signature": block["signature"]})
    else:  # tool_use: the input arrives as partial JSON
        empty = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
        raw = json.dumps(block["input"])
        deltas = [{"type": "input_json_delta", "partial_json": part} for part in _chunks(raw)]
    return [
        {"type": "content_block_start", "index": index, "content_block": empty},
        *({"type": "content_block_delta", "index": index, "delta": d} for d in deltas),
        {"type": "content_block_stop", "index": index},
    ]


def _chunks(text: str) -> list[str]:
    return [text[i : i + CHUNK_CHARS] for i in range(0, len(text), CHUNK_CHARS)] or [""]


def _error_body(error_type: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": error_type, "message": message}}
