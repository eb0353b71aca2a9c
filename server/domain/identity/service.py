"""Identity: sign-up by link, passkey login, sessions, passkeys, users and invites.

Every operation that changes who may do what is written to the audit log, refusals included.
The HTTP layer hands in a `Caller` (address, user agent) for the log and the rate limits.
Each concept has its module; Identity is all of them over one IdentityContext:

    context.py       the shared store, audit trail, config, clock, limits; Caller, Login
    sign_in.py       who is calling; the passkey login ceremony
    terminal_logins.py  `tether login`: a terminal's token, approved with a passkey
    registration.py  the passkey registration ceremony (new users and added passkeys)
    invites.py       setup and invite links
    account.py       the signed-in user's own sessions and passkeys
    users.py         roles, grants and disabling users
"""

from __future__ import annotations

from server.domain.identity.account import Account
from server.domain.identity.context import CHALLENGE_TTL_S, Caller, IdentityConfig, Login
from server.domain.identity.registration import Registration
from server.domain.identity.sign_in import SignIn
from server.domain.identity.users import Users

__all__ = ["CHALLENGE_TTL_S", "Caller", "Identity", "IdentityConfig", "Login"]


class Identity(SignIn, Registration, Account, Users):
    """The operations the HTTP layer calls, each audited."""
