"""Documentation that must not fall behind the code.

docs/config.md lists every setting with its environment variable, flag and default;
docs/protocol.md lists every close code, every error code with its HTTP status, and every route
the server answers (and no route it does not). README.md and docs/ link and name only files
that exist in the repository, so a user's clone has everything they point to.
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Iterator
from pathlib import Path

from litestar.routes import WebSocketRoute

from protocol.codes import CloseCode, ErrorCode
from relay import settings as relay_settings
from server import settings as server_settings
from server.app import create_app
from server.http.error_handlers import STATUS_OF_CODE

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
MARKDOWN = [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]
BUILT = (".venv", "pwa/dist", "pwa/node_modules")  # made by scripts/start, not in a clone
SOURCE_SUFFIXES = (".py", ".ts", ".tsx", ".css", ".sql", ".sh")
NOT_FILES = {"tether_relay.py"}  # docs/voice.md: a file name as a transcript spells it
HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")

FENCED_BLOCK = re.compile(r"^```.*?^```", re.S | re.M)
INLINE_CODE = re.compile(r"`([^`\n]+)`")
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
DOCUMENTED_ROUTE = re.compile(rf"`((?:{'|'.join(HTTP_METHODS)}) /[^`\s]*)`")
PATH_PARAMETER_TYPE = re.compile(r"\{(\w+):\w+\}")


def _section(text: str, heading: str) -> str:
    """The text under the `## ` heading that begins with `heading`, up to the next one."""
    start = text.index(f"\n## {heading}")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def _table_rows(text: str) -> Iterator[list[str]]:
    """The cells of each row of the markdown tables in `text` (header rows included)."""
    for line in text.splitlines():
        if line.startswith("|") and not line.startswith("|---"):
            yield [cell.strip() for cell in line.strip().strip("|").split("|")]


def _rows_by_first_cell(text: str) -> dict[str, list[str]]:
    return {cells[0].strip("`"): cells for cells in _table_rows(text)}


def _states_default(cell: str, default: str) -> bool:
    """Whether a table's default cell begins with `default` as the code spells it: a whole
    float also as an integer (`20` for 20.0), booleans in lower case, an empty default as
    "empty"."""
    shown = cell.replace("`", "")
    if default == "":
        return shown.startswith("empty")
    if default in ("True", "False"):
        default = default.lower()
    elif re.fullmatch(r"\d+\.0", default):
        default = default.removesuffix(".0")
    return re.match(rf"(the )?{re.escape(default)}(?!\w)", shown) is not None


# ------------------------------------------------------------------ settings (docs/config.md)


def test_config_md_lists_every_server_setting() -> None:
    rows = _rows_by_first_cell(_section((DOCS / "config.md").read_text(), "Server"))
    for name, env, default, _ in server_settings.describe():
        assert name in rows, f"docs/config.md lacks server setting {name}"
        _, _, documented_env, documented_default, _ = rows[name]
        assert documented_env.startswith(f"`{env}`"), f"docs/config.md: {name} is read from {env}"
        assert _states_default(documented_default, default), (
            f"docs/config.md: the default of {name} is {default!r}, not {documented_default!r}"
        )


def test_config_md_lists_every_relay_setting() -> None:
    rows = _rows_by_first_cell(_section((DOCS / "config.md").read_text(), "Relay"))
    for doc in relay_settings.describe():
        assert doc.name in rows, f"docs/config.md lacks relay setting {doc.name}"
        _, flag, env, default, _ = rows[doc.name]
        assert flag.startswith(f"`{doc.flag}") if doc.flag else flag == "—", (
            f"docs/config.md: the flag of relay setting {doc.name} is {doc.flag or 'none'}"
        )
        assert env.startswith(f"`{doc.env}`") if doc.env else env == "—", (
            f"docs/config.md: relay setting {doc.name} is read from {doc.env or 'the file only'}"
        )
        assert _states_default(default, doc.default), (
            f"docs/config.md: the default of {doc.name} is {doc.default!r}, not {default!r}"
        )


# ------------------------------------------------------------------ codes (docs/protocol.md)


def test_protocol_md_lists_every_close_code() -> None:
    rows = _rows_by_first_cell(_section((DOCS / "protocol.md").read_text(), "Close codes"))
    documented = {int(code): cells[1].strip("`") for code, cells in rows.items() if code.isdigit()}
    assert documented == {code.value: code.name for code in CloseCode}


def test_protocol_md_lists_every_error_code_with_its_http_status() -> None:
    rows = _rows_by_first_cell(_section((DOCS / "protocol.md").read_text(), "Error codes"))
    documented = {code: cells[1] for code, cells in rows.items() if code != "code"}
    assert documented == {code.value: str(STATUS_OF_CODE[code]) for code in ErrorCode}


# ------------------------------------------------------------------ routes (docs/protocol.md)


def _served_routes(tmp_path: Path) -> tuple[set[str], set[str]]:
    """`METHOD /path` of every HTTP route and `/path` of every WebSocket route of the server,
    path parameters written without their types (`{session_id}`)."""
    app = create_app(server_settings.Settings(data_dir=tmp_path, local_relay=False, voice=False))
    http: set[str] = set()
    sockets: set[str] = set()
    for route in app.routes:
        path = PATH_PARAMETER_TYPE.sub(r"{\1}", route.path)
        if isinstance(route, WebSocketRoute):
            sockets.add(path)
        else:
            http.update(f"{method} {path}" for method in route.methods if method in HTTP_METHODS)
    return http, sockets


def test_protocol_md_lists_every_route_the_server_answers(tmp_path: Path) -> None:
    text = (DOCS / "protocol.md").read_text()
    http, sockets = _served_routes(tmp_path)
    assert http and sockets, "the walk over app.routes found no HTTP or no WebSocket routes"
    missing = sorted(r for r in http if f"`{r}`" not in text)
    assert not missing, f"docs/protocol.md lacks {missing}"
    for path in sockets:
        assert f"`{path}`" in text, f"docs/protocol.md lacks the socket {path}"


def test_protocol_md_lists_no_route_the_server_lacks(tmp_path: Path) -> None:
    http, _ = _served_routes(tmp_path)
    stale = sorted(set(DOCUMENTED_ROUTE.findall((DOCS / "protocol.md").read_text())) - http)
    assert not stale, f"docs/protocol.md lists routes the server does not answer: {stale}"


# ------------------------------------------------------------------ links and paths


def _expand_braces(token: str) -> list[str]:
    """`a/{b,c}.py` as `a/b.py` and `a/c.py`."""
    parts = re.split(r"\{([^{}]*,[^{}]*)\}", token)
    choices = [[p] if i % 2 == 0 else p.split(",") for i, p in enumerate(parts)]
    return ["".join(combination) for combination in itertools.product(*choices)]


def _code_spans(page: Path) -> Iterator[str]:
    """The inline code of `page` that could name a file (no spaces, placeholders or URLs),
    without a pytest node id's `::test` part."""
    for token in INLINE_CODE.findall(FENCED_BLOCK.sub("", page.read_text())):
        token = token.split("::")[0]
        if not re.search(r"[\s<>$~=:]", token):
            yield token


