"""What the relay does to itself at start so that agents of the same user cannot read its secrets.

- Non-dumpable (`prctl(PR_SET_DUMPABLE, 0)`): other processes of the same user can no longer
  read /proc/<relay>/environ, /proc/<relay>/mem or ptrace it; only root can. Children get the
  flag reset by execve, so agents are ordinary processes.
- The token leaves the environment: `TETHER_RELAY_TOKEN` is removed from the process
  environment that relay/cli.py hands in (unsetenv: no child inherits it), and its value in
  the initial environment block, which /proc/<relay>/environ keeps showing after unsetenv, is
  overwritten with zeros.

Linux only; elsewhere both are skipped with a warning (the sandbox does not run there either).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys
from collections.abc import MutableMapping

log = logging.getLogger(__name__)

PR_SET_DUMPABLE = 4  # prctl option, <linux/prctl.h>
PR_GET_DUMPABLE = 3


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def make_undumpable() -> bool:
    """Mark this process non-dumpable; whether that worked."""
    libc = _libc()
    if libc is None or libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        log.warning("cannot make the relay non-dumpable: agents of this user may read its memory")
        return False
    return True


def dumpable() -> bool:
    """Whether this process is dumpable (readable by its user through /proc and ptrace)."""
    libc = _libc()
    return libc is None or bool(libc.prctl(PR_GET_DUMPABLE, 0, 0, 0, 0))


def take_from_environment(environ: MutableMapping[str, str], name: str) -> str | None:
    """Remove `name` from `environ` (the process's own) and wipe its value from the initial
    environment block; returns the value (None when it was not set)."""
    value = environ.pop(name, None)  # unsetenv: no child inherits it
    if value is not None:
        _wipe_initial(name)
    return value


def _wipe_initial(name: str) -> None:
    """Overwrite `NAME=value` in the block /proc/<pid>/environ shows, keeping its length."""
    libc = _libc()
    if libc is None:
        return
    prefix = name.encode() + b"="
    for address, entry in _initial_entries():
        if entry.startswith(prefix):
            ctypes.memset(address + len(prefix), 0, len(entry) - len(prefix))
            libc.unsetenv(name.encode())  # the wiped entry may still be in libc's list


def _initial_entries() -> list[tuple[int, bytes]]:
    """(address, bytes) of each string of the initial environment block, as the kernel put it:
    [env_start, env_end) from /proc/self/stat (fields 50 and 51)."""
    try:
        with open("/proc/self/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        start, end = int(fields[47]), int(fields[48])  # fields 50 and 51, counted after the name
    except (OSError, IndexError, ValueError):
        return []
    block = ctypes.string_at(start, end - start)
    entries, offset = [], 0
    for raw in block.split(b"\0"):
        entries.append((start + offset, raw))
        offset += len(raw) + 1
    return entries
