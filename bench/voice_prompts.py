"""The spoken-prompt set of bench/voice.py: what a developer says to a coding agent.

Reference texts name the project, its files and its agents the way they are written; espeak-ng
reads them aloud as written (it says "dot" for "." and "underscore" for "_").
"""

from __future__ import annotations

# The session the prompts are spoken into: its workspace, repository and the files its agent
# touched. These become the hot words.
WORKSPACE = "tether"
REPO_PATH = "/home/dev/src/tether"
AGENTS = ("claude", "codex")
FILES_TOUCHED = (
    "relay/outbox.py",
    "relay/tether_relay.py",
    "server/domain/fanout.py",
    "server/http/ws_client.py",
    "server/store/events_store.py",
    "protocol/messages.py",
    "pwa/src/app/recorder.ts",
    "docs/ARCHITECTURE.md",
    "tests/test_architecture.py",
    "scripts/bootstrap",
    "server/domain/voice/transcriber.py",
    "pyproject.toml",
)

PROMPTS = (
    "open tether_relay.py and fix the outbox test",
    "run the tests in test_architecture.py",
    "add a docstring to fanout.py",
    "why does ws_client.py close the socket",
    "rename the function in events_store.py",
    "update messages.py with a new event",
    "explain what the outbox does in the relay",
    "write a unit test for recorder.ts",
    "read ARCHITECTURE.md and summarise it",
    "add faster whisper to pyproject.toml",
    "ask codex to review the last commit",
    "tell claude to stop and show the diff",
    "the tether server crashes on start",
    "fix the type error in transcriber.py",
    "show me the failing test output",
    "commit the change with a short message",
    "check the bootstrap script for typos",
    "make the fanout queue smaller",
    "undo the last edit to outbox.py",
    "list every file that imports messages.py",
    "please run ruff and mypy on the server",
    "move the retry logic out of tether_relay.py",
    "what changed in ws_client.py since yesterday",
    "open a pull request for the tether voice branch",
    "add logging to events_store.py",
    "delete the unused import in fanout.py",
    "run the bench and print the results",
    "let codex finish the migration",
    "approve the edit to recorder.ts",
    "write the changelog for tether version two",
    "search the repository for the word outbox",
    "restart the relay and try again",
)

# espeak-ng voices and speeds (words per minute), cycled over the prompts.
VOICES = ("en-us", "en-gb", "en-us+f3", "en-gb-scotland", "en-us+m3", "en-gb-x-rp")
SPEEDS_WPM = (140, 160, 175, 150, 185)
