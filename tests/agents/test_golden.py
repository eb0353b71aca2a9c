"""Every agent's golden transcripts through its translator: the events are the golden ones and
what the translator writes is what the real agent was sent. No process, no event loop."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.agents.golden import GOLDEN, check, transcripts


@pytest.mark.parametrize(
    "transcript", transcripts(), ids=lambda p: str(p.relative_to(GOLDEN).with_suffix(""))
)
def test_golden_transcript_maps_to_the_expected_events(transcript: Path, tmp_path: Path) -> None:
    check(transcript, tmp_path)
