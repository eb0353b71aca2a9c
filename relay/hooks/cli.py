"""`tether hook`: the bridge between a Claude Code started by hand and the local relay.

    tether hook EVENT [--state-dir DIR]          what Claude Code runs for each hook
    tether hook install [--settings PATH | --project] [--state-dir DIR]
    tether hook uninstall [--settings PATH | --project]

Run by Claude Code, it reads the hook's JSON from stdin, hands it to the relay over the Unix
socket `<state dir>/hooks.sock` and prints the relay's answer as Claude Code's hook output. For
PreToolUse and PermissionRequest that answer is a decision made in Tether, so it waits as long
as it takes. Whatever goes wrong (no relay, a cwd outside every workspace, a bad reply), it
prints nothing and exits 0, so Claude Code falls back to its own permission prompt; the reason
goes to stderr. Standard library only: Claude Code starts this once per hook.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import shutil
import socket
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

SOCKET_NAME = "hooks.sock"
MAX_INPUT_BYTES = 8 << 20  # one hook input; a Write of a big file carries its whole content
MAX_REPLY_BYTES = 1 << 20  # the relay's answer
CONNECT_TIMEOUT_S = 2.0  # a relay that does not accept within this is as good as absent
REPLY_TIMEOUT_S = 10.0  # for events that only report; decisions wait without a limit
DECISION_HOOK_TIMEOUT_S = 7 * 86400  # Claude Code's limit for a decision hook (default 60 s);
# a week stays under Node's 2**31 ms timer limit, above which a timer fires at once
REPORT_HOOK_TIMEOUT_S = 15  # Claude Code's limit for a reporting hook
SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ash", "ksh"})  # Claude runs hooks via /bin/sh -c

DECISION_EVENTS = ("PreToolUse", "PermissionRequest")
TOOL_EVENTS = ("PreToolUse", "PermissionRequest", "PostToolUse", "PostToolUseFailure")
EVENTS = (
    "SessionStart",
    "UserPromptSubmit",
    "PreToolUse",
    "PermissionRequest",
    "PostToolUse",
    "PostToolUseFailure",
    "Notification",
    "Stop",
    "SessionEnd",
)
STATUS_MESSAGE = "Waiting for a decision in Tether"


def main(argv: list[str]) -> int:
    if argv and argv[0] in ("install", "uninstall"):
        return _main_install(argv[0], argv[1:])
    parser = argparse.ArgumentParser(
        prog="tether hook",
        description="Run by Claude Code for each hook (see `tether hook install`): forwards the "
        "hook to the local relay and prints its answer. Subcommands: install, uninstall.",
    )
    parser.add_argument("event", help="the Claude Code hook event, e.g. PreToolUse")
    parser.add_argument("--state-dir", help="the relay's state directory")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 2
    path = socket_path(args.state_dir, os.environ)
    return run_hook(args.event, path, sys.stdin.buffer.read(MAX_INPUT_BYTES + 1), sys.stdout)


# --------------------------------------------------------------------------- run by Claude Code


def socket_path(state_dir: str | None, env: Mapping[str, str]) -> Path:
    """The relay's hook socket: in --state-dir, else where `tether relay` keeps its state."""
    if state_dir:
        return Path(state_dir).expanduser() / SOCKET_NAME
    if env.get("TETHER_RELAY_STATE_DIR"):
        return Path(env["TETHER_RELAY_STATE_DIR"]).expanduser() / SOCKET_NAME
    home = Path(env.get("HOME") or Path("~").expanduser())
    state_home = Path(env.get("XDG_STATE_HOME") or home / ".local/state")
    return state_home / "tether/relay" / SOCKET_NAME


def run_hook(event: str, path: Path, data: bytes, out: TextIO) -> int:
    """Forward one hook to the relay and print its output; always exit 0 (never block Claude)."""
    if len(data) > MAX_INPUT_BYTES:
        return _give_up(f"hook input over {MAX_INPUT_BYTES} bytes")
    try:
        hook_input = json.loads(data)
    except ValueError as exc:
        return _give_up(f"hook input is not JSON ({exc})")
    if not isinstance(hook_input, dict):
        return _give_up("hook input is not a JSON object")
    event = str(hook_input.get("hook_event_name") or event)
    request = {"event": event, "pid": claude_pid(), "input": hook_input}
    try:
        reply = _ask_relay(path, request, wait=event in DECISION_EVENTS)
    except OSError as exc:
        return _give_up(f"no Tether relay answering at {path} ({exc})")
    except ValueError as exc:
        return _give_up(f"the relay's answer is unreadable ({exc})")
    message = reply.get("message")
    if message:
        print(f"tether hook: {message}", file=sys.stderr)
    output = reply.get("output")
    if isinstance(output, dict):
        out.write(json.dumps(output) + "\n")
        out.flush()
    return 0


def _ask_relay(path: Path, request: dict[str, Any], *, wait: bool) -> dict[str, Any]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(CONNECT_TIMEOUT_S)
        sock.connect(str(path))
        sock.settimeout(None if wait else REPLY_TIMEOUT_S)
        sock.sendall(json.dumps(request).encode() + b"\n")
        # Keep our side open: the relay takes our hanging up as "the hook was cancelled".
        with sock.makefile("rb") as stream:
            line = stream.readline(MAX_REPLY_BYTES + 1)
    if not line.endswith(b"\n"):
        raise ValueError("no complete reply line")
    reply = json.loads(line)
    if not isinstance(reply, dict):
        raise ValueError("the reply is not an object")
    return reply


