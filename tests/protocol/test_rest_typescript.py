"""pwa/src/api/rest.ts is generated from the server's REST schema: it must match the generator."""

from __future__ import annotations

import re
from pathlib import Path

from server import rest_typescript

SRC = Path(rest_typescript.TS_PATH).parent.parent


def test_rest_ts_is_current() -> None:
    assert rest_typescript.TS_PATH.read_text() == rest_typescript.render(), (
        "pwa/src/api/rest.ts is stale: run .venv/bin/python -m server.rest_typescript"
    )


def test_every_view_of_the_api_has_a_type_with_its_fields() -> None:
    text = rest_typescript.render()
    session = re.search(r"export interface SessionView \{\n(.*?)\n\}", text, re.S)
    assert session, "no SessionView"
    assert "  relay_online: boolean;" in session.group(1)
    assert '"waiting_for_approval"' in session.group(1)  # a Literal becomes string literals
    start = re.search(r"export interface StartRequest \{\n(.*?)\n\}", text, re.S)
    assert start, "no StartRequest"
    assert "  relay_id: string;" in start.group(1)
    assert "  cols?: number;" in start.group(1)  # a default may be left out
    assert 'export type Role = "owner" | "admin" | "operator" | "viewer";' in text
    assert "  last_used_at: number | null;" in text
    page = re.search(r"export interface EventPage \{\n(.*?)\n\}", text, re.S)
    assert page, "no EventPage (a view the handler encodes itself)"
    assert "  events: LoggedEvent[];" in page.group(1)


def test_wire_types_are_imported_from_protocol_ts_not_redefined() -> None:
    text = rest_typescript.render()
    assert 'import type { LoggedEvent, Workspace } from "./protocol";' in text
    assert "export interface Workspace " not in text


def test_rest_types_are_written_nowhere_else() -> None:
    names = re.findall(r"^export (?:interface|type) (\w+)", rest_typescript.render(), re.M)
    assert "Me" in names and "SessionView" in names
    alternatives = "|".join(names)
    declared = re.compile(rf"\b(?:interface ({alternatives})\b|type ({alternatives})\s*[=<])")
    for path in sorted(SRC.rglob("*.ts*")):
        if path.name == "rest.ts":
            continue
        found = [a or b for a, b in declared.findall(path.read_text())]
        assert not found, f"{path} declares {found}: import them from api/rest.ts"
