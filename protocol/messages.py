"""Every message on Tether's two sockets, as msgspec Structs.

One tagged union per direction (field `type`):

    RelayMessage   relay  -> server   (/ws/relay)
    ServerToRelay  server -> relay
    ClientMessage  viewer -> server   (/ws/client)
    ServerToClient server -> viewer

Every connection starts with `Hello` from both sides. Agent events are a second tagged union,
`Event` (field `kind`), carried inside `RelayEvent` (relay side, numbered by `relay_seq`) and
`LoggedEvent` (viewer side, numbered by the session's gap-free `seq` within its `epoch`).
Event kinds are facts; commands are imperative. Extend with defaults, never rename.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

# Limits shared by both ends. Raw payloads and outputs above these are cut by the sender.
MAX_FRAME_BYTES = 1 << 20  # one WebSocket message; bigger frames close the socket
MAX_RAW_BYTES = 16 << 10  # the agent-native `raw` field of an event, once encoded
MAX_OUTPUT_CHARS = 64 << 10  # command output / tool output kept in one event

SessionStatus = Literal[
    "starting", "running", "waiting_for_approval", "idle", "disconnected", "ended"
]


class _Event(msgspec.Struct, tag_field="kind", kw_only=True, omit_defaults=True):
    raw: Any = None  # the agent-native message this event came from, capped at MAX_RAW_BYTES


class SessionStarted(_Event, tag="session_started"):
    agent: str  # "pty", "claude", "codex", "gemini", "copilot", "acp"
    workspace: str  # workspace name from the relay's allow-list
    cwd: str = ""
    command: list[str] = []
    title: str = ""
    cols: int = 0
    rows: int = 0


class SessionEnded(_Event, tag="session_ended"):
    exit_code: int | None = None
    reason: str = ""  # "exited", "stopped", "relay_restarted", "spawn_failed", ...


class UserPrompt(_Event, tag="user_prompt"):
    text: str
    user: str = ""


class TextDelta(_Event, tag="text_delta"):
    text: str
    message_id: str = ""


class Message(_Event, tag="message"):
    text: str
    role: str = "assistant"
    message_id: str = ""


class Thinking(_Event, tag="thinking"):
    text: str


class ToolStarted(_Event, tag="tool_started"):
    tool_id: str
    name: str
    input: Any = None


class ToolFinished(_Event, tag="tool_finished"):
    tool_id: str
    output: str = ""
    is_error: bool = False


class FileChanged(_Event, tag="file_changed"):
    path: str  # relative to the session's workspace, for every agent
    diff: str = ""  # unified diff
    change: Literal["added", "modified", "deleted", "renamed"] = "modified"


class Command(_Event, tag="command"):
    command: str
    exit_code: int | None = None
    output: str = ""
    truncated: bool = False


class ApprovalRequested(_Event, tag="approval_requested"):
    approval_id: str
    tool: str
    summary: str = ""
    input: Any = None
    risk: Literal["low", "medium", "high"] = "medium"
    options: list[str] = []


class ApprovalResolved(_Event, tag="approval_resolved"):
    approval_id: str
    decision: Literal["approved", "approved_for_session", "denied", "expired", "cancelled"]
    by: str = ""
    message: str = ""


class Usage(_Event, tag="usage"):
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    cost_usd: float | None = None
    model: str = ""


class TerminalOutput(_Event, tag="terminal_output"):
    data: bytes  # raw PTY bytes (base64 in JSON)


class Status(_Event, tag="status"):
    state: SessionStatus
    detail: str = ""


class Error(_Event, tag="error"):
    message: str
    code: str = ""


class EventsLost(_Event, tag="events_lost"):
    """Logged by the server: events the relay numbered but can no longer resend (the server
    lost them, e.g. restored from a backup, and they are past the relay's retention window)."""

    first_relay_seq: int
    last_relay_seq: int
    reason: str = ""


class Native(_Event, tag="native"):
    """An agent message Tether does not map (yet): kept whole in `raw`, for debugging."""

    type: str = ""  # the agent's own name for it, when it has one


Event = (
    SessionStarted
    | SessionEnded
    | UserPrompt
    | TextDelta
    | Message
    | Thinking
    | ToolStarted
    | ToolFinished
    | FileChanged
    | Command
    | ApprovalRequested
    | ApprovalResolved
    | Usage
    | TerminalOutput
    | Status
    | Error
    | EventsLost
    | Native
)


# --------------------------------------------------------------------------- shared


class _Msg(msgspec.Struct, tag_field="type", kw_only=True, omit_defaults=True):
    pass


class Hello(_Msg, tag="hello"):
    """First message from both sides of every connection."""

    protocol_version: int
    software_version: str
    capabilities: list[str] = []
    time: float = 0.0  # the sender's wall clock, unix seconds; relays estimate the server's from it


class Since(msgspec.Struct, kw_only=True):
    epoch: str
    seq: int


# --------------------------------------------------------------------------- commands
# Sent by a viewer to the server (with `request_id`) and forwarded by the server to the relay
# (with `command_id`). Agent "pty" runs `command`, or the relay's shell when it is empty.
# The relay runs a command_id at most once and remembers its outcome; a command whose
# `deadline` (server clock, unix seconds; 0 = none) has passed is refused `expired`, not run.


class StartSession(_Msg, tag="start_session"):
    workspace: str  # a workspace name from the relay's allow-list
    session_id: str = ""  # chosen by the server when forwarding; viewers leave it empty
    relay_id: str = ""  # which relay; required from viewers
    agent: str = "pty"
    command: list[str] = []
    prompt: str = ""
    cols: int = 80
    rows: int = 24
    idempotency_key: str = ""  # a retry with the same key (same user) gets the same session
    request_id: str = ""
    command_id: str = ""
    deadline: float = 0.0


class SendInput(_Msg, tag="send_input"):
    session_id: str
    data: str  # keystrokes for PTY sessions, a prompt for agent sessions
    request_id: str = ""
    command_id: str = ""
    deadline: float = 0.0


class Resize(_Msg, tag="resize"):
    session_id: str
    cols: int
    rows: int
    request_id: str = ""
    command_id: str = ""
    deadline: float = 0.0


class Interrupt(_Msg, tag="interrupt"):
    session_id: str
    request_id: str = ""
    command_id: str = ""
    deadline: float = 0.0


class StopSession(_Msg, tag="stop_session"):
    session_id: str
    request_id: str = ""
    command_id: str = ""
    deadline: float = 0.0


Decision = Literal["approve", "approve_for_session", "deny"]


class ResolveApproval(_Msg, tag="resolve_approval"):
    """A viewer's answer to an `approval_requested` event; the first answer wins."""

    session_id: str
    approval_id: str
    decision: Decision
    message: str = ""  # shown to the agent with a denial
    by: str = ""  # who decided; set by the server when forwarding
    request_id: str = ""
    command_id: str = ""
    deadline: float = 0.0


SessionCommand = StartSession | SendInput | Resize | Interrupt | StopSession | ResolveApproval


# --------------------------------------------------------------------------- relay <-> server


class Workspace(msgspec.Struct, kw_only=True):
    name: str
    path: str


class PendingApproval(msgspec.Struct, kw_only=True):
    session_id: str
    approval_id: str


class SessionMark(msgspec.Struct, kw_only=True):
    """What the relay holds of one session: the server compares it with what it committed."""

    session_id: str
    agent: str = ""
    workspace: str = ""
    first_kept_seq: int  # lowest relay_seq still in the outbox (acked or not); last + 1 if none
    last_relay_seq: int  # highest relay_seq the relay has numbered
    live: bool = True


class RelayInfo(_Msg, tag="relay_info"):
    """Sent by the relay after `hello`: what it offers, which sessions are alive, and its marks.

    The server answers with `committed`; the relay streams no events before that answer."""

    hostname: str = ""
    workspaces: list[Workspace] = []
    agents: list[str] = []
    live_sessions: list[str] = []
    pending_approvals: list[PendingApproval] = []  # still answerable after a reconnect
    sessions: list[SessionMark] = []  # every session live, with events kept, or lately ended
    sandbox: str = ""  # how agents are confined: "bwrap", "none"; "" from relays before it
    sandbox_note: str = ""  # why they are not (or where not), in words for the app


class RelayEvent(msgspec.Struct, kw_only=True):
    session_id: str
    relay_seq: int  # per session, from 1, assigned and persisted by the relay's outbox
    ts: float  # unix seconds, relay clock
    event: Event


class Events(_Msg, tag="events"):
    """A batch of events from the relay's outbox, oldest first."""

    events: list[RelayEvent]


class CommandResult(_Msg, tag="command_result"):
    command_id: str
    ok: bool
    code: str = ""  # an ErrorCode when not ok
    message: str = ""


RelayMessage = Hello | RelayInfo | Events | CommandResult


class Ack(_Msg, tag="ack"):
    """Highest committed relay_seq per session; the relay may drop those from its outbox."""

    acked: dict[str, int]


class Committed(_Msg, tag="committed"):
    """The answer to `relay_info`: the server's committed last_relay_seq per marked session.

    The relay resends what it holds above these, and numbers new events above them."""

    sessions: dict[str, int]


class RelayError(_Msg, tag="error"):
    """A problem with something the relay sent; `session_id` names the session concerned."""

    code: str
    message: str
    session_id: str = ""


ServerToRelay = (
    Hello
    | Committed
    | Ack
    | RelayError
    | StartSession
    | SendInput
    | Resize
    | Interrupt
    | StopSession
    | ResolveApproval
)


# --------------------------------------------------------------------------- viewer <-> server


class Subscribe(_Msg, tag="subscribe"):
    session_id: str
    since: Since | None = None  # the last event the client has; null replays everything
    request_id: str = ""


class Unsubscribe(_Msg, tag="unsubscribe"):
    session_id: str
    request_id: str = ""


ClientMessage = (
    Hello
    | Subscribe
    | Unsubscribe
    | StartSession
    | SendInput
    | Resize
    | Interrupt
    | StopSession
    | ResolveApproval
)


class Subscribed(_Msg, tag="subscribed"):
    """Answer to `subscribe`. `recovered` false: drop what you have, a full replay follows."""

    session_id: str
    epoch: str
    recovered: bool
    last_seq: int  # the session's newest seq when the subscription started
    request_id: str = ""


class LoggedEvent(msgspec.Struct, kw_only=True):
    seq: int  # per session, 1, 2, 3, ... without gaps within an epoch
    ts: float
    event: Event


class SessionEvents(_Msg, tag="session_events"):
    """Events of one session, in seq order. Clients drop any with seq <= the last they hold."""

    session_id: str
    epoch: str
    events: list[LoggedEvent]


class Result(_Msg, tag="result"):
    """Outcome of a client request that carried a `request_id`."""

    request_id: str
    ok: bool
    session_id: str = ""
    code: str = ""  # an ErrorCode when not ok
    message: str = ""


class ClientError(_Msg, tag="error"):
    """A problem with a message that carried no request_id, or a session-level failure."""

    code: str
    message: str
    session_id: str = ""


ServerToClient = Hello | Subscribed | SessionEvents | Result | ClientError

UNIONS: dict[str, Any] = {
    "RelayMessage": RelayMessage,
    "ServerToRelay": ServerToRelay,
    "ClientMessage": ClientMessage,
    "ServerToClient": ServerToClient,
    "Event": Event,
}
