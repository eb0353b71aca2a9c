"""What the scripted Responses API answers, and how the real API streams it.

A `Reply` is one model turn: output items made with `text`, `function_call`, `custom_tool_call`
and `reasoning`, its `Usage`, or an HTTP error or a failed response. `stream_events` turns a
reply into the server-sent events the real API sends, in its order; `response_object` is the
finished response for a request with `"stream": false`. tests/fakes/responses_api.py serves them.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import time
from collections.abc import Iterator
from typing import Any

DELTA_CHARS = 16  # text is streamed in pieces this long, like the real API's small deltas


# --------------------------------------------------------------------------- script


@dataclasses.dataclass(frozen=True)
class Item:
    """One output item of a reply: the Responses API item as it is when done."""

    body: dict[str, Any]


_ids = itertools.count(1)


def next_id(prefix: str) -> str:
    return f"{prefix}_{next(_ids):06d}"


def text(content: str) -> Item:
    """An assistant message with one `output_text` part."""
    return Item(
        {
            "type": "message",
            "id": next_id("msg"),
            "status": "completed",
            "role": "assistant",
            "content": [{"type": "output_text", "text": content, "annotations": []}],
        }
    )


def function_call(name: str, arguments: dict[str, Any] | str, call_id: str = "") -> Item:
    """A function tool call; `arguments` is sent as a JSON string, as the API does."""
    args = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return Item(
        {
            "type": "function_call",
            "id": next_id("fc"),
            "status": "completed",
            "call_id": call_id or next_id("call"),
            "name": name,
            "arguments": args,
        }
    )


def custom_tool_call(name: str, input: str, call_id: str = "") -> Item:
    """A free-form (custom) tool call, such as Codex's `apply_patch` grammar tool."""
    return Item(
        {
            "type": "custom_tool_call",
            "id": next_id("ctc"),
            "status": "completed",
            "call_id": call_id or next_id("call"),
            "name": name,
            "input": input,
        }
    )


def reasoning(summary: str) -> Item:
    """A reasoning item with one summary part."""
    return Item(
        {
            "type": "reasoning",
            "id": next_id("rs"),
            "summary": [{"type": "summary_text", "text": summary}],
        }
    )


@dataclasses.dataclass(frozen=True)
class Usage:
    input_tokens: int = 100
    output_tokens: int = 20
    cached_tokens: int = 0
    reasoning_tokens: int = 0

    def body(self) -> dict[str, Any]:
        return {
            "input_tokens": self.input_tokens,
            "input_tokens_details": {"cached_tokens": self.cached_tokens},
            "output_tokens": self.output_tokens,
            "output_tokens_details": {"reasoning_tokens": self.reasoning_tokens},
            "total_tokens": self.input_tokens + self.output_tokens,
        }


@dataclasses.dataclass(frozen=True)
class Reply:
    """One model response.

    items   the output items, streamed in order
    usage   reported in `response.completed`
    fail    if set, the stream ends with `response.failed` carrying this error message
    status  if not 200, no stream: an HTTP error with `{"error": {"message": error, ...}}`
    delay_s sleep before answering (to test interrupts while the model "thinks")
    """

    items: list[Item] = dataclasses.field(default_factory=list)
    usage: Usage = Usage()
    fail: str = ""
    status: int = 200
    error: str = "scripted error"
    delay_s: float = 0.0


# --------------------------------------------------------------------------- wire format


def _message_deltas(item: dict[str, Any], index: int) -> Iterator[dict[str, Any]]:
    """A message's content parts, each added, its text streamed in pieces, done."""
    item_id = item["id"]
    for content_index, part in enumerate(item["content"]):
        empty = {**part, "text": ""}
        yield {
            "type": "response.content_part.added",
            "item_id": item_id,
            "output_index": index,
            "content_index": content_index,
            "part": empty,
        }
        for piece in _pieces(part["text"]):
            yield {
                "type": "response.output_text.delta",
                "item_id": item_id,
                "output_index": index,
                "content_index": content_index,
                "delta": piece,
                "logprobs": [],
            }
        yield {
            "type": "response.output_text.done",
            "item_id": item_id,
            "output_index": index,
            "content_index": content_index,
            "text": part["text"],
            "logprobs": [],
        }
        yield {
            "type": "response.content_part.done",
            "item_id": item_id,
            "output_index": index,
            "content_index": content_index,
            "part": part,
        }


