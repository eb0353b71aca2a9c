"""The one rule for names: 1-64 printable characters.

It covers what people type (user, passkey and relay names) and what a relay says about itself
(its hostname, its workspace and agent names, its session ids): a relay, or whoever holds its
token, is no more trusted to write the server's lists than a person is. Names people type are
normalised (NFC, outer spaces dropped) and refused when they still break the rule; a relay's
strings are taken exactly as sent or not at all (`is_clean`), since the relay matches them
byte for byte when the server names them back.
"""

from __future__ import annotations

import unicodedata

from server.domain.errors import BadRequestError

MAX_NAME_CHARS = 64  # fits a phone's list row; no real hostname, workspace or id is longer


def _valid(name: str) -> bool:
    return 1 <= len(name) <= MAX_NAME_CHARS and name.isprintable()


def clean_name(name: str, what: str) -> str:
    """`name` normalised; BadRequestError when it breaks the rule."""
    name = unicodedata.normalize("NFC", name).strip()
    if not _valid(name):
        raise BadRequestError(f"{what} must be 1-{MAX_NAME_CHARS} printable characters")
    return name


def is_clean(name: str) -> bool:
    """Whether a relay-supplied string keeps the rule as it is (needs no normalising)."""
    return _valid(name) and unicodedata.normalize("NFC", name).strip() == name
