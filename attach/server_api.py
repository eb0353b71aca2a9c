"""The server's REST API as the terminal client uses it: sessions, relays, starting a session.

Blocking calls on urllib (they run before the event loop starts), each with a timeout.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, TypeVar

import msgspec

from attach.errors import ServerError, UnreachableError
from protocol.messages import Workspace

REQUEST_TIMEOUT_S = 10.0  # a plain read of the API
START_TIMEOUT_S = 30.0  # starting a session waits for the relay (server command timeout: 10 s)
MAX_RESPONSE_BYTES = 16 << 20  # a session list bigger than this is not something to print

T = TypeVar("T")


class SessionInfo(msgspec.Struct, kw_only=True):
    """A session as GET /api/sessions shows it (unknown fields are ignored)."""

    id: str
    relay_id: str = ""
    agent: str = ""
    workspace: str = ""
    title: str = ""
    status: str = ""  # a protocol SessionStatus
    relay_online: bool = False
    created_at: float = 0.0
    last_activity_at: float = 0.0
    last_seq: int = 0
    epoch: str = ""


class RelayInfo(msgspec.Struct, kw_only=True):
    id: str
    name: str = ""
    online: bool = False
    hostname: str = ""
    workspaces: list[Workspace] = []
    agents: list[str] = []


class LoginRequested(msgspec.Struct, kw_only=True):
    code: str
    handle: str
    expires_at: float
    poll_interval_s: float = 2.0


class LoginState(msgspec.Struct, kw_only=True):
    status: str  # pending, approved, expired, collected
    expires_at: float = 0.0
    token: str = ""
    user_name: str = ""
    role: str = ""
    session_id: str = ""


class _Sessions(msgspec.Struct):
    sessions: list[SessionInfo]


class _Relays(msgspec.Struct):
    relays: list[RelayInfo]


class _ErrorBody(msgspec.Struct):
    code: str = ""
    message: str = ""


class _ErrorShape(msgspec.Struct):
    error: _ErrorBody


def normalize_url(url: str) -> str:
    """`host:port`, http(s):// or ws(s):// -> the http(s) base URL without a trailing slash."""
    url = url.strip().rstrip("/")
    if "://" not in url:
        url = "http://" + url
    parts = urllib.parse.urlsplit(url)
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    if scheme not in ("http", "https") or not parts.netloc:
        raise UnreachableError(f"not a server URL: {url!r} (expected http(s)://host:port)")
    return urllib.parse.urlunsplit((scheme, parts.netloc, parts.path, "", ""))


def viewer_socket_url(base_url: str) -> str:
    scheme, rest = base_url.split("://", 1)
    return ("wss" if scheme == "https" else "ws") + "://" + rest + "/ws/client"


class ServerApi:
    def __init__(self, base_url: str, token: str = "") -> None:
        self.base_url = normalize_url(base_url)
        self._auth = {"authorization": f"Bearer {token}"} if token else {}

    def sessions(self) -> list[SessionInfo]:
        return self._call("GET", "/api/sessions", _Sessions).sessions

    def relays(self) -> list[RelayInfo]:
        return self._call("GET", "/api/relays", _Relays).relays

    def start_session(
        self,
        relay_id: str,
        workspace: str,
        agent: str,
        command: list[str],
        prompt: str,
        cols: int,
        rows: int,
    ) -> SessionInfo:
        """`command` is what a `pty` session runs, `prompt` an agent's first turn."""
        body = {
            "relay_id": relay_id,
            "workspace": workspace,
            "agent": agent,
            "command": command,
            "prompt": prompt,
            "cols": cols,
            "rows": rows,
        }
        return self._call("POST", "/api/sessions", SessionInfo, body, START_TIMEOUT_S)

    def request_login(self, name: str) -> LoginRequested:
        """`tether login`: ask the server for a code its user approves in the app."""
        return self._call("POST", "/api/auth/terminal-logins", LoginRequested, {"name": name})

    def poll_login(self, handle: str) -> LoginState:
        return self._call("POST", "/api/auth/terminal-logins/poll", LoginState, {"handle": handle})

    def _call(
        self,
        method: str,
        path: str,
        kind: type[T],
        body: dict[str, Any] | None = None,
        timeout_s: float = REQUEST_TIMEOUT_S,
    ) -> T:
        url = self.base_url + path
        request = urllib.request.Request(
            url,
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={
                "content-type": "application/json",
                "accept": "application/json",
                **self._auth,
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:
                data = response.read(MAX_RESPONSE_BYTES + 1)
        except urllib.error.HTTPError as exc:
            raise _server_error(exc) from exc
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise UnreachableError(f"cannot reach the server at {self.base_url}: {reason}") from exc
        if len(data) > MAX_RESPONSE_BYTES:
            raise UnreachableError(f"{method} {path}: response over {MAX_RESPONSE_BYTES} bytes")
        try:
            return msgspec.json.decode(data, type=kind)
        except msgspec.DecodeError as exc:
            raise UnreachableError(f"{method} {path}: unexpected response: {exc}") from exc


def _server_error(exc: urllib.error.HTTPError) -> ServerError:
    try:
        raw = exc.read(64 << 10)
    except OSError:
        raw = b""
    try:
        shape = msgspec.json.decode(raw, type=_ErrorShape)
        return ServerError(shape.error.code, shape.error.message or exc.reason, exc.code)
    except msgspec.DecodeError:
        return ServerError("", f"the server answered HTTP {exc.code} {exc.reason}", exc.code)
