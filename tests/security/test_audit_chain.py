"""The audit chain against someone who can write the database (and the head file beside it)
but cannot read the audit key: each attack is made on a log the real `tether admin` wrote, and
the real `tether audit verify` must fail, saying where.

The attacker knows the algorithm: they drop the append-only triggers, edit rows, recompute
every hash after the edit as far as they can (SHA-256: the key is what they lack) and rewrite
`audit.head` to match, keeping its format.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path

import pytest

from server.domain.audit import GENESIS, entry_hash
from server.store.db import migrate
from tests.harness import ROOT, tether_argv

RELAYS = ("alpha", "beta", "gamma", "delta")  # each `relay-token create` writes one entry


def _tether(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        tether_argv(*args[:1], "--data-dir", str(data_dir), *args[1:]),
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )


def _create_relays(data_dir: Path, *names: str) -> None:
    for name in names:
        made = _tether(data_dir, "admin", "relay-token", "create", name)
        assert made.returncode == 0, made.stderr


def _rows(data_dir: Path) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(data_dir / "tether.sqlite3")
    try:
        return conn.execute("SELECT * FROM audit_log ORDER BY id").fetchall()
    finally:
        conn.close()


def _rehash(rows: list[tuple[object, ...]], prev_hash: str) -> list[tuple[int, str, str]]:
    """(id, prev_hash, hash) of `rows` chained on from `prev_hash`, as an attacker computes it."""
    chained = []
    for row in rows:
        digest = entry_hash(
            prev_hash,
            id=int(str(row[0])),
            ts=float(str(row[1])),
            actor=str(row[2]),
            action=str(row[3]),
            target=str(row[4]),
            ip=str(row[5]),
            device=str(row[6]),
            details=str(row[7]),
        )
        chained.append((int(str(row[0])), prev_hash, digest))
        prev_hash = digest
    return chained


def _write_db(data_dir: Path, *statements: tuple[str, tuple[object, ...]]) -> None:
    conn = sqlite3.connect(data_dir / "tether.sqlite3", isolation_level=None)
    try:
        conn.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
        conn.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")
        for sql, parameters in statements:
            conn.execute(sql, parameters)
    finally:
        conn.close()


def _forge_head(data_dir: Path, count: int, hash: str) -> None:
    """Rewrite audit.head for a log of `count` entries ending in `hash`, in its own format."""
    path = data_dir / "audit.head"
    head = json.loads(path.read_text())
    head.update(count=count, hash=hash)
    path.write_text(json.dumps(head) + "\n")


def _rewrite_from(data_dir: Path, first: int, **changes: str) -> None:
    """Edit entry `first` and rehash it and every later entry; the head follows."""
    rows = [
        tuple(
            changes.get(c, v) if row[0] == first else v for c, v in zip(_COLUMNS, row, strict=True)
        )
        for row in _rows(data_dir)
    ]
    prev_hash = GENESIS if first == 1 else str(rows[first - 2][9])
    statements = [
        (f"UPDATE audit_log SET {column} = ? WHERE id = ?", (value, first))
        for column, value in changes.items()
    ]
    chained = _rehash(rows[first - 1 :], prev_hash)
    statements += [
        ("UPDATE audit_log SET prev_hash = ?, hash = ? WHERE id = ?", (p, h, i))
        for i, p, h in chained
    ]
    _write_db(data_dir, *statements)
    _forge_head(data_dir, chained[-1][0], chained[-1][2])


_COLUMNS = ("id", "ts", "actor", "action", "target", "ip", "device", "details", "prev_hash", "hash")


def _broken(data_dir: Path, *extra: str) -> str:
    result = _tether(data_dir, "audit", "verify", *extra)
    assert result.returncode == 1, result.stdout + result.stderr
    return result.stderr


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    _create_relays(data, *RELAYS)
    return data


def test_an_intact_log_verifies_and_says_every_entry_is_keyed(data_dir: Path) -> None:
    assert (data_dir / "audit.key").stat().st_mode & 0o777 == 0o600
    result = _tether(data_dir, "audit", "verify")
    assert result.returncode == 0, result.stderr
    assert f"ok: {len(RELAYS)} entries" in result.stdout
    assert "keyed: every entry is chained with the audit key" in result.stdout


def test_a_rewritten_entry_with_the_chain_and_head_recomputed_fails_there(data_dir: Path) -> None:
    _rewrite_from(data_dir, 2, actor="someone else")
    stderr = _broken(data_dir)
    assert "broken: entry 2: its contents do not match its hash under the audit key" in stderr


def test_a_rewrite_of_the_whole_log_fails_at_the_first_entry(data_dir: Path) -> None:
    _rewrite_from(data_dir, 1, target="nothing-happened")
    assert "broken: entry 1: its contents do not match its hash" in _broken(data_dir)


def test_deleting_the_newest_entry_and_recomputing_the_head_fails(data_dir: Path) -> None:
    rows = _rows(data_dir)
    _write_db(data_dir, ("DELETE FROM audit_log WHERE id = ?", (len(rows),)))
    _forge_head(data_dir, len(rows) - 1, str(rows[-2][9]))
    stderr = _broken(data_dir)
    assert "broken: the head file: its MAC does not match the audit key" in stderr


def test_an_anchor_kept_elsewhere_catches_a_rollback_to_an_older_authentic_head(
    data_dir: Path, tmp_path: Path
) -> None:
    """The attacker saved an authentic head file earlier and puts it back after deleting what
    came since: the log is a valid shorter chain, so only the user's own anchor can tell."""
    older_head = (data_dir / "audit.head").read_bytes()
    _create_relays(data_dir, "epsilon")
    printed = _tether(data_dir, "audit", "head")
    assert printed.returncode == 0, printed.stderr
    anchor = printed.stdout.strip()
    assert anchor.startswith(f"{len(RELAYS) + 1}:")
    kept = tmp_path / "anchor.txt"  # e.g. pasted into a ticket or another machine
    kept.write_text(printed.stdout)
    assert _tether(data_dir, "audit", "verify", "--anchor", anchor).returncode == 0

    _write_db(data_dir, ("DELETE FROM audit_log WHERE id = ?", (len(RELAYS) + 1,)))
    (data_dir / "audit.head").write_bytes(older_head)
    assert _tether(data_dir, "audit", "verify").returncode == 0  # locally consistent
    for given in (anchor, str(kept)):
        stderr = _broken(data_dir, "--anchor", given)
        assert f"broken: entry {len(RELAYS) + 1}: your anchor names entry" in stderr
        assert "the newest entries were deleted" in stderr


