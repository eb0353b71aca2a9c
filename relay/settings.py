"""The relay's settings: one frozen `Settings`, loaded once by relay/cli.py.

Precedence, per field: CLI flag > environment `TETHER_RELAY_<FIELD>` > config file (TOML,
keys = field names, workspaces as a `[workspaces]` table of name = path) > default.
Only relay/cli.py reads the process environment; it passes the mapping in here.
`describe()` lists every setting for docs and for the test that keeps docs/config.md whole.
"""

from __future__ import annotations

import dataclasses
import socket
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from protocol.loopback import is_plain_remote
from protocol.messages import MAX_FRAME_BYTES
from relay.agent.config import DEFAULT_ENV_ALLOW, AgentConfig
from relay.agent.sandbox import SANDBOX_MODES
from relay.errors import ConfigError
from relay.workspaces import Workspace, parse_workspace_list, resolve_workspaces

ENV_PREFIX = "TETHER_RELAY_"
FRAME_OVERHEAD_BYTES = 1024  # room for the `events` envelope around a batch of events
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _setting(
    default: Any,
    doc: str,
    *,
    flag: str = "",
    shown: str = "",
    secret: bool = False,
    file_only: bool = False,
) -> Any:
    """A Settings field with its one-line doc, its CLI flag and how its default reads in docs."""
    meta = {"doc": doc, "flag": flag, "shown": shown or repr(default), "file_only": file_only}
    if isinstance(default, dict):
        return dataclasses.field(default_factory=dict, metadata=meta, repr=not secret)
    return dataclasses.field(default=default, metadata=meta, repr=not secret)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Settings:
    server: str = _setting(
        "",
        "Base URL of the Tether server, http(s)://host[:port].",
        flag="--server",
        shown="required",
    )
    token: str = _setting(
        "",
        "This relay's token, issued by the server. Never logged.",
        flag="--token",
        shown="required",
        secret=True,
    )
    insecure: bool = _setting(
        False,
        "Allow a plain http:// server that is not on this machine (the token would cross the "
        "network in clear text). Off: such a server is refused.",
        flag="--insecure",
        shown="false",
    )
    token_file: str = _setting(
        "",
        "File holding this relay's token (mode 0600), written by `tether relay enroll`; read "
        "when no token is given otherwise.",
        flag="--token-file",
        shown="$XDG_CONFIG_HOME/tether/relay.token or ~/.config/tether/relay.token",
    )
    workspaces: tuple[Workspace, ...] = _setting(
        (), "Directories agents may run in, as name = path.", flag="--workspace", shown="none"
    )
    state_dir: str = _setting(
        "",
        "Directory for the outbox database and the lock file.",
        flag="--state-dir",
        shown="$XDG_STATE_HOME/tether/relay or ~/.local/state/tether/relay",
    )
    config_file: str = _setting(
        "",
        "TOML file with settings; a missing default file is fine.",
        flag="--config",
        shown="$XDG_CONFIG_HOME/tether/relay.toml or ~/.config/tether/relay.toml",
    )
    shell: str = _setting(
        "",
        "Command for PTY sessions that name no command.",
        flag="--shell",
        shown="$SHELL or /bin/sh",
    )
    name: str = _setting(
        "", "Name this relay reports to the server.", flag="--name", shown="hostname"
    )
    log_level: str = _setting(
        "INFO", "DEBUG, INFO, WARNING or ERROR.", flag="--log-level", shown="INFO"
    )
    max_sessions: int = _setting(
        32, "Live sessions at most; further starts fail with spawn_failed."
    )
    backoff_initial_s: float = _setting(0.5, "First reconnect delay cap, seconds (full jitter).")
    backoff_max_s: float = _setting(30.0, "Largest reconnect delay, seconds.")
    batch_max_events: int = _setting(500, "Events in one `events` frame at most.")
    batch_max_bytes: int = _setting(
        256 << 10, "Encoded events in one frame at most, bytes.", shown="262144 (256 KiB)"
    )
    inflight_max_events: int = _setting(5000, "Events sent but not acked before sending pauses.")
    outbox_max_bytes: int = _setting(
        512 << 20,
        "Unacked event bytes on disk before PTY output is paused (backpressure).",
        shown="536870912 (512 MiB)",
    )
    keep_acked_bytes: int = _setting(
        64 << 20,
        "Acked event bytes kept in the outbox, so a server restored from a backup gets them again.",
        shown="67108864 (64 MiB)",
    )
    keep_acked_s: float = _setting(86400.0, "Seconds acked events are kept in the outbox at most.")
    connect_timeout_s: float = _setting(10.0, "Time limit for TCP, TLS and WebSocket handshake, s.")
    hello_timeout_s: float = _setting(
        10.0, "Time limit for the server's hello after connecting, s."
    )
    stop_grace_s: float = _setting(5.0, "Wait after SIGTERM before SIGKILL when stopping, seconds.")
    env_allow: tuple[str, ...] = _setting(
        DEFAULT_ENV_ALLOW,
        "Environment variables every agent gets from the relay's environment; nothing else "
        "passes (comma-separated in the environment variable).",
        shown=", ".join(DEFAULT_ENV_ALLOW),
    )
    sandbox: str = _setting(
        "auto",
        "How agents are confined: auto (bubblewrap where it works, else none, said at start and "
        "in the app), bwrap (required: sessions fail to start without it) or none.",
        shown="auto",
    )
    workspace_sandbox: Mapping[str, str] = _setting(
        {},
        "Per-workspace sandbox, name = auto, bwrap or none (name=mode,... in the environment); "
        "an agent's own `sandbox` key wins over it.",
        shown="none",
    )
    sandbox_read_only: tuple[str, ...] = _setting(
        (),
        "More directories sandboxed agents see read-only (toolchains outside /usr, e.g. /opt/go); "
        "comma-separated in the environment.",
        shown="none",
    )
    sandbox_hide: tuple[str, ...] = _setting(
        (),
        "Paths sandboxed agents never see even inside a visible directory (the state directory, "
        "token and config file always); comma-separated in the environment.",
        shown="none",
    )
    agents: Mapping[str, AgentConfig] = _setting(
        {},
        "`[agents.<name>]` tables (config file only): executable, args, model, env (more "
        "variable names to pass), environment and secrets (fixed values), enabled; any other "
        "name is an ACP agent. See docs/agents.md.",
        shown="agents found on PATH",
        file_only=True,
    )

    @property
    def relay_url(self) -> str:
        """The WebSocket URL the link dials: ws(s)://host:port[/prefix]/ws/relay."""
        scheme, rest = self.server.split("://", 1)
        ws_scheme = {"http": "ws", "https": "wss"}.get(scheme, scheme)
        return f"{ws_scheme}://{rest.rstrip('/')}/ws/relay"


