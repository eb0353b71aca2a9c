"""`tether serve` as a user runs it: server plus its local relay, and what happens on a crash."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from tests.harness import ServerProcess, wait_until


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _local_relay_online(server: ServerProcess) -> bool:
    """Online and its workspaces known: the relay's info follows its hello."""
    relays = server.get("/api/relays")["relays"]
    return any(r["name"] == "local" and r["online"] and r["workspaces"] for r in relays)


def test_serve_starts_a_local_relay_that_dies_with_it_and_comes_back(tmp_path: Path) -> None:
    workspace = tmp_path / "project"
    workspace.mkdir()
    server = ServerProcess(
        tmp_path / "data", local_relay=True, extra=("--workspace", f"proj={workspace}")
    )
    try:
        server.start()
        wait_until(lambda: _local_relay_online(server), 30, "the local relay")
        relays = server.get("/api/relays")["relays"]
        assert relays[0]["workspaces"] == [{"name": "proj", "path": str(workspace)}]
        assert "Tether is running at http://localhost:" in server.log()
        assert server.process is not None
        relay_pids = _children(server.process.pid)
        assert relay_pids, "no local relay process"
        os.kill(server.process.pid, signal.SIGKILL)  # the server alone, not its process group
        server.process.wait(10)
        wait_until(lambda: not any(_alive(p) for p in relay_pids), 30, "the orphaned relay to exit")
        server.start()  # same data directory: the same local relay token is reused
        wait_until(lambda: _local_relay_online(server), 60, "the local relay after a restart")
        assert [r["name"] for r in server.get("/api/relays")["relays"]] == ["local"]
    finally:
        server.stop()
