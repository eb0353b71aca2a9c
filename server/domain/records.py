"""The server's records of relays, sessions and logged events, independent of storage."""

from __future__ import annotations

import msgspec

from protocol.messages import SessionStatus, Workspace


class RelayRecord(msgspec.Struct, kw_only=True):
    id: str
    name: str
    created_at: float
    revoked_at: float | None = None
    last_seen_at: float | None = None
    hostname: str = ""
    workspaces: list[Workspace] = []
    agents: list[str] = []
    sandbox: str = ""  # how its agents are confined ("bwrap", "none"; "" unknown)
    sandbox_note: str = ""  # why not, or where not


class SessionRecord(msgspec.Struct, kw_only=True):
    id: str
    relay_id: str
    epoch: str
    agent: str = ""
    workspace: str = ""
    title: str = ""
    status: SessionStatus = "starting"
    created_at: float
    last_activity_at: float
    last_seq: int = 0
    last_relay_seq: int = 0
    detail: str = ""  # why the status is what it is: "relay not answering", a refusal's reason
