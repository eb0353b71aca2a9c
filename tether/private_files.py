"""Files only their owner can read: the server's data directory and a relay's state directory.

Both processes call `keep_private(directory)` at start, before they open anything in it:

- the umask becomes 0o077, so everything they create from then on (a database with its -wal and
  -shm, tokens, the audit head, the outbox, the lock, sockets) is the owner's alone;
- the directory is created 0700 when missing, and what an earlier version left readable is
  fixed: group and other bits are taken off the directory and off everything under it (symbolic
  links are not followed), so 0755 directories become 0700 and 0644 files 0600.

Programs these processes start for people (agents and shells, the server's local relay) get the
umask the process was started with (`inherited_umask()`): files an agent writes in a workspace
keep the modes their user expects.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

PRIVATE_UMASK = 0o077  # no bit for group or others on anything created
_inherited: list[int] = []  # the umask before `keep_private` first changed it


def keep_private(directory: Path) -> None:
    """Set the private umask, create `directory` (0700) and take group and other bits off it
    and everything under it."""
    previous = os.umask(PRIVATE_UMASK)
    if not _inherited:
        _inherited.append(previous)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    _restrict(directory)
    for root, dirs, files in os.walk(directory):
        for name in dirs + files:
            _restrict(Path(root) / name)


def inherited_umask() -> int:
    """The umask this process was started with, for the programs it starts."""
    if _inherited:
        return _inherited[0]
    current = os.umask(PRIVATE_UMASK)
    os.umask(current)
    return current


def _restrict(path: Path) -> None:
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:  # gone meanwhile (a socket or a temporary file)
        return
    if stat.S_ISLNK(mode) or not mode & 0o077:
        return
    os.chmod(path, stat.S_IMODE(mode) & ~0o077)
