"""What ACP messages carry, read into Tether's terms: content blocks, tool calls, usage.

Pure functions for relay/agent/translators/acp.py and acp_tools.py.
"""

from __future__ import annotations

import shlex
from typing import Any

from protocol.messages import Usage
from relay.agent.diffs import truncate, unified_diff
from relay.agent.jsonrpc import RpcError
from relay.agent.workspace_files import WorkspaceFiles


class TurnCost:
    """A turn's cost in USD: how much the cumulative `usage_update.cost` grew during it."""

    def __init__(self) -> None:
        self._total = 0.0
        self._turn: float | None = None

    def update(self, update: dict[str, Any]) -> None:
        cost = update.get("cost")
        if isinstance(cost, dict) and cost.get("currency") == "USD":
            total = float(cost.get("amount") or 0.0)
            self._turn = (self._turn or 0.0) + total - self._total
            self._total = total

    def take(self) -> float | None:
        """This turn's cost (None when the agent reports none); the next turn starts at 0."""
        cost, self._turn = self._turn, None
        return cost


def usage_of(result: dict[str, Any], cost: float | None) -> Usage | None:
    """The usage a session/prompt result reports (Copilot's `usage`, Gemini's `_meta.quota`),
    with the turn's `cost` in USD from usage_update."""
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


def tool_input(call: dict[str, Any], files: WorkspaceFiles) -> Any:
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
            shown = files.shown(str(block["path"]))
            summary["diff"] = truncate(unified_diff(shown, old, new))[0]
        elif text_of(block):
            summary["description"] = text_of(block)
    return summary


def chunk_text(content: Any) -> str | None:
    """The text of a text content block, None for any other block."""
    if isinstance(content, dict) and content.get("type") == "text":
        text = content.get("text")
        return text if isinstance(text, str) else None
    return None


def text_of(block: Any) -> str:
    """The text of a tool-call content block ({type: content, content: {type: text}})."""
    if isinstance(block, dict) and block.get("type") == "content":
        return chunk_text(block.get("content")) or ""
    return ""


def content_text(blocks: Any) -> str:
    """The text blocks of a tool call's content, one per line."""
    texts = [text_of(block) for block in blocks] if isinstance(blocks, list) else []
    return "\n".join(text for text in texts if text)


def output_text(update: dict[str, Any]) -> str:
    raw_output = update.get("rawOutput")
    if isinstance(raw_output, str):
        return raw_output
    if isinstance(raw_output, dict):
        for key in ("output", "stdout", "content", "message"):
            if isinstance(raw_output.get(key), str):
                return str(raw_output[key])
    return ""


def command_line(command: Any) -> str:
    """A command as a shell command line: an argv list joined with shell quoting."""
    if isinstance(command, list) and all(isinstance(part, str) for part in command):
        return shlex.join(command)
    return str(command or "")


def rpc_reason(exc: RpcError) -> str:
    """The error's message, with the agent's `data.details` when it gives them."""
    details = exc.data.get("details") if isinstance(exc.data, dict) else None
    return f"{exc.message}: {details}" if isinstance(details, str) else exc.message
