"""The `tether` command: dispatches to the server, relay or terminal-client CLI.

Imports lazily so an agent host with only the base dependencies can run `tether relay`
and `tether attach` without the server's packages installed.
"""

from __future__ import annotations

import sys

USAGE = """usage: tether COMMAND [ARGS]

commands:
  serve      run the server (and, unless --no-local-relay, a relay for this machine)
  admin      administration: relay tokens
  audit      the audit log: `tether audit verify` checks its hash chain, `head` prints its anchor
  relay      run a relay on an agent host (dials out to the server)
  attach     replay and follow a session in this terminal; type keystrokes or prompts
  sessions   list sessions
  login      sign this terminal in to a remote server, approved with your passkey in the app
  hook       Claude Code hooks bridge: `tether hook install`, then run by Claude Code

`tether COMMAND --help` shows the options of each command.
"""


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help", "help"):
        print(USAGE, end="")
        return 0
    command, rest = args[0], args[1:]
    if command in ("serve", "admin", "audit"):
        try:
            from server.cli import main as server_main
        except ImportError as exc:
            print(
                f"tether {command} needs the server extra: pip install 'tether[server]' ({exc})",
                file=sys.stderr,
            )
            return 2
        return server_main([command, *rest])
    if command == "relay":
        from relay.cli import main as relay_main

        return relay_main(rest)
    if command == "hook":
        from relay.hooks.cli import main as hook_main

        return hook_main(rest)
    if command == "login":
        from attach.login import main as login_main

        return login_main(rest)
    if command in ("attach", "sessions"):
        from attach.cli import main as attach_main

        return attach_main([command, *rest])
    print(f"tether: unknown command {command!r}\n\n{USAGE}", end="", file=sys.stderr)
    return 2
