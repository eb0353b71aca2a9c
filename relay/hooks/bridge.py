"""The Claude Code hooks bridge: a Unix socket where `tether hook` hands over each hook.

The socket is `<state dir>/hooks.sock`, mode 0600 in the relay's 0700 state directory, so only
this user's processes reach it; never a network port. One connection carries one hook:

    tether hook -> relay   {"event": "PreToolUse", "pid": <Claude's pid>, "input": {...}}\\n
    relay -> tether hook   {"output": {...} | null, "message": "..."}\\n

`output` is Claude Code's hook output (null: Claude decides itself), `message` a note for the
hook's stderr. `tether hook` keeps its end open while it waits; its hanging up withdraws a
pending approval (Claude cancelled the hook).

Each Claude Code session_id becomes one Tether session (agent "claude-hooks", see
relay/hooks/session.py) in the workspace that contains the hook's cwd. A cwd outside every
workspace, or a session a viewer stopped, gets null answers: Claude asks in its own terminal.

Each workspace also has a socket of its own, `<state dir>/hooks.d/<n>.sock` (n: the workspace's
place in the relay's list), which the sandbox of that workspace's sessions shows at
`<state dir>/hooks.sock` (relay/agent/sandbox.py) and no other sandbox shows at all. It accepts
only hooks whose cwd lies in that workspace, and only sessions adopted in it: a sandboxed agent
can neither open a session in another workspace nor answer or feed one there.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import os
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from relay.agent.adapters.base import Adapter, EventSink, SessionSpec
from relay.agent.workspace_files import workspace_of
from relay.errors import CommandError
from relay.hooks.session import AGENT, HookSession
from relay.settings import Settings
from relay.workspaces import Workspace

log = logging.getLogger(__name__)

SOCKET_NAME = "hooks.sock"
WORKSPACE_SOCKETS = "hooks.d"  # one socket per workspace, for its sandboxed sessions
MAX_REQUEST_BYTES = 8 << 20  # one hook input (a Write carries the whole file)
READ_TIMEOUT_S = 10.0  # a client has this long to send its request line
MAX_CONNECTIONS = 64  # hooks in flight at once; more are answered null at once
MAX_IGNORED = 1024  # Claude session ids remembered as "not ours" (stopped or outside)


class SessionHost(Protocol):
    """What the bridge needs from the supervisor."""

    def adopt(
        self,
        make: Callable[[SessionSpec, EventSink], Adapter],
        *,
        agent: str,
        workspace: Workspace,
        cwd: str,
        title: str,
    ) -> Adapter:
        """Register a session whose agent the relay did not start, framed like any other."""
        ...


class HookBridge:
    """Claude Code session_id -> its HookSession; answers one hook at a time per connection."""

    def __init__(self, workspaces: Sequence[Workspace], host: SessionHost) -> None:
        self._workspaces = list(workspaces)
        self._host = host
        self._sessions: dict[str, HookSession] = {}
        self._ignored: collections.OrderedDict[str, None] = collections.OrderedDict()

    async def handle(
        self, request: dict[str, Any], hangup: asyncio.Future[None], only: Workspace | None = None
    ) -> dict[str, Any]:
        """The reply for one request: {"output": ..., "message": ...}. With `only` (a workspace's
        own socket), sessions of other workspaces are neither adopted nor reached."""
        event = request.get("event")
        data = request.get("input")
        if not isinstance(event, str) or not isinstance(data, dict):
            return _reply(None, "the relay could not read this hook")
        claude_id = str(data.get("session_id", ""))
        if not claude_id:
            return _reply(None, "the hook input has no session_id")
        if claude_id in self._ignored:
            return _reply(None, "")
        session = self._sessions.get(claude_id)
        if session is not None and only is not None and session.spec.workspace != only:
            log.warning(
                "claude session %s: refused on the socket of workspace %s", claude_id, only.name
            )
            return _reply(None, "this session belongs to another workspace")
        if session is not None and session.ended:
            del self._sessions[claude_id]
            self._ignore(claude_id)
            return _reply(None, "")
        if session is None:
            pid = request.get("pid")
            try:
                session = self._adopt(
                    claude_id, str(data.get("cwd", "")), pid if isinstance(pid, int) else 0, only
                )
            except CommandError as exc:
                self._ignore(claude_id)
                log.warning(
                    "claude session %s: not brought into Tether: %s", claude_id, exc.message
                )
                return _reply(None, exc.message)
            if session is None:
                self._ignore(claude_id)
                return _reply(None, "this directory is outside every workspace of the relay")
        return _reply(await session.on_hook(event, data, hangup), "")

    def _adopt(
        self, claude_id: str, cwd: str, pid: int, only: Workspace | None
    ) -> HookSession | None:
        workspace = workspace_of(cwd, [only] if only is not None else self._workspaces)
        if workspace is None:
            log.info("claude session %s: cwd %s is outside every workspace", claude_id, cwd)
            return None

        def make(spec: SessionSpec, sink: EventSink) -> HookSession:
            return HookSession(spec, sink, claude_pid=pid)

        title = f"Claude Code in {cwd}"
        adapter = self._host.adopt(make, agent=AGENT, workspace=workspace, cwd=cwd, title=title)
        assert isinstance(adapter, HookSession)
        self._sessions[claude_id] = adapter
        log.info("claude session %s: Tether session %s", claude_id, adapter.spec.session_id)
        return adapter

    def _ignore(self, claude_id: str) -> None:
        self._ignored[claude_id] = None
        while len(self._ignored) > MAX_IGNORED:
            self._ignored.popitem(last=False)


@contextlib.asynccontextmanager
async def listen_for_hooks(
    state_dir: Path, settings: Settings, host: SessionHost
) -> AsyncIterator[None]:
    """Serve the hook socket for the life of the relay; a socket that cannot be made is logged
    and the relay runs on without it (hooks then fall back to Claude Code's own prompts)."""
    bridge = HookBridge(settings.workspaces, host)
    listeners = [HookListener(state_dir / SOCKET_NAME, bridge)]
    (state_dir / WORKSPACE_SOCKETS).mkdir(mode=0o700, exist_ok=True)
    for index, workspace in enumerate(settings.workspaces):
        path = workspace_socket(state_dir, index)
        listeners.append(HookListener(path, bridge, only=workspace))
    for listener in listeners:
        try:
            await listener.start()
        except OSError as exc:
            log.error("Claude Code hooks: cannot listen on %s: %s", listener.path, exc)
    try:
        yield
    finally:
        for listener in listeners:
            await listener.close()


def workspace_socket(state_dir: Path, index: int) -> Path:
    """The hooks socket of the relay's `index`-th workspace."""
    return state_dir / WORKSPACE_SOCKETS / f"{index}.sock"


class HookListener:
    """The Unix socket server; owns its connection tasks."""

    def __init__(self, path: Path, bridge: HookBridge, only: Workspace | None = None) -> None:
        self.path = path
        self._bridge = bridge
        self._only = only
        self._server: asyncio.Server | None = None
        self._slots = asyncio.Semaphore(MAX_CONNECTIONS)

    async def start(self) -> None:
        """Listen; a stale socket from a dead relay is replaced (the state-dir lock is ours)."""
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        old_umask = os.umask(0o177)
        try:
            self._server = await asyncio.start_unix_server(
                self._serve, path=str(self.path), limit=MAX_REQUEST_BYTES + 1
            )
        finally:
            os.umask(old_umask)
        os.chmod(self.path, 0o600)
        log.info("Claude Code hooks: listening on %s", self.path)

    async def close(self) -> None:
        if self._server is None:
            return
        self._server.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if self._slots.locked():
                await _send(writer, _reply(None, "the relay is busy with other hooks"))
                return
            async with self._slots:
                await self._answer(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the hook went away; nothing to answer
        except Exception:  # connection boundary: one bad hook never stops the listener
            log.exception("Claude Code hook failed")
            with contextlib.suppress(ConnectionError):
                await _send(writer, _reply(None, "the relay failed on this hook (see its log)"))
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(READ_TIMEOUT_S):
                line = await reader.readuntil(b"\n")
            request = json.loads(line)
        except (asyncio.LimitOverrunError, ValueError, TimeoutError) as exc:
            await _send(writer, _reply(None, f"unreadable hook request ({type(exc).__name__})"))
            return
        if not isinstance(request, dict):
            await _send(writer, _reply(None, "the hook request is not an object"))
            return
        gone: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def hung_up(task: asyncio.Task[bytes]) -> None:
            if not task.cancelled():
                task.exception()  # a reset is a hang-up too; retrieved so it is not logged
                if not gone.done():
                    gone.set_result(None)

        hangup = asyncio.create_task(reader.read(1), name="hook hang-up")  # b"": hook is gone
        hangup.add_done_callback(hung_up)
        try:
            reply = await self._bridge.handle(request, gone, self._only)
        finally:
            hangup.cancel()
        if not gone.done():
            await _send(writer, reply)


def _reply(output: dict[str, Any] | None, message: str) -> dict[str, Any]:
    return {"output": output, "message": message}


async def _send(writer: asyncio.StreamWriter, reply: dict[str, Any]) -> None:
    writer.write(json.dumps(reply).encode() + b"\n")
    await writer.drain()
