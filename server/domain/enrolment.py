"""Relay enrolment: a relay asks to join, an admin approves its short code, the relay collects
its token.

    relay                          server                              admin
    request(name) ───────────────> code ABCD-EFGH + poll handle
    prints the code, polls ──────> pending ...
                                                     <────────────── approve("ABCD-EFGH")
                                   registers the relay (no usable token yet)
    poll ────────────────────────> token tr_..., made now, its hash stored, shown this once

The code is what the admin reads off the relay's terminal: it proves the admin approves *that*
relay, so codes are never listed, only their hashes stored. The poll handle is a 256-bit secret
only the relay holds. Codes expire after the enrolment TTL, the token must be collected within
COLLECT_WINDOW_S of the approval, and each request is used at most once.
"""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
import time
from collections.abc import Callable

from server.domain import actors
from server.domain.audit import Audit
from server.domain.errors import BadRequestError, NotFoundError, RateLimitedError
from server.domain.ratelimit import RateLimiter
from server.domain.relays import Relays, check_name, hash_token, new_relay_id, new_token
from server.store.enrolment_store import EnrolmentRecord, EnrolmentStore, NameTakenError

CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L: read aloud or off a phone
CODE_CHARS = 8  # 31**8 ≈ 8.5e11 codes; a guess is refused long before it could find one
HANDLE_PREFIX = "te_"
COLLECT_WINDOW_S = 300.0  # after approval, the relay has this long to collect its token
POLL_INTERVAL_S = 2.0  # what the server asks relays to wait between polls
MAX_PENDING = 50  # pending requests server-wide; more are refused until some are decided
FORGET_AFTER_S = 86400.0  # finished or expired requests are deleted after a day
REQUESTS_PER_IP = (10, 600.0)  # enrolment requests from one address: 10 per 10 minutes
POLLS_PER_IP = (300, 60.0)  # polls from one address: 300 a minute (many relays behind a NAT)
DECISIONS_PER_ACTOR = (30, 60.0)  # approve/deny attempts by one admin: guessing codes is slow


def format_code(code: str) -> str:
    return f"{code[:4]}-{code[4:]}"


def parse_code(text: str) -> str:
    """The canonical code from what a person typed: case, dashes and spaces do not matter."""
    code = text.replace("-", "").replace(" ", "").upper()
    if len(code) != CODE_CHARS or any(c not in CODE_ALPHABET for c in code):
        raise BadRequestError(
            f"an enrolment code is {CODE_CHARS} letters and digits, like ABCD-EFGH "
            "(no 0, 1, I, L or O)"
        )
    return code


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclasses.dataclass(frozen=True)
class Requested:
    code: str  # formatted, ABCD-EFGH
    handle: str
    expires_at: float


@dataclasses.dataclass(frozen=True)
class Polled:
    status: str  # pending, approved (token set), denied, expired, collected, revoked
    expires_at: float
    relay_id: str = ""
    name: str = ""
    token: str = ""


