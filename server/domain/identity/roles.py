"""Roles, workspace grants, and the principal every request and socket message is checked against.

Roles are ordered: owner > admin > operator > viewer. Owners and admins act on every workspace;
operators and viewers only on the workspaces they are granted. A grant names a relay and one of
its workspaces; "*" in either place means all of them.
"""

from __future__ import annotations

import enum

import msgspec

from server.domain import actors
from server.domain.errors import ForbiddenError

ANY = "*"


class Role(enum.StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    OPERATOR = "operator"  # start and steer sessions, answer approvals
    VIEWER = "viewer"  # read only

    @property
    def rank(self) -> int:
        return _RANK[self]

    def at_least(self, other: Role) -> bool:
        return self.rank >= other.rank


_RANK = {Role.VIEWER: 1, Role.OPERATOR: 2, Role.ADMIN: 3, Role.OWNER: 4}


class Grant(msgspec.Struct, frozen=True, kw_only=True):
    """Access to one workspace of one relay; "*" matches every relay or every workspace."""

    relay_id: str = ANY
    workspace: str = ANY

    def covers(self, relay_id: str, workspace: str) -> bool:
        return self.relay_id in (ANY, relay_id) and self.workspace in (ANY, workspace)


ALL_WORKSPACES = (Grant(),)


class Principal(msgspec.Struct, frozen=True, kw_only=True):
    """Who is calling: a user through a browser session, or the local console."""

    user_id: str
    name: str
    role: Role
    grants: tuple[Grant, ...] = ()
    session_id: str = ""  # the browser session's public id; "" for the console token
    passkey_id: str = ""  # the passkey that signed the browser session in; "" when unknown
    via: str = "session"  # "session" (cookie), "console" (loopback bearer) or "terminal"
    expires_at: float = float("inf")  # the browser session's absolute timeout (unix time)

    @property
    def actor(self) -> str:
        """How the audit log names this principal: its id, never its chosen name."""
        return actors.CONSOLE if self.via == "console" else actors.user(self.user_id)

    @property
    def everywhere(self) -> bool:
        return self.role.at_least(Role.ADMIN)

    def may(self, role: Role, relay_id: str, workspace: str) -> bool:
        """Whether this principal holds `role` (or higher) on that workspace."""
        if not self.role.at_least(role):
            return False
        return self.everywhere or any(g.covers(relay_id, workspace) for g in self.grants)

    def may_see_relay(self, relay_id: str) -> bool:
        return self.everywhere or any(g.relay_id in (ANY, relay_id) for g in self.grants)

    def require(self, role: Role, relay_id: str = ANY, workspace: str = ANY) -> None:
        """Raise ForbiddenError unless `may(role, relay_id, workspace)`."""
        if relay_id == ANY and workspace == ANY:
            allowed = self.role.at_least(role)
        else:
            allowed = self.may(role, relay_id, workspace)
        if not allowed:
            where = "" if relay_id == ANY else f" on workspace {workspace!r} of relay {relay_id}"
            raise ForbiddenError(f"{self.name} is not {role.value}{where}")
