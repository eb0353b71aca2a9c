"""Fixtures for tests that run the real agent CLIs (installed by scripts/agents)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

DEFAULT_BIN = Path.home() / ".cache/tether-agents/node_modules/.bin"


@pytest.fixture(scope="session")
def agent_bin() -> Callable[[str], Path]:
    """The path of a real agent CLI: `agent_bin("claude")`. Fails (never skips) when missing:
    `bash scripts/test` installs them."""
    directory = Path(os.environ.get("TETHER_TEST_AGENTS_BIN") or DEFAULT_BIN)

    def find(name: str) -> Path:
        path = directory / name
        if not path.exists():
            pytest.fail(f"{path} is missing: run the tests through `bash scripts/test`")
        return path

    return find


def relay_config(path: Path, agents: dict[str, dict[str, object]]) -> Path:
    """Write a relay config file with `[agents.<name>]` tables; returns its path."""
    lines: list[str] = []
    for name, table in agents.items():
        lines.append(f"[agents.{name}]")
        nested = {k: v for k, v in table.items() if isinstance(v, dict)}
        for key, value in table.items():
            if key not in nested:
                lines.append(f"{key} = {_toml(value)}")
        for key, values in nested.items():
            lines.append(f"[agents.{name}.{key}]")
            lines += [f"{k} = {_toml(v)}" for k, v in values.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    raise TypeError(f"no TOML for {value!r}")