def _delta_event(item: dict[str, Any], index: int) -> Iterator[dict[str, Any]]:
    """The delta events between `output_item.added` and `output_item.done` for one item."""
    item_id = item["id"]
    kind = item["type"]
    if kind == "message":
        yield from _message_deltas(item, index)
    elif kind == "function_call":
        for piece in _pieces(item["arguments"]):
            yield {
                "type": "response.function_call_arguments.delta",
                "item_id": item_id,
                "output_index": index,
                "delta": piece,
            }
        yield {
            "type": "response.function_call_arguments.done",
            "item_id": item_id,
            "output_index": index,
            "arguments": item["arguments"],
        }
    elif kind == "custom_tool_call":
        for piece in _pieces(item["input"]):
            yield {
                "type": "response.custom_tool_call_input.delta",
                "item_id": item_id,
                "output_index": index,
                "delta": piece,
            }
        yield {
            "type": "response.custom_tool_call_input.done",
            "item_id": item_id,
            "output_index": index,
            "input": item["input"],
        }
    elif kind == "reasoning":
        for summary_index, part in enumerate(item["summary"]):
            yield {
                "type": "response.reasoning_summary_part.added",
                "item_id": item_id,
                "output_index": index,
                "summary_index": summary_index,
                "part": {"type": "summary_text", "text": ""},
            }
            for piece in _pieces(part["text"]):
                yield {
                    "type": "response.reasoning_summary_text.delta",
                    "item_id": item_id,
                    "output_index": index,
                    "summary_index": summary_index,
                    "delta": piece,
                }
            yield {
                "type": "response.reasoning_summary_text.done",
                "item_id": item_id,
                "output_index": index,
                "summary_index": summary_index,
                "text": part["text"],
            }
            yield {
                "type": "response.reasoning_summary_part.done",
                "item_id": item_id,
                "output_index": index,
                "summary_index": summary_index,
                "part": part,
            }


def _pieces(value: str) -> list[str]:
    return [value[i : i + DELTA_CHARS] for i in range(0, len(value), DELTA_CHARS)] or [""]


def _in_progress(item: dict[str, Any]) -> dict[str, Any]:
    """The item as `output_item.added` shows it: nothing generated yet."""
    started = {**item}
    if "status" in started:
        started["status"] = "in_progress"
    if started["type"] == "message":
        started["content"] = []
    elif started["type"] == "function_call":
        started["arguments"] = ""
    elif started["type"] == "custom_tool_call":
        started["input"] = ""
    elif started["type"] == "reasoning":
        started["summary"] = []
    return started


def response_object(
    reply: Reply, response_id: str, model: str, status: str, created: int
) -> dict[str, Any]:
    done = status != "in_progress"
    body: dict[str, Any] = {
        "id": response_id,
        "object": "response",
        "created_at": created,
        "status": status,
        "model": model,
        "output": [item.body for item in reply.items] if done else [],
        "usage": reply.usage.body() if status == "completed" else None,
        "error": None,
        "incomplete_details": None,
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
    }
    if status == "failed":
        body["error"] = {"code": "server_error", "message": reply.fail}
    return body


def stream_events(reply: Reply, response_id: str, model: str) -> Iterator[dict[str, Any]]:
    """Every SSE `data` object for one streamed reply, numbered by `sequence_number`."""
    created = int(time.time())
    seq = itertools.count()

    def event(body: dict[str, Any]) -> dict[str, Any]:
        return {**body, "sequence_number": next(seq)}

    yield event(
        {
            "type": "response.created",
            "response": response_object(reply, response_id, model, "in_progress", created),
        }
    )
    yield event(
        {
            "type": "response.in_progress",
            "response": response_object(reply, response_id, model, "in_progress", created),
        }
    )
    for index, item in enumerate(reply.items):
        body = item.body
        added = {"type": "response.output_item.added", "output_index": index}
        yield event({**added, "item": _in_progress(body)})
        for delta in _delta_event(body, index):
            yield event(delta)
        yield event({"type": "response.output_item.done", "output_index": index, "item": body})
    status = "failed" if reply.fail else "completed"
    yield event(
        {
            "type": f"response.{status}",
            "response": response_object(reply, response_id, model, status, created),
        }
    )
