"""`tether login URL`: sign this terminal in to a Tether server as you, approved with a passkey.

    tether login URL [--name NAME] [--timeout S]

1. POST /api/auth/terminal-logins {name} -> a code (ABCD-EFGH) and a secret poll handle.
2. Print the code; the user opens the app (Settings, "Sign in a terminal"), types it and
   confirms with a passkey. Poll until then, at the interval the server asks, for at most
   `--timeout` seconds.
3. On approval the server hands over a token, once: save it for that URL (attach/credentials.py,
   mode 0600). `tether sessions --server URL` and `tether attach --server URL` then use it.

The token acts as the approving user with their role and grants, but cannot manage users,
invites, relays, passkeys or sessions; the app lists it with the user's browsers and revokes it
there. The code is shown; the handle and the token never are. Exit status: 0 signed in,
1 gave up waiting or an error, 2 a usage error.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import time
from collections.abc import Mapping
from typing import TextIO

from attach.credentials import CredentialError, SavedLogin, save_login
from attach.errors import AttachError, ServerError, UnreachableError
from attach.server_api import LoginState, ServerApi, normalize_url
from protocol.loopback import is_plain_remote

DEFAULT_TIMEOUT_S = 900.0  # give up waiting for an approval after 15 minutes
POLL_INTERVAL_BOUNDS_S = (1.0, 10.0)  # whatever the server asks, poll within these
EXIT_GAVE_UP = 1
EXIT_USAGE = 2
_EXPLANATIONS = {
    "expired": "the code expired before it was approved (or its user was disabled): run "
    "`tether login` again",
    "collected": "this login's token was collected already: run `tether login` again",
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tether login",
        description="Sign this terminal in to a Tether server: prints a code to approve with "
        "your passkey in the app (Settings, Sign in a terminal), then saves a token for "
        "`tether sessions` and `tether attach --server URL`.",
    )
    parser.add_argument("server", metavar="URL", help="the server's address, https://host[:port]")
    parser.add_argument("--name", help="name the app lists this terminal under (default: host)")
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT_S,
        help=f"seconds to wait for the approval (default {DEFAULT_TIMEOUT_S:.0f})",
    )
    return parser


def main(argv: list[str], environ: Mapping[str, str] = os.environ) -> int:
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    try:
        base_url = normalize_url(args.server)
        if is_plain_remote(base_url):
            raise CredentialError(
                f"{base_url} is plain http:// on another machine: the token would cross the "
                "network unencrypted. Use the server's https:// address"
            )
        return login(base_url, args.name or socket.gethostname(), environ, args.timeout)
    except KeyboardInterrupt:
        print("\ntether login: stopped; the code will expire unused", file=sys.stderr)
        return 130
    except AttachError as exc:
        print(f"tether login: {exc}", file=sys.stderr)
        return 1


def login(
    base_url: str,
    name: str,
    environ: Mapping[str, str],
    timeout_s: float,
    out: TextIO = sys.stdout,
) -> int:
    api = ServerApi(base_url)
    asked = api.request_login(name)
    low, high = POLL_INTERVAL_BOUNDS_S
    interval = min(max(asked.poll_interval_s, low), high)
    print(
        f"\nLogin code:  {asked.code}\n\n"
        f'Open {base_url}/settings, choose "Sign in a terminal", type the code and confirm '
        f"with your passkey (it expires in {_left(asked.expires_at)}).\n"
        f"This terminal will be listed as {name!r}. Waiting (Ctrl-C to give up) ...",
        file=out,
        flush=True,
    )
    deadline = time.monotonic() + timeout_s
    while True:
        time.sleep(interval)
        if time.monotonic() > deadline:
            print(f"Gave up after {timeout_s:.0f} s without an approval.", file=out)
            return EXIT_GAVE_UP
        state = _poll(api, asked.handle, out)
        if state is None or state.status == "pending":
            continue
        if state.status != "approved" or not state.token:
            raise AttachError(_EXPLANATIONS.get(state.status, f"unexpected state {state.status}"))
        saved = SavedLogin(
            token=state.token,
            user_name=state.user_name,
            role=state.role,
            session_id=state.session_id,
        )
        path = save_login(environ, base_url, saved)
        print(
            f"Signed in to {base_url} as {state.user_name} ({state.role}); token saved to "
            f"{path} (mode 0600).\nRevoke it in the app: Settings, Signed-in browsers and "
            f"terminals.\nTry:  tether sessions --server {base_url}",
            file=out,
        )
        return 0


def _poll(api: ServerApi, handle: str, out: TextIO) -> LoginState | None:
    """The login's state; None after a failure worth retrying (network, 5xx, 429)."""
    try:
        return api.poll_login(handle)
    except UnreachableError as exc:
        print(f"{exc}; retrying", file=out, flush=True)
    except ServerError as exc:
        if exc.status < 500 and exc.status != 429:
            raise
        print(f"{exc}; retrying", file=out, flush=True)
    return None


def _left(expires_at: float) -> str:
    seconds = max(0, int(expires_at - time.time()))
    return f"{seconds // 60}:{seconds % 60:02d}"
