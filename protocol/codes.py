"""Close codes and error codes, in one place.

Close codes carry meaning by range (docs/protocol.md, "Close codes"):
  4000-4499  transient: reconnect with backoff and jitter (and resume).
  4500-4999  final: do not reconnect until something changes (credentials, software version).
"""

from __future__ import annotations

import enum


class CloseCode(enum.IntEnum):
    # --- reconnect ---
    GOING_AWAY = 4000  # server shutting down or restarting
    TOO_SLOW = 4001  # a viewer fell behind its bounded queue; resume from the last seq
    INTERNAL_ERROR = 4002  # unexpected server fault on this connection
    HELLO_TIMEOUT = 4003  # no hello within the handshake time limit
    # --- stop ---
    UNAUTHORIZED = 4500  # missing, wrong or revoked credentials
    UNSUPPORTED_PROTOCOL = 4501  # protocol_version not spoken by this peer
    SUPERSEDED = 4502  # a newer connection of the same relay took over
    INVALID_MESSAGE = 4503  # malformed JSON, unknown message type, or hello not first
    MESSAGE_TOO_BIG = 4504  # a frame over the size limit
    FORBIDDEN = 4505  # the client may not use this socket (origin, address, role)


RECONNECT_RANGE = range(4000, 4500)
STOP_RANGE = range(4500, 5000)


def should_reconnect(code: int | None) -> bool:
    """Whether a peer closed with `code` should be dialled again.

    Standard codes (1000-1015, or none at all after a network cut) are transient,
    except 1008 (policy violation) and 1009 (message too big), which a retry cannot fix.
    """
    return code is None or not (code in STOP_RANGE or code in (1008, 1009))


class ErrorCode(enum.StrEnum):
    """Stable codes in `error` messages and in HTTP error bodies."""

    BAD_REQUEST = "bad_request"  # input failed validation
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    UNKNOWN_SESSION = "unknown_session"  # no such session
    SESSION_OF_OTHER_RELAY = "session_of_other_relay"  # a relay touched a session it does not own
    SESSION_ENDED = "session_ended"  # command for a session that has ended
    UNKNOWN_RELAY = "unknown_relay"
    RELAY_OFFLINE = "relay_offline"  # the session's relay is not connected
    WORKSPACE_NOT_ALLOWED = "workspace_not_allowed"  # not in the relay's allow-list
    UNKNOWN_AGENT = "unknown_agent"
    SPAWN_FAILED = "spawn_failed"  # the relay could not start the process
    UNKNOWN_APPROVAL = "unknown_approval"  # not pending (answered already, or never asked)
    NOT_SUPPORTED = "not_supported"  # this agent or session cannot do that
    AGENT_CRASHED = "agent_crashed"  # the agent process exited without being asked to
    TIMEOUT = "timeout"  # the relay did not answer in time
    EXPIRED = "expired"  # the relay got a command past its deadline (or never): not run
    IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused"  # the same key came with another request
    RATE_LIMITED = "rate_limited"  # too many attempts from this address; wait and retry
    PAYLOAD_TOO_LARGE = "payload_too_large"  # an upload over the configured size
    AUDIO_TOO_LONG = "audio_too_long"  # a voice clip over the configured length
    BAD_AUDIO = "bad_audio"  # an upload that is empty or does not decode as audio
    VOICE_BUSY = "voice_busy"  # the transcription queue is full; retry after Retry-After
    VOICE_DISABLED = "voice_disabled"  # this server does not transcribe voice
    STORAGE_FULL = "storage_full"  # the server's disk is full: the write was not made
    STORAGE_BUSY = "storage_busy"  # another process holds the database's write lock; retry
    INTERNAL = "internal"
