"""Codex CLI, driven through `codex app-server --listen stdio://`.

The messages are translated by relay/agent/translators/codex.py.
"""

from __future__ import annotations

from relay.agent.sandbox import AgentPaths
from relay.agent.structured import StructuredAdapter
from relay.agent.translators.codex import CodexTranslator


class CodexAdapter(StructuredAdapter):
    agent = "codex"
    executable = "codex"
    resumable = True
    translator_class = CodexTranslator
    sandbox_paths = AgentPaths(home=(".codex",), env=(("CODEX_HOME", ""),))

    def argv(self) -> list[str]:
        executable = self.spec.agent.executable or self.executable
        return [executable, "app-server", "--listen", "stdio://", *self.spec.agent.args]
