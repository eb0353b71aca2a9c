"""Paths and files of one workspace, as agents name them and as events show them.

Every path an agent reports goes through `shown()`: relative to the workspace when it is inside
it (`file_changed.path`, diff headers), else as the agent gave it. Files are read and written
for an agent (ACP's `fs/read_text_file` and `fs/write_text_file`) only through `inside()`: a path
whose symlinks resolve outside the workspace is refused with `FileAccessRefusedError`. Contents
read to compute a diff (`read_small()`) are capped, so a huge file costs no memory.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from pathlib import Path

from relay.workspaces import Workspace

MAX_FILE_BYTES = 8 << 20  # one file read for an agent; must fit in one line to the agent
MAX_SNAPSHOT_BYTES = 1 << 20  # files larger than this get no diff computed from disk


class FileAccessRefusedError(Exception):
    """A file the agent may not read or write; `outside` when it lies outside the workspace."""

    def __init__(self, message: str, *, outside: bool = False) -> None:
        super().__init__(message)
        self.outside = outside


class WorkspaceFiles:
    def __init__(self, root: str) -> None:
        self.root = Path(root).resolve()

    def shown(self, path: str) -> str:
        """`path` relative to the workspace when it is inside it, else unchanged."""
        if not path:
            return path
        candidate = self.root / path  # an absolute `path` replaces the root
        with contextlib.suppress(ValueError):
            return str(candidate.relative_to(self.root))
        with contextlib.suppress(ValueError, OSError):
            return str(candidate.resolve().relative_to(self.root))
        return path

    def inside(self, path: object) -> Path:
        """`path` with symlinks resolved, if that is inside the workspace; else refused."""
        if not isinstance(path, str) or not path:
            raise FileAccessRefusedError("path must be a non-empty string")
        resolved = (self.root / path).resolve()
        if not resolved.is_relative_to(self.root):
            raise FileAccessRefusedError(f"outside the workspace: {path}", outside=True)
        return resolved

    def read_for_agent(self, path: object, line: object = None, limit: object = None) -> str:
        """A text file inside the workspace, "" when it does not exist (agents ask before
        creating one); `line` (1-based) and `limit` select lines."""
        file = self.inside(path)
        if not file.exists():
            return ""
        if not file.is_file():
            raise FileAccessRefusedError(f"not a file: {file}")
        if file.stat().st_size > MAX_FILE_BYTES:
            raise FileAccessRefusedError(f"file over {MAX_FILE_BYTES} bytes: {file}")
        text = file.read_text(encoding="utf-8", errors="replace")
        if isinstance(line, int) or isinstance(limit, int):
            lines = text.splitlines(keepends=True)
            start = max(line - 1, 0) if isinstance(line, int) else 0
            end = start + limit if isinstance(limit, int) else len(lines)
            text = "".join(lines[start:end])
        return text

    def write_for_agent(self, path: object, content: object) -> str:
        """Write a text file inside the workspace (parents made); returns its old content."""
        file = self.inside(path)
        if not isinstance(content, str):
            raise FileAccessRefusedError("content must be text")
        if file.is_dir():
            raise FileAccessRefusedError(f"is a directory: {file}")
        old = ""
        with contextlib.suppress(FileNotFoundError):
            old = file.read_text(encoding="utf-8", errors="replace")
        try:
            file.parent.mkdir(parents=True, exist_ok=True)
            file.write_text(content, encoding="utf-8")
        except OSError as exc:
            raise FileAccessRefusedError(f"cannot write {file}: {exc.strerror}") from exc
        return old

    def read_small(self, path: str) -> str | None:
        """A file's text for a diff (relative paths from the workspace), None when it is
        missing, unreadable or over MAX_SNAPSHOT_BYTES."""
        if not path:
            return None
        try:
            file = self.root / path
            if file.stat().st_size > MAX_SNAPSHOT_BYTES:
                return None
            return file.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None


def workspace_of(cwd: str, workspaces: Sequence[Workspace]) -> Workspace | None:
    """The innermost workspace containing `cwd` (resolved), or None."""
    if not cwd or not os.path.isabs(cwd):
        return None
    path = Path(cwd).resolve()
    best: Workspace | None = None
    for workspace in workspaces:
        root = Path(workspace.path)
        if (path == root or root in path.parents) and (
            best is None or len(workspace.path) > len(best.path)
        ):
            best = workspace
    return best