class Enrolments:
    def __init__(
        self,
        store: EnrolmentStore,
        relays: Relays,
        audit: Audit,
        ttl_s: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._relays = relays
        self._audit = audit
        self._ttl_s = ttl_s
        self._clock = clock
        self._requests = RateLimiter(*REQUESTS_PER_IP)
        self._polls = RateLimiter(*POLLS_PER_IP)
        self._decisions = RateLimiter(*DECISIONS_PER_ACTOR)

    async def request(self, name: str, *, ip: str, device: str = "") -> Requested:
        self._requests.check_address(ip, "enrolment requests from this address")
        name = check_name(name)
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_CHARS))
        handle = HANDLE_PREFIX + secrets.token_urlsafe(32)
        now = self._clock()
        enrolment_id = secrets.token_hex(8)
        stored = await self._store.create(
            enrolment_id=enrolment_id,
            code_hash=_hash(code),
            handle_hash=_hash(handle),
            name=name,
            ip=ip,
            now=now,
            expires_at=now + self._ttl_s,
            max_pending=MAX_PENDING,
            forget_before=now - FORGET_AFTER_S,
        )
        if not stored:
            raise RateLimitedError(
                f"{MAX_PENDING} enrolments are waiting already; an admin must approve or deny them"
            )
        await self._audit.record(
            "relay_enrolment_requested",
            actor=actors.ANONYMOUS,
            target=enrolment_id,
            ip=ip,
            device=device,
            details={"name": name},
        )
        return Requested(format_code(code), handle, now + self._ttl_s)

    async def pending(self) -> list[EnrolmentRecord]:
        return await self._store.pending(self._clock())

    async def _decidable(self, code_text: str, actor: str) -> EnrolmentRecord:
        self._decisions.check(actor, "enrolment decisions")
        code = parse_code(code_text)
        record = await self._store.by_code(_hash(code))
        shown = format_code(code)
        if record is None:
            raise NotFoundError(f"no enrolment has the code {shown}: check it on the relay")
        if record.status != "pending":
            raise BadRequestError(f"the enrolment code {shown} was used already ({record.status})")
        if record.expires_at <= self._clock():
            raise BadRequestError(
                f"the enrolment code {shown} has expired: run `tether relay enroll` again"
            )
        return record

    async def approve(
        self, code_text: str, *, actor: str, ip: str, device: str = "", name: str = ""
    ) -> tuple[str, str]:
        """Approve; returns (relay id, relay name). The relay collects its token on next poll."""
        record = await self._decidable(code_text, actor)
        name = check_name(name) if name else await self._relays.free_name(record.name)
        relay_id = new_relay_id()
        try:
            approved = await self._store.approve(
                record.id,
                relay_id=relay_id,
                name=name,
                unusable_token_hash=hash_token(new_token()),  # the token itself is dropped
                actor=actor,
                now=self._clock(),
                collect_until=self._clock() + COLLECT_WINDOW_S,
            )
        except NameTakenError as exc:
            raise BadRequestError(f"{exc}: approve with another name") from exc
        if not approved:
            raise BadRequestError("this enrolment was decided or expired a moment ago")
        await self._audit.record(
            "relay_enrolment_approved",
            actor=actor,
            target=record.id,
            ip=ip,
            device=device,
            details={"relay_id": relay_id, "name": name, "requested_from": record.ip},
        )
        return relay_id, name

    async def deny(self, code_text: str, *, actor: str, ip: str, device: str = "") -> None:
        record = await self._decidable(code_text, actor)
        if not await self._store.deny(record.id, actor=actor, now=self._clock()):
            raise BadRequestError("this enrolment was decided or expired a moment ago")
        await self._audit.record(
            "relay_enrolment_denied",
            actor=actor,
            target=record.id,
            ip=ip,
            device=device,
            details={"name": record.name, "requested_from": record.ip},
        )

    async def poll(self, handle: str, *, ip: str) -> Polled:
        """The request's state; on the first poll after approval, the relay's new token."""
        self._polls.check_address(ip, "enrolment polls from this address")
        if not handle.startswith(HANDLE_PREFIX) or len(handle) > 128:
            raise BadRequestError("that is not an enrolment poll handle")
        record = await self._store.by_handle(_hash(handle))
        if record is None:
            raise NotFoundError("unknown enrolment: request a new code with `tether relay enroll`")
        now = self._clock()
        if record.status == "pending" and record.expires_at <= now:
            return Polled("expired", record.expires_at)
        if record.status != "approved":
            shown = "collected" if record.status == "claimed" else record.status
            return Polled(shown, record.expires_at)
        if record.expires_at <= now:
            return Polled("expired", record.expires_at)
        token = new_token()
        if not await self._store.claim(record.id, token_hash=hash_token(token), now=now):
            again = await self._store.by_handle(_hash(handle))
            status = "collected" if again and again.status == "claimed" else "revoked"
            return Polled(status, record.expires_at)
        assert record.relay_id is not None
        await self._audit.record(
            "relay_token_created",
            actor=actors.enrolment(record.id),
            target=record.relay_id,
            ip=ip,
            details={"name": record.name, "via": "enrolment", "approved_by": record.decided_by},
        )
        relay = await self._relays.get(record.relay_id)
        name = relay.name if relay else record.name
        return Polled("approved", record.expires_at, record.relay_id, name, token)
