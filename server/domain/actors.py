"""Who an audit entry names as its actor: an id with its kind, never a name someone chose.

    user:<user id>    a person, through a browser session
    console           the console token (`tether attach` on the server's machine)
    relay:<relay id>  a relay, through its token
    enrolment:<id>    a relay enrolment request, before the relay has an id
    cli               the admin CLI (`tether admin`, run with shell access to the data directory)
    system            the server itself (the local relay's token, the setup link)
    anonymous         an unauthenticated request (a refused sign-in or token)

A user may be called anything, `console` included; only their id goes into the log, so no user
can pass for the console or for another user. Names belong to rendering: whoever shows the log
looks them up by id.
"""

from __future__ import annotations

CONSOLE = "console"
CLI = "cli"
SYSTEM = "system"
ANONYMOUS = "anonymous"


def user(user_id: str) -> str:
    return f"user:{user_id}"


def relay(relay_id: str) -> str:
    return f"relay:{relay_id}"


def enrolment(enrolment_id: str) -> str:
    return f"enrolment:{enrolment_id}"
