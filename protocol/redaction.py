"""No credential in a log line: the shapes Tether's credentials have, and the one formatter the
server and the relay log through.

Tether's own code never logs a secret. Libraries do at DEBUG: websockets prints every handshake
header (a relay's `Authorization: Bearer tr_...`, a browser's `Cookie: tether_session=...`),
uvicorn prints request lines, and an exception's message may quote what it was given. So every
line is formatted, tracebacks included, and then rewritten by `redact` before it is written:

    header lines       Authorization, Proxy-Authorization, Cookie, Set-Cookie: value dropped
    Bearer x           any bearer credential
    t?_ + 16 chars     Tether's prefixed secrets: relay (tr_), console (tc_), invite and setup
                       (ti_), enrolment poll handle (te_) tokens, and any later t?_ kind
    tether_session=    the browser session cookie, wherever it is quoted
    43+ base64url      an unprefixed secret of 256 bits or more (secrets.token_urlsafe(32) and
                       longer): session ids, WebAuthn challenges (and stored hashes of secrets)
    ABCD-EFGH          an enrolment code, and the code segment of an approve/deny path
    user:pass@         credentials inside a URL

`configure_logging` installs it on the root handler; both `tether serve` and `tether relay`
call it (server/cli.py, relay/cli.py) and add no other handler. Libraries that log the data
they carry at DEBUG are kept at INFO there (QUIET_LOGGERS), so that data is not logged at all.
"""

from __future__ import annotations

import logging
import re

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
REDACTED = "[redacted]"
QUIET_LOGGERS = {
    # every SQL statement with its parameters: challenges, token hashes, users' names, events
    "aiosqlite": logging.INFO,
}
_CODE_CHARS = "A-HJKMNP-Z2-9"  # server/domain/enrolment.py CODE_ALPHABET as a character class
_SECRET_CHARS = "A-Za-z0-9_-"

_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(
            r"(?i)\b((?:proxy-)?authorization|cookie|set-cookie)(\s*:\s*)[^\r\n]*",
        ),
        rf"\1\2{REDACTED}",
    ),
    (re.compile(r"(?i)\bbearer\s+[^\s'\",;]+"), f"Bearer {REDACTED}"),
    (re.compile(rf"\b(t[a-z]_)[{_SECRET_CHARS}]{{16,}}"), rf"\1{REDACTED}"),
    (re.compile(r"(tether_session=)[^;\s'\"]*"), rf"\1{REDACTED}"),
    (
        re.compile(rf"(?<![{_SECRET_CHARS}])[{_SECRET_CHARS}]{{43,}}(?![{_SECRET_CHARS}])"),
        REDACTED,
    ),
    (re.compile(r"(/enrolments/)[^/\s'\"]+(/(?:approve|deny))"), rf"\1{REDACTED}\2"),
    (re.compile(rf"\b[{_CODE_CHARS}]{{4}}-[{_CODE_CHARS}]{{4}}\b"), REDACTED),
    (re.compile(r"(://)[^/\s:@]+:[^/\s@]+@"), rf"\1{REDACTED}@"),
)


def redact(text: str) -> str:
    """`text` with every credential-shaped part replaced by [redacted]."""
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    return text


class RedactingFormatter(logging.Formatter):
    """A Formatter whose whole output (message, arguments, traceback) passes `redact`."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def configure_logging(level: str) -> None:
    """Log to stderr at `level`, through RedactingFormatter only (replaces any root handler)."""
    handler = logging.StreamHandler()
    handler.setFormatter(RedactingFormatter(FORMAT))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    for name, floor in QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(max(floor, logging.getLogger().level))