@dataclasses.dataclass(frozen=True)
class SettingDoc:
    name: str
    flag: str
    env: str
    default: str
    doc: str


def describe() -> list[SettingDoc]:
    """Every setting with its flag, environment variable, default and meaning."""
    return [
        SettingDoc(
            f.name,
            f.metadata["flag"],
            "" if f.metadata["file_only"] else ENV_PREFIX + f.name.upper(),
            f.metadata["shown"],
            f.metadata["doc"],
        )
        for f in dataclasses.fields(Settings)
    ]


def config_path(flags: Mapping[str, Any], env: Mapping[str, str]) -> tuple[Path, bool]:
    """The config file's path, and whether it was named explicitly (then it must exist)."""
    home = _home(env)
    config_given = flags.get("config_file") or env.get(ENV_PREFIX + "CONFIG_FILE")
    config_dir = Path(env.get("XDG_CONFIG_HOME") or home / ".config")
    if config_given:
        return _expand(config_given, home), True
    return config_dir / "tether/relay.toml", False


def token_file_path(flags: Mapping[str, Any], env: Mapping[str, str]) -> Path:
    """Where the token file is: flag, environment, config file, or next to the default config."""
    home = _home(env)
    path, required = config_path(flags, env)
    given = flags.get("token_file") or env.get(ENV_PREFIX + "TOKEN_FILE")
    if not given:
        given = _read_config_file(path, required=required).get("token_file")
        if given:
            return path.parent / _expand(str(given), home)
    if given:
        return _expand(str(given), home)
    config_dir = Path(env.get("XDG_CONFIG_HOME") or home / ".config")
    return config_dir / "tether/relay.token"


def read_token_file(path: Path) -> str:
    """The token in `path`, which only its owner may read; "" when there is no such file."""
    try:
        mode = path.stat().st_mode
        if mode & 0o077:
            raise ConfigError(
                f"token file {path} can be read by other users (mode {mode & 0o777:o}): "
                f"run chmod 600 {path}"
            )
        with path.open() as f:
            return f.read(1024).strip()
    except FileNotFoundError:
        return ""
    except OSError as exc:
        raise ConfigError(f"cannot read token file {path}: {exc}") from exc


def _home(env: Mapping[str, str]) -> Path:
    return Path(env.get("HOME") or Path("~").expanduser())


