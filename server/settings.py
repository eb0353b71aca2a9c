"""The server's settings: one frozen, typed object per process.

Precedence: command-line flag > environment (TETHER_<NAME>) > config file (TOML) > default.
Only server/cli.py reads the environment and the command line; it passes them to `load()`.
docs/config.md lists every field here; tests/test_docs.py fails when one is missing.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ENV_PREFIX = "TETHER_"
_LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")


class SettingsError(ValueError):
    """A setting has a value that cannot be used."""


def _field(default: Any, doc: str) -> Any:
    return dataclasses.field(default=default, metadata={"doc": doc})


@dataclasses.dataclass(frozen=True, kw_only=True)
class Settings:
    data_dir: Path = _field(Path("~/.local/share/tether"), "Directory for the database and state.")
    host: str = _field(
        "127.0.0.1", "Address to listen on; for other machines put TLS in front, set public_origin."
    )
    port: int = _field(8765, "TCP port to listen on.")
    public_origin: str = _field(
        "", "Origin browsers use to reach Tether (https://host); empty means http://host:port."
    )
    local_relay: bool = _field(True, "Start a relay for this machine next to the server.")
    local_workspaces: tuple[str, ...] = _field(
        (), "Workspaces of the local relay, NAME=PATH or PATH; empty means the current directory."
    )
    log_level: str = _field("info", "Log level: debug, info, warning, error.")
    ring_events: int = _field(2048, "Recent events kept in memory per session for fast resume.")
    ring_bytes: int = _field(4 << 20, "Upper bound in bytes of one session's in-memory ring.")
    ring_sessions: int = _field(256, "Sessions whose rings are kept in memory (least recent go).")
    viewer_queue_frames: int = _field(
        1024, "Frames queued for one viewer before it is closed as too slow and must resume."
    )
    send_timeout_s: float = _field(20.0, "A WebSocket send that takes longer closes the socket.")
    hello_timeout_s: float = _field(10.0, "Time a new socket has to send its hello.")
    command_timeout_s: float = _field(10.0, "Time a relay has to answer a command.")
    replay_frame_events: int = _field(1000, "Events per frame when replaying history.")
    session_idle_timeout_s: float = _field(
        3 * 86400.0, "A browser session unused for this long must sign in again."
    )
    session_absolute_timeout_s: float = _field(
        14 * 86400.0, "A browser session ends this long after its passkey login, used or not."
    )
    trusted_proxies: tuple[str, ...] = _field(
        (), "Proxies (addresses or CIDR networks) whose X-Forwarded-For names the client."
    )
    auth_attempts_per_minute: int = _field(
        20, "Sign-in and passkey registration attempts allowed per client address per minute."
    )
    pwa_dist: str = _field(
        "", "Directory of the built web app; empty means pwa/dist of this installation."
    )
    enrolment_ttl_s: float = _field(
        600.0, "Time an admin has to approve a relay's enrolment code before it expires."
    )
    audit_key_file: str = _field(
        "", "File holding the audit chain's key; empty means audit.key in the data directory."
    )
    voice: bool = _field(True, "Transcribe voice prompts (POST /api/voice/transcriptions).")
    voice_model: str = _field(
        "", "faster-whisper model name or directory; empty means the bundled offline tiny.en."
    )
    voice_compute_type: str = _field("int8", "CTranslate2 compute type: int8, int8_float32, ...")
    voice_threads: int = _field(0, "CPU threads per transcription; 0 means one per CPU core.")
    voice_beam_size: int = _field(5, "Beam size of the decoder; 1 is greedy (fastest).")
    voice_max_clip_s: float = _field(120.0, "Longest voice clip accepted, in seconds.")
    voice_max_clip_bytes: int = _field(5 << 20, "Largest voice upload accepted, in bytes.")
    voice_queue: int = _field(4, "Clips waiting for a transcriber before 503 is answered.")
    voice_concurrency: int = _field(1, "Clips transcribed at the same time.")
    voice_preload: bool = _field(False, "Load the voice model at start rather than at first use.")

    @property
    def origin(self) -> str:
        """The public origin. On loopback it is http://localhost:PORT: browsers accept passkeys
        for localhost (a secure context) but never for an IP address."""
        if self.public_origin:
            return self.public_origin.rstrip("/")
        host = "localhost" if self.host in _LOOPBACK_HOSTS else self.host
        return f"http://{host}:{self.port}"

    @property
    def database_path(self) -> Path:
        return self.data_dir / "tether.sqlite3"

    @property
    def audit_head_path(self) -> Path:
        return self.data_dir / "audit.head"

    @property
    def audit_key_path(self) -> Path:
        return (
            Path(self.audit_key_file).expanduser()
            if self.audit_key_file
            else (self.data_dir / "audit.key")
        )


FIELDS = {f.name: f for f in dataclasses.fields(Settings)}


def env_name(name: str) -> str:
    return ENV_PREFIX + name.upper()


def describe() -> list[tuple[str, str, str, str]]:
    """(name, environment variable, default, doc) for every setting, for docs and --help."""
    rows = []
    for f in dataclasses.fields(Settings):
        default = f.default
        shown = ",".join(default) if isinstance(default, tuple) else str(default)
        rows.append((f.name, env_name(f.name), shown, f.metadata["doc"]))
    return rows


def _coerce(name: str, value: Any) -> Any:
    kind = FIELDS[name].type
    try:
        if kind == "bool":
            if isinstance(value, bool):
                return value
            lowered = str(value).strip().lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError(value)
        if kind == "int":
            return int(value)
        if kind == "float":
            return float(value)
        if kind == "Path":
            return Path(str(value)).expanduser()
        if kind == "tuple[str, ...]":
            items = value.split(",") if isinstance(value, str) else list(value)
            return tuple(str(i).strip() for i in items if str(i).strip())
        return str(value)
    except (TypeError, ValueError) as exc:
        raise SettingsError(f"setting {name}: cannot use {value!r} ({kind} expected)") from exc


def load(
    *,
    flags: Mapping[str, Any],
    environ: Mapping[str, str],
    config_file: Path | None = None,
) -> Settings:
    """Merge the sources in precedence order; `flags` holds only options given on the CLI."""
    values: dict[str, Any] = {}
    if config_file is not None:
        try:
            document = tomllib.loads(config_file.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise SettingsError(f"config file {config_file}: {exc}") from exc
        unknown = set(document) - set(FIELDS)
        if unknown:
            raise SettingsError(f"config file {config_file}: unknown settings {sorted(unknown)}")
        values.update(document)
    for name in FIELDS:
        if env_name(name) in environ:
            values[name] = environ[env_name(name)]
    values.update({k: v for k, v in flags.items() if v is not None})
    coerced = {name: _coerce(name, value) for name, value in values.items()}
    coerced.setdefault("data_dir", FIELDS["data_dir"].default)
    coerced["data_dir"] = Path(coerced["data_dir"]).expanduser()
    settings = Settings(**coerced)
    _validate(settings)
    return settings


def _validate(settings: Settings) -> None:
    if not 0 < settings.port < 65536:
        raise SettingsError(f"port must be 1-65535, not {settings.port}")
    for name in (
        "ring_events",
        "ring_sessions",
        "viewer_queue_frames",
        "replay_frame_events",
        "auth_attempts_per_minute",
        "voice_beam_size",
        "voice_max_clip_bytes",
        "voice_concurrency",
    ):
        if getattr(settings, name) < 1:
            raise SettingsError(f"{name} must be at least 1")
    if settings.voice_queue < 0 or settings.voice_threads < 0:
        raise SettingsError("voice_queue and voice_threads must be at least 0")
    if settings.voice_max_clip_s <= 0:
        raise SettingsError("voice_max_clip_s must be more than 0")
    if settings.enrolment_ttl_s <= 0:
        raise SettingsError("enrolment_ttl_s must be more than 0")
    if settings.log_level.lower() not in ("debug", "info", "warning", "error"):
        raise SettingsError(
            f"log_level must be debug, info, warning or error: {settings.log_level}"
        )
    if settings.public_origin and not settings.public_origin.startswith(("https://", "http://")):
        raise SettingsError(
            f"public_origin must be http(s)://host[:port]: {settings.public_origin}"
        )
    if settings.session_idle_timeout_s <= 0 or settings.session_absolute_timeout_s <= 0:
        raise SettingsError("session timeouts must be positive")
    _validate_proxies(settings.trusted_proxies)


def _validate_proxies(entries: tuple[str, ...]) -> None:
    for entry in entries:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError as exc:
            raise SettingsError(
                f"trusted_proxies: {entry!r} is not an IP address or network (CIDR)"
            ) from exc
