"""Chunks: runs of one session's logged events, stored, kept and sent as one piece of JSON.

A chunk holds the events with seq first_seq..last_seq (no gaps) as the exact bytes that go into
a `session_events` frame: `{"seq":…,"ts":…,"event":{…}}` objects separated by commas. Ingestion
writes one chunk per session per transaction, the ring keeps chunks, and frames are built by
joining chunk bodies, so neither storage nor replay touches events one by one. Only a chunk
that straddles a resume point is decoded and cut.
"""

from __future__ import annotations

import msgspec

from protocol import messages as m

_encoder = msgspec.json.Encoder()


class _RawLoggedEvent(msgspec.Struct):
    """protocol.messages.LoggedEvent with the event left as undecoded JSON."""

    seq: int
    ts: float
    event: msgspec.Raw


_decoder = msgspec.json.Decoder(list[_RawLoggedEvent])


class Chunk(msgspec.Struct, frozen=True):
    first_seq: int
    last_seq: int
    body: bytes

    @classmethod
    def of(cls, events: list[m.LoggedEvent]) -> Chunk:
        """A chunk of consecutive events (encoded here, once)."""
        return cls(events[0].seq, events[-1].seq, _encoder.encode(events)[1:-1])

    def __len__(self) -> int:
        return self.last_seq - self.first_seq + 1

    def after(self, seq: int) -> Chunk | None:
        """The part with seq > `seq`; None when nothing is left."""
        if seq < self.first_seq:
            return self
        if seq >= self.last_seq:
            return None
        kept = [e for e in _decoder.decode(b"[" + self.body + b"]") if e.seq > seq]
        return Chunk(kept[0].seq, kept[-1].seq, _encoder.encode(kept)[1:-1])

    def head(self, count: int) -> Chunk:
        """The first `count` events."""
        if count >= len(self):
            return self
        kept = _decoder.decode(b"[" + self.body + b"]")[:count]
        return Chunk(kept[0].seq, kept[-1].seq, _encoder.encode(kept)[1:-1])


def frame(session_id: str, epoch: str, chunks: list[Chunk]) -> bytes:
    """A `session_events` message carrying these chunks, in order."""
    return b"".join(
        (
            b'{"type":"session_events","session_id":',
            _encoder.encode(session_id),
            b',"epoch":',
            _encoder.encode(epoch),
            b',"events":[',
            b",".join(c.body for c in chunks),
            b"]}",
        )
    )


def trimmed(chunks: list[Chunk], after: int) -> list[Chunk]:
    """The chunks' events with seq > after."""
    out = []
    for chunk in chunks:
        part = chunk.after(after)
        if part is not None:
            out.append(part)
    return out
