"""Claude Code, driven through its stream-json mode with permission requests on stdio.

    claude -p --input-format stream-json --output-format stream-json --verbose
           --include-partial-messages --permission-prompt-tool stdio [--model M] [--resume=<id>]

The messages are translated by relay/agent/translators/claude.py.
"""

from __future__ import annotations

from relay.agent.sandbox import AgentPaths
from relay.agent.structured import StructuredAdapter
from relay.agent.translators.claude import ClaudeTranslator

STREAM_FLAGS = (
    "-p",
    "--input-format",
    "stream-json",
    "--output-format",
    "stream-json",
    "--verbose",
    "--include-partial-messages",
    "--permission-prompt-tool",
    "stdio",
)


class ClaudeAdapter(StructuredAdapter):
    agent = "claude"
    executable = "claude"
    translator_class = ClaudeTranslator
    sandbox_paths = AgentPaths(
        home=(".claude",),
        home_files=(".claude.json", ".claude.json.backup"),
        env=(("CLAUDE_CONFIG_DIR", ""),),
    )

    def argv(self) -> list[str]:
        agent = self.spec.agent
        argv = [agent.executable, *agent.args, *STREAM_FLAGS]
        if agent.model:
            argv += ["--model", agent.model]
        if self.spec.resume:  # one token: --resume takes an optional value
            argv.append(f"--resume={self.spec.resume}")
        return argv
