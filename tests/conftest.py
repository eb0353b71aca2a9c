"""Fixtures shared by the whole suite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import Stack, running


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    """A real server and a real relay process on loopback, relay connected."""
    with running(Stack(tmp_path)) as stack:
        yield stack
