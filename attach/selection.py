"""Which session, relay and workspace the user means, from what they typed (or left out)."""

from __future__ import annotations

from attach.errors import ChoiceError
from attach.event_text import clean
from attach.server_api import RelayInfo, SessionInfo


def session(sessions: list[SessionInfo], wanted: str) -> SessionInfo:
    """The session whose id is `wanted`, or the only one whose id starts with it."""
    wanted = wanted.strip().lower()
    if not wanted:
        raise ChoiceError("no session id given")
    for candidate in sessions:
        if candidate.id == wanted:
            return candidate
    matches = [s for s in sessions if s.id.startswith(wanted)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise ChoiceError(f"no session {wanted!r} (tether sessions lists them)")
    listed = ", ".join(s.id for s in matches[:10]) + (", …" if len(matches) > 10 else "")
    raise ChoiceError(f"{wanted!r} matches {len(matches)} sessions: {listed}; type more of the id")


def relay(relays: list[RelayInfo], wanted: str | None) -> RelayInfo:
    """The relay named (name, id or id prefix) `wanted`, or else the only online one."""
    if wanted:
        exact = [r for r in relays if wanted in (r.id, r.name)]
        matches = exact or [r for r in relays if r.id.startswith(wanted)]
        if len(matches) == 1:
            chosen = matches[0]
            if not chosen.online:
                raise ChoiceError(f"relay {_describe(chosen)} is offline")
            return chosen
        if not matches:
            raise ChoiceError(f"no relay {wanted!r}; relays: {_listing(relays)}")
        raise ChoiceError(f"{wanted!r} matches several relays: {_listing(matches)}")
    online = [r for r in relays if r.online]
    if len(online) == 1:
        return online[0]
    if not online:
        known = f" (known: {_listing(relays)})" if relays else ""
        raise ChoiceError(f"no relay is online{known}; start one with `tether relay`")
    raise ChoiceError(f"several relays are online, pick one with --relay: {_listing(online)}")


def workspace(chosen: RelayInfo, wanted: str | None) -> str:
    """The workspace `wanted` of the relay, or else its first one."""
    names = [w.name for w in chosen.workspaces]
    if wanted:
        if wanted in names:
            return wanted
        raise ChoiceError(
            f"relay {_describe(chosen)} has no workspace {wanted!r}; "
            f"its workspaces: {', '.join(clean(n) for n in names) or 'none'}"
        )
    if not names:
        raise ChoiceError(f"relay {_describe(chosen)} offers no workspace")
    return names[0]


def _describe(relay: RelayInfo) -> str:
    return f"{clean(relay.name)} ({relay.id})"


def _listing(relays: list[RelayInfo]) -> str:
    return ", ".join(f"{_describe(r)}{'' if r.online else ' offline'}" for r in relays) or "none"
