"""`tether serve` and `tether admin`: the only place the server reads the environment."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
from pathlib import Path
from typing import Any

import uvicorn

from protocol.messages import MAX_FRAME_BYTES
from protocol.redaction import configure_logging
from server import audit_cli, local_relay
from server.app import create_app, open_core, relays_of
from server.domain import actors
from server.domain.core import Core
from server.domain.errors import TetherError
from server.domain.relays import REVOCATION_CHECK_INTERVAL_S
from server.settings import Settings, SettingsError, load
from server.store.db import Database, StoreError
from server.store.faults import disk_full, require_room_to_start
from tether.private_files import keep_private

log = logging.getLogger(__name__)

WS_PING_INTERVAL_S = 20.0  # under typical proxy idle timeouts
WS_PING_TIMEOUT_S = 20.0
CLI_ACTOR = actors.CLI  # what the admin CLI does (it has shell access)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tether")
    parser.add_argument("--config", type=Path, help="TOML config file (default: none)")
    parser.add_argument("--data-dir", dest="data_dir", help="data directory")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the server and a local relay")
    serve.add_argument("--config", type=Path, help="TOML config file")
    serve.add_argument("--data-dir", dest="data_dir", help="data directory")
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default 8765)")
    serve.add_argument("--public-origin", dest="public_origin", help="origin browsers use")
    serve.add_argument(
        "--no-local-relay",
        dest="local_relay",
        action="store_const",
        const=False,
        help="do not start a relay for this machine",
    )
    serve.add_argument(
        "--workspace",
        dest="local_workspaces",
        action="append",
        help="workspace of the local relay, NAME=PATH or PATH (repeatable)",
    )
    serve.add_argument("--log-level", dest="log_level", help="debug, info, warning, error")

    admin = commands.add_parser("admin", help="administration")
    admin.add_argument("--config", type=Path, help="TOML config file")
    admin.add_argument("--data-dir", dest="data_dir", help="data directory")
    admin_commands = admin.add_subparsers(dest="admin_command", required=True)
    token = admin_commands.add_parser("relay-token", help="relay tokens")
    token_commands = token.add_subparsers(dest="token_command", required=True)
    create = token_commands.add_parser("create", help="register a relay and print its token")
    create.add_argument("name", help="a name for the relay, e.g. the host's name")
    revoke = token_commands.add_parser(
        "revoke", help="revoke a relay's token; a running server closes its link within seconds"
    )
    revoke.add_argument("name", help="the relay's name")

    audit = commands.add_parser("audit", help="the audit log")
    audit.add_argument("--config", type=Path, help="TOML config file")
    audit.add_argument("--data-dir", dest="data_dir", help="data directory")
    audit_commands = audit.add_subparsers(dest="audit_command", required=True)
    verify = audit_commands.add_parser(
        "verify", help="check the audit log's hash chain; exit 1 at the first broken link"
    )
    verify.add_argument(
        "--anchor",
        metavar="FILE|VALUE",
        help="an anchor `tether audit head` printed earlier (N:HASH, or a file holding it): "
        "the log must still hold that entry with that hash",
    )
    audit_commands.add_parser(
        "head", help="print the newest entry's number, hash and time, to keep elsewhere"
    )
    return parser


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    flags = {k: v for k, v in vars(args).items() if k in Settings.__dataclass_fields__}
    if flags.get("local_workspaces"):
        flags["local_workspaces"] = tuple(flags["local_workspaces"])
    config = args.config or _env_path(os.environ.get("TETHER_CONFIG"))
    try:
        settings = load(flags=flags, environ=os.environ, config_file=config)
    except SettingsError as exc:
        print(f"tether: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    try:
        return _run(args, settings)
    except StoreError as exc:
        print(f"tether: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if not disk_full(exc):
            raise
        print(
            f"tether: server storage full: no room left on the disk of {settings.data_dir}; "
            "free some space and start again (nothing stored was lost)",
            file=sys.stderr,
        )
        return 1


def _run(args: argparse.Namespace, settings: Settings) -> int:
    if args.command in ("serve", "admin"):  # both write the database
        keep_private(settings.data_dir)
    if args.command == "serve":
        return asyncio.run(serve(settings))
    if args.command == "audit":
        if args.audit_command == "head":
            return audit_cli.head(settings)
        return audit_cli.verify(settings, args.anchor)
    if args.token_command == "revoke":
        return asyncio.run(revoke_relay_token(settings, args.name))
    return asyncio.run(create_relay_token(settings, args.name))


def _env_path(value: str | None) -> Path | None:
    return Path(value).expanduser() if value else None


async def create_relay_token(settings: Settings, name: str) -> int:
    db = await Database.open(settings.database_path)
    try:
        relay_id, token = await relays_of(settings, db).create(name, actor=CLI_ACTOR)
    except TetherError as exc:
        print(f"tether: could not create relay {name!r}: {exc.message}", file=sys.stderr)
        return 2
    finally:
        await db.close()
    print(f"relay {name} ({relay_id}) registered. Its token, shown only this once:\n\n  {token}\n")
    print(
        "On the agent host, save it where only you can read it and start the relay:\n"
        "  mkdir -p ~/.config/tether && (umask 077; cat > ~/.config/tether/relay.token)\n"
        "  (paste the token, Enter, Ctrl-D), then\n"
        f"  tether relay --server {settings.origin}\n"
        "(never pass it with --token: every user of that machine sees command lines in ps)"
    )
    return 0


async def revoke_relay_token(settings: Settings, name: str) -> int:
    db = await Database.open(settings.database_path)
    try:
        relays = relays_of(settings, db)
        record = await relays.by_name(name)
        if record is None:
            print(f"tether: no relay named {name!r}", file=sys.stderr)
            return 2
        await relays.revoke(record.id, actor=CLI_ACTOR)
    except TetherError as exc:
        print(f"tether: could not revoke relay {name!r}: {exc.message}", file=sys.stderr)
        return 2
    finally:
        await db.close()
    print(
        f"relay {name} ({record.id}) revoked: its token is refused from now on, and a running "
        f"server closes its link within {REVOCATION_CHECK_INTERVAL_S:.0f} s"
    )
    return 0


async def serve(settings: Settings) -> int:
    require_room_to_start(settings.data_dir)
    core = await open_core(settings)
    try:
        return await _serve(settings, core)
    finally:
        await core.close()


async def _serve(settings: Settings, core: Core) -> int:
    token = (
        await local_relay.local_relay_token(settings, core.relays) if settings.local_relay else ""
    )
    # Written before serving: a disk that is full at start ends the process here, in one line.
    setup_link = await core.identity.setup_link()
    config = uvicorn.Config(
        create_app(settings, core),
        host=settings.host,
        port=settings.port,
        ws="websockets-sansio",
        ws_max_size=2 * MAX_FRAME_BYTES,  # the app closes frames over MAX_FRAME_BYTES itself
        ws_ping_interval=WS_PING_INTERVAL_S,
        ws_ping_timeout=WS_PING_TIMEOUT_S,
        log_config=None,  # configure_logging (protocol/redaction.py) set up the handlers
        access_log=False,  # request lines hold paths an admin's enrolment codes travel in
        # Forwarded headers count only from trusted_proxies, decided in server/http/
        # client_address.py; uvicorn's own handling would believe any loopback peer.
        proxy_headers=False,
        lifespan="on",
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    relay: asyncio.Task[Any] | None = None
    while not server.started and not serving.done():  # noqa: ASYNC110 (uvicorn has no event)
        await asyncio.sleep(0.05)
    if server.started:
        relay = await _started(settings, core, token, setup_link)
    try:
        await serving
    finally:
        if relay is not None:
            relay.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await relay
    return 0 if server.started else 1


async def _started(
    settings: Settings, core: Core, token: str, setup_link: str | None
) -> asyncio.Task[Any] | None:
    """Tell the user where Tether runs and start the local relay (when it has a token)."""
    relay: asyncio.Task[Any] | None = None
    workspaces = local_relay.default_workspaces(settings)
    print(f"Tether is running at {settings.origin}/  (data in {settings.data_dir})", flush=True)
    if token:
        relay = asyncio.create_task(local_relay.supervise(settings, token, workspaces, os.environ))
        print(f"Local relay started for: {', '.join(workspaces)}", flush=True)
    print("Open a shell session in this terminal: tether attach --new", flush=True)
    if setup_link:  # printed, never logged: it makes whoever opens it the owner
        print(
            "\nNo users yet. Open this link within 30 minutes to create the owner's passkey "
            f"(single use; a new link is printed at each start until it is used):\n\n"
            f"  {setup_link}\n",
            flush=True,
        )
    return relay
