"""This terminal attached to one session: output out, keystrokes or lines and size in, until it
ends.

    screen  <- terminal_output bytes as they are; other events as cleaned text lines
    stdin   -> PTY session: send_input (UTF-8 decoded incrementally; Ctrl-] detaches, not sent)
               agent session: one line at a time, a prompt or a command (attach.agent_input)
    size    -> resize on every (re)subscribe and on SIGWINCH (PTY sessions)

Exit status: 0 when the session ended or the user detached (Ctrl-], /detach, or end of input
from a terminal), 128+N after signal N (SIGINT, SIGTERM, SIGHUP; the session keeps running),
1 when the server refused us for good. With stdin a terminal it is in raw mode throughout for a
PTY session, and cooked with Ctrl-] as its quit key for an agent session (attach.terminal
restores it on every way out).
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import logging
import os
import signal
import sys
import time
from typing import Any, BinaryIO

from attach import terminal
from attach.agent_input import Approvals, Detach, Say, Send, interpret
from attach.event_text import EventText, clean, ended_line
from attach.viewer_link import ViewerLink
from protocol import messages as m
from protocol.codes import ErrorCode

log = logging.getLogger(__name__)

DETACH_KEY = b"\x1d"  # Ctrl-], as in telnet
RESET_SCREEN = b"\x1bc"  # RIS: what a terminal shows is replaced by a full replay
RESIZE_REQUEST = "attach-resize"  # its refusals are not shown
DRAIN_TIMEOUT_S = 2.0  # on detach, for input typed before Ctrl-] to be sent
REFUSAL_REPEAT_S = 10.0  # the same refusal (e.g. relay offline, per keystroke) shown this rarely
LINE_REQUEST = "attach-line-"  # + a counter: commands typed as lines, whose refusals are all shown
MAX_LINE_BYTES = 64 << 10  # a longer line is not sent (the server's limit on one prompt)
EXIT_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Screen:
    """Where output goes. A terminal in raw mode no longer turns \\n into \\r\\n, so text
    written to one here does; notices start on a line of their own."""

    def __init__(
        self, out: BinaryIO, err: BinaryIO, *, raw_out: bool, raw_err: bool, shared: bool
    ) -> None:
        self._out = out
        self._err = err
        self._out_newline = b"\r\n" if raw_out else b"\n"
        self._err_newline = b"\r\n" if raw_err else b"\n"
        self._shared = shared  # both on the one terminal: share its lines
        self._line_start = True  # whether stdout's cursor is at the start of a line
        self.is_terminal = out.isatty()

    def output(self, data: bytes) -> None:
        if data:
            self._out.write(data)
            self._out.flush()
            self._line_start = data.endswith(b"\n")

    def text(self, text: str) -> None:
        self.output(text.encode("utf-8", "replace").replace(b"\n", self._out_newline))

    def line(self, text: str) -> None:
        """A line of the session's transcript, on stdout, starting on a line of its own."""
        start = "" if self._line_start else "\n"
        self.text(f"{start}{text}\n")

    def notice(self, text: str) -> None:
        """A line from tether itself (not the session), on stderr."""
        start = self._err_newline if self._shared and not self._line_start else b""
        self._err.write(start + text.encode("utf-8", "replace") + self._err_newline)
        self._err.flush()
        if self._shared:
            self._line_start = True


