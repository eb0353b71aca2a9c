"""A scripted OpenAI Responses API on 127.0.0.1, for agent CLIs that speak it (Codex, Copilot).

    with ResponsesApi([Reply([text("hello")])]) as api:
        ...point the CLI at api.base_url ("http://127.0.0.1:PORT/v1")...
        api.requests[0].body["input"]          # what the CLI sent

Each `POST /v1/responses` consumes the next scripted `Reply` and streams it as server-sent events
in the order the real API uses: `response.created`, `response.in_progress`, then per output item
`response.output_item.added`, its deltas (`response.output_text.delta`,
`response.function_call_arguments.delta`, `response.custom_tool_call_input.delta`,
`response.reasoning_summary_text.delta`) and `response.output_item.done`, and finally
`response.completed` with `usage` (or `response.failed` for `Reply(fail=...)`). A request with
`"stream": false` gets the finished response object as JSON. `Reply(status=429, ...)` answers
with an HTTP error instead. When the script runs out, requests get HTTP 500 "no scripted reply
left", so a test that expected fewer model calls fails visibly.

`GET /v1/models` lists `models`. Every request is logged in `requests` (method, path, headers,
parsed JSON body), under a lock; `wait_for_requests(n)` blocks until n model calls arrived.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import threading
import time
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.fakes.responses_script import Reply, next_id, response_object, stream_events

MAX_BODY_BYTES = 32 << 20  # request bodies grow with the conversation; this is far above a test's


# --------------------------------------------------------------------------- request log


@dataclasses.dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: Any  # parsed JSON, or None

    def input_texts(self) -> list[str]:
        """Every text in the request's `input` items (messages and tool outputs), in order."""
        found: list[str] = []
        for item in (self.body or {}).get("input", []):
            content = item.get("content")
            if isinstance(content, str):
                found.append(content)
            elif isinstance(content, list):
                found.extend(str(part.get("text", "")) for part in content)
            if "output" in item:
                found.append(str(item["output"]))
        return found


# --------------------------------------------------------------------------- server


class ResponsesApi:
    """The scripted endpoint. Use as a context manager, or call start() / close()."""

    def __init__(self, replies: Iterable[Reply] = (), models: Iterable[str] = ("tether-test",)):
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._replies: list[Reply] = list(replies)
        self.models = list(models)
        self.requests: list[Request] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="responses-api", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """What the CLI is given as its provider base URL (ends in /v1)."""
        return f"http://127.0.0.1:{self.port}/v1"

    def add(self, *replies: Reply) -> None:
        with self._lock:
            self._replies.extend(replies)

    @property
    def model_calls(self) -> list[Request]:
        """The logged `POST .../responses` requests."""
        with self._lock:
            return [r for r in self.requests if r.method == "POST"]

    def wait_for_requests(self, count: int, timeout_s: float = 30.0) -> list[Request]:
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while sum(r.method == "POST" for r in self.requests) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{count} model calls expected, got {len(self.requests)}")
                self._changed.wait(left)
            return [r for r in self.requests if r.method == "POST"]

    def start(self) -> ResponsesApi:
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> ResponsesApi:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _log(self, request: Request) -> None:
        with self._changed:
            self.requests.append(request)
            self._changed.notify_all()

    def _next_reply(self) -> Reply | None:
        with self._lock:
            return self._replies.pop(0) if self._replies else None


class _Handler(BaseHTTPRequestHandler):
    """The fake's HTTP side; `api` is set by _handler_for."""

    api: ResponsesApi
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the request log is self.api.requests

    def do_GET(self) -> None:
        self.api._log(Request("GET", self.path, dict(self.headers), None))
        if self.path.rstrip("/").endswith("/models"):
            data = [{"id": m, "object": "model", "owned_by": "tether"} for m in self.api.models]
            self._json(200, {"object": "list", "data": data})
        else:
            self._json(404, _error_body("not found", "not_found_error"))

    def do_POST(self) -> None:
        body = self._read_body()
        self.api._log(Request("POST", self.path, dict(self.headers), body))
        if not self.path.split("?")[0].rstrip("/").endswith("/responses"):
            self._json(404, _error_body("not found", "not_found_error"))
            return
        reply = self.api._next_reply()
        if reply is None:
            self._json(500, _error_body("no scripted reply left", "server_error"))
            return
        time.sleep(reply.delay_s)
        if reply.status != 200:
            self._json(reply.status, _error_body(reply.error, "invalid_request_error"))
            return
        model = str((body or {}).get("model", "")) if isinstance(body, dict) else ""
        response_id = next_id("resp")
        if isinstance(body, dict) and body.get("stream") is False:
            status = "failed" if reply.fail else "completed"
            now = int(time.time())
            self._json(200, response_object(reply, response_id, model, status, now))
            return
        self._stream(stream_events(reply, response_id, model))

    def _read_body(self) -> Any:
        length = min(int(self.headers.get("Content-Length") or 0), MAX_BODY_BYTES)
        raw = self.rfile.read(length)
        if self.headers.get("Content-Encoding", "").lower() == "gzip":
            raw = gzip.decompress(raw)
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            return {"unparsed": raw.decode("utf-8", "replace")}

    def _json(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _stream(self, events: Iterable[dict[str, Any]]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        try:
            for event in events:
                frame = f"event: {event['type']}\ndata: {json.dumps(event)}\n\n"
                self.wfile.write(frame.encode())
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client went away (an interrupted turn)


def _handler_for(api: ResponsesApi) -> type[BaseHTTPRequestHandler]:
    return type("Handler", (_Handler,), {"api": api})


def _error_body(message: str, kind: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}
