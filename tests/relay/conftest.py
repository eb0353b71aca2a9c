"""Fixtures for the relay's tests: settings pointing at a temporary state dir and workspace."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from relay.settings import Settings
from relay.workspaces import Workspace

SettingsFactory = Callable[..., Settings]


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    path = tmp_path / "work"
    path.mkdir()
    return path


@pytest.fixture
def make_settings(tmp_path: Path, workspace: Path) -> SettingsFactory:
    """Settings for an in-process relay, with short timeouts; keyword arguments override."""

    def make(**overrides: Any) -> Settings:
        base = Settings(
            server="http://127.0.0.1:9",
            token="test-token",
            state_dir=str(tmp_path / "state"),
            workspaces=(Workspace("work", str(workspace.resolve())),),
            shell="/bin/sh",
            name="test-relay",
            backoff_initial_s=0.05,
            backoff_max_s=0.2,
            connect_timeout_s=2.0,
            hello_timeout_s=2.0,
            stop_grace_s=1.0,
        )
        return dataclasses.replace(base, **overrides)

    return make
