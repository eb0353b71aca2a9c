"""Agents that speak the Agent Client Protocol (ACP v1) over stdin/stdout.

Gemini CLI (`gemini --acp`) and Copilot CLI (`copilot --acp`) are registered by name; `acp`, and
any other `[agents.<name>]` of the config, runs an ACP agent from its config (`acp_agent()`).
The messages are translated by relay/agent/translators/acp.py.
"""

from __future__ import annotations

from typing import ClassVar

from relay.agent.sandbox import AgentPaths
from relay.agent.structured import StructuredAdapter
from relay.agent.translators.acp import AcpTranslator


class AcpAdapter(StructuredAdapter):
    """Any ACP agent: executable and args from the `[agents.acp]` config, nothing added."""

    agent = "acp"
    executable: ClassVar[str | None] = ""
    translator_class = AcpTranslator
    acp_args: ClassVar[tuple[str, ...]] = ()  # Tether's own flags, before the configured ones
    model_flag: ClassVar[str] = ""  # how the agent takes `model`; "" ignores the setting

    def argv(self) -> list[str]:
        config = self.spec.agent
        model = [self.model_flag, config.model] if config.model and self.model_flag else []
        return [config.executable, *self.acp_args, *model, *config.args]


class GeminiAdapter(AcpAdapter):
    """Gemini CLI in ACP mode."""

    agent = "gemini"
    executable = "gemini"
    acp_args = ("--acp",)
    model_flag = "--model"
    sandbox_paths = AgentPaths(home=(".gemini",), env=(("GEMINI_CLI_HOME", ".gemini"),))


class CopilotAdapter(AcpAdapter):
    """GitHub Copilot CLI in ACP mode; never updates itself, sends no client telemetry."""

    agent = "copilot"
    executable = "copilot"
    acp_args = ("--acp", "--no-auto-update", "--disable-client-telemetry")
    model_flag = "--model"
    sandbox_paths = AgentPaths(home=(".copilot",), env=(("COPILOT_HOME", ""),))


def acp_agent(name: str) -> type[AcpAdapter]:
    """The adapter of an `[agents.<name>]` that Tether does not know: an ACP agent."""
    return type(f"AcpAdapter_{name}", (AcpAdapter,), {"agent": name})
