"""Exactly-once commands: the relay's memory of every command id, and the deadline check.

The server may deliver a command twice: it re-sends a start it got no answer for when the relay
reconnects, and a frame buffered on a socket the relay was too frozen to read is read after the
server gave up on it. So every command id is remembered with its outcome (relay/command_store.py)
and a command id seen before is answered from memory, never run again.

A command past its `deadline` (server clock) is refused `expired` without running, and that
refusal is remembered like any other outcome. The relay's own clock may be wrong: `ServerClock`
keeps the offset measured from the server's `hello` at each handshake.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from protocol.codes import ErrorCode
from protocol.messages import CommandResult, SessionCommand, StartSession
from relay.command_store import CommandMemory

log = logging.getLogger(__name__)


class ServerClock:
    """The server's clock as this relay estimates it: its own clock plus an offset.

    The offset is taken from the server's hello (transit time counts against the relay, so a
    deadline is, if anything, judged a little early). No hello time (0): offset unchanged.
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self.offset_s = 0.0

    def sync(self, server_time: float) -> None:
        if server_time > 0:
            self.offset_s = server_time - self._clock()
            if abs(self.offset_s) > 1.0:
                log.warning("this host's clock is %+.1f s off the server's", -self.offset_s)

    def now(self) -> float:
        return self._clock() + self.offset_s


def expired(command: SessionCommand, server_now: float) -> CommandResult | None:
    """The refusal of a command past its deadline, or None when it may run."""
    if command.deadline <= 0 or server_now <= command.deadline:
        return None
    late = server_now - command.deadline
    return CommandResult(
        command_id=command.command_id,
        ok=False,
        code=ErrorCode.EXPIRED,
        message=f"the command reached the relay {late:.1f} s after its deadline; not run",
    )


class CommandGate:
    """What stands between a command read from the socket and running it: memory, deadline."""

    def __init__(self, memory: CommandMemory, clock: ServerClock) -> None:
        self.memory = memory
        self.clock = clock

    async def answer(
        self, command: SessionCommand, run: Callable[[SessionCommand], Awaitable[CommandResult]]
    ) -> CommandResult:
        """The remembered outcome, a refusal past the deadline, or the outcome of running it."""
        if not command.command_id:  # not from a server that numbers commands: nothing to recall
            return expired(command, self.clock.now()) or await run(command)
        remembered = self.memory.recall(command.command_id)
        if remembered is not None:
            log.info("command %s seen before; answering from memory", command.command_id)
            return remembered
        result = expired(command, self.clock.now())
        if result is not None:
            log.info(
                "%s %s refused: %s", type(command).__name__, command.command_id, result.message
            )
        else:
            result = await run(command)
        # a start is what the server re-sends: its outcome must outlive a power cut
        self.memory.remember(result, durable=isinstance(command, StartSession))
        return result
