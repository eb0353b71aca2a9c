"""`tether attach` and `tether sessions`: follow a session from any terminal, list sessions.

    tether attach SESSION_ID [--server URL]     replay and follow; keystrokes go to the session
    tether attach --new [--relay R] [--workspace W] [-- COMMAND...]   start a PTY session first
    tether attach --new --agent claude [--relay R] [--workspace W] [PROMPT...]   or an agent's
    tether sessions [--server URL]              the sessions, most recently active first

The server URL comes from --server, else TETHER_URL, else http://127.0.0.1:8765. A server on
this machine gets the console token (TETHER_CONSOLE_TOKEN, else console.token in
TETHER_DATA_DIR, default ~/.local/share/tether); any other server only the token `tether login
URL` saved for it (attach/credentials.py, docs/security.md). This is the only module of the
terminal client that reads the environment or the command line (with login.py's `main` for
`tether login`). Exit status:
0 on success (the session ended, or the user detached), 1 on an error, 2 on a usage error.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Mapping

from attach import selection, sessions_table, terminal
from attach.attachment import attach
from attach.credentials import credential
from attach.errors import AttachError
from attach.event_text import clean
from attach.server_api import ServerApi, SessionInfo, normalize_url, viewer_socket_url

DEFAULT_URL = "http://127.0.0.1:8765"
URL_ENV = "TETHER_URL"
DEFAULT_SIZE = (80, 24)  # cols, rows of a session started without a terminal
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT
PTY = "pty"  # the agent that runs a command in a terminal; the others take prompts


def _parser(command: str) -> argparse.ArgumentParser:
    server_help = f"server URL (default: ${URL_ENV}, else {DEFAULT_URL})"
    if command == "sessions":
        parser = argparse.ArgumentParser(
            prog="tether sessions", description="List sessions, most recently active first."
        )
        parser.add_argument("--server", metavar="URL", help=server_help)
        return parser
    parser = argparse.ArgumentParser(
        prog="tether attach",
        usage="tether attach [--server URL] SESSION_ID\n"
        "       tether attach --new [--relay NAME_OR_ID] [--workspace NAME] [-- COMMAND...]\n"
        "       tether attach --new --agent AGENT [--relay NAME_OR_ID] [--workspace NAME] "
        "[PROMPT...]",
        description="Replay and follow a session in this terminal, forwarding keystrokes "
        "(a PTY session) or lines as prompts and /commands (an agent session, /help lists them). "
        "Press Ctrl-] to detach; the session keeps running.",
    )
    parser.add_argument(
        "words",
        nargs="*",
        metavar="SESSION_ID | PROMPT",
        help="session id, or a unique prefix of one; with --new: the first prompt of an agent, "
        "or the command of a PTY session",
    )
    parser.add_argument("--server", metavar="URL", help=server_help)
    parser.add_argument("--new", action="store_true", help="start a session and attach")
    parser.add_argument(
        "--agent",
        default=PTY,
        help=f"with --new: {PTY} (default), claude, codex, gemini, copilot, acp",
    )
    parser.add_argument(
        "--relay",
        metavar="NAME_OR_ID",
        help="with --new: relay name or id (default: the only online)",
    )
    parser.add_argument(
        "--workspace", metavar="NAME", help="with --new: workspace name (default: the first)"
    )
    return parser


def main(argv: list[str], environ: Mapping[str, str] = os.environ) -> int:
    """argv[0] is "attach" or "sessions"; the rest are its arguments."""
    command, args = argv[0], argv[1:]
    extra: list[str] = []
    if command == "attach" and "--" in args:
        cut = args.index("--")
        args, extra = args[:cut], args[cut + 1 :]
    parser = _parser(command)
    try:
        options = parser.parse_intermixed_args(args)
    except SystemExit as exc:  # --help (0) or a usage error (2), already printed by argparse
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    try:
        base_url = normalize_url(options.server or environ.get(URL_ENV) or DEFAULT_URL)
        token = credential(environ, base_url)
        api = ServerApi(base_url, token)
        if command == "sessions":
            sys.stdout.write(sessions_table.render(api.sessions()))
            return 0
        words: list[str] = options.words + extra
        if options.new:
            started = _start(api, options.relay, options.workspace, options.agent, words)
            session_id, agent = started.id, started.agent or options.agent
        else:
            chosen = _existing(api, parser, options, extra)
            session_id, agent = chosen.id, chosen.agent
        return asyncio.run(attach(viewer_socket_url(api.base_url), session_id, token, agent))
    except SystemExit as exc:  # parser.error
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    except KeyboardInterrupt:  # before the terminal is attached (which handles SIGINT itself)
        return EXIT_INTERRUPTED
    except AttachError as exc:
        print(f"tether {command}: {exc}", file=sys.stderr)
        return EXIT_ERROR


def _existing(
    api: ServerApi, parser: argparse.ArgumentParser, options: argparse.Namespace, extra: list[str]
) -> SessionInfo:
    """The one session named on the command line (a usage error otherwise)."""
    if len(options.words) != 1:
        parser.error("which session? (tether sessions lists them; --new starts one)")
    if options.relay or options.workspace or extra or options.agent != PTY:
        parser.error("--relay, --workspace, --agent and a command go with --new")
    chosen = selection.session(api.sessions(), options.words[0])
    if not chosen.relay_online and chosen.status != "ended":
        print(
            f"tether attach: the relay of session {clean(chosen.id)} is offline; "
            "its output resumes when the relay reconnects",
            file=sys.stderr,
        )
    return chosen


def _start(
    api: ServerApi, relay: str | None, workspace: str | None, agent: str, words: list[str]
) -> SessionInfo:
    """Start a session: `words` are the command of a PTY session, the first prompt of an agent."""
    chosen = selection.relay(api.relays(), relay)
    workspace_name = selection.workspace(chosen, workspace)
    cols, rows = terminal.size(0, 1) or DEFAULT_SIZE
    command, prompt = (words, "") if agent == PTY else ([], " ".join(words))
    session = api.start_session(chosen.id, workspace_name, agent, command, prompt, cols, rows)
    kind = "session" if agent == PTY else f"{clean(agent)} session"
    print(
        f"started {kind} {session.id} on {clean(chosen.name)}, workspace {clean(workspace_name)}",
        file=sys.stderr,
    )
    return session
