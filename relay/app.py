"""Wiring: one relay process = state-dir lock + outbox + supervisor + link, and its shutdown.

Startup resumes the sessions the previous run left 'live' whose agent can continue its own
conversation, and ends the others (their processes died with it). Shutdown
(SIGTERM/SIGINT, or the link stopped by the server) stops every session, gives the server a
moment to ack the last events, then closes the link with 1000. A damaged outbox file
(OutboxCorruptError, from any statement) stops the sessions and the link and ends the process
with one line saying what to do.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import NoReturn

from relay.agent import sandbox
from relay.agent.sandbox import Confinement
from relay.command_store import CommandMemory
from relay.errors import LinkStoppedError, OutboxCorruptError, OutboxError, StateDirBusyError
from relay.hooks.bridge import listen_for_hooks
from relay.link import CLOSE_TIMEOUT_S, Link, LinkState
from relay.outbox import Outbox, Retention
from relay.settings import Settings
from relay.supervisor import Supervisor

log = logging.getLogger(__name__)

LOCK_FILE = "relay.lock"
DRAIN_TIMEOUT_S = 3.0  # at shutdown, how long the server may take to ack the final events
LINK_CLOSE_TIMEOUT_S = CLOSE_TIMEOUT_S + 1.0  # then the link task is cancelled
EXIT_STOPPED = 2  # the server told this relay not to come back (bad token, superseded, ...)


@contextlib.contextmanager
def lock_state_dir(state_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock so two relays never share one outbox."""
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(state_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StateDirBusyError(
                f"another relay is running with state dir {state_dir}"
            ) from None
        yield
    finally:
        os.close(fd)


async def run_relay(settings: Settings, parent_env: Mapping[str, str], stop: asyncio.Event) -> int:
    """Run until `stop` is set or the server stops the link; returns the process exit status."""
    state_dir = Path(settings.state_dir)
    with lock_state_dir(state_dir):
        outbox = Outbox.open(
            state_dir,
            max_bytes=settings.outbox_max_bytes,
            keep=Retention(settings.keep_acked_bytes, settings.keep_acked_s),
        )
        memory = CommandMemory.open(state_dir)
        try:
            supervisor = Supervisor(settings, outbox, parent_env, confined=_confine(settings))
            await supervisor.recover()
            link = Link(settings, outbox, supervisor, memory=memory)
            names = ", ".join(w.name for w in settings.workspaces) or "none"
            log.info("relay %s starting; workspaces: %s", settings.name, names)
            async with listen_for_hooks(state_dir, settings, supervisor):
                return await _run_until_stopped(link, supervisor, outbox, stop)
        finally:
            memory.close()
            outbox.close()


def _confine(settings: Settings) -> Confinement:
    """Probe the sandbox once; say at start, once, when agents will run without it."""
    modes = [settings.sandbox, *settings.workspace_sandbox.values()]
    modes += [a.sandbox for a in settings.agents.values() if a.sandbox]
    confined = sandbox.confinement(
        wanted=any(mode != "none" for mode in modes),
        state_dir=settings.state_dir,
        hidden=[settings.token_file, settings.config_file, *settings.sandbox_hide],
        read_only=settings.sandbox_read_only,
    )
    if settings.sandbox == "none":
        log.warning("agents on this relay are not sandboxed: sandbox = none")
    elif not confined.available:
        required = "sessions that require it will not start; " if "bwrap" in modes else ""
        log.warning("agents on this relay are not sandboxed: %s%s", required, confined.reason)
    else:
        log.info("agents run sandboxed with %s", confined.bwrap)
    return confined


async def _run_until_stopped(
    link: Link, supervisor: Supervisor, outbox: Outbox, stop: asyncio.Event
) -> int:
    link_task = asyncio.create_task(link.run(), name="link")
    stop_task = asyncio.create_task(stop.wait(), name="stop signal")
    corrupt_task = asyncio.create_task(outbox.corrupted.wait(), name="outbox damaged")
    try:
        await asyncio.wait(
            {link_task, stop_task, corrupt_task}, return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        stop_task.cancel()
        corrupt_task.cancel()
    if outbox.corruption is not None:
        await _stop_on_damaged_outbox(link, link_task, supervisor, outbox.corruption)
    status = 0
    if link_task.done():
        exc = link_task.exception()
        if isinstance(exc, LinkStoppedError):
            status = EXIT_STOPPED
        elif exc is not None:
            log.error("link ended unexpectedly", exc_info=exc)
            status = 1
    log.info("shutting down: stopping %d session(s)", len(supervisor.live_sessions()))
    await supervisor.stop_all(suspend=True)
    outbox.flush()
    if not link_task.done() and link.state is not LinkState.STREAMING:
        link_task.cancel()  # dialling or backing off: nothing to close politely
        await asyncio.gather(link_task, return_exceptions=True)
    if not link_task.done():
        if not await link.drain(DRAIN_TIMEOUT_S):
            log.warning(
                "%d event(s) not acked yet; they are sent on the next start", outbox.pending_count()
            )
        await link.close()
        try:
            async with asyncio.timeout(LINK_CLOSE_TIMEOUT_S):
                await link_task
        except TimeoutError:
            log.warning("link did not close in %.0f s", LINK_CLOSE_TIMEOUT_S)
    return status


async def _stop_on_damaged_outbox(
    link: Link, link_task: asyncio.Task[None], supervisor: Supervisor, error: OutboxCorruptError
) -> NoReturn:
    """The outbox cannot be trusted: stop the agents and the link, then exit with what to do."""
    with contextlib.suppress(OutboxError):  # ending sessions writes to the damaged file
        await supervisor.stop_all(suspend=True)
    await link.close()
    link_task.cancel()
    await asyncio.gather(link_task, return_exceptions=True)
    raise error