def test_an_unkeyed_log_is_re_anchored_at_upgrade_and_vouched_for_only_after(
    tmp_path: Path,
) -> None:
    """A log an older Tether wrote (plain SHA-256, a head file without MAC) gets a key at the
    next start; verify then says how far back it vouches, and an edit of the old entries with
    their chain recomputed still breaks at the first keyed entry."""
    data = tmp_path / "data"
    data.mkdir()
    migrate(data / "tether.sqlite3")
    old = [(i, 1000.0 + i, "cli", "relay_token_created", f"old-{i}", "", "", "{}") for i in (1, 2)]
    chained = _rehash([(*row, "", "") for row in old], GENESIS)
    _write_db(
        data,
        *(
            ("INSERT INTO audit_log VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", (*row, p, h))
            for row, (_, p, h) in zip(old, chained, strict=True)
        ),
    )
    (data / "audit.head").write_text(json.dumps({"count": 2, "hash": chained[-1][2]}) + "\n")

    _create_relays(data, "after-upgrade")
    result = _tether(data, "audit", "verify")
    assert result.returncode == 0, result.stderr
    assert "ok: 4 entries" in result.stdout  # 2 old, the re-anchoring, the new relay
    assert "keyed from entry 3" in result.stdout
    assert "unkeyed before entry 3" in result.stdout
    assert [r[3] for r in _rows(data)][2] == "audit.chain_keyed"

    rows = _rows(data)
    forged = _rehash([(1, *rows[0][1:4], "forged", *rows[0][5:]), rows[1]], GENESIS)
    _write_db(
        data,
        ("UPDATE audit_log SET target = 'forged' WHERE id = 1", ()),
        *(
            ("UPDATE audit_log SET prev_hash = ?, hash = ? WHERE id = ?", (p, h, i))
            for i, p, h in forged
        ),
    )
    stderr = _broken(data)
    assert "broken: entry 3: its prev_hash is not the hash of entry 2" in stderr


def test_a_keyed_log_whose_key_file_is_gone_is_not_continued(data_dir: Path) -> None:
    (data_dir / "audit.key").unlink()
    made = _tether(data_dir, "admin", "relay-token", "create", "after-loss")
    assert made.returncode != 0
    assert "the audit key file is missing" in made.stderr
