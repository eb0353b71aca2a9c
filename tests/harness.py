"""Real processes for the tests and bench/: a `tether serve` server, `tether relay` relays,
viewer clients. The one place that starts them and finds them a free port.

Everything runs on loopback with its own data directory; nothing is mocked. Clients
authenticate as `tether attach` does: with the console token the server keeps in its data
directory (data_dir/console.token, accepted from loopback only), so tests act as the owner.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from protocol import messages as m
from protocol.version import PROTOCOL_VERSION, SOFTWARE_VERSION

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT_S = 20.0
_encoder = msgspec.json.Encoder()
_client_decoder = msgspec.json.Decoder(m.ServerToClient)
_console_tokens: dict[str, str] = {}  # server URL -> its console token
# Sandboxed PTY sessions run the tests' fake programs (tests/fakes) with this Python, and
# `python3` from PATH, which may be a pyenv shim: show the checkout and those toolchains.
_PYENV_ROOT = os.environ.get("PYENV_ROOT") or str(Path.home() / ".pyenv")
SANDBOX_READ_ONLY = ",".join(
    [str(ROOT), sys.base_prefix, sys.prefix]
    + ([_PYENV_ROOT] if _PYENV_ROOT in os.environ.get("PATH", "") else [])
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tether_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "tether", *args]


def wait_until(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.05)


async def wait_until_async(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    """`wait_until` for code on an event loop: the loop keeps running while it waits."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not predicate():
        if loop.time() > deadline:
            raise TimeoutError(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(0.01)


class _Child:
    """A `tether` subprocess in its own process group, its output in a log file."""

    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    def _spawn(self, argv: list[str], env: dict[str, str]) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
                env=env,
                start_new_session=True,
            )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait(self, timeout_s: float) -> int:
        """The exit status, once the process has exited (TimeoutExpired after `timeout_s`)."""
        assert self.process is not None
        return self.process.wait(timeout_s)

    def send_signal(self, sig: int) -> None:
        assert self.process is not None
        self.process.send_signal(sig)

    def kill9(self) -> None:
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)


class TetherCommand(_Child):
    """Any `tether` command line as a child process, e.g. `tether relay enroll URL`."""

    def __init__(self, log_path: Path, *args: str, env: dict[str, str]) -> None:
        self.log_path = log_path
        self.args = args
        self.env = env

    def start(self) -> TetherCommand:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._spawn(tether_argv(*self.args), self.env)
        return self


