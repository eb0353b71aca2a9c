"""The workspace allow-list: the only directories agents may run in.

A workspace is a name (what the server and the PWA show, and what `start_session` names) and
an absolute path on this host. Sessions are started by name, never by path, so a server cannot
make the relay run anything outside the list.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path

NAME_FORBIDDEN = frozenset("=,/\\")  # separators of the flag and environment forms


@dataclasses.dataclass(frozen=True)
class Workspace:
    name: str
    path: str  # absolute, resolved; an existing directory when the relay started


def parse_workspace_list(value: object) -> list[tuple[str, str]]:
    """(name, path) pairs from any of the three spellings; an empty name means "basename".

    CLI: a list of "NAME=PATH" or "PATH"; environment: "name=path,name2=path2";
    config file: a table {name = "path"}. Raises ValueError.
    """
    if isinstance(value, Mapping):
        pairs = [(str(k), v) for k, v in value.items()]
        for name, path in pairs:
            if not isinstance(path, str):
                raise ValueError(f"workspace {name!r}: path must be text")
        return pairs
    if isinstance(value, str):
        items: Sequence[object] = [item for item in value.split(",") if item.strip()]
    elif isinstance(value, list | tuple):
        items = value
    else:
        raise ValueError("workspaces must be a table of name = path")
    pairs = []
    for item in items:
        if not isinstance(item, str):
            raise ValueError(f"workspace {item!r} must be text")
        name, sep, path = item.strip().partition("=")
        if not sep or "/" in name:  # a bare path (which may itself contain "=")
            name, path = "", item.strip()
        pairs.append((name, path))
    return pairs


def resolve_workspaces(
    pairs: list[tuple[str, str]], base: Path, home: Path
) -> tuple[Workspace, ...]:
    """Check every path is an existing directory; relative paths are taken from `base`."""
    seen: dict[str, Workspace] = {}
    for raw_name, raw_path in pairs:
        if not raw_path:
            raise ValueError(f"workspace {raw_name!r} has no path")
        path = Path(raw_path)
        if raw_path == "~" or raw_path.startswith("~/"):
            path = home / raw_path[2:]
        path = (base / path).resolve()
        name = raw_name or path.name
        if not name or NAME_FORBIDDEN & set(name):
            raise ValueError(f"workspace name {name!r} is empty or contains one of = , / \\")
        if not path.is_dir():
            raise ValueError(f"workspace {name!r}: {path} is not an existing directory")
        if name in seen:
            raise ValueError(f"workspace name {name!r} is given twice")
        seen[name] = Workspace(name, str(path))
    return tuple(seen.values())
