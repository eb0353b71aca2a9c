"""Settings: flag > environment > file > default, clear errors, every setting documented."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from relay import cli
from relay.errors import ConfigError
from relay.settings import Settings, describe, load

ROOT = Path(__file__).resolve().parents[2]
NO_FLAGS: dict[str, Any] = {}


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


def _env(home: Path, **extra: str) -> dict[str, str]:
    return {"HOME": str(home), **extra}


def _write_config(home: Path, text: str) -> Path:
    path = home / ".config" / "tether" / "relay.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _minimal(home: Path, **extra: str) -> dict[str, str]:
    return _env(home, TETHER_RELAY_SERVER="https://hub:8000", TETHER_RELAY_TOKEN="t", **extra)


def test_flag_beats_environment_beats_file_beats_default(home: Path, tmp_path: Path) -> None:
    _write_config(
        home,
        'server = "https://file:1"\ntoken = "file-token"\nshell = "file-sh"\nbatch_max_events = 7\n'
        'name = "file-name"\n',
    )
    env = _env(
        home,
        TETHER_RELAY_SERVER="https://env:2",
        TETHER_RELAY_TOKEN="env-token",
        TETHER_RELAY_BATCH_MAX_EVENTS="9",
    )
    s = load({"server": "https://flag:3", "shell": None}, env)
    assert s.server == "https://flag:3"  # flag
    assert s.token == "env-token"  # environment over file
    assert s.batch_max_events == 9  # environment over file
    assert s.shell == "file-sh"  # file (the flag was not given)
    assert s.name == "file-name"
    assert s.backoff_max_s == 30.0  # default


def test_defaults_come_from_the_xdg_layout_and_the_login_shell(home: Path) -> None:
    s = load(NO_FLAGS, _minimal(home, SHELL="/bin/zsh"))
    assert s.state_dir == str(home / ".local/state/tether/relay")
    assert s.config_file == str(home / ".config/tether/relay.toml")
    assert s.shell == "/bin/zsh"
    assert s.name  # the hostname
    assert s.workspaces == ()
    s = load(NO_FLAGS, _minimal(home, XDG_STATE_HOME="/var/st", XDG_CONFIG_HOME=str(home / "cfg")))
    assert s.state_dir == "/var/st/tether/relay"
    assert s.config_file == str(home / "cfg/tether/relay.toml")
    assert load(NO_FLAGS, _minimal(home)).shell == "/bin/sh"


def test_workspaces_in_all_three_spellings(home: Path, tmp_path: Path) -> None:
    a, b = tmp_path / "alpha", tmp_path / "beta"
    a.mkdir()
    b.mkdir()
    from_flags = load({"workspaces": [f"one={a}", str(b)]}, _minimal(home))
    assert [(w.name, w.path) for w in from_flags.workspaces] == [("one", str(a)), ("beta", str(b))]
    from_env = load(NO_FLAGS, _minimal(home, TETHER_RELAY_WORKSPACES=f"x={a},y={b}"))
    assert [w.name for w in from_env.workspaces] == ["x", "y"]
    _write_config(home, f'[workspaces]\nfirst = "{a}"\nsecond = "../../../beta"\n')
    from_file = load(NO_FLAGS, _minimal(home))  # relative to the config file's directory
    assert [(w.name, w.path) for w in from_file.workspaces] == [
        ("first", str(a)),
        ("second", str(b)),
    ]


def test_the_token_stays_out_of_the_settings_repr(home: Path) -> None:
    assert "s3cret" not in repr(
        load(NO_FLAGS, _env(home, TETHER_RELAY_SERVER="https://h", TETHER_RELAY_TOKEN="s3cret"))
    )


def test_relay_url_follows_the_server_scheme_and_prefix() -> None:
    assert Settings(server="http://h:8000").relay_url == "ws://h:8000/ws/relay"
    assert Settings(server="https://h/tether/").relay_url == "wss://h/tether/ws/relay"


OK = {"TETHER_RELAY_SERVER": "https://h", "TETHER_RELAY_TOKEN": "t"}


@pytest.mark.parametrize(
    ("flags", "env", "message"),
    [
        ({}, {"TETHER_RELAY_TOKEN": "t"}, "no server given"),
        ({}, {"TETHER_RELAY_SERVER": "https://h"}, "no token given"),
        ({"server": "ftp://h"}, OK, "must start with http"),
        ({"workspaces": ["/does/not/exist"]}, OK, "is not an existing directory"),
        ({}, {**OK, "TETHER_RELAY_BATCH_MAX_EVENTS": "lots"}, "TETHER_RELAY_BATCH_MAX_EVENTS"),
        ({}, {**OK, "TETHER_RELAY_BACKOFF_MAX_S": "0.1"}, "backoff_max_s must be at least"),
        ({"log_level": "chatty"}, OK, "log_level"),
        ({"config_file": "/nope/relay.toml"}, OK, "does not exist"),
        (
            {},
            {**OK, "TETHER_RELAY_BATCH_MAX_BYTES": str(4 << 20)},
            "batch_max_bytes must be at most",
        ),
        ({}, {**OK, "TETHER_RELAY_SANDBOX": "maybe"}, "sandbox 'maybe' is not one of"),
        ({}, {**OK, "TETHER_RELAY_WORKSPACE_SANDBOX": "ghost=none"}, "unknown workspace"),
    ],
)
def test_bad_configuration_is_a_clear_error(
    home: Path, flags: dict[str, Any], env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load(flags, _env(home, **env))


@pytest.mark.parametrize(
    ("server", "insecure", "refused"),
    [
        ("http://build-box:8765", None, True),
        ("http://10.0.0.5:8765", None, True),
        ("http://build-box:8765", True, False),
        ("http://127.0.0.1:8765", None, False),
        ("http://[::1]:8765", None, False),
        ("http://localhost:8765", None, False),
        ("https://build-box", None, False),
    ],
)
def test_plain_http_to_another_machine_needs_insecure(
    home: Path, server: str, insecure: bool | None, refused: bool
) -> None:
    env = _env(home, TETHER_RELAY_SERVER=server, TETHER_RELAY_TOKEN="t")
    if refused:
        with pytest.raises(ConfigError, match="--insecure"):
            load({"insecure": insecure}, env)
    else:
        assert load({"insecure": insecure}, env).server == server


def test_insecure_comes_from_the_environment_or_the_file_too(home: Path) -> None:
    env = _env(home, TETHER_RELAY_SERVER="http://box:1", TETHER_RELAY_TOKEN="t")
    assert load(NO_FLAGS, {**env, "TETHER_RELAY_INSECURE": "1"}).insecure is True
    _write_config(home, "insecure = true\n")
    assert load(NO_FLAGS, env).insecure is True
    _write_config(home, "insecure = false\n")
    with pytest.raises(ConfigError, match="plain http"):
        load(NO_FLAGS, env)


def test_sandbox_settings_per_relay_workspace_and_agent(home: Path, tmp_path: Path) -> None:
    _write_config(
        home,
        f'[workspaces]\napi = "{tmp_path}"\n[workspace_sandbox]\napi = "none"\n'
        '[agents.codex]\nsandbox = "bwrap"\n',
    )
    env = _minimal(
        home, TETHER_RELAY_SANDBOX_READ_ONLY="/opt/go,~/tools", TETHER_RELAY_SANDBOX_HIDE=""
    )
    s = load(NO_FLAGS, env)
    assert (s.sandbox, dict(s.workspace_sandbox)) == ("auto", {"api": "none"})
    assert s.agents["codex"].sandbox == "bwrap"
    assert s.sandbox_read_only == ("/opt/go", str(home / "tools"))
    assert s.sandbox_hide == ()


def test_a_broken_or_misspelt_config_file_is_an_error(home: Path) -> None:
    _write_config(home, "server = [unclosed\n")
    with pytest.raises(ConfigError, match="cannot read config file"):
        load(NO_FLAGS, _minimal(home))
    _write_config(home, 'servr = "https://h"\n')
    with pytest.raises(ConfigError, match="unknown setting"):
        load(NO_FLAGS, _minimal(home))


def test_the_same_workspace_name_twice_is_an_error(home: Path, tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    with pytest.raises(ConfigError, match="given twice"):
        load({"workspaces": [f"w={tmp_path / 'a'}", f"w={tmp_path}"]}, _minimal(home))


def test_cli_reports_bad_configuration_in_one_line_and_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], home: Path
) -> None:
    for name in ("TETHER_RELAY_TOKEN", "TETHER_RELAY_SERVER", "TETHER_RELAY_CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    assert cli.main(["--server", "https://h:1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "no token given" in err
    assert cli.main(["--bogus"]) == 2
    assert cli.main(["--help"]) == 0
    assert "--workspace" in capsys.readouterr().out


def test_the_child_environment_never_carries_the_relay_settings() -> None:
    env = cli._child_env({"PATH": "/bin", "TETHER_RELAY_TOKEN": "secret", "TETHER_X": "1"})
    assert env == {"PATH": "/bin", "TETHER_X": "1"}


def test_every_setting_is_documented() -> None:
    text = (ROOT / "docs" / "config.md").read_text().split("## Relay", 1)[1]
    rows = {m.group(1) for m in re.finditer(r"^\|\s*`([a-z_]+)`", text, re.MULTILINE)}
    for setting in describe():
        assert setting.name in rows, f"docs/config.md (relay section) has no row for {setting.name}"
        assert setting.env in text, f"docs/config.md (relay section) does not name {setting.env}"
        if setting.flag:
            assert setting.flag in text
    assert rows == {s.name for s in describe()}, (
        "docs/config.md (relay section) lists unknown settings"
    )
