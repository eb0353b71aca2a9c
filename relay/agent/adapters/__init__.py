"""Agent adapters by agent name. Adding an agent is one entry here (and its module).

Any `[agents.<name>]` table of the relay config whose name is none of these is an ACP agent,
offered under its own name (`with_acp_agents`).
"""

from __future__ import annotations

from collections.abc import Mapping

from relay.agent.adapters.acp import AcpAdapter, CopilotAdapter, GeminiAdapter, acp_agent
from relay.agent.adapters.base import Adapter
from relay.agent.adapters.claude import ClaudeAdapter
from relay.agent.adapters.codex import CodexAdapter
from relay.agent.adapters.pty import PtyAdapter
from relay.agent.config import AgentConfig

ADAPTERS: dict[str, type[Adapter]] = {
    PtyAdapter.agent: PtyAdapter,
    ClaudeAdapter.agent: ClaudeAdapter,
    CodexAdapter.agent: CodexAdapter,
    GeminiAdapter.agent: GeminiAdapter,
    CopilotAdapter.agent: CopilotAdapter,
    AcpAdapter.agent: AcpAdapter,
}

# Tether's own agent names that no adapter runs: the hooks bridge's sessions (relay/hooks).
NOT_ACP = ("claude-hooks",)


def with_acp_agents(
    adapters: Mapping[str, type[Adapter]], configured: Mapping[str, AgentConfig]
) -> dict[str, type[Adapter]]:
    """`adapters`, and an ACP adapter for every configured agent none of them is named after."""
    extra = {name: acp_agent(name) for name in configured if name not in (*adapters, *NOT_ACP)}
    return {**adapters, **extra}