def load(flags: Mapping[str, Any], env: Mapping[str, str]) -> Settings:
    """Build Settings from parsed CLI flags (None = not given), the environment and the file."""
    home = _home(env)
    path, required = config_path(flags, env)
    file_values = _read_config_file(path, required=required)
    values: dict[str, Any] = {"config_file": str(path)}
    for field in dataclasses.fields(Settings):
        if field.name == "config_file":
            continue
        env_name = ENV_PREFIX + field.name.upper()
        if flags.get(field.name) is not None:
            origin = field.metadata["flag"] or field.name
            values[field.name] = _coerce(field, flags[field.name], origin, Path.cwd(), home)
        elif env_name in env and not field.metadata["file_only"]:
            values[field.name] = _coerce(field, env[env_name], env_name, Path.cwd(), home)
        elif field.name in file_values:
            origin = f"{path}: {field.name}"
            values[field.name] = _coerce(field, file_values[field.name], origin, path.parent, home)
    state_home = Path(env.get("XDG_STATE_HOME") or home / ".local/state")
    values.setdefault("state_dir", str(state_home / "tether/relay"))
    values["state_dir"] = str(_expand(values["state_dir"], home))
    values.setdefault("shell", env.get("SHELL") or "/bin/sh")
    values.setdefault("name", socket.gethostname())
    values["token_file"] = str(token_file_path(flags, env))
    if "token" not in values:
        values["token"] = read_token_file(Path(values["token_file"]))
    settings = Settings(**values)
    _validate(settings)
    return settings


def _read_config_file(path: Path, *, required: bool) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        if required:
            raise ConfigError(f"config file {path} does not exist") from None
        return {}
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from exc
    known = {f.name for f in dataclasses.fields(Settings)} - {"config_file"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"config file {path}: unknown setting(s) {', '.join(unknown)}")
    return data


def _coerce(field: dataclasses.Field[Any], value: Any, origin: str, base: Path, home: Path) -> Any:
    """Turn a flag, environment or file value into the field's type, or raise ConfigError."""
    default = field.default
    try:
        if field.name in ("workspaces", "env_allow", "agents", "workspace_sandbox"):
            return _coerce_collection(field.name, value, base, home)
        if field.name in ("sandbox_read_only", "sandbox_hide"):
            return _paths(value, base, home)
        if isinstance(default, bool):
            return _switch(value)
        if isinstance(value, bool):
            raise ValueError("expected a number or text, not true/false")
        if isinstance(default, int):
            if isinstance(value, float):
                raise ValueError(f"expected a whole number, got {value}")
            return int(value)
        if isinstance(default, float):
            return float(value)
        if not isinstance(value, str):
            raise ValueError(f"expected text, got {type(value).__name__}")
        return value
    except ValueError as exc:
        raise ConfigError(f"{origin}: {exc}") from exc


def _coerce_collection(name: str, value: Any, base: Path, home: Path) -> Any:
    """The settings that are lists or tables. Raises ValueError."""
    if name == "workspaces":
        return resolve_workspaces(parse_workspace_list(value), base, home)
    if name == "env_allow":
        return tuple(_names(value.split(",") if isinstance(value, str) else value))
    if name == "workspace_sandbox":
        return dict(parse_workspace_list(value))
    if not isinstance(value, dict):
        raise ValueError("expected [agents.<name>] tables")
    return {agent: _agent(agent, table) for agent, table in value.items()}


AGENT_KEYS = {"executable", "args", "model", "env", "environment", "secrets", "enabled", "sandbox"}


def _agent(name: str, table: Any) -> AgentConfig:
    if not isinstance(table, dict):
        raise ValueError(f"agents.{name} must be a table")
    unknown = sorted(set(table) - AGENT_KEYS)
    if unknown:
        raise ValueError(f"agents.{name}: unknown key(s) {', '.join(unknown)}")
    try:
        return AgentConfig(
            name=name,
            executable=_text(table.get("executable", "")),
            args=tuple(_text(a) for a in _list(table.get("args", []))),
            model=_text(table.get("model", "")),
            env=tuple(_names(_list(table.get("env", [])))),
            environment=_text_table(table.get("environment", {})),
            secrets=_text_table(table.get("secrets", {})),
            enabled=_bool(table.get("enabled", True)),
            sandbox=_text(table.get("sandbox", "")),
        )
    except ValueError as exc:
        raise ValueError(f"agents.{name}: {exc}") from None


def _paths(value: Any, base: Path, home: Path) -> tuple[str, ...]:
    """Absolute paths from a list, or from comma-separated text. Raises ValueError."""
    items = [v for v in value.split(",") if v.strip()] if isinstance(value, str) else _list(value)
    return tuple(str(base / _expand(_text(item).strip(), home)) for item in items)


