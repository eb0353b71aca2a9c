"""Unified diffs for `file_changed` events, and output cut to a size an event may carry
(`truncate` keeps the end, where errors are; `keep_head` the start of a diff)."""

from __future__ import annotations

import difflib

from protocol.messages import MAX_OUTPUT_CHARS


def unified_diff(path: str, old: str, new: str) -> str:
    """`diff -u` of one file; an empty `old` shows an added file, an empty `new` a deleted one."""
    lines = difflib.unified_diff(
        old.splitlines(keepends=True),
        new.splitlines(keepends=True),
        fromfile="/dev/null" if not old else f"a/{path}",
        tofile="/dev/null" if not new else f"b/{path}",
    )
    return "".join(
        line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines
    )


def truncate(text: str, limit: int = MAX_OUTPUT_CHARS) -> tuple[str, bool]:
    """`text` cut to `limit` characters keeping its end (where errors are), and whether it was."""
    if len(text) <= limit:
        return text, False
    return "…" + text[-(limit - 1) :], True


def keep_head(diff: str) -> str:
    """A diff cut to what an event carries, keeping its start (headers, first hunks)."""
    if len(diff) <= MAX_OUTPUT_CHARS:
        return diff
    return diff[:MAX_OUTPUT_CHARS] + f"\n… diff cut: {len(diff)} characters in all\n"
