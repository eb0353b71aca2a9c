"""One outbox row: an event numbered for its session and encoded once, within the limits."""

from __future__ import annotations

import dataclasses
import logging

import msgspec

from protocol.messages import MAX_FRAME_BYTES, MAX_RAW_BYTES, Error, Event, RelayEvent

log = logging.getLogger(__name__)

MAX_EVENT_BYTES = MAX_FRAME_BYTES - 4096  # one encoded event must fit a frame with its envelope


@dataclasses.dataclass(frozen=True)
class OutboxRow:
    id: int
    session_id: str
    relay_seq: int
    payload: bytes  # msgspec JSON of a protocol RelayEvent


_encoder = msgspec.json.Encoder()


def cap_raw(event: Event) -> Event:
    """Replace an event's `raw` with a small marker when it encodes to over MAX_RAW_BYTES."""
    if event.raw is None:
        return event
    try:
        size = len(_encoder.encode(event.raw))
    except (TypeError, msgspec.EncodeError):
        return msgspec.structs.replace(event, raw={"unencodable": type(event.raw).__name__})
    if size <= MAX_RAW_BYTES:
        return event
    return msgspec.structs.replace(event, raw={"truncated": True, "bytes": size})


def encode(session_id: str, relay_seq: int, ts: float, event: Event) -> bytes:
    """The RelayEvent's JSON; an event too large for a frame becomes an `error` event."""
    record = RelayEvent(session_id=session_id, relay_seq=relay_seq, ts=ts, event=event)
    payload = _encoder.encode(record)
    if len(payload) <= MAX_EVENT_BYTES:
        return payload
    kind = type(event).__name__
    log.warning(
        "session %s: %s event of %d bytes is over the frame limit", session_id, kind, len(payload)
    )
    message = f"{kind} event of {len(payload)} bytes dropped: over the frame limit"
    record.event = Error(message=message, code="event_too_large")
    return _encoder.encode(record)
