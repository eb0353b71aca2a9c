"""Hot words: what the user is likely to say to this session's agent, to bias recognition.

Whisper models take a text prompt that conditions decoding. faster-whisper offers two places
for it, and the bench (bench/voice.py) measured that using both beats either alone:

- `initial_prompt`: a sentence in the style of the expected transcript, naming the workspace,
  the agents and the files as written (`tether_relay.py`), so the model learns their spelling;
- `hotwords`: the words those names are made of (`tether relay`), so it prefers them over
  similar-sounding common words.

The names as written also respell the transcript afterwards (spelling.py).

Sources: the session's workspace, the repository directory's name, the agents of the session
and of its relay, and the files the agent changed recently (`file_changed` events).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import msgspec

from server.domain.events import EventLog
from server.domain.records import SessionRecord
from server.domain.relays import Relays

MAX_FILES = 16  # a Whisper prompt holds at most 223 tokens; newest files first
MAX_PROMPT_CHARS = 600  # about 200 tokens of file names
SCAN_EVENTS = 2000  # how far back in the session's log file_changed events are looked for
AGENT_NAMES = {  # how people say (and Whisper writes) the agents' names
    "claude": "Claude",
    "codex": "Codex",
    "gemini": "Gemini",
    "copilot": "Copilot",
}
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]{2,}")  # words of 3+ letters inside a name


class HotWords(msgspec.Struct, frozen=True):
    prompt: str = ""  # for initial_prompt
    words: str = ""  # for hotwords
    names: tuple[str, ...] = ()  # as written, to respell the transcript with (spelling.py)

    def __bool__(self) -> bool:
        return bool(self.prompt or self.words)


class _Peek(msgspec.Struct):
    kind: str
    path: str = ""


class _Logged(msgspec.Struct):
    event: _Peek


_peek = msgspec.json.Decoder(list[_Logged])


def recent_files(chunk_bodies: Iterable[bytes]) -> list[str]:
    """File names (no directories) of the file_changed events in these chunks, newest first,
    each once. Chunk bodies are comma-separated logged events (server/domain/chunks.py)."""
    seen: dict[str, None] = {}
    for body in reversed(list(chunk_bodies)):
        for logged in reversed(_peek.decode(b"[" + body + b"]")):
            if logged.event.kind == "file_changed" and logged.event.path:
                name = logged.event.path.rstrip("/").rsplit("/", 1)[-1]
                seen.setdefault(name, None)
    return list(seen)[:MAX_FILES]


def hot_words(
    *, workspace: str, repo: str, agents: Iterable[str], files: Iterable[str]
) -> HotWords:
    agent_names = [AGENT_NAMES[a] for a in dict.fromkeys(agents) if a in AGENT_NAMES]
    projects = [p for p in dict.fromkeys((workspace, repo)) if p]
    file_list = list(dict.fromkeys(files))[:MAX_FILES]
    parts = []
    if projects:
        parts.append(f"Working on {' and '.join(projects)}")
        if agent_names:
            parts[-1] += f" with {' and '.join(agent_names)}"
    elif agent_names:
        parts.append(f"Working with {' and '.join(agent_names)}")
    if file_list:
        parts.append("Files: " + ", ".join(file_list))
    prompt = ". ".join(parts) + "." if parts else ""
    names = (*projects, *agent_names, *file_list)
    words = dict.fromkeys(w for name in names for w in _WORD.findall(name))
    return HotWords(
        prompt=prompt[:MAX_PROMPT_CHARS], words=" ".join(words)[:MAX_PROMPT_CHARS], names=names
    )


async def for_session(log: EventLog, relays: Relays, record: SessionRecord) -> HotWords:
    """The hot words of one session: its workspace and repository, its relay's agents and the
    files its agent changed within its last SCAN_EVENTS events."""
    relay = await relays.get(record.relay_id)
    repo = ""
    agents = [record.agent]
    if relay is not None:
        agents += relay.agents
        for workspace in relay.workspaces:
            if workspace.name == record.workspace:
                repo = workspace.path.rstrip("/").rsplit("/", 1)[-1]
    after = max(0, record.last_seq - SCAN_EVENTS)
    chunks = await log.page(record.id, after, SCAN_EVENTS)
    return hot_words(
        workspace=record.workspace,
        repo=repo,
        agents=agents,
        files=recent_files(chunk.body for chunk in chunks),
    )
