"""Which credential the terminal client sends to which server.

    a loopback server     the console token (TETHER_CONSOLE_TOKEN, else console.token in the
                          server's data directory), else a `tether login` token for that URL
    any other server      only the `tether login` token saved for that exact URL, over https
                          (a plain http:// server on another machine is refused)

The console token acts as the owner and is accepted from loopback only; it is never sent
elsewhere, so a mistyped or hostile `--server` cannot collect it. Login tokens live in
`$XDG_CONFIG_HOME/tether/logins.json` (default ~/.config), mode 0600 in a 0700 directory,
keyed by the server's base URL; a file other users can read is refused.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

import msgspec

from attach.errors import AttachError
from protocol.loopback import is_loopback_url, is_plain_remote

TOKEN_ENV = "TETHER_CONSOLE_TOKEN"
DATA_DIR_ENV = "TETHER_DATA_DIR"
DEFAULT_DATA_DIR = "~/.local/share/tether"
LOGINS_FILE = "logins.json"
LOGINS_MAX_BYTES = 1 << 20


class CredentialError(AttachError):
    """There is no credential this client may send to that server."""


class SavedLogin(msgspec.Struct, kw_only=True):
    token: str
    user_name: str = ""
    role: str = ""
    session_id: str = ""


class _Logins(msgspec.Struct):
    servers: dict[str, SavedLogin] = {}


def logins_path(environ: Mapping[str, str]) -> Path:
    home = Path(environ.get("HOME") or Path("~").expanduser())
    return Path(environ.get("XDG_CONFIG_HOME") or home / ".config") / "tether" / LOGINS_FILE


def _read(path: Path) -> _Logins:
    try:
        mode = path.stat().st_mode
        if mode & 0o077:
            raise CredentialError(
                f"{path} can be read by other users (mode {mode & 0o777:o}): run chmod 600 {path}"
            )
        with path.open("rb") as f:
            return msgspec.json.decode(f.read(LOGINS_MAX_BYTES), type=_Logins)
    except FileNotFoundError:
        return _Logins()
    except (OSError, msgspec.DecodeError) as exc:
        raise CredentialError(f"cannot read {path}: {exc}") from exc


def saved_login(environ: Mapping[str, str], base_url: str) -> SavedLogin | None:
    return _read(logins_path(environ)).servers.get(base_url)


def save_login(environ: Mapping[str, str], base_url: str, login: SavedLogin) -> Path:
    """Keep `login` for `base_url` (replacing an older one), written atomically with mode 0600."""
    path = logins_path(environ)
    logins = _read(path)
    logins.servers[base_url] = login
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # O_CREAT's mode does not apply to a file left by a crash
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(msgspec.to_builtins(logins), indent=2) + "\n")
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, path)
    return path


def console_token(environ: Mapping[str, str]) -> str:
    """The server's console token, or "" when this user cannot read it."""
    if environ.get(TOKEN_ENV):
        return environ[TOKEN_ENV].strip()
    path = Path(environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR).expanduser() / "console.token"
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def credential(environ: Mapping[str, str], base_url: str) -> str:
    """The bearer token to send to `base_url` (normalised), or "" for none (the server then
    answers 401 and says so). Raises CredentialError where nothing may be sent."""
    if is_loopback_url(base_url):
        token = console_token(environ)
        if token:
            return token
        saved = saved_login(environ, base_url)
        return saved.token if saved else ""
    if is_plain_remote(base_url):
        raise CredentialError(
            f"{base_url} is plain http:// on another machine: a token would cross the network "
            "unencrypted. Use the server's https:// address (Caddy in front, docs/deploy.md)"
        )
    saved = saved_login(environ, base_url)
    if saved is not None:
        return saved.token
    raise CredentialError(
        f"{base_url} is not on this machine, and the console token is only ever sent to a "
        f"server on this machine: sign this terminal in first with  tether login {base_url}"
    )
