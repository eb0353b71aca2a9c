"""Checking the audit chain (`tether audit verify`): every link, the head file, an anchor.

    every entry     numbered 1..N without gaps, each prev_hash the hash before it, each hash
                    the entry's own (HMAC under the chain key from its `keyed_from` on)
    the head file   its MAC under the chain key, then that the log reaches its entry and that
                    entry carries its hash (entries after it are reported, not failed)
    an anchor       an `N:hash` the user kept elsewhere (`tether audit head`): entry N is still
                    in the log with that hash

Whoever can write the database but not read the key file can neither recompute a keyed hash
nor the head file's MAC, so an edit, a deletion of the newest entries or a rewritten head file
is found here, with the entry where it shows.
"""

from __future__ import annotations

import dataclasses
import hmac
import re
from collections.abc import Iterable

from server.domain.audit import GENESIS, hash_of, head_mac
from server.store.audit_key import ChainKey
from server.store.audit_store import AuditEntry, AuditHead

_ANCHOR = re.compile(r"^\s*(?:seq=)?(\d+)[:\s]+(?:hash=)?([0-9a-f]{64})\b")


@dataclasses.dataclass(frozen=True)
class Anchor:
    """An entry number and the hash it had, kept by the user somewhere the server cannot write."""

    seq: int
    hash: str

    @classmethod
    def parse(cls, text: str) -> Anchor:
        """`N:HASH`, or a line `tether audit head` printed (`N HASH TIME`)."""
        found = _ANCHOR.match(text)
        if found is None or int(found.group(1)) < 1:
            raise ValueError(
                "an anchor is an entry number and its hash, `N:<64 hex digits>`, as `tether "
                "audit head` prints it"
            )
        return cls(int(found.group(1)), found.group(2))


@dataclasses.dataclass(frozen=True)
class Verdict:
    ok: bool
    count: int  # entries whose links were checked
    head: str  # hash of the newest entry checked
    broken_id: int | None = None  # the entry at which the chain breaks, when it is known
    problem: str = ""
    unanchored: int = 0  # valid entries after the one the head file names (see verify)
    in_head_file: bool = False  # the problem is the head file's, not an entry's

    @property
    def where(self) -> str:
        if self.broken_id is not None:
            return f"entry {self.broken_id}"
        return "the head file" if self.in_head_file else "the log"


@dataclasses.dataclass
class _Walk:
    count: int = 0
    prev_hash: str = GENESIS
    at_head: str = ""  # the hash of the entry the head file names, once reached
    at_anchor: str = ""  # the hash of the entry the anchor names, once reached


def verify(
    entries: Iterable[AuditEntry],
    head: AuditHead | None,
    chain_key: ChainKey | None,
    anchor: Anchor | None = None,
) -> Verdict:
    """Check every link, then the head file, then the anchor (see the module doc).

    Entries after the head file's entry are reported (`unanchored`) but do not fail: a crash
    between an append's commit and its head file write cannot leave them, but a restore from
    a backup of the head file can. Their links are still checked.
    """
    walk = _Walk()
    for entry in entries:
        walk.count += 1
        problem = _broken_link(entry, walk.count, walk.prev_hash, chain_key)
        if problem is not None:
            return Verdict(False, walk.count - 1, walk.prev_hash, walk.count, problem)
        walk.prev_hash = entry.hash
        if head is not None and walk.count == head.count:
            walk.at_head = entry.hash
        if anchor is not None and walk.count == anchor.seq:
            walk.at_anchor = entry.hash
    if head is not None and chain_key is not None:
        expected = head_mac(chain_key, head.count, head.hash, head.ts)
        if not hmac.compare_digest(head.mac, expected):
            problem = (
                f"its MAC does not match the audit key (it names entry {head.count}): it was "
                "rewritten by someone without the key, e.g. to hide deleted entries"
            )
            return Verdict(False, walk.count, walk.prev_hash, None, problem, in_head_file=True)
    return _anchored(walk, head) if anchor is None else _against(anchor, walk, head)


def _broken_link(
    entry: AuditEntry, count: int, prev_hash: str, chain_key: ChainKey | None
) -> str | None:
    """What is wrong with `entry` as the chain's entry number `count`, or None."""
    if entry.id != count:
        if entry.id > count:
            return f"it is missing: the next entry is {entry.id}"
        return f"an entry numbered {entry.id} is where entry {count} belongs"
    if entry.prev_hash != prev_hash:
        what = "the genesis hash" if count == 1 else f"the hash of entry {count - 1}"
        return f"its prev_hash is not {what}: entries were reordered, removed or replaced"
    if not hmac.compare_digest(hash_of(entry, chain_key), entry.hash):
        keyed = chain_key is not None and entry.id >= chain_key.keyed_from
        how = " under the audit key" if keyed else ""
        return f"its contents do not match its hash{how}: the entry was edited"
    return None


def _against(anchor: Anchor, walk: _Walk, head: AuditHead | None) -> Verdict:
    """The verdict of a whole chain against the user's anchor, then the head file."""
    if walk.count < anchor.seq:
        problem = (
            f"your anchor names entry {anchor.seq} but the log ends at {walk.count}: "
            "the newest entries were deleted"
        )
        return Verdict(False, walk.count, walk.prev_hash, walk.count + 1, problem)
    if not hmac.compare_digest(walk.at_anchor, anchor.hash):
        problem = "it does not carry the hash your anchor names: the log was rewritten up to here"
        return Verdict(False, walk.count, walk.prev_hash, anchor.seq, problem)
    return _anchored(walk, head)


def _anchored(walk: _Walk, head: AuditHead | None) -> Verdict:
    """The verdict on a chain of `walk.count` whole links, against the head file."""
    count, prev_hash = walk.count, walk.prev_hash
    if head is None:
        if count == 0:
            return Verdict(True, 0, GENESIS)
        problem = "it is missing, so deleting the newest entries would go unnoticed"
        return Verdict(False, count, prev_hash, None, problem, in_head_file=True)
    if count < head.count:
        problem = (
            f"the head file records {head.count} entries but the log ends at {count}: "
            "the newest entries were deleted"
        )
        return Verdict(False, count, prev_hash, count + 1, problem)
    if walk.at_head != head.hash:
        problem = "it does not match the hash in the head file: the log was rewritten up to here"
        return Verdict(False, count, prev_hash, head.count, problem)
    return Verdict(True, count, prev_hash, unanchored=count - head.count)
