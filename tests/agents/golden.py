"""Golden transcripts: one format for every agent, replayed through its translator (no process).

A transcript (`tests/golden/<agent>/<name>.jsonl`) holds one JSON object per line:

    {"session": {"workspace": "...", "resume": "..."}}  where it was captured (optional, first)
    {"files": {"config.py": "..."}}             workspace files before the run (optional)
    {"from": "client", "message": {...}}        what Tether wrote to the agent's stdin
    {"from": "agent", "message": {...}}         what the agent wrote to its stdout
    {"from": "agent", "line": "..."}            a stdout line that is not a JSON object
    {"viewer": "prompt", "text": "..."}         a viewer's prompt
    {"viewer": "resolve", "decision": "...", "approval": "...", "message": "..."}
                                                a viewer's decision (approval: the only pending
                                                one unless named; message optional)
    {"viewer": "interrupt"}

Without a `session` workspace the replay runs in a fresh directory, written `{WORKSPACE}` in
the files; Tether's version is written `{VERSION}`. `replay()` starts the agent's translator,
feeds it the agent's lines and the viewer's actions in order, and returns the events it emitted
and the messages it wrote; `check()` compares them with `<name>.events.json` (GOLDEN_UPDATE=1
rewrites that file) and with the transcript's client lines. tests/agents/capture.py records
real runs in this format.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import msgspec

from protocol import messages as m
from protocol.version import SOFTWARE_VERSION
from relay.agent.config import AgentConfig
from relay.agent.translator import Translator
from relay.agent.translators.acp import AcpTranslator
from relay.agent.translators.claude import ClaudeTranslator
from relay.agent.translators.codex import CodexTranslator
from relay.agent.workspace_files import WorkspaceFiles
from relay.errors import CommandError

GOLDEN = Path(__file__).resolve().parent.parent / "golden"
WORKSPACE = "{WORKSPACE}"
VERSION = "{VERSION}"
TRANSLATORS: dict[str, type[Translator]] = {
    "claude": ClaudeTranslator,
    "codex": CodexTranslator,
    "gemini": AcpTranslator,
    "copilot": AcpTranslator,
    "acp": AcpTranslator,
}


def transcripts(agent: str = "*") -> list[Path]:
    return sorted(GOLDEN.glob(f"{agent}/*.jsonl"))


@dataclasses.dataclass
class Replay:
    """What a translator did with a transcript (an Outlet that records)."""

    workspace: Path
    placeholder: bool  # the transcript writes the workspace as {WORKSPACE}
    events: list[m.Event] = dataclasses.field(default_factory=list)
    sent: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    expected: list[dict[str, Any]] = dataclasses.field(default_factory=list)  # client lines
    tokens: list[str] = dataclasses.field(default_factory=list)
    answers: dict[int, CommandError | None] = dataclasses.field(default_factory=dict)  # prompts
    is_ready: bool = False
    gave_up: bool = False
    translator: Any = None  # the translator that wrote all this

    def emit(self, event: m.Event) -> None:
        self.events.append(event)

    def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)

    def resume_token(self, token: str) -> None:
        self.tokens.append(token)

    def ready(self) -> None:
        self.is_ready = True

    def give_up(self) -> None:
        self.gave_up = True

    def expect(self, request_id: int, timeout_s: float) -> None:
        """Transcripts hold the answers: no time limit passes."""

    def prompt_answered(self, number: int, refusal: CommandError | None) -> None:
        self.answers[number] = refusal

    def of(self, kind: type[Any]) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]

    def normalised(self, value: Any) -> Any:
        """`value` as JSON, with the workspace and Tether's version as the transcript writes
        them."""
        text = json.dumps(value)
        if self.placeholder:
            text = text.replace(str(self.workspace), WORKSPACE)
        ours = '"name": "tether", "version": '  # clientInfo: the only place our version appears
        return json.loads(text.replace(ours + json.dumps(SOFTWARE_VERSION), ours + f'"{VERSION}"'))


def replay(transcript: Path, scratch: Path, config: AgentConfig | None = None) -> Replay:
    """Run a transcript's agent and viewer sides through its agent's translator."""
    agent = transcript.parent.name
    text = transcript.read_text()
    first = json.loads(text.split("\n", 1)[0])
    session = first.get("session") or {}
    workspace = Path(session.get("workspace") or scratch)
    text = text.replace(WORKSPACE, str(workspace)).replace(VERSION, SOFTWARE_VERSION)
    entries = [json.loads(line) for line in text.splitlines() if line.strip()]
    translator, record = translator_for(agent, workspace, session.get("resume", ""), config)
    record.placeholder = "workspace" not in session
    translator.start()
    for entry in entries:
        _play(translator, record, entry)
    return record


def translator_for(
    agent: str, workspace: Path, resume: str = "", config: AgentConfig | None = None
) -> tuple[Translator, Replay]:
    """A translator of `agent` whose output is recorded (not started: call start())."""
    record = Replay(workspace, placeholder=False)
    config = config or AgentConfig(name=agent, executable=agent)
    files = WorkspaceFiles(str(workspace))
    translator = TRANSLATORS[agent](record, files, config, agent=agent, resume=resume)
    record.translator = translator
    return translator, record


def _play(translator: Translator, record: Replay, entry: dict[str, Any]) -> None:
    if "files" in entry:
        for name, content in entry["files"].items():
            (record.workspace / name).write_text(content)
    elif entry.get("from") == "client":
        record.expected.append(entry["message"])
    elif entry.get("from") == "agent":
        translator.on_line(entry["line"] if "line" in entry else json.dumps(entry["message"]))
    elif entry.get("viewer") == "prompt":
        translator.prompt(entry["text"])
    elif entry.get("viewer") == "resolve":
        approval = entry.get("approval")
        if approval is None:
            (approval,) = translator.approvals.pending()
        decision, message = entry["decision"], entry.get("message", "")
        translator.approvals.resolve(approval, decision, message, "")
    elif entry.get("viewer") == "interrupt":
        translator.interrupt()


def event_dicts(events: list[m.Event]) -> list[dict[str, Any]]:
    """Events as JSON, without `raw` (checked separately: native events must keep theirs)."""
    out = []
    for event in events:
        body = msgspec.to_builtins(event)
        body.pop("raw", None)
        out.append(body)
    return out


def compare_golden(got: list[dict[str, Any]], path: Path) -> None:
    """`got` must equal the golden events in `path`; GOLDEN_UPDATE=1 rewrites the file instead."""
    if os.environ.get("GOLDEN_UPDATE"):
        path.write_text(json.dumps(got, indent=1, ensure_ascii=False) + "\n")
    assert got == json.loads(path.read_text())


def check(transcript: Path, scratch: Path, config: AgentConfig | None = None) -> Replay:
    """Replay `transcript`; its events must be the golden ones, and what the translator wrote
    must be what the real agent was sent (and accepted)."""
    record = replay(transcript, scratch, config)
    golden = transcript.with_suffix("").with_suffix(".events.json")
    compare_golden(record.normalised(event_dicts(record.events)), golden)
    assert record.normalised(record.sent) == record.normalised(record.expected)
    assert record.is_ready and not record.gave_up, "the handshake did not finish"
    prompts = range(1, record.translator.prompts + 1)
    assert record.answers == dict.fromkeys(prompts), "a prompt was refused or not answered"
    assert all(e.raw is not None for e in record.of(m.Native))
    return record
