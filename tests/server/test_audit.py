"""The audit log's hash chain, checked by the real `tether audit verify` on a real database.

Each test writes entries through the server's own code, tampers with the SQLite file as an
attacker with write access to it would (dropping the append-only triggers first), and runs
the command a user would run.
"""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
from pathlib import Path

import pytest

from server.domain.audit import GENESIS, Audit, entry_hash
from server.store.audit_store import AuditStore
from server.store.db import Database
from tests.harness import ROOT, tether_argv

ENTRIES = 5


def _record(data_dir: Path, count: int, *, concurrently: bool = False) -> None:
    async def run() -> None:
        db = await Database.open(data_dir / "tether.sqlite3")
        try:
            audit = Audit(AuditStore(db, data_dir / "audit.head"))
            calls = [
                audit.record(
                    "relay_token_created",
                    actor="cli",
                    target=f"relay-{i}",
                    ip="127.0.0.1",
                    device="test",
                    details={"name": f"host-{i}", "n": i},
                )
                for i in range(count)
            ]
            if concurrently:
                await asyncio.gather(*calls)
            else:
                for call in calls:
                    await call
        finally:
            await db.close()

    asyncio.run(run())


def _verify(data_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        tether_argv("audit", "--data-dir", str(data_dir), "verify"),
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )


def _tamper(data_dir: Path, *statements: str) -> None:
    conn = sqlite3.connect(data_dir / "tether.sqlite3", isolation_level=None)
    try:
        conn.execute("DROP TRIGGER audit_log_no_update")
        conn.execute("DROP TRIGGER audit_log_no_delete")
        for statement in statements:
            conn.execute(statement)
    finally:
        conn.close()


def _rows(data_dir: Path) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(data_dir / "tether.sqlite3")
    try:
        return conn.execute("SELECT * FROM audit_log ORDER BY id").fetchall()
    finally:
        conn.close()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    _record(data, ENTRIES)
    return data


def _assert_broken(data_dir: Path, entry: int | str, words: str) -> None:
    result = _verify(data_dir)
    assert result.returncode == 1, result.stdout + result.stderr
    where = f"broken: entry {entry}:" if isinstance(entry, int) else f"broken: {entry}:"
    assert where in result.stderr, result.stderr
    assert words in result.stderr, result.stderr


def test_an_intact_log_verifies_with_its_count_and_head(data_dir: Path) -> None:
    result = _verify(data_dir)
    head = _rows(data_dir)[-1][-1]
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == f"ok: {ENTRIES} entries, head {head}"