def _give_up(reason: str) -> int:
    print(f"tether hook: {reason}; Claude Code decides on its own", file=sys.stderr)
    return 0


def claude_pid() -> int:
    """Claude Code's pid: our parent, or the first ancestor that is not the shell it ran us in."""
    pid = os.getppid()
    for _ in range(4):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return pid  # no procfs (macOS): the parent is the best guess
        name = stat[stat.find("(") + 1 : stat.rfind(")")]
        if name not in SHELLS:
            return pid
        parent = int(stat[stat.rfind(")") + 1 :].split()[1])  # after "(comm)": state, ppid
        if parent <= 1:
            return pid
        pid = parent
    return pid


# --------------------------------------------------------------------------- install


def _main_install(action: str, argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog=f"tether hook {action}",
        description=f"{action.capitalize()} Tether's hooks in a Claude Code settings file "
        "(other settings and hooks are kept as they are).",
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--settings", help="settings file (default ~/.claude/settings.json)")
    where.add_argument(
        "--project", action="store_true", help="use .claude/settings.json in this directory"
    )
    if action == "install":
        parser.add_argument(
            "--state-dir", help="the relay's state directory (default: the relay's)"
        )
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 2
    if args.settings:
        path = Path(args.settings).expanduser()
    elif args.project:
        path = Path.cwd() / ".claude/settings.json"
    else:
        path = Path("~/.claude/settings.json").expanduser()
    try:
        settings = read_settings(path)
        if action == "install":
            state_dir = str(Path(args.state_dir).expanduser().resolve()) if args.state_dir else ""
            changed = install(settings, tether_command(), state_dir)
        else:
            changed = uninstall(settings)
        if changed:
            write_settings(path, settings)
    except (OSError, ValueError) as exc:
        print(f"tether hook {action}: {path}: {exc}", file=sys.stderr)
        return 1
    done = "installed in" if action == "install" else "removed from"
    print(f"Tether's Claude Code hooks {done} {path}" + ("" if changed else " (no change)"))
    return 0


def tether_command() -> list[str]:
    """An argv prefix that runs this `tether` later, from any directory."""
    me = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if me is not None and me.name == "tether" and me.is_file():
        return [str(me.resolve())]
    found = shutil.which("tether")
    if found:
        return [str(Path(found).resolve())]
    return [sys.executable, "-m", "tether"]


def is_tether_hook(hook: object) -> bool:
    """Whether a hook entry is one of ours: `<tether> hook <Event> ...`."""
    if not isinstance(hook, dict) or not isinstance(hook.get("command"), str):
        return False
    try:
        words = shlex.split(hook["command"])
    except ValueError:
        return False
    for i, word in enumerate(words[:-2]):
        if words[i + 1] == "hook" and words[i + 2] in EVENTS:
            return Path(word).name == "tether" or word == "console.main"
    return False


def install(settings: dict[str, Any], command: list[str], state_dir: str) -> bool:
    """Add our hooks (replacing earlier ones of ours); True if the settings changed."""
    before = json.dumps(settings, sort_keys=True)
    uninstall(settings)
    hooks = settings.setdefault("hooks", {})
    if not isinstance(hooks, dict):
        raise ValueError('"hooks" is not an object')
    for event in EVENTS:
        argv = [*command, "hook", event] + (["--state-dir", state_dir] if state_dir else [])
        hook: dict[str, Any] = {"type": "command", "command": shlex.join(argv)}
        if event in DECISION_EVENTS:
            hook["timeout"] = DECISION_HOOK_TIMEOUT_S
            hook["statusMessage"] = STATUS_MESSAGE
        else:
            hook["timeout"] = REPORT_HOOK_TIMEOUT_S
        group: dict[str, Any] = {"matcher": "*"} if event in TOOL_EVENTS else {}
        group["hooks"] = [hook]
        groups = hooks.setdefault(event, [])
        if not isinstance(groups, list):
            raise ValueError(f'"hooks.{event}" is not a list')
        groups.append(group)
    return json.dumps(settings, sort_keys=True) != before


def uninstall(settings: dict[str, Any]) -> bool:
    """Remove our hooks only (and groups or events they leave empty); True if any were there."""
    hooks = settings.get("hooks")
    if not isinstance(hooks, dict):
        return False
    changed = False
    for event, groups in list(hooks.items()):
        if not isinstance(groups, list):
            continue
        kept_groups = []
        for group in groups:
            inner = group.get("hooks") if isinstance(group, dict) else None
            if not isinstance(inner, list):
                kept_groups.append(group)
                continue
            kept = [h for h in inner if not is_tether_hook(h)]
            if len(kept) != len(inner):
                changed = True
                if not kept:
                    continue
                group = {**group, "hooks": kept}
            kept_groups.append(group)
        if kept_groups:
            hooks[event] = kept_groups
        else:
            del hooks[event]
    if changed and not hooks:
        del settings["hooks"]
    return changed


def read_settings(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    if not text.strip():
        return {}
    settings = json.loads(text)
    if not isinstance(settings, dict):
        raise ValueError("the settings file is not a JSON object")
    return settings


def write_settings(path: Path, settings: dict[str, Any]) -> None:
    """Replace the file atomically, keeping its permissions (0600 for a new one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = path.stat().st_mode & 0o777
    except FileNotFoundError:
        mode = 0o600
    fd, tmp = tempfile.mkstemp(prefix=".settings-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(settings, f, indent=2)
            f.write("\n")
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
