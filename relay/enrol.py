"""`tether relay enroll URL`: ask the server for a token, wait for an admin, keep the token.

1. POST /api/relays/enrolments {name} -> a code (ABCD-EFGH) and a secret poll handle.
2. Print the code; an admin approves it on the server. Poll until then (at the interval the
   server asks for), showing how long the code has left, for at most `timeout_s`.
3. On approval the server hands over the relay's token, once. Write it to the token file
   (mode 0600) and put `server = URL` into the config file, so plain `tether relay` connects.

Network errors and 5xx answers while polling are retried until the deadline; a refusal (4xx)
ends the enrolment with the server's message. The code is shown; the handle and the token
never are.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
import tomllib
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, TextIO

from protocol.loopback import is_plain_remote
from relay.errors import ConfigError, RelayError

HTTP_TIMEOUT_S = 10.0  # one request
DEFAULT_TIMEOUT_S = 900.0  # give up waiting for an admin after 15 minutes
POLL_INTERVAL_BOUNDS_S = (1.0, 10.0)  # whatever the server asks, poll within these
MAX_RESPONSE_BYTES = 64 << 10
PROGRESS_LINE_EVERY_S = 60.0  # when stdout is not a terminal, one progress line a minute
EXIT_REFUSED = 2  # denied, expired, bad input: running again with a new code can help
EXIT_GAVE_UP = 1


class EnrolError(RelayError):
    """The enrolment cannot go on; the message says why and what to do."""


class _Retry(Exception):
    """A failure worth retrying: the network or the server's 5xx."""


