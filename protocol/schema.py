"""Generate protocol/schema.json, the JSON Schema of every wire message.

    python -m protocol.schema          # rewrite the file
    python -m protocol.schema --check  # exit 1 when the file is stale

tests/protocol/test_schema.py fails when the committed file differs from what this produces.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import msgspec

from protocol.generated_file import write_or_check
from protocol.messages import UNIONS
from protocol.version import PROTOCOL_VERSION

SCHEMA_PATH = Path(__file__).with_name("schema.json")


def render() -> str:
    names = list(UNIONS)
    schemas, components = msgspec.json.schema_components(
        [UNIONS[n] for n in names], ref_template="#/$defs/{name}"
    )
    document = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"Tether wire protocol v{PROTOCOL_VERSION}",
        "oneOf": [{"$ref": f"#/$defs/{n}"} for n in names],
        "$defs": {**dict(zip(names, schemas, strict=True)), **components},
    }
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def main(argv: list[str]) -> int:
    return write_or_check(SCHEMA_PATH, render(), argv, "python -m protocol.schema")


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