def _names(values: Any) -> list[str]:
    names = [_text(v).strip() for v in _list(values)]
    bad = [n for n in names if not n or "=" in n or any(c.isspace() for c in n)]
    if bad:
        raise ValueError(f"not environment variable names: {bad}")
    return names


def _list(value: Any) -> list[Any]:
    if not isinstance(value, list | tuple):
        raise ValueError(f"expected a list, got {type(value).__name__}")
    return list(value)


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected text, got {type(value).__name__}")
    return value


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {value!r}")
    return value


def _switch(value: Any) -> bool:
    """A boolean setting: true/false in the file, True from a flag, 1/0 or true/false in text."""
    if isinstance(value, bool):
        return value
    lowered = str(value).strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected true or false, got {value!r}")


def _text_table(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise ValueError(f'expected a table of NAME = "value", got {type(value).__name__}')
    names = _names(list(value))
    return {n: _text(value[n]) for n in names}


def _expand(path: str, home: Path) -> Path:
    if path == "~" or path.startswith("~/"):
        return home / path[2:]
    return Path(path)


def _validate(s: Settings) -> None:
    _validate_link(s)
    _validate_limits(s)
    _validate_sandbox(s)


def _validate_sandbox(s: Settings) -> None:
    """Sandbox modes are known ones, given for known workspaces."""
    names = {w.name for w in s.workspaces}
    chosen = {"sandbox": s.sandbox}
    chosen |= {f"workspace_sandbox.{n}": mode for n, mode in s.workspace_sandbox.items()}
    chosen |= {f"agents.{a.name}.sandbox": a.sandbox for a in s.agents.values() if a.sandbox}
    for where, mode in chosen.items():
        if mode not in SANDBOX_MODES:
            raise ConfigError(f"{where} {mode!r} is not one of {', '.join(SANDBOX_MODES)}")
    unknown = sorted(set(s.workspace_sandbox) - names)
    if unknown:
        raise ConfigError(f"workspace_sandbox names unknown workspace(s): {', '.join(unknown)}")


def _validate_link(s: Settings) -> None:
    """Where the relay dials, and with what."""
    if not s.server:
        raise ConfigError("no server given: use --server URL or TETHER_RELAY_SERVER")
    if s.server.split("://", 1)[0] not in ("http", "https", "ws", "wss") or "://" not in s.server:
        raise ConfigError(f"server {s.server!r} must start with http:// or https://")
    if is_plain_remote(s.server) and not s.insecure:
        raise ConfigError(
            f"server {s.server!r} is plain http:// on another machine: the relay's token would "
            "cross the network unencrypted. Use https:// (Caddy in front, docs/deploy.md), or "
            "allow it with --insecure (TETHER_RELAY_INSECURE=1)"
        )
    if not s.token:
        raise ConfigError(
            f"no token given and no token file {s.token_file}: enrol this relay with "
            "`tether relay enroll https://your-server`, or use TETHER_RELAY_TOKEN"
        )
    if any(c.isspace() for c in s.token):
        raise ConfigError("token must not contain whitespace")
    if s.log_level.upper() not in LOG_LEVELS:
        raise ConfigError(f"log_level {s.log_level!r} is not one of {', '.join(LOG_LEVELS)}")


def _validate_limits(s: Settings) -> None:
    """Sizes, counts and times that must make sense together."""
    for name in ("max_sessions", "batch_max_events", "batch_max_bytes", "inflight_max_events"):
        if getattr(s, name) < 1:
            raise ConfigError(f"{name} must be at least 1")
    for name in ("backoff_initial_s", "connect_timeout_s", "hello_timeout_s", "stop_grace_s"):
        if getattr(s, name) <= 0:
            raise ConfigError(f"{name} must be more than 0")
    if s.backoff_max_s < s.backoff_initial_s:
        raise ConfigError("backoff_max_s must be at least backoff_initial_s")
    if s.batch_max_bytes > MAX_FRAME_BYTES - FRAME_OVERHEAD_BYTES:
        raise ConfigError(
            f"batch_max_bytes must be at most {MAX_FRAME_BYTES - FRAME_OVERHEAD_BYTES}"
        )
    if s.outbox_max_bytes < s.batch_max_bytes:
        raise ConfigError("outbox_max_bytes must be at least batch_max_bytes")
    if s.keep_acked_bytes < 0 or s.keep_acked_s < 0:
        raise ConfigError("keep_acked_bytes and keep_acked_s must be 0 or more")
