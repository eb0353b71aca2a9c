"""A scripted Gemini API on 127.0.0.1, for running the real Gemini CLI offline.

Speaks the wire format of `generativelanguage.googleapis.com` as the `@google/genai` SDK the CLI
uses expects it:

    POST /v1beta/models/<model>:streamGenerateContent?alt=sse   SSE, one GenerateContentResponse
                                                                 per `data:` event
    POST /v1beta/models/<model>:generateContent                  one GenerateContentResponse
    POST /v1beta/models/<model>:countTokens                      {"totalTokens": n}

Each `streamGenerateContent` call consumes the next scripted `Reply` (text and functionCall
parts, then usageMetadata and finishReason on the last chunk). When the script is used up the
reply is a short text, so a CLI that asks once more does not hang. `generateContent` calls are
the CLI's own side requests (routing, next-speaker checks, titles): they get `side_reply` and do
not consume the script. Every request body is kept in `requests` so a test can assert what the
CLI sent, for example the earlier turns or a functionResponse.

    with GeminiApi([Reply.call("write_file", {...}), Reply.text("done")]) as api:
        env["GOOGLE_GEMINI_BASE_URL"] = api.url
"""

from __future__ import annotations

import dataclasses
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MAX_BODY_BYTES = 32 << 20  # a whole conversation with file contents fits in this
MODEL_VERSION = "gemini-2.5-pro"
END_OF_SCRIPT_TEXT = "(no more scripted replies)"
# The CLI's side requests ask for JSON: the model router wants a complexity score, the
# next-speaker check a speaker. One object satisfies both schemas (extra keys are dropped).
SIDE_REPLY = json.dumps(
    {
        "complexity_reasoning": "scripted",
        "complexity_score": 10,
        "reasoning": "scripted",
        "next_speaker": "user",
    }
)


@dataclasses.dataclass(frozen=True)
class Reply:
    """One model turn: its parts in order, streamed one part per SSE chunk."""

    parts: tuple[dict[str, Any], ...]
    prompt_tokens: int = 120
    output_tokens: int = 30
    cached_tokens: int = 0
    status: int = 200  # a non-200 status answers with a Google API error body instead
    error_message: str = ""

    @classmethod
    def text(cls, *chunks: str, **kw: Any) -> Reply:
        return cls(tuple({"text": chunk} for chunk in chunks), **kw)

    @classmethod
    def call(cls, name: str, args: dict[str, Any], *, text: str = "", **kw: Any) -> Reply:
        parts: list[dict[str, Any]] = [{"text": text}] if text else []
        parts.append({"functionCall": {"name": name, "args": args}})
        return cls(tuple(parts), **kw)

    @classmethod
    def error(cls, status: int, message: str) -> Reply:
        return cls((), status=status, error_message=message)


@dataclasses.dataclass(frozen=True)
class Request:
    method: str  # "streamGenerateContent", "generateContent" or "countTokens"
    model: str
    body: dict[str, Any]
    headers: dict[str, str]


def _usage(reply: Reply) -> dict[str, int]:
    usage = {
        "promptTokenCount": reply.prompt_tokens,
        "candidatesTokenCount": reply.output_tokens,
        "totalTokenCount": reply.prompt_tokens + reply.output_tokens,
    }
    if reply.cached_tokens:
        usage["cachedContentTokenCount"] = reply.cached_tokens
    return usage


def _chunk(parts: list[dict[str, Any]], reply: Reply | None, response_id: str) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
    chunk: dict[str, Any] = {"candidates": [candidate], "modelVersion": MODEL_VERSION}
    if reply is not None:  # the last chunk of a turn
        candidate["finishReason"] = "STOP"
        chunk["usageMetadata"] = _usage(reply)
    chunk["responseId"] = response_id
    return chunk


def _error_body(status: int, message: str) -> dict[str, Any]:
    names = {400: "INVALID_ARGUMENT", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL"}
    return {"error": {"code": status, "message": message, "status": names.get(status, "UNKNOWN")}}


class GeminiApi:
    """The scripted endpoint; a context manager that serves on a free loopback port."""

    def __init__(self, replies: list[Reply], *, side_reply: str = SIDE_REPLY) -> None:
        self._replies = list(replies)
        self.side_reply = side_reply
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._turns = 0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> GeminiApi:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def add(self, *replies: Reply) -> None:
        with self._lock:
            self._replies.extend(replies)

    def turns(self) -> list[Request]:
        """The conversation requests (streamGenerateContent), oldest first."""
        with self._lock:
            return [r for r in self.requests if r.method == "streamGenerateContent"]

    def _next_reply(self) -> tuple[Reply, str]:
        with self._lock:
            self._turns += 1
            reply = self._replies.pop(0) if self._replies else Reply.text(END_OF_SCRIPT_TEXT)
            return reply, f"resp-{self._turns}"

    def _log(self, request: Request) -> None:
        with self._lock:
            self.requests.append(request)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        return type("Handler", (_Handler,), {"api": self})


class _Handler(BaseHTTPRequestHandler):
    """The fake's HTTP side; `api` is set by GeminiApi._handler."""

    api: GeminiApi
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        if length > MAX_BODY_BYTES:
            self._json(413, _error_body(400, "request too large"))
            return
        body = json.loads(self.rfile.read(length) or b"{}")
        path = self.path.split("?", 1)[0]
        model, _, method = path.rsplit("/", 1)[-1].partition(":")
        self.api._log(Request(method, model, body, dict(self.headers.items())))
        if method == "streamGenerateContent":
            self._stream(*self.api._next_reply())
        elif method == "generateContent":
            parts = [{"text": self.api.side_reply}]
            self._json(200, _chunk(parts, Reply((), 10, 5), "side"))
        elif method == "countTokens":
            self._json(200, {"totalTokens": len(json.dumps(body)) // 4})
        else:
            self._json(404, _error_body(404, f"unknown method {method!r}"))

    def do_GET(self) -> None:
        self._json(404, _error_body(404, "not found"))

    def _json(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json; charset=UTF-8")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _stream(self, reply: Reply, response_id: str) -> None:
        if reply.status != 200:
            self._json(reply.status, _error_body(reply.status, reply.error_message))
            return
        parts = list(reply.parts) or [{"text": ""}]
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("connection", "close")
        self.end_headers()
        for n, part in enumerate(parts):
            last = reply if n == len(parts) - 1 else None
            data = json.dumps(_chunk([part], last, response_id))
            self.wfile.write(f"data: {data}\r\n\r\n".encode())
            self.wfile.flush()
        self.close_connection = True
