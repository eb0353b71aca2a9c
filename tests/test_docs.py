"""Documentation that must not fall behind the code."""

from __future__ import annotations

from pathlib import Path

from relay import settings as relay_settings
from server import settings as server_settings

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_config_md_lists_every_server_setting() -> None:
    text = (DOCS / "config.md").read_text()
    for name, env, _, _ in server_settings.describe():
        assert f"`{name}`" in text, f"docs/config.md lacks server setting {name}"
        assert f"`{env}`" in text, f"docs/config.md lacks {env}"


def test_config_md_lists_every_relay_setting() -> None:
    text = (DOCS / "config.md").read_text()
    for doc in relay_settings.describe():
        assert f"`{doc.name}`" in text, f"docs/config.md lacks relay setting {doc.name}"
        assert f"`{doc.env}`" in text, f"docs/config.md lacks {doc.env}"