class ServerProcess(_Child):
    """`tether serve` on a free port (no local relay unless asked)."""

    def __init__(
        self,
        data_dir: Path,
        port: int | None = None,
        *,
        local_relay: bool = False,
        extra: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
        start_timeout_s: float = START_TIMEOUT_S,
    ) -> None:
        self.data_dir = data_dir
        self.env = {**os.environ, **(env or {})}
        self.port = port or free_port()
        self.local_relay = local_relay
        self.extra = extra
        self.start_timeout_s = start_timeout_s
        self.log_path = data_dir.parent / f"{data_dir.name}.log"  # beside it: a full disk

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def console_token(self) -> str:
        return (self.data_dir / "console.token").read_text().strip()

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.console_token}"}

    def client_env(self) -> dict[str, str]:
        """Environment for `tether attach` / `tether sessions` to reach this server."""
        return {**os.environ, "TETHER_CONSOLE_TOKEN": self.console_token}

    def create_relay_token(self, name: str) -> str:
        """A new relay token, made with `tether admin` (before or after the server starts)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        out = subprocess.run(
            tether_argv("admin", "--data-dir", str(self.data_dir), "relay-token", "create", name),
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
            timeout=30,
        ).stdout
        match = re.search(r"tr_[A-Za-z0-9_-]+", out)
        assert match, out
        return match.group(0)

    def start(self) -> ServerProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        argv = tether_argv(
            "serve", "--data-dir", str(self.data_dir), "--port", str(self.port), *self.extra
        )
        if not self.local_relay:
            argv.append("--no-local-relay")
        self._spawn(argv, self.env)
        try:
            wait_until(self.healthy, self.start_timeout_s, f"server on port {self.port}")
        except (TimeoutError, RuntimeError):
            self.stop()
            raise
        _console_tokens[self.url] = self.console_token
        return self

    def healthy(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise RuntimeError(f"server exited {self.process.returncode}:\n{self.log()}")
        try:
            with urllib.request.urlopen(self.url + "/api/health", timeout=1) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def get(self, path: str) -> Any:
        request = urllib.request.Request(self.url + path, headers=self.auth_headers())
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())


class RelayProcess(_Child):
    """`tether relay` dialling a server, with its own state directory and workspaces."""

    def __init__(
        self,
        server_url: str,
        token: str,
        state_dir: Path,
        workspaces: dict[str, Path],
        extra: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
    ) -> None:
        self.server_url = server_url
        self.token = token
        self.state_dir = state_dir
        self.workspaces = workspaces
        self.extra = extra
        self.env = env or {}
        self.log_path = state_dir.parent / f"{state_dir.name}.log"

    def start(self) -> RelayProcess:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        argv = tether_argv(
            "relay",
            "--server",
            self.server_url,
            "--state-dir",
            str(self.state_dir),
            "--log-level",
            "debug",
            *self.extra,
        )
        for name, path in self.workspaces.items():
            argv += ["--workspace", f"{name}={path}"]
        env = {**os.environ, "TETHER_RELAY_SANDBOX_READ_ONLY": SANDBOX_READ_ONLY, **self.env}
        self._spawn(argv, {**env, "TETHER_RELAY_TOKEN": self.token})
        return self


class Viewer:
    """A viewer-protocol client that keeps what it received, as the PWA and attach do."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.events: dict[str, list[m.LoggedEvent]] = {}
        self.epochs: dict[str, str] = {}
        self.subscribed: list[m.Subscribed] = []
        self.results: list[m.Result | m.ClientError] = []
        self.duplicates = 0  # events the server sent although the client already had them

    @classmethod
    async def open(cls, server_url: str, token: str | None = None, **kwargs: Any) -> Viewer:
        """A viewer with the console token of the server at `server_url` (or `token`)."""
        token = token if token is not None else _console_tokens.get(server_url, "")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        ws = await connect(
            server_url.replace("http", "ws", 1) + "/ws/client",
            open_timeout=10,
            max_size=m.MAX_FRAME_BYTES,
            additional_headers=headers,
            **kwargs,
        )
        await ws.send(
            _encoder.encode(
                m.Hello(protocol_version=PROTOCOL_VERSION, software_version=SOFTWARE_VERSION)
            ).decode()
        )
        hello = _client_decoder.decode(await asyncio.wait_for(ws.recv(), 10))
        assert isinstance(hello, m.Hello)
        return cls(ws)

    async def send(self, message: m.ClientMessage) -> None:
        await self.ws.send(_encoder.encode(message).decode())

    def since(self, session_id: str) -> m.Since | None:
        events = self.events.get(session_id)
        if not events:
            return None
        return m.Since(epoch=self.epochs[session_id], seq=events[-1].seq)

    async def subscribe(self, session_id: str, since: m.Since | None = None) -> None:
        await self.send(m.Subscribe(session_id=session_id, since=since))

    async def receive_one(self, timeout_s: float = 10.0) -> m.ServerToClient:
        message = _client_decoder.decode(await asyncio.wait_for(self.ws.recv(), timeout_s))
        if isinstance(message, m.Subscribed):
            self.subscribed.append(message)
            self.epochs[message.session_id] = message.epoch
            if not message.recovered:
                self.events[message.session_id] = []
        elif isinstance(message, m.SessionEvents):
            held = self.events.setdefault(message.session_id, [])
            for event in message.events:
                if held and event.seq <= held[-1].seq:
                    self.duplicates += 1
                    continue
                assert not held or event.seq == held[-1].seq + 1, (
                    f"gap: had {held[-1].seq}, got {event.seq}"
                )
                held.append(event)
        elif isinstance(message, (m.Result, m.ClientError)):
            self.results.append(message)
        return message

    async def until(self, predicate: Callable[[], bool], timeout_s: float = 20.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not predicate():
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("viewer condition not reached")
            with contextlib.suppress(TimeoutError):
                await self.receive_one(min(left, 1.0))

    async def close(self) -> None:
        await self.ws.close()


def terminal_text(events: list[m.LoggedEvent]) -> str:
    return b"".join(e.event.data for e in events if isinstance(e.event, m.TerminalOutput)).decode(
        errors="replace"
    )


def ended(events: list[m.LoggedEvent]) -> bool:
    return any(isinstance(e.event, m.SessionEnded) for e in events)


async def close_code(ws: ClientConnection) -> int | None:
    """Read `ws` (at most 10 s between frames) until it is closed; its close code."""
    with contextlib.suppress(ConnectionClosed):
        while True:
            await asyncio.wait_for(ws.recv(), 10)
    return ws.close_code


class Stack:
    """A server with one relay that offers one workspace, as most pipeline tests need."""

    def __init__(
        self,
        tmp: Path,
        server_env: dict[str, str] | None = None,
        relay_config: Path | None = None,
        relay_env: dict[str, str] | None = None,
    ) -> None:
        self.tmp = tmp
        self.relay_config = relay_config
        self.relay_env = relay_env
        self.workspace = tmp / "work"
        self.workspace.mkdir(exist_ok=True)
        self.server = ServerProcess(tmp / "server", env=server_env)
        self.token = self.server.create_relay_token("box")
        self.server.start()
        self.relay = self.new_relay(self.server.url)
        self.relay_id = ""

    def new_relay(self, server_url: str) -> RelayProcess:
        extra = ("--config", str(self.relay_config)) if self.relay_config else ()
        return RelayProcess(
            server_url,
            self.token,
            self.tmp / "relay",
            {"work": self.workspace},
            extra=extra,
            env=self.relay_env,
        )

    def wait_relay_online(self) -> str:
        def online() -> bool:
            relays = self.server.get("/api/relays")["relays"]
            return bool(relays) and bool(relays[0]["online"])

        wait_until(online, START_TIMEOUT_S, "the relay to connect")
        self.relay_id = self.server.get("/api/relays")["relays"][0]["id"]
        return self.relay_id

    def start_session(
        self, command: list[str] | None = None, *, agent: str = "pty", prompt: str = ""
    ) -> str:
        body = json.dumps(
            {
                "relay_id": self.relay_id,
                "workspace": "work",
                "agent": agent,
                "command": command or [],
                "prompt": prompt,
            }
        )
        request = urllib.request.Request(
            self.server.url + "/api/sessions",
            data=body.encode(),
            method="POST",
            headers={"content-type": "application/json", **self.server.auth_headers()},
        )
        with urllib.request.urlopen(request, timeout=20) as response:
            return str(json.loads(response.read())["id"])

    def events(self, session_id: str) -> list[dict[str, Any]]:
        """The whole log of a session through the paged REST API."""
        out: list[dict[str, Any]] = []
        after = 0
        while True:
            page = self.server.get(f"/api/sessions/{session_id}/events?after={after}&limit=1000")
            out += page["events"]
            if not page["has_more"]:
                return out
            after = page["next_after"]

    def wait_for_event(
        self,
        session_id: str,
        predicate: Callable[[dict[str, Any]], bool],
        what: str,
        timeout_s: float = 60.0,
    ) -> dict[str, Any]:
        """Poll the session's log until an event matches; returns the first match."""
        found: list[dict[str, Any]] = []

        def seen() -> bool:
            found[:] = [e for e in self.events(session_id) if predicate(e["event"])]
            return bool(found)

        wait_until(seen, timeout_s, what)
        return found[0]

    def close(self) -> None:
        self.relay.stop()
        self.server.stop()


@contextlib.contextmanager
def running(stack: Stack) -> Iterator[Stack]:
    """`stack` with its relay started and online; closed on the way out."""
    try:
        stack.relay.start()
        stack.wait_relay_online()
        yield stack
    finally:
        stack.close()


def ticker(
    count: int, interval_s: float, linger_s: float = 0.0, stop_file: Path | None = None
) -> list[str]:
    """The argv of tests/fakes/ticker.py; with `stop_file`, `count` is only a bound."""
    argv = [
        sys.executable,
        str(ROOT / "tests" / "fakes" / "ticker.py"),
        str(count),
        str(interval_s),
        str(linger_s),
    ]
    return argv if stop_file is None else [*argv, str(stop_file)]
