"""pwa/src/api/protocol.ts is generated from protocol/: it must match what the generator makes."""

from __future__ import annotations

import re

from protocol import messages, typescript


def test_protocol_ts_is_current() -> None:
    assert typescript.TS_PATH.read_text() == typescript.render(), (
        "pwa/src/api/protocol.ts is stale: run .venv/bin/python -m protocol.typescript"
    )


def test_every_tagged_struct_has_an_interface_with_its_tag() -> None:
    text = typescript.render()
    for union in messages.UNIONS.values():
        for cls in typescript._members(union):
            name = typescript.ts_name(cls)
            body = re.search(rf"export interface {name} \{{\n(.*?)\n\}}", text, re.S)
            assert body, f"no interface {name}"
            tag = cls.__struct_config__.tag
            field = cls.__struct_config__.tag_field
            assert f'  {field}: "{tag}";' in body.group(1)


def test_defaults_are_optional_and_required_fields_are_not() -> None:
    text = typescript.render()
    started = re.search(r"export interface EvSessionStarted \{\n(.*?)\n\}", text, re.S)
    assert started
    assert "  agent: string;" in started.group(1)
    assert "  cols?: number;" in started.group(1)
    assert "  raw?: unknown;" in started.group(1)
    status = re.search(r"export interface EvStatus \{\n(.*?)\n\}", text, re.S)
    assert status  # a Literal becomes a union of string literals
    assert '"running" | "starting" | "waiting_for_approval";' in status.group(1)
    assert "  since?: Since | null;" in text
    assert "  acked: Record<string, number>;" in text