def _mentioned_paths(page: Path) -> Iterator[tuple[Path, str]]:
    """(base directory, relative path) of every link target of `page`, and of every code span
    that is a path from the repository's root (its first part is a top-level directory) or from
    the page's directory (`./`, `../`)."""
    top_level = {p.name for p in ROOT.iterdir() if p.is_dir() and not p.name.startswith(".")}
    for target in LINK.findall(FENCED_BLOCK.sub("", page.read_text())):
        if not re.match(r"[a-z][a-z0-9+.-]*:|#", target):
            yield page.parent, target.split("#")[0]
    for token in _code_spans(page):
        if token.startswith(("./", "../")):
            yield page.parent, token
        elif "/" in token and token.split("/")[0] in top_level:
            yield ROOT, token


def _mentioned_modules(page: Path) -> Iterator[str]:
    """Source files `page` names by their name or the tail of their path (`structured.py`,
    `app/sessions.ts`), as the prose around them says where they are."""
    top_level = {p.name for p in ROOT.iterdir() if p.is_dir()}
    for token in _code_spans(page):
        if (
            token.endswith(SOURCE_SUFFIXES)
            and not re.search(r"[*{}]", token)
            and not token.startswith(("./", "../"))
            and token.split("/")[0] not in top_level
            and token not in NOT_FILES
        ):
            yield token


def _repository_files() -> list[str]:
    """Paths of the repository's files from its root; hidden, built and installed ones left out."""
    found: list[str] = []
    for directory, subdirectories, files in os.walk(ROOT):
        relative = Path(directory).relative_to(ROOT).as_posix()
        subdirectories[:] = [
            d
            for d in subdirectories
            if not d.startswith(".")
            and d not in ("node_modules", "__pycache__")
            and f"{relative}/{d}".removeprefix("./") not in BUILT
        ]
        found.extend(f"{relative}/{name}".removeprefix("./") for name in files)
    return found


def _resolves_in_repository(base: Path, relative: str) -> bool:
    for candidate in _expand_braces(relative):
        matches = list(base.glob(candidate)) if "*" in candidate else [base / candidate]
        for match in matches or [base / candidate]:
            resolved = match.resolve()
            if not resolved.is_relative_to(ROOT):
                return False
            inside = resolved.relative_to(ROOT).as_posix()
            if not (resolved.exists() or inside.startswith(BUILT)):
                return False
    return True


def test_docs_point_only_at_files_in_the_repository() -> None:
    broken = [
        f"{page.relative_to(ROOT)}: {relative}"
        for page in MARKDOWN
        for base, relative in _mentioned_paths(page)
        if not _resolves_in_repository(base, relative)
    ]
    assert not broken, f"paths that are not in the repository: {broken}"


def test_docs_name_only_modules_that_exist() -> None:
    files = _repository_files()
    missing = [
        f"{page.relative_to(ROOT)}: {module}"
        for page in MARKDOWN
        for module in sorted(set(_mentioned_modules(page)))
        if not any(f == module or f.endswith(f"/{module}") for f in files)
    ]
    assert not missing, f"modules that are not in the repository: {missing}"
