"""The handshake's comparison of marks: what the relay holds against what the server committed.

A relay sends a SessionMark per session in `relay_info`; the server answers `committed` with its
own committed last_relay_seq for each, after these steps:

- a session the server has no record of (restored from a backup older than the session) is
  created from the mark's agent and workspace (a workspace the relay declared, else none: the
  relay cannot choose who sees it), with nothing committed;
- when the relay can no longer resend what the server lacks (its oldest kept event is past the
  server's mark + 1: the server lost commits and the relay's retention window has moved on),
  one `events_lost` event records the range, takes relay_seq first_kept_seq - 1 so ingestion
  goes on from there, and is audited. If the session ended on the relay and its end is among
  the lost events, the gap event ends it on the server too.

The relay then resends what it holds above the server's mark and numbers new events above it,
so there is never a silent hole and never a reconnect loop.
"""

from __future__ import annotations

import logging

import msgspec

from protocol import messages as m
from server.domain import actors
from server.domain.audit import Audit
from server.domain.events import EventLog

log = logging.getLogger(__name__)

MAX_RELAY_SEQ = 2**62  # numbers past this cannot come from a real relay (SQLite holds 2**63 - 1)
LOST_REASON = "the server lost these events and the relay no longer keeps them"
LOST_END_REASON = LOST_REASON + "; the session ended among them"


async def reconcile(
    event_log: EventLog,
    audit: Audit,
    relay_id: str,
    marks: list[m.SessionMark],
    workspaces: frozenset[str] = frozenset(),
) -> dict[str, int]:
    """The server's committed last_relay_seq per marked session of this relay, after logging
    a gap for each session whose missing events the relay cannot resend. `workspaces`: those
    the relay declared."""
    committed: dict[str, int] = {}
    for mark in marks:
        if mark.workspace not in workspaces:
            mark = msgspec.structs.replace(mark, workspace="")
        async with event_log.lock:
            last = await _reconcile_one(event_log, audit, relay_id, mark)
        if last is not None:
            committed[mark.session_id] = last
    return committed


async def _reconcile_one(
    event_log: EventLog, audit: Audit, relay_id: str, mark: m.SessionMark
) -> int | None:
    sid = mark.session_id
    if not 1 <= mark.first_kept_seq <= mark.last_relay_seq + 1 <= MAX_RELAY_SEQ:
        log.warning("relay %s sent an impossible mark for session %s: ignored", relay_id, sid)
        return None
    record = await event_log.session(sid)
    if record is None:
        log.warning("relay %s holds session %s, which this server lacks: adding it", relay_id, sid)
        await event_log.create_session(sid, relay_id, mark.agent, mark.workspace)
        record = await event_log.session(sid)
    if record is None or record.relay_id != relay_id:
        log.warning("relay %s marked session %s, which is not its own", relay_id, sid)
        return None
    if mark.first_kept_seq <= record.last_relay_seq + 1:
        return record.last_relay_seq
    ends = not mark.live and mark.first_kept_seq > mark.last_relay_seq and record.status != "ended"
    lost = m.EventsLost(
        first_relay_seq=record.last_relay_seq + 1,
        last_relay_seq=mark.first_kept_seq - 1,
        reason=LOST_END_REASON if ends else LOST_REASON,
    )
    log.warning(
        "session %s: relay_seq %d-%d lost (%s)",
        sid,
        lost.first_relay_seq,
        lost.last_relay_seq,
        lost.reason,
    )
    last = await event_log.log_gap(relay_id, sid, lost, ends=ends)
    await audit.record(
        "events_lost",
        actor=actors.relay(relay_id),
        target=sid,
        details={
            "first_relay_seq": lost.first_relay_seq,
            "last_relay_seq": lost.last_relay_seq,
            "reason": lost.reason,
        },
    )
    return last
