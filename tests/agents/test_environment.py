"""Agents start with a scrubbed environment: the allow-list plus their configured secrets."""

from __future__ import annotations

import base64
import re
from pathlib import Path

from relay.agent.config import DEFAULT_ENV_ALLOW, AgentConfig
from tests.agents.conftest import relay_config
from tests.harness import Stack, running, wait_until


def test_a_relay_secret_does_not_reach_an_agent_and_a_configured_one_does(tmp_path: Path) -> None:
    config = relay_config(
        tmp_path / "relay.toml",
        {
            "pty": {
                "env": ["TETHER_TEST_PASSED"],
                "environment": {"TETHER_TEST_FIXED": "fixed-value"},
                "secrets": {"TETHER_TEST_SECRET": "configured-secret"},
            }
        },
    )
    relay_env = {
        "AWS_SECRET_ACCESS_KEY": "relay-own-secret",
        "GITHUB_TOKEN": "relay-own-token",
        "TETHER_TEST_PASSED": "passed-through",
    }
    with running(Stack(tmp_path, relay_config=config, relay_env=relay_env)) as stack:
        session_id = stack.start_session(["/usr/bin/env"])

        def ended() -> bool:
            return any(e["event"]["kind"] == "session_ended" for e in stack.events(session_id))

        wait_until(ended, 30, "env to finish")
        output = "".join(
            _decoded(e["event"]["data"])
            for e in stack.events(session_id)
            if e["event"]["kind"] == "terminal_output"
        )
    names = set(re.findall(r"^([A-Za-z_][A-Za-z0-9_]*)=", output, re.MULTILINE))
    assert "relay-own-secret" not in output
    assert "relay-own-token" not in output
    assert "TETHER_RELAY_TOKEN" not in names
    assert "TETHER_TEST_SECRET=configured-secret" in output
    assert "TETHER_TEST_FIXED=fixed-value" in output
    assert "TETHER_TEST_PASSED=passed-through" in output
    allowed = {*DEFAULT_ENV_ALLOW, "TETHER_TEST_PASSED", "TETHER_TEST_FIXED", "TETHER_TEST_SECRET"}
    # the PTY adapter adds the terminal type and the session id; the sandbox (bwrap) sets PWD
    assert names <= allowed | {"TERM", "TETHER_SESSION_ID", "PWD"}, names - allowed


def test_child_env_takes_only_allowed_names_then_fixed_values() -> None:
    config = AgentConfig(
        name="x", env=("EXTRA",), environment={"BASE_URL": "u"}, secrets={"KEY": "k"}
    )
    parent = {"PATH": "/bin", "EXTRA": "e", "SECRET": "s", "KEY": "parent-key"}
    assert config.child_env(parent, ("PATH", "HOME")) == {
        "PATH": "/bin",
        "EXTRA": "e",
        "BASE_URL": "u",
        "KEY": "k",
    }
    assert "k" not in repr(config)  # secrets stay out of logs and tracebacks


def _decoded(data: str) -> str:
    return base64.b64decode(data).decode(errors="replace")
