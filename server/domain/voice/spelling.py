"""Names written as the session writes them: the transcript's words that sound like one of the
session's file, project or agent names are replaced by the name as written.

Whisper hears a file name as words with a spoken or written dot ("tether relay dot py",
"event store.py", "upbox.py"). The agent needs `tether_relay.py`, so:

- a file name is looked for only before its own extension (`py` after "." or "dot"), among the
  1-3 words just before it, and matches when their letters are within a third of the name's
  letters in edit distance ("upbox" for "outbox"; "event store" for "events_store");
- a name without an extension (the workspace, an agent, `bootstrap`, or a file's one-word stem)
  matches only when 2-3 words spell it exactly ("code x" for Codex, "out box" for outbox).

Words are only ever replaced by names of this session, and the user reads the transcript in the
prompt box before sending it.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterable, Sequence

_WORD = re.compile(r"[A-Za-z0-9]+")
MAX_WORDS = 3  # words one name may have been heard as
SPOKEN_DOTS = frozenset({"dot", "not"})  # "not" is how tiny.en often hears a quick "dot"


def _letters(text: str) -> str:
    return "".join(_WORD.findall(text)).lower()


def edit_distance(a: Sequence[Hashable], b: Sequence[Hashable]) -> int:
    """Levenshtein distance between two short sequences (letters here; words in bench/voice.py)."""
    row = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        previous, row[0] = row[:], i
        for j in range(1, len(b) + 1):
            substitution = previous[j - 1] + (a[i - 1] != b[j - 1])
            row[j] = min(previous[j] + 1, row[j - 1] + 1, substitution)
    return row[-1]


class _Names:
    def __init__(self, names: Iterable[str]) -> None:
        self.files: dict[str, list[tuple[str, str]]] = {}  # extension: [(stem letters, name)]
        self.whole: dict[str, str] = {}  # letters: name
        for name in names:
            stem, dot, extension = name.rpartition(".")
            if dot and _letters(stem) and extension.isalnum():
                self.files.setdefault(extension.lower(), []).append((_letters(stem), name))
                if stem.isalpha():
                    self.whole.setdefault(stem.lower(), stem)
            elif _letters(name):
                self.whole[_letters(name)] = name


def respell(text: str, names: Iterable[str]) -> str:
    """`text` with the words that stand for one of `names` replaced by that name."""
    known = _Names(names)
    if not known.files and not known.whole:
        return text  # a clip sent without a session
    words = list(_WORD.finditer(text))
    lowered = [w.group().lower() for w in words]
    edits: list[tuple[int, int, str]] = []  # (first word, last word, name), left to right
    free = 0  # words before this one are already replaced
    for at, extension in enumerate(lowered):
        found = _file_before(text, words, lowered, at, free, known.files.get(extension, []))
        if found is not None:
            edits.append((found[0], at, found[1]))
            free = at + 1
    taken = {i for first, last, _ in edits for i in range(first, last + 1)}
    for first in range(len(words)):
        for count in range(MAX_WORDS, 1, -1):
            span = range(first, first + count)
            heard = "".join(lowered[first : first + count])
            if span.stop <= len(words) and heard in known.whole and not taken & set(span):
                edits.append((first, span.stop - 1, known.whole[heard]))
                taken |= set(span)
                break
    for first, last, name in sorted(edits, reverse=True):
        text = text[: words[first].start()] + name + text[words[last].end() :]
    return text


def _file_before(
    text: str,
    words: list[re.Match[str]],
    lowered: list[str],
    at: int,
    free: int,
    candidates: list[tuple[str, str]],
) -> tuple[int, str] | None:
    """The file name whose extension is word `at`, heard in the words before it: (its first
    word, the name), or None."""
    if not candidates or at == 0:
        return None
    last = at - 1
    if text[words[last].end() : words[at].start()].strip() != ".":
        if lowered[last] not in SPOKEN_DOTS:
            return None
        last -= 1
    if last < free:
        return None
    best: tuple[int, int, int, str] | None = None  # (distance, -stem length, first word, name)
    for first in range(last, max(free, last - MAX_WORDS + 1) - 1, -1):
        heard = "".join(lowered[first : last + 1])
        for stem, name in candidates:
            distance = edit_distance(heard, stem)
            found = (distance, -len(stem), first, name)  # equally close: the longer name
            if distance <= len(stem) // 3 and (best is None or found < best):
                best = found
    return None if best is None else (best[2], best[3])
