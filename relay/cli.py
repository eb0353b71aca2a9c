"""`tether relay`: parse flags, load settings, run the relay until SIGTERM/SIGINT.
`tether relay enroll URL`: get this relay a token from the server (relay/enrol.py).

The only module of the relay that reads the process environment. Exit status: 0 after a
signal, 2 for bad configuration or when the server refuses the relay, 1 for anything else.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import sys
from collections.abc import Mapping
from pathlib import Path

from protocol.redaction import configure_logging
from relay import enrol, self_protection
from relay.app import EXIT_STOPPED, run_relay
from relay.errors import ConfigError, RelayError, StateDirBusyError
from relay.settings import ENV_PREFIX, Settings, config_path, load, token_file_path
from tether.private_files import keep_private

EXIT_CONFIG = 2
TOKEN_FLAG_WARNING = (
    "tether relay: warning: --token puts the relay's token where every user of this machine "
    "can read it (ps, /proc/PID/cmdline); use --token-file or TETHER_RELAY_TOKEN instead"
)
TOKEN_VARIABLE = ENV_PREFIX + "TOKEN"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tether relay",
        description="Run a relay on this host: it dials the Tether server and runs agents "
        "in the allowed workspaces. Every option can also be set as TETHER_RELAY_<NAME> or "
        "in the config file (docs/config.md).",
    )
    parser.add_argument("--server", help="server base URL, http(s)://host[:port]")
    parser.add_argument(
        "--token",
        help="relay token; avoid: every user sees flags in ps (use --token-file, the file "
        "`tether relay enroll` writes, or TETHER_RELAY_TOKEN)",
    )
    parser.add_argument(
        "--insecure",
        action="store_true",
        default=None,
        help="allow a plain http:// server on another machine (the token crosses in clear text)",
    )
    parser.add_argument(
        "--token-file", dest="token_file", help="file holding the token (tether relay enroll)"
    )
    parser.add_argument("--state-dir", dest="state_dir", help="outbox and lock directory")
    parser.add_argument("--config", dest="config_file", help="TOML config file")
    parser.add_argument(
        "--workspace",
        dest="workspaces",
        action="append",
        metavar="[NAME=]PATH",
        help="directory agents may run in (repeatable; the name defaults to its basename)",
    )
    parser.add_argument("--shell", help="command for PTY sessions that name none")
    parser.add_argument("--name", help="name shown for this relay (default: hostname)")
    parser.add_argument("--log-level", dest="log_level", help="DEBUG, INFO, WARNING or ERROR")
    return parser


def build_enrol_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tether relay enroll",
        description="Ask a Tether server to accept this relay: prints a code for an admin to "
        "approve, waits, then saves the relay's token (mode 0600) and the server URL so that "
        "plain `tether relay` connects.",
    )
    parser.add_argument("server", help="the server's URL, https://host[:port]")
    parser.add_argument("--name", help="name for this relay (default: hostname)")
    parser.add_argument("--config", dest="config_file", help="config file to write the URL to")
    parser.add_argument("--token-file", dest="token_file", help="where to save the token")
    parser.add_argument(
        "--insecure",
        action="store_true",
        help="allow a plain http:// server on another machine (the token crosses in clear text)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=enrol.DEFAULT_TIMEOUT_S,
        help="seconds to wait for an approval (default 900)",
    )
    return parser


def enrol_main(argv: list[str]) -> int:
    try:
        args = build_enrol_parser().parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_CONFIG
    env = os.environ
    flags = vars(args)
    name = args.name or env.get(ENV_PREFIX + "NAME") or socket.gethostname()
    try:
        config_file, _ = config_path(flags, env)
        return enrol.enrol(
            args.server,
            name,
            config_path=config_file,
            token_path=token_file_path(flags, env),
            timeout_s=args.timeout,
            insecure=args.insecure,
        )
    except enrol.EnrolError as exc:
        print(f"tether relay enroll: {exc}", file=sys.stderr)
        return enrol.EXIT_REFUSED
    except ConfigError as exc:
        print(f"tether relay enroll: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        print("\ntether relay enroll: stopped; the code will expire unused", file=sys.stderr)
        return 130


def main(argv: list[str]) -> int:
    if argv[:1] == ["enroll"]:
        return enrol_main(argv[1:])
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2), already printed by argparse
        return exc.code if isinstance(exc.code, int) else EXIT_CONFIG
    env = _guarded_environment()
    if args.token is not None:
        print(TOKEN_FLAG_WARNING, file=sys.stderr)
    try:
        settings = load(vars(args), env)
    except ConfigError as exc:
        print(f"tether relay: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    configure_logging(settings.log_level)
    try:
        keep_private(Path(settings.state_dir))  # before anything in it is opened
    except OSError as exc:
        print(f"tether relay: state dir {settings.state_dir}: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    try:
        return asyncio.run(_serve(settings, _child_env(env)))
    except StateDirBusyError as exc:
        print(f"tether relay: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except RelayError as exc:
        print(f"tether relay: {exc}", file=sys.stderr)
        return 1


def _guarded_environment() -> dict[str, str]:
    """Our environment, after making this process non-dumpable and taking the token out of the
    real one (relay/self_protection.py): only this mapping holds it from here on."""
    self_protection.make_undumpable()
    env = dict(os.environ)
    token = self_protection.take_from_environment(os.environ, TOKEN_VARIABLE)
    if token is not None:
        env[TOKEN_VARIABLE] = token
    return env


def _child_env(env: Mapping[str, str]) -> dict[str, str]:
    """The environment agents start from: ours, minus the relay's own settings (the token)."""
    return {k: v for k, v in env.items() if not k.startswith(ENV_PREFIX)}


async def _serve(settings: Settings, child_env: Mapping[str, str]) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        status = await run_relay(settings, child_env, stop)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
    if status == EXIT_STOPPED:
        print("tether relay: the server stopped this relay (see the log above)", file=sys.stderr)
    return status
