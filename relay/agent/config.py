"""Which agents a relay offers, how each is started, and the environment it gets.

Agents start with a scrubbed environment: the names in the relay's `env_allow` and the agent's
own `env` list are copied from the relay's environment, then the agent's fixed `environment`
and `secrets` are added. Nothing else of the relay's environment reaches an agent.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from collections.abc import Mapping
from pathlib import Path

# Enough for programs to find their tools, home, locale and temp dir; nothing that holds a secret.
DEFAULT_ENV_ALLOW = (
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "LANG",
    "LANGUAGE",
    "LC_ALL",
    "LC_CTYPE",
    "LC_MESSAGES",
    "TZ",
    "TMPDIR",
    "COLORTERM",
)


@dataclasses.dataclass(frozen=True, kw_only=True)
class AgentConfig:
    """One `[agents.<name>]` table of the relay config."""

    name: str
    executable: str = ""  # path or name on PATH; the agent's default when empty
    args: tuple[str, ...] = ()  # extra arguments after Tether's own
    model: str = ""  # passed with the agent's model flag when set
    env: tuple[str, ...] = ()  # more names copied from the relay's environment
    environment: Mapping[str, str] = dataclasses.field(default_factory=dict)  # fixed values
    secrets: Mapping[str, str] = dataclasses.field(default_factory=dict, repr=False)
    enabled: bool = True
    sandbox: str = ""  # auto, bwrap or none; "" follows the workspace's and the relay's setting

    def child_env(self, parent: Mapping[str, str], allow: tuple[str, ...]) -> dict[str, str]:
        """The agent's whole environment: allowed names from `parent`, then fixed values."""
        env = {name: parent[name] for name in (*allow, *self.env) if name in parent}
        return {**env, **self.environment, **self.secrets}


def offered_agents(
    configured: Mapping[str, AgentConfig], executables: Mapping[str, str | None], path: str | None
) -> tuple[dict[str, AgentConfig], dict[str, str]]:
    """The agents this relay offers, with executables resolved to absolute paths, and why each
    other configured (and enabled) agent is not offered.

    `executables` maps each adapter's name to its default executable: None when it needs none
    (the PTY adapter runs the shell), "" when it must be configured (an ACP agent).
    An agent is offered unless disabled, when it needs no executable or its executable is found.
    """
    offered: dict[str, AgentConfig] = {}
    refused: dict[str, str] = {}
    for name, default in executables.items():
        config = configured.get(name) or AgentConfig(name=name)
        if not config.enabled:
            continue
        if default is None:
            offered[name] = config
            continue
        wanted = config.executable or default
        found = shutil.which(wanted, path=path) if wanted else None
        if found is not None:
            offered[name] = dataclasses.replace(config, executable=found)
        elif name in configured:
            refused[name] = _not_found(wanted, path)
    for name in configured.keys() - executables.keys():
        if configured[name].enabled:
            refused[name] = "no adapter of that name"
    return offered, refused


def _not_found(wanted: str, path: str | None) -> str:
    """Why `wanted` cannot be run, in the words a user can act on."""
    if not wanted:
        return "no executable is configured (an ACP agent needs `executable`)"
    if os.sep not in wanted:
        return f"{wanted!r} is not on PATH ({path or 'empty'})"
    file = Path(wanted)
    if not file.exists():
        return f"{wanted} does not exist"
    if file.is_dir():
        return f"{wanted} is a directory"
    return f"{wanted} is not executable (chmod +x, or name its interpreter as executable)"
