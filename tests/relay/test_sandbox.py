"""The agents' sandbox (relay/agent/sandbox.py): what a sandboxed process sees, with real bwrap."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from relay.agent.sandbox import (
    AgentPaths,
    Confinement,
    SandboxUnavailableError,
    SessionSandbox,
    choose,
    confinement,
    install_roots,
    probe,
)
from relay.errors import SpawnError

BWRAP, WHY_NOT = probe()
needs_bwrap = pytest.mark.skipif(not BWRAP, reason=f"no sandbox on this host: {WHY_NOT}")
ENV_PATH = "/usr/bin:/bin"


def _run(sandbox: SessionSandbox, script: str, env: dict[str, str]) -> str:
    argv = sandbox.wrap(["sh", "-c", script], env)
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=30, check=False)
    return done.stdout + done.stderr


@needs_bwrap
def test_the_sandbox_shows_the_workspace_and_the_agents_config_and_hides_the_rest(
    tmp_path: Path,
) -> None:
    work, home, state = tmp_path / "work", tmp_path / "home", tmp_path / "work" / ".state"
    nested = work / "nested"  # another workspace inside this one
    for directory in (state, nested, home / ".ssh"):
        directory.mkdir(parents=True)
    (state / "outbox.sqlite3").write_text("events")
    (nested / "secret.txt").write_text("nested secret")
    (home / ".ssh" / "id_ed25519").write_text("key")
    confined = confinement(wanted=True, state_dir=str(state), hidden=[], read_only=[])
    sandbox = SessionSandbox(
        confined, workspace=str(work), others=(str(nested),), paths=AgentPaths(home=(".agent",))
    )
    env = {"PATH": ENV_PATH, "HOME": str(home)}
    out = _run(
        sandbox,
        "echo ok > mine.txt; echo cfg > ~/.agent/config; ls -A ~; cat .state/outbox.sqlite3;"
        " cat nested/secret.txt; echo x > nested/x.txt",
        env,
    )
    assert (work / "mine.txt").read_text() == "ok\n"
    assert (home / ".agent" / "config").read_text() == "cfg\n"  # outlives the session
    assert ".ssh" not in out and "events" not in out and "nested secret" not in out
    assert not (nested / "x.txt").exists()


def test_npm_programs_show_their_install_and_prefixes_their_prefix(tmp_path: Path) -> None:
    bin_dir = tmp_path / "agents" / "node_modules" / ".bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "claude").touch()
    assert install_roots(str(bin_dir / "claude")) == [str(tmp_path / "agents")] * 2
    prefix = tmp_path / "python"
    (prefix / "bin").mkdir(parents=True)
    (prefix / "lib").mkdir()
    (prefix / "bin" / "python3").touch()
    assert install_roots(str(prefix / "bin" / "python3")) == [str(prefix)] * 2


def test_a_session_sandbox_follows_its_mode() -> None:
    works = Confinement("/usr/bin/bwrap", "", (), (), "/state")
    broken = Confinement("", "bwrap is not installed", (), (), "/state")
    assert choose("auto", works) is works
    assert choose("auto", broken) is None
    assert choose("none", works) is None
    with pytest.raises(SandboxUnavailableError, match="bwrap is not installed"):
        choose("bwrap", broken)


def test_a_missing_program_fails_to_spawn_before_the_sandbox_starts(tmp_path: Path) -> None:
    confined = Confinement("/usr/bin/bwrap", "", (), (), str(tmp_path / "state"))
    sandbox = SessionSandbox(confined, workspace=str(tmp_path))
    with pytest.raises(SpawnError, match="no-such-program"):
        sandbox.wrap(["no-such-program"], {"PATH": ENV_PATH})


def test_a_program_in_dot_local_bin_shows_its_directory_not_dot_local(tmp_path: Path) -> None:
    local = tmp_path / ".local"
    (local / "lib").mkdir(parents=True)
    (local / "share" / "tether").mkdir(parents=True)  # the server's data directory lives here
    (local / "bin").mkdir()
    program = local / "bin" / "claude"
    program.write_text("#!/bin/sh\n")
    assert install_roots(str(program)) == [str(local / "bin")] * 2
