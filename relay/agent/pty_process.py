"""A child process in a pseudo-terminal, driven from the event loop without blocking it.

ptyprocess does the fork/exec; everything after that is ours: the master fd is non-blocking,
output is read by `loop.add_reader` callbacks, keystrokes go through a bounded write buffer that
`loop.add_writer` drains on partial writes, and the exit status is polled with waitpid(WNOHANG)
(portable; no child watcher, no thread). The child is its own session and process-group leader,
so signals go to its whole group.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import signal
from collections.abc import Callable, Mapping, Sequence

import ptyprocess  # type: ignore[import-untyped]

from protocol.codes import ErrorCode
from relay.errors import CommandError, SpawnError
from tether.private_files import inherited_umask

log = logging.getLogger(__name__)

READ_CHUNK_BYTES = 16 << 10  # one os.read, one terminal_output event
WRITE_BUFFER_MAX_BYTES = 1 << 20  # keystrokes queued for a child that is not reading
EXIT_POLL_S = 0.05  # how often waitpid(WNOHANG) looks for the exit; also the resume check
DRAIN_MAX_READS = 64  # after exit, read what is left in the terminal, at most 1 MiB


class PtyProcess:
    """One spawned child with its terminal. Create with `PtyProcess.spawn`."""

    def __init__(self, proc: ptyprocess.PtyProcess) -> None:
        self._proc = proc
        self._fd: int = proc.fd
        self._loop = asyncio.get_running_loop()
        self._write_buffer = bytearray()
        self._writer_added = False
        self._reader_added = False
        self._on_output: Callable[[bytes], None] = lambda data: None
        self._eof = False
        self._closed = False
        os.set_blocking(self._fd, False)

    @classmethod
    def spawn(
        cls, argv: Sequence[str], *, cwd: str, env: Mapping[str, str], cols: int, rows: int
    ) -> PtyProcess:
        """Start `argv` in `cwd` on a new terminal of rows x cols; raises SpawnError."""
        argv = list(argv)
        if "/" in argv[0] and not os.path.isabs(argv[0]):
            argv[0] = os.path.join(cwd, argv[0])

        umask = inherited_umask()  # the relay's own is private; files the program writes are not

        def in_child() -> None:  # errors here reach the parent through ptyprocess's pipe
            os.chdir(cwd)
            os.umask(umask)
            # Python ignores SIGPIPE and SIGXFSZ; a relay started with nohup or as a background
            # job ignores SIGHUP or SIGINT and SIGQUIT. A program in a terminal expects none of
            # that: Ctrl-C and hang-ups must reach it.
            for sig in (
                signal.SIGPIPE,
                signal.SIGXFSZ,
                signal.SIGHUP,
                signal.SIGINT,
                signal.SIGQUIT,
            ):
                signal.signal(sig, signal.SIG_DFL)

        try:
            proc = ptyprocess.PtyProcess.spawn(
                argv, env=dict(env), dimensions=(rows, cols), preexec_fn=in_child
            )
        except (OSError, ptyprocess.PtyProcessError) as exc:
            raise SpawnError(f"cannot start {argv[0]!r}: {exc}") from exc
        except Exception as exc:  # ptyprocess re-raises the child's error as its own class
            raise SpawnError(f"cannot start {argv[0]!r}: {type(exc).__name__}: {exc}") from exc
        return cls(proc)

    @property
    def pid(self) -> int:
        return int(self._proc.pid)

    @property
    def alive(self) -> bool:
        """Whether the child has not exited yet (reaps it when it has)."""
        try:
            return bool(self._proc.isalive())
        except ptyprocess.PtyProcessError:  # reaped elsewhere: it is gone either way
            return False

    @property
    def exit_code(self) -> int | None:
        """The exit status, or minus the signal number that killed it (like subprocess)."""
        if self._proc.exitstatus is not None:
            return int(self._proc.exitstatus)
        if self._proc.signalstatus is not None:
            return -int(self._proc.signalstatus)
        return None

    async def pump(self, on_output: Callable[[bytes], None], *, paused: Callable[[], bool]) -> None:
        """Deliver output to `on_output` until the child has exited and its output is read.

        While `paused()` is true no output is read, so a child writing a lot blocks in write().
        """
        self._on_output = on_output
        try:
            while True:
                if paused():
                    self._stop_reading()
                elif not self._eof:
                    self._start_reading()
                if not self.alive:
                    break
                await asyncio.sleep(EXIT_POLL_S)
            self._stop_reading()
            for _ in range(DRAIN_MAX_READS):
                if self._eof or not self._read_once():
                    break
        finally:
            self._stop_reading()

    def write(self, data: bytes) -> None:
        """Queue keystrokes; they are written as fast as the child reads them."""
        if self._closed or self._eof:
            raise CommandError(ErrorCode.SESSION_ENDED, "the terminal is closed")
        if len(self._write_buffer) + len(data) > WRITE_BUFFER_MAX_BYTES:
            raise CommandError(
                ErrorCode.BAD_REQUEST,
                f"input refused: {len(self._write_buffer)} bytes already wait for the program",
            )
        self._write_buffer += data
        if not self._writer_added:
            self._flush_writes()

    def resize(self, cols: int, rows: int) -> None:
        """Set the terminal size; the kernel sends SIGWINCH to the foreground job."""
        with contextlib.suppress(OSError):
            self._proc.setwinsize(rows, cols)

    def signal_group(self, sig: int) -> None:
        """Send `sig` to the child's process group (it leads its own), unless it was reaped."""
        if not self.alive:  # its pid may already belong to someone else
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)

    async def wait_exit(self, timeout_s: float) -> bool:
        """Whether the child exited within `timeout_s`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while self.alive:
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(EXIT_POLL_S)
        return True

    def close(self) -> None:
        """Close the master side; anything still on the terminal gets SIGHUP from the kernel."""
        if self._closed:
            return
        self._closed = True
        self._stop_reading()
        if self._writer_added:
            self._loop.remove_writer(self._fd)
            self._writer_added = False
        self._proc.fileobj.close()
        self._proc.closed = True  # keep ptyprocess's __del__ from sleeping in close()

    # ------------------------------------------------------------------ fd callbacks

    def _start_reading(self) -> None:
        if not self._reader_added and not self._closed:
            self._loop.add_reader(self._fd, self._on_readable)
            self._reader_added = True

    def _stop_reading(self) -> None:
        if self._reader_added:
            self._loop.remove_reader(self._fd)
            self._reader_added = False

    def _on_readable(self) -> None:
        if not self._read_once():
            self._stop_reading()

    def _read_once(self) -> bool:
        """One non-blocking read; False when nothing more can be read now."""
        try:
            data = os.read(self._fd, READ_CHUNK_BYTES)
        except BlockingIOError:
            return False
        except OSError as exc:  # EIO: every slave fd closed (Linux's EOF for a pty)
            if exc.errno != errno.EIO:
                log.warning("pty %d: read failed: %s", self.pid, exc)
            self._eof = True
            return False
        if not data:
            self._eof = True
            return False
        self._on_output(data)
        return True

    def _flush_writes(self) -> None:
        try:
            written = os.write(self._fd, self._write_buffer)
        except BlockingIOError:
            written = 0
        except OSError as exc:  # the terminal went away: the keystrokes have no reader
            log.debug("pty %d: write failed: %s", self.pid, exc)
            written = len(self._write_buffer)
        del self._write_buffer[:written]
        if self._write_buffer and not self._writer_added:
            self._loop.add_writer(self._fd, self._flush_writes)
            self._writer_added = True
        elif not self._write_buffer and self._writer_added:
            self._loop.remove_writer(self._fd)
            self._writer_added = False
