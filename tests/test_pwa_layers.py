"""The web app's layers (pwa/src): ui/ renders, app/ holds state and talks to api/.

Components never fetch or open sockets: from api/ they may take types (protocol.ts, rest.ts)
and the error helpers, nothing else; every request goes through app/, and the socket's state
and lifecycle live in app/connection.ts (api/socket.ts only wraps the browser's WebSocket).
"""

from __future__ import annotations

import re
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "pwa" / "src"
IMPORT = re.compile(r'import\s+(type\s+)?\{([^}]*)\}\s+from\s+"([^"]+)"', re.S)
UI_MAY_TAKE_FROM_HTTP = {"ApiError", "errorMessage"}


def _sources(folder: str) -> list[Path]:
    return sorted(p for p in (SRC / folder).rglob("*") if p.suffix in (".ts", ".tsx"))


def test_ui_neither_fetches_nor_opens_sockets() -> None:
    files = _sources("ui")
    assert files, "no ui sources"
    for path in files:
        text = path.read_text()
        for call in ("fetch(", "new WebSocket(", "XMLHttpRequest", "navigator.sendBeacon"):
            assert call not in text, f"{path}: {call} belongs in src/app or src/api"
        for type_only, names, module in IMPORT.findall(text):
            if "/api/" not in module and not module.startswith("../api"):
                continue
            taken = {n.strip() for n in names.split(",") if n.strip()}
            target = module.rsplit("/", 1)[-1]
            if type_only or target in ("protocol", "rest"):
                continue
            allowed = UI_MAY_TAKE_FROM_HTTP if target == "http" else set()
            extra = {n for n in taken if not n.startswith("type ")} - allowed
            assert not extra, f"{path} takes {extra} from {module}: go through src/app"


def test_protocol_ts_is_imported_not_redefined() -> None:
    for path in _sources("."):
        if path.name == "protocol.ts":
            continue
        text = path.read_text()
        assert not re.search(
            r"(interface|type)\s+(SessionEvents|Subscribed|LoggedEvent)\b", text
        ), f"{path} redefines a wire type; import it from api/protocol.ts"


def test_the_socket_lifecycle_lives_in_app_not_api() -> None:
    wrapper = (SRC / "api" / "socket.ts").read_text()
    for state in ("signal(", "setTimeout(", "addEventListener("):
        assert state not in wrapper, f"api/socket.ts: {state} belongs in app/connection.ts"
