"""Agent adapters by agent name. Adding an agent is one entry here (and its module)."""

from __future__ import annotations

from relay.agent.adapters.acp import AcpAdapter, CopilotAdapter, GeminiAdapter
from relay.agent.adapters.base import Adapter
from relay.agent.adapters.claude import ClaudeAdapter
from relay.agent.adapters.codex import CodexAdapter
from relay.agent.adapters.pty import PtyAdapter

ADAPTERS: dict[str, type[Adapter]] = {
    PtyAdapter.agent: PtyAdapter,
    ClaudeAdapter.agent: ClaudeAdapter,
    CodexAdapter.agent: CodexAdapter,
    GeminiAdapter.agent: GeminiAdapter,
    CopilotAdapter.agent: CopilotAdapter,
    AcpAdapter.agent: AcpAdapter,
}