def test_an_empty_log_verifies(tmp_path: Path) -> None:
    _record(tmp_path, 0)
    result = _verify(tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == f"ok: 0 entries, head {GENESIS}"


def test_concurrent_appends_never_fork_the_chain(tmp_path: Path) -> None:
    _record(tmp_path, 40, concurrently=True)
    _record(tmp_path, 10)  # a second process continues the same chain
    rows = _rows(tmp_path)
    assert [r[0] for r in rows] == list(range(1, 51))
    assert len({r[8] for r in rows}) == 50  # every prev_hash distinct: no two share a parent
    assert _verify(tmp_path).stdout.startswith("ok: 50 entries")


def test_the_database_refuses_updates_and_deletes(data_dir: Path) -> None:
    conn = sqlite3.connect(data_dir / "tether.sqlite3")
    try:
        for statement in ("UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log"):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                conn.execute(statement)
    finally:
        conn.close()


@pytest.mark.parametrize("column", ["ts", "actor", "action", "target", "ip", "device", "details"])
def test_editing_any_field_of_an_entry_is_detected(data_dir: Path, column: str) -> None:
    value = "1.5" if column == "ts" else "'{}'" if column == "details" else "'forged'"
    _tamper(data_dir, f"UPDATE audit_log SET {column} = {value} WHERE id = 3")
    _assert_broken(data_dir, 3, "the entry was edited")


def test_editing_the_last_entry_is_detected(data_dir: Path) -> None:
    _tamper(data_dir, f"UPDATE audit_log SET actor = 'someone else' WHERE id = {ENTRIES}")
    _assert_broken(data_dir, ENTRIES, "the entry was edited")


def test_an_edit_with_the_rest_of_the_chain_recomputed_is_detected(data_dir: Path) -> None:
    """The attacker knows the algorithm and rehashes every entry from the edited one on, but
    not the key: the edited entry's own hash gives it away (tests/security/test_audit_chain.py
    has the head file forged too)."""
    rows = _rows(data_dir)
    statements = ["UPDATE audit_log SET actor = 'someone else' WHERE id = 2"]
    prev_hash = str(rows[0][9])
    for row in rows[1:]:
        actor = "someone else" if row[0] == 2 else row[2]
        digest = entry_hash(
            prev_hash,
            id=int(str(row[0])),
            ts=float(str(row[1])),
            actor=str(actor),
            action=str(row[3]),
            target=str(row[4]),
            ip=str(row[5]),
            device=str(row[6]),
            details=str(row[7]),
        )
        statements.append(
            f"UPDATE audit_log SET prev_hash = '{prev_hash}', hash = '{digest}' WHERE id = {row[0]}"
        )
        prev_hash = digest
    _tamper(data_dir, *statements)
    _assert_broken(data_dir, 2, "its contents do not match its hash under the audit key")


def test_reordering_entries_is_detected(data_dir: Path) -> None:
    """Rows 2 and 4 swap places: each keeps its contents and hashes, the ids are exchanged."""
    _tamper(
        data_dir,
        "UPDATE audit_log SET id = 100 WHERE id = 2",
        "UPDATE audit_log SET id = 2 WHERE id = 4",
        "UPDATE audit_log SET id = 4 WHERE id = 100",
    )
    _assert_broken(data_dir, 2, "reordered")


def test_swapping_contents_between_entries_is_detected(data_dir: Path) -> None:
    def swap(c: str) -> str:
        return f"UPDATE audit_log SET {c} = (SELECT {c} FROM audit_log AS o WHERE o.id = 5) " + (
            "WHERE id = 4"
        )

    _tamper(data_dir, swap("target"), swap("details"))
    _assert_broken(data_dir, 4, "the entry was edited")


@pytest.mark.parametrize(
    ("deleted", "entry", "words"),
    [
        ((1,), 1, "it is missing: the next entry is 2"),
        ((3,), 3, "it is missing: the next entry is 4"),
        ((ENTRIES,), ENTRIES, "the newest entries were deleted"),
        ((ENTRIES - 1, ENTRIES), ENTRIES - 1, "the newest entries were deleted"),
    ],
    ids=["first", "middle", "last", "last-two"],
)
def test_deleting_any_entry_is_detected(
    data_dir: Path, deleted: tuple[int, ...], entry: int, words: str
) -> None:
    ids = ", ".join(map(str, deleted))
    _tamper(data_dir, f"DELETE FROM audit_log WHERE id IN ({ids})")
    _assert_broken(data_dir, entry, words)


def test_deleting_the_first_entry_and_renumbering_is_detected(data_dir: Path) -> None:
    _tamper(data_dir, "DELETE FROM audit_log WHERE id = 1", "UPDATE audit_log SET id = id - 1")
    _assert_broken(data_dir, 1, "not the genesis hash")


def test_deleting_everything_is_detected(data_dir: Path) -> None:
    _tamper(data_dir, "DELETE FROM audit_log")
    _assert_broken(data_dir, 1, "the newest entries were deleted")


def test_a_missing_head_file_is_reported(data_dir: Path) -> None:
    (data_dir / "audit.head").unlink()
    _assert_broken(data_dir, "the head file", "it is missing")


def test_entries_after_the_head_file_are_noted_but_pass(data_dir: Path) -> None:
    head = (data_dir / "audit.head").read_bytes()
    _record(data_dir, 2)
    (data_dir / "audit.head").write_bytes(head)  # e.g. the head file restored from a backup
    result = _verify(data_dir)
    assert result.returncode == 0, result.stderr
    assert f"ok: {ENTRIES + 2} entries" in result.stdout
    assert "the newest 2 entries come after the head file's anchor" in result.stdout


def test_verify_without_a_database_says_so(tmp_path: Path) -> None:
    result = _verify(tmp_path / "nothing")
    assert result.returncode == 2
    assert "no database at" in result.stderr