class Attachment:
    """A Follower (see attach.viewer_link) that drives a Screen and reads the keyboard."""

    def __init__(
        self,
        url: str,
        session_id: str,
        screen: Screen,
        stdin_fd: int,
        interactive: bool,
        token: str = "",
        agent: str = "pty",
    ):
        self.session_id = session_id
        self.agent = agent
        self.by_line = agent not in ("", "pty")  # input is prompts and commands, not keystrokes
        self.link = ViewerLink(url, session_id, self, token)
        self._screen = screen
        self._stdin_fd = stdin_fd
        self._interactive = interactive
        self._text = EventText()
        self._refusals: dict[str, float] = {}
        self._approvals = Approvals()
        self._lines_typed = 0
        self._finished: asyncio.Future[int] | None = None

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        self._finished = loop.create_future()
        for sig in EXIT_SIGNALS:
            loop.add_signal_handler(sig, self._on_signal, sig)
        loop.add_signal_handler(signal.SIGWINCH, self._send_size)
        if self.by_line:  # Ctrl-], the quit key of the terminal in line mode
            loop.add_signal_handler(signal.SIGQUIT, self._finish, 0, "detached")
        if self._interactive and self.by_line:
            self._screen.notice(
                f"attached to {clean(self.session_id)} ({clean(self.agent)}): type a prompt, "
                "/help for commands, Ctrl-] or Ctrl-D to detach"
            )
        elif self._interactive:
            self._screen.notice(f"attached to {clean(self.session_id)}; press Ctrl-] to detach")
        following = asyncio.create_task(self.link.run(), name="follow")
        typing = asyncio.create_task(self._forward_input(), name="keyboard")
        try:
            waiting: set[asyncio.Future[Any]] = {following, self._finished}
            await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            if self._finished.done():
                status = self._finished.result()
                if status == 0:  # detached: what was typed before goes out
                    await self.link.drain(DRAIN_TIMEOUT_S)
                return status
            following.result()  # raises LinkStoppedError
            return 0
        finally:
            for task in (following, typing):
                task.cancel()
            for task in (following, typing):
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            for sig in (*EXIT_SIGNALS, signal.SIGWINCH, signal.SIGQUIT):
                loop.remove_signal_handler(sig)

    def _finish(self, status: int, message: str) -> None:
        if self._finished is not None and not self._finished.done():
            self._screen.notice(message)
            self._finished.set_result(status)

    def _on_signal(self, sig: signal.Signals) -> None:
        self._finish(128 + sig, f"detached ({sig.name}); the session keeps running")

    # ------------------------------------------------------------------ Follower

    def subscribed(self) -> None:
        self._send_size()

    def _send_size(self) -> None:
        size = terminal.size(self._stdin_fd, 1) if self._interactive else None
        if self.by_line:
            return  # an agent has no terminal to size
        if size is not None:
            cols, rows = size
            resize = m.Resize(
                session_id=self.session_id, cols=cols, rows=rows, request_id=RESIZE_REQUEST
            )
            self.link.send(resize)

    def restart(self) -> None:
        if self._screen.is_terminal:
            self._screen.output(RESET_SCREEN)
        self._text = EventText()
        self._approvals = Approvals()
        self._screen.notice("the session's history was rebuilt on the server; replaying it")

    def show(self, event: m.Event) -> bool:
        self._approvals.see(event)
        if isinstance(event, m.TerminalOutput):
            self._screen.output(event.data)
        elif isinstance(event, m.SessionEnded):
            self._screen.text(self._text.flush())
            self._screen.line(ended_line(event))
            return True
        else:
            self._screen.text(self._text.render(event))
        return False

    def notice(self, text: str) -> None:
        self._screen.notice(text)

    def refused(self, code: str, message: str, request_id: str) -> None:
        if code == ErrorCode.SESSION_ENDED:
            return  # the session_ended event is on its way and says it better
        if request_id == RESIZE_REQUEST:
            return  # e.g. sent while the relay reconnects; the user did nothing to be told of
        if request_id.startswith(LINE_REQUEST):  # one refusal per line typed: show each
            self._approvals.refused(request_id, code)
            self._screen.notice(f"refused: {clean(message)} ({clean(code)})")
            return
        now = time.monotonic()
        if now - self._refusals.get(code, -REFUSAL_REPEAT_S) >= REFUSAL_REPEAT_S:
            self._refusals[code] = now
            self._screen.notice(f"refused: {message} ({code})")

    # ------------------------------------------------------------------ keyboard

    async def _forward_input(self) -> None:
        try:
            await (self._forward_lines() if self.by_line else self._forward_keys())
        except Exception as exc:  # task boundary: keep following without a keyboard
            log.exception("reading the keyboard failed")
            self._screen.notice(f"keyboard input stopped: {exc!r}")

    async def _forward_keys(self) -> None:
        reader = terminal.StdinReader(self._stdin_fd)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        while True:
            data = await reader.read()
            head, detach, _ = data.partition(DETACH_KEY)
            text = decoder.decode(head, final=not data or bool(detach))
            if text:
                await self._send_input(text)
            if detach:
                self._finish(0, "detached")
                return
            if not data:
                if self._interactive:  # the terminal went away
                    self._finish(0, "detached")
                return  # from a pipe or file: keep following until the session ends

    async def _send_input(self, text: str) -> None:
        await self._send(m.SendInput(session_id=self.session_id, data=text))

    async def _send(self, message: m.ClientMessage) -> None:
        if not self._interactive:
            await self.link.put(message)  # a pipe waits for the connection
        elif not self.link.send(message):
            what = "not sent" if self.by_line else "keystrokes dropped"
            self.refused(
                "not_connected", f"not connected; {what}", getattr(message, "request_id", "")
            )

    async def _forward_lines(self) -> None:
        reader = terminal.StdinReader(self._stdin_fd)
        partial = b""
        too_long = False  # the start of the line being read was dropped
        while True:
            data = await reader.read()
            head, detach, _ = data.partition(DETACH_KEY)
            *lines, partial = (partial + head).split(b"\n")
            if detach or not data:  # a last line without a newline counts too
                lines.append(partial)
            if len(partial) > MAX_LINE_BYTES:
                partial, too_long = b"", True
            for line in lines:
                if too_long:
                    too_long = False
                    self._screen.notice(f"a line over {MAX_LINE_BYTES} bytes was not sent")
                elif not await self._line(line.decode("utf-8", "replace").rstrip("\r")):
                    return
            if detach or (not data and self._interactive):
                self._finish(0, "detached")
                return
            if not data:
                return  # from a pipe or file: keep following until the session ends

    async def _line(self, line: str) -> bool:
        """Act on one line typed; False when it detaches."""
        self._lines_typed += 1
        request_id = f"{LINE_REQUEST}{self._lines_typed}"
        match interpret(line, self.session_id, request_id, self._approvals):
            case Send(message):
                await self._send(message)
            case Say(text):
                self._screen.notice(text)
            case Detach():
                self._finish(0, "detached")
                return False
        return True


async def attach(url: str, session_id: str, token: str = "", agent: str = "pty") -> int:
    """Attach stdin/stdout to the session behind the viewer socket `url`; the exit status.
    `token` is the server's console token (sent as a bearer token), `agent` the session's."""
    stdin_fd = 0
    interactive = os.isatty(stdin_fd)
    by_line = agent not in ("", "pty")
    tty_out, tty_err = (interactive and os.isatty(fd) for fd in (1, 2))
    if not interactive:
        mode: contextlib.AbstractContextManager[None] = contextlib.nullcontext()
    elif by_line:
        mode = terminal.line_mode(stdin_fd, DETACH_KEY)
    else:
        mode = terminal.raw_mode(stdin_fd)
    with mode:
        raw = not by_line
        screen = Screen(
            sys.stdout.buffer,
            sys.stderr.buffer,
            raw_out=raw and tty_out,
            raw_err=raw and tty_err,
            shared=tty_out and tty_err,
        )
        try:
            attachment = Attachment(url, session_id, screen, stdin_fd, interactive, token, agent)
            return await attachment.run()
        except BrokenPipeError:
            return 0  # whoever read our output stopped (`tether attach ID | head`)
