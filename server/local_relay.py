"""The relay `tether serve` runs for its own machine, as a supervised child process."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import logging
import os
import random
import signal
import sys
from collections.abc import Mapping
from pathlib import Path

from server.domain import actors
from server.domain.relays import Relays
from server.settings import Settings
from tether.private_files import inherited_umask

log = logging.getLogger(__name__)

LOCAL_RELAY_NAME = "local"
RESTART_DELAY_MAX_S = 30.0  # a relay that keeps crashing is retried at most this rarely
STOP_GRACE_S = 5.0  # time the relay has to stop its sessions before it is killed
PR_SET_PDEATHSIG = 1  # prctl option: signal the child when its parent thread exits
HIDE_VARIABLE = "TETHER_RELAY_SANDBOX_HIDE"  # the relay's sandbox_hide setting


async def local_relay_token(settings: Settings, relays: Relays) -> str:
    """The local relay's token, kept in the data directory (mode 0600); registered on first use."""
    path = settings.data_dir / "local-relay.token"
    if path.exists():
        token = path.read_text().strip()
        if await relays.authenticate(token) is not None:
            return token
    _, token = await relays.create(await relays.free_name(LOCAL_RELAY_NAME), actor=actors.SYSTEM)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    return token


def relay_argv(settings: Settings, workspaces: list[str]) -> list[str]:
    argv = [
        sys.executable,
        "-m",
        "tether",
        "relay",
        "--server",
        f"http://127.0.0.1:{settings.port}",
        "--state-dir",
        str(settings.data_dir / "local-relay"),
        "--log-level",
        settings.log_level,
    ]
    for workspace in workspaces:
        argv += ["--workspace", workspace]
    return argv


async def supervise(
    settings: Settings, token: str, workspaces: list[str], environ: Mapping[str, str]
) -> None:
    """Run the local relay until cancelled, restarting it if it dies."""
    delay = 1.0
    env = {**environ, "TETHER_RELAY_TOKEN": token}  # not on the command line: ps shows argv
    # The server's data directory (database, console token, keys) is never shown to agents,
    # even when it lies inside a workspace (the default workspace is the current directory).
    hidden = [environ.get(HIDE_VARIABLE, ""), str(settings.data_dir)]
    env[HIDE_VARIABLE] = ",".join(path for path in hidden if path)
    while True:
        process = await asyncio.create_subprocess_exec(
            *relay_argv(settings, workspaces),
            env=env,
            preexec_fn=_die_with_parent,
            umask=inherited_umask(),  # the relay keeps its state private itself; its agents not
        )
        try:
            code = await process.wait()
        except asyncio.CancelledError:
            await _stop(process)
            raise
        # Exit 2 (bad configuration, a previous relay still holding the state directory) is
        # retried too: the previous one may just be finishing its shutdown.
        log.warning("the local relay exited with %s; restarting in about %.0f s", code, delay)
        await asyncio.sleep(delay * random.uniform(0.5, 1.0))
        delay = min(delay * 2, RESTART_DELAY_MAX_S)


async def _stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        async with asyncio.timeout(STOP_GRACE_S):
            await process.wait()
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM when the server dies, even by kill -9 (Linux)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def default_workspaces(settings: Settings) -> list[str]:
    return list(settings.local_workspaces) or [str(Path.cwd())]
