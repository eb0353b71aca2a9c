"""This process's terminal: raw mode or line mode (always restored), its size, stdin as an async
byte source.

Raw mode (PTY sessions) and line mode (agent sessions) are entered only as context managers, so
they are undone on normal exit, on exceptions and on the signals the attach loop turns into a
clean exit (SIGINT, SIGTERM, SIGHUP). An `atexit` hook is a last resort for an interpreter exit
that skips the `finally`. A SIGKILL leaves the terminal as it was set (`reset` repairs it).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import termios
import threading
import tty
from collections.abc import Iterator

READ_BYTES = 4096  # one read of stdin; also bounds one send_input (the server allows 64 KiB)
THREAD_CHUNKS = 4  # chunks read ahead by the fallback thread

_Attributes = list[int | list[bytes | int]]


@contextlib.contextmanager
def raw_mode(fd: int) -> Iterator[None]:
    """Put the terminal on `fd` in raw mode for the duration; restore it whatever happens."""
    with _restored(fd):
        tty.setraw(fd, termios.TCSADRAIN)
        yield


@contextlib.contextmanager
def line_mode(fd: int, detach_key: bytes) -> Iterator[None]:
    """Keep the terminal on `fd` cooked (it edits and echoes lines, Ctrl-D ends input) and make
    `detach_key` its quit character, so typing it raises SIGQUIT at once instead of waiting in
    the line; restore it whatever happens."""
    with _restored(fd):
        mode = termios.tcgetattr(fd)
        mode[3] |= termios.ICANON | termios.ECHO | termios.ISIG  # local flags
        chars = list(mode[6])
        chars[termios.VQUIT] = detach_key
        mode[6] = chars
        termios.tcsetattr(fd, termios.TCSADRAIN, mode)
        yield


@contextlib.contextmanager
def _restored(fd: int) -> Iterator[None]:
    saved: _Attributes = termios.tcgetattr(fd)

    def restore() -> None:
        with contextlib.suppress(termios.error, OSError):
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)

    atexit.register(restore)
    try:
        yield
    finally:
        restore()
        atexit.unregister(restore)


def size(*fds: int) -> tuple[int, int] | None:
    """(cols, rows) of the first of `fds` that is a terminal with a known size."""
    for fd in fds:
        try:
            cols, rows = os.get_terminal_size(fd)
        except OSError:
            continue
        if cols > 0 and rows > 0:
            return cols, rows
    return None


class StdinReader:
    """Reads a file descriptor when asked to (so a slow consumer is never flooded): readiness
    from the event loop where the descriptor supports polling (terminals, pipes, sockets), a
    daemon thread where it does not (regular files, /dev/null). The descriptor is never switched
    to non-blocking mode: that flag is shared with the shell that started us and outlives us.
    """

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._loop = asyncio.get_running_loop()
        self._chunks: asyncio.Queue[bytes] | None = None  # only for the thread fallback
        try:
            self._loop.add_reader(fd, lambda: None)
            self._loop.remove_reader(fd)
        except (PermissionError, OSError, ValueError):
            self._chunks = asyncio.Queue(THREAD_CHUNKS)
            threading.Thread(target=self._read_blocking, daemon=True).start()

    async def read(self) -> bytes:
        """The next chunk; b"" at end of input."""
        if self._chunks is not None:
            return await self._chunks.get()
        while True:
            readable: asyncio.Future[None] = self._loop.create_future()
            self._loop.add_reader(self._fd, _resolve, readable)
            try:
                await readable
            finally:
                self._loop.remove_reader(self._fd)
            try:
                return os.read(self._fd, READ_BYTES)
            except BlockingIOError:
                continue
            except OSError:
                return b""  # a terminal that went away reads as end of input

    def _read_blocking(self) -> None:
        assert self._chunks is not None
        while True:
            try:
                data = os.read(self._fd, READ_BYTES)
            except OSError:
                data = b""
            try:
                asyncio.run_coroutine_threadsafe(self._chunks.put(data), self._loop).result()
            except (RuntimeError, asyncio.CancelledError):
                return  # the loop is gone
            if not data:
                return


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
