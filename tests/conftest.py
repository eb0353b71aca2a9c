"""Fixtures shared by the whole suite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import Stack


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    """A real server and a real relay process on loopback, relay connected."""
    stack = Stack(tmp_path)
    try:
        stack.relay.start()
        stack.wait_relay_online()
        yield stack
    finally:
        stack.close()