def _call(url: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Accept": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as response:
            data = response.read(MAX_RESPONSE_BYTES)
    except urllib.error.HTTPError as exc:
        message = _error_message(exc)
        if exc.code >= 500 or exc.code == 429:
            raise _Retry(message) from exc
        raise EnrolError(message) from exc
    except (urllib.error.URLError, OSError) as exc:
        raise _Retry(f"cannot reach {url}: {getattr(exc, 'reason', exc)}") from exc
    try:
        decoded = json.loads(data)
    except ValueError as exc:
        raise EnrolError(f"{url} did not answer with JSON: is this a Tether server?") from exc
    if not isinstance(decoded, dict):
        raise EnrolError(f"{url} answered something unexpected")
    return decoded


def _error_message(exc: urllib.error.HTTPError) -> str:
    try:
        body = json.loads(exc.read(MAX_RESPONSE_BYTES))
        return f"the server refused: {body['error']['message']} (HTTP {exc.code})"
    except (ValueError, KeyError, TypeError, OSError):
        return f"the server answered HTTP {exc.code}: is this a Tether server?"


def _checked_server(server: str, *, insecure: bool) -> str:
    server = server.rstrip("/")
    if not re.match(r"^https?://[^/\s]+", server):
        raise ConfigError(f"server {server!r} must be an http:// or https:// URL")
    if is_plain_remote(server) and not insecure:
        raise ConfigError(
            f"server {server!r} is plain http:// on another machine: the relay's token would "
            "cross the network unencrypted. Use https://, or allow it with --insecure"
        )
    return server


def enrol(
    server: str,
    name: str,
    *,
    config_path: Path,
    token_path: Path,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    insecure: bool = False,
    out: TextIO = sys.stdout,
) -> int:
    server = _checked_server(server, insecure=insecure)
    base = f"{server}/api/relays/enrolments"
    try:
        created = _call(base, {"name": name})
    except _Retry as exc:
        raise EnrolError(str(exc)) from exc
    code, handle = str(created["code"]), str(created["handle"])
    low, high = POLL_INTERVAL_BOUNDS_S
    interval = min(max(float(created.get("poll_interval_s", 2.0)), low), high)
    print(
        f"\nEnrolment code:  {code}\n\n"
        f"Ask an admin of {server} to approve it (it expires in "
        f"{_left(float(created['expires_at']))}):\n"
        f"  curl -X POST -H 'Authorization: Bearer ...' {base}/{code}/approve\n\n"
        f"This relay will be named {name!r}. Waiting for approval (Ctrl-C to give up) ...",
        file=out,
        flush=True,
    )
    deadline = time.monotonic() + timeout_s
    last_line = time.monotonic()
    while True:
        time.sleep(interval)
        if time.monotonic() > deadline:
            _end_progress(out)
            print(f"Gave up after {timeout_s:.0f} s without an approval.", file=out)
            return EXIT_GAVE_UP
        try:
            polled = _call(f"{base}/poll", {"handle": handle})
        except _Retry as exc:
            _progress(out, f"{exc}; retrying", force=True)
            continue
        status = polled.get("status")
        if status == "pending":
            now = time.monotonic()
            line = f"waiting for approval of {code}: {_left(float(polled['expires_at']))} left"
            if out.isatty():
                _progress(out, line)
            elif now - last_line >= PROGRESS_LINE_EVERY_S:
                print(line, file=out, flush=True)
                last_line = now
            continue
        _end_progress(out)
        if status == "approved":
            _save(server, str(polled["token"]), config_path, token_path, insecure=insecure)
            print(
                f"Approved: this relay is {polled['name']!r} (id {polled['relay_id']}).\n"
                f"Token saved to {token_path} (mode 0600); server written to {config_path}.\n"
                "Start the relay with:  tether relay",
                file=out,
            )
            return 0
        raise EnrolError(_EXPLANATIONS.get(str(status), f"unexpected enrolment state {status!r}"))


_EXPLANATIONS = {
    "denied": "an admin denied this enrolment",
    "expired": "the code expired before it was approved: run `tether relay enroll` again",
    "collected": "this enrolment's token was collected already",
    "revoked": "the relay was revoked before it collected its token",
}


def _left(expires_at: float) -> str:
    seconds = max(0, int(expires_at - time.time()))
    return f"{seconds // 60}:{seconds % 60:02d}"


def _progress(out: TextIO, line: str, *, force: bool = False) -> None:
    if out.isatty():
        out.write(f"\r\x1b[K{line}")
        out.flush()
    elif force:
        print(line, file=out, flush=True)


def _end_progress(out: TextIO) -> None:
    if out.isatty():
        out.write("\r\x1b[K")
        out.flush()


def _save(server: str, token: str, config_path: Path, token_path: Path, *, insecure: bool) -> None:
    """Write the token file (0600), then point the config file at the server (and allow plain
    http:// there when the enrolment was told --insecure)."""
    token_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    _write_atomically(token_path, token + "\n", 0o600)
    try:
        text = config_path.read_text()
    except FileNotFoundError:
        text = ""
    except OSError as exc:
        raise EnrolError(f"cannot read {config_path}: {exc}; add server = {server!r}") from exc
    updated = set_top_level(text, "server", json.dumps(server))
    if insecure:
        updated = set_top_level(updated, "insecure", "true")
    try:
        if tomllib.loads(updated).get("server") != server:
            raise ValueError("server not set")
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise EnrolError(
            f"token saved to {token_path}, but {config_path} could not be updated ({exc}): "
            f"add the line  server = {json.dumps(server)}  to it"
        ) from exc
    config_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    mode = config_path.stat().st_mode & 0o777 if config_path.exists() else 0o600
    _write_atomically(config_path, updated, mode)


def set_top_level(text: str, key: str, value: str) -> str:
    """`text` (TOML) with the top-level `key = value` line replaced, or added first."""
    lines = text.splitlines()
    tables = [i for i, line in enumerate(lines) if line.lstrip().startswith("[")]
    top = tables[0] if tables else len(lines)
    pattern = re.compile(rf"^\s*{re.escape(key)}\s*=")
    for i in range(top):
        if pattern.match(lines[i]):
            lines[i] = f"{key} = {value}"
            break
    else:
        lines.insert(0, f"{key} = {value}")
    return "\n".join(lines) + "\n"


def _write_atomically(path: Path, text: str, mode: int) -> None:
    partial = path.with_name(path.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)  # O_CREAT's mode does not apply to a file left by a crash
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, path)
