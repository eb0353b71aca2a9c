"""The spoken-prompt set of bench/voice.py: what a developer says to a coding agent.

Reference texts name the project, its files and its agents the way they are written; espeak-ng
reads them aloud as written (it says "dot" for "." and "underscore" for "_"). The prompts marked
"held out" were written after the hot words, beam size and respelling (server/domain/voice) had
been settled on the first 40, and first measured with them unchanged, to check that those were
not fitted to the first 40. The silence padding was chosen on all 70 (docs/voice.md).
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

# What a developer says to a coding agent, in three kinds (the bench reports each):
FILE_PROMPTS = (  # naming a file the agent touched, as written
    "open outbox.py and fix the failing test",
    "add a docstring to fanout.py",
    "rename the function in events_store.py",
    "update messages.py with a new event",
    "write a unit test for recorder.ts",
    "read ARCHITECTURE.md and summarise it",
    "fix the type error in transcriber.py",
    "undo the last edit to outbox.py",
    "delete the unused import in fanout.py",
    "approve the edit to recorder.ts",
    "move the retry logic out of tether_relay.py",
    # held out
    "look at ws_client.py and tell me why it reconnects",
    "add a test for the empty case in messages.py",
    "refactor transcriber.py so the model loads once",
    "what does bootstrap do before it installs anything",
    "check pyproject.toml for unused dependencies",
    "the bug is somewhere in events_store.py",
    "show me the diff for recorder.ts",
    "copy the helper from outbox.py into fanout.py",
    "explain test_architecture.py to me",
    "update ARCHITECTURE.md with the new layer",
)
NAME_PROMPTS = (  # naming the project, its parts or an agent
    "explain what the outbox does in the relay",
    "ask codex to review the last commit",
    "tell claude to stop and show the diff",
    "the tether server crashes on start",
    "make the fanout queue smaller",
    "let codex finish the migration",
    "search the repository for the word outbox",
    "restart the relay and try again",
    "write the changelog for tether version two",
    "check the bootstrap script for typos",
    "open a pull request for the tether voice branch",
    "have claude explain how the events store works",
    # held out
    "ask claude to write the release notes",
    "codex should run the linter first",
    "is the tether relay still connected",
    "tell codex the tests pass now",
    "claude, please stop editing that file",
    "does the outbox keep events after a crash",
    "compare the fanout with the old version",
    "give the tether server a better error message",
)
PLAIN_PROMPTS = (  # everyday instructions
    "show me the failing test output",
    "commit the change with a short message",
    "run the bench and print the results",
    "run the whole test suite and tell me what fails",
    "explain this error message",
    "why is this function so slow",
    "add type hints to the public functions",
    "keep going",
    "stop, that is the wrong file",
    "yes, go ahead and make the change",
    "revert that and try a simpler approach",
    "what does the last line of the log mean",
    "split this function into two smaller ones",
    "install the missing package and run it again",
    "write a short summary of what you changed",
    "look for memory leaks in the server",
    "please run ruff and mypy on the server",
    # held out
    "make the error message shorter",
    "that looks right, carry on",
    "no, do not delete that directory",
    "print the stack trace again",
    "format the code and fix the warnings",
    "which tests are still failing",
    "use a dictionary instead of a list here",
    "rewrite the loop without recursion",
    "add a comment that explains the timeout",
    "pull the latest changes and rebuild",
    "how long does the build take",
    "rename the variable to something clearer",
)
KINDS = ("files", "names", "plain")
PROMPTS = (
    *((text, "files") for text in FILE_PROMPTS),
    *((text, "names") for text in NAME_PROMPTS),
    *((text, "plain") for text in PLAIN_PROMPTS),
)

# espeak-ng voices and speeds (words per minute), cycled over the prompts: 5 and 4 have no common
# factor, so every voice speaks at every speed.
VOICES = ("en-us", "en-gb", "en-us+f3", "en-us+m3", "en-gb-x-rp")
SPEEDS_WPM = (140, 160, 175, 150)
# A regional voice that tiny.en barely follows (65-100 % of words wrong without hot words): every
# STRESS_EVERY-th prompt is spoken in it too, and reported on its own, outside wer_percent.
STRESS_VOICE = "en-gb-scotland"
STRESS_EVERY = 5
