"""`tether audit verify [--anchor FILE|VALUE]` and `tether audit head`: the audit chain, checked.

`verify` reads the database read-only and the key and head files, and says how far back it can
vouch: keyed entries (HMAC under the key file's key) cannot be rewritten by anyone who cannot
read that file; entries written before the key existed only as an unkeyed chain. `head` prints
the newest entry's number, hash and time: kept somewhere the server cannot write (a note, a
ticket, another machine), it is the anchor a later `verify --anchor` checks the log still holds.
"""

from __future__ import annotations

import datetime
import sys
from pathlib import Path

from server.domain import audit_verify
from server.domain.audit_verify import Anchor
from server.settings import Settings
from server.store.audit_key import ChainKey, read_key
from server.store.audit_store import read_entries, read_head
from server.store.db import StoreError

ANCHOR_FILE_MAX_BYTES = 4096


def anchor_of(text: str) -> Anchor:
    """`--anchor`: a value `N:HASH`, or a file holding one (what `tether audit head` printed)."""
    path = Path(text).expanduser()
    if path.is_file():
        try:
            with path.open() as f:
                text = f.read(ANCHOR_FILE_MAX_BYTES)
        except OSError as exc:
            raise StoreError(f"cannot read the anchor file {path}: {exc}") from exc
    try:
        return Anchor.parse(text)
    except ValueError as exc:
        raise StoreError(str(exc)) from exc


def verify(settings: Settings, anchor_text: str | None) -> int:
    """0 and what it vouches for when the chain is whole, 1 at the first break."""
    anchor = anchor_of(anchor_text) if anchor_text else None
    chain_key = read_key(settings.audit_key_path)
    head = read_head(settings.audit_head_path)
    verdict = audit_verify.verify(read_entries(settings.database_path), head, chain_key, anchor)
    if not verdict.ok:
        print(
            f"broken: {verdict.where}: {verdict.problem}\n"
            f"({verdict.count} entries before it are intact, last good hash {verdict.head})",
            file=sys.stderr,
        )
        if chain_key is None:
            print(
                f"note: there is no audit key at {settings.audit_key_path}: if the log was "
                "keyed, every keyed entry looks edited without it (restore the key file, or "
                "point audit_key_file at it)",
                file=sys.stderr,
            )
        return 1
    print(f"ok: {verdict.count} entries, head {verdict.head}")
    print(_vouched(settings, chain_key, verdict.count))
    if anchor is not None:
        print(f"anchor: entry {anchor.seq} still carries the hash you kept")
    if verdict.unanchored:
        print(
            f"note: the newest {verdict.unanchored} entries come after the head file's anchor "
            f"({settings.audit_head_path}); their links are intact"
        )
    return 0


def _vouched(settings: Settings, chain_key: ChainKey | None, count: int) -> str:
    """How far back the check vouches for the log."""
    if chain_key is None:
        return (
            f"unkeyed: there is no audit key at {settings.audit_key_path}, so only the plain "
            "hash chain was checked, which anyone who can write the database can recompute"
        )
    if chain_key.keyed_from <= 1:
        return f"keyed: every entry is chained with the audit key ({settings.audit_key_path})"
    first = chain_key.keyed_from
    keyed = f"entries {first}-{count}" if count >= first else "none yet"
    return (
        f"keyed from entry {first} ({keyed}) with the audit key ({settings.audit_key_path}); "
        f"unkeyed before entry {first}: entries 1-{first - 1} were chained before the key "
        "existed and are vouched for only as far as a plain hash chain can"
    )


def head(settings: Settings) -> int:
    """Print `N HASH TIME` of the newest entry, as the head file records it (after verifying)."""
    chain_key = read_key(settings.audit_key_path)
    found = read_head(settings.audit_head_path)
    verdict = audit_verify.verify(read_entries(settings.database_path), found, chain_key)
    if not verdict.ok:
        print(
            f"tether audit head: the log does not verify ({verdict.where}: {verdict.problem}); "
            "run `tether audit verify`",
            file=sys.stderr,
        )
        return 1
    if found is None:
        print("tether audit head: the audit log is empty", file=sys.stderr)
        return 1
    when = datetime.datetime.fromtimestamp(found.ts, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    print(f"{found.count}:{found.hash} {when}")
    return 0
