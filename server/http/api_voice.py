"""REST: voice prompts transcribed on this server (server/domain/voice, docs/voice.md).

POST /api/voice/transcriptions   multipart/form-data: `audio` (the clip), `session_id`
                                 (optional: the session whose words bias recognition)
GET  /api/voice                  whether voice is on, and its limits, for the PWA

The body limit (the clip limit plus multipart overhead) holds while the body is read: an upload
that declares a larger Content-Length gets 413 before a byte is read, a chunked one as soon as
it passes the limit, so neither the clip nor any other form field is held beyond it.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency

from protocol.codes import ErrorCode
from server.domain.errors import BadRequestError, NotFoundError, TooLargeError
from server.domain.events import EventLog
from server.domain.identity.roles import Role
from server.domain.relays import Relays
from server.domain.sessions import Sessions
from server.domain.voice import HotWords, Transcriber, Transcript
from server.domain.voice.hotwords import for_session
from server.http.auth import principal, require_role

MULTIPART_OVERHEAD_BYTES = 64 << 10  # boundaries, part headers and the session id
ACCEPTED_TYPES = [  # what MediaRecorder gives in Chrome, Firefox and Safari, and wav
    "audio/webm",
    "audio/ogg",
    "audio/mp4",
    "audio/aac",
    "audio/wav",
    "audio/x-wav",
]


class VoiceStatus(msgspec.Struct, kw_only=True):
    enabled: bool
    model: str = ""
    loaded: bool = False  # the first transcription also loads the model when False
    max_clip_s: float = 0.0
    max_clip_bytes: int = 0
    accepted_types: list[str] = []


def _enabled(voice: Transcriber | None) -> Transcriber:
    if voice is None:
        raise NotFoundError("voice is turned off on this server", ErrorCode.VOICE_DISABLED)
    return voice


class VoiceController(Controller):
    path = "/api/voice"
    guards = [require_role(Role.OPERATOR)]

    @get("/")
    async def voice_status(self, voice: NamedDependency[Transcriber | None]) -> VoiceStatus:
        if voice is None:
            return VoiceStatus(enabled=False)
        return VoiceStatus(
            enabled=True,
            model=voice.model_name,
            loaded=voice.loaded,
            max_clip_s=voice.config.max_clip_s,
            max_clip_bytes=voice.config.max_clip_bytes,
            accepted_types=ACCEPTED_TYPES,
        )

    @post("/transcriptions", status_code=200)
    async def transcribe(
        self,
        request: Request[Any, Any, Any],
        voice: NamedDependency[Transcriber | None],
        event_log: NamedDependency[EventLog],
        relays: NamedDependency[Relays],
        sessions: NamedDependency[Sessions],
    ) -> Transcript:
        """Transcribe a clip (webm/opus, ogg/opus, mp4/aac or wav, sniffed from its bytes).
        The audio is held in memory only while it is transcribed, never stored or logged.
        413 payload_too_large / audio_too_long, 400 bad_audio, 503 voice_busy with Retry-After,
        404 voice_disabled."""
        transcriber = _enabled(voice)
        limit = transcriber.config.max_clip_bytes
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit + MULTIPART_OVERHEAD_BYTES:
            raise TooLargeError(f"the upload is larger than {limit} bytes")
        form = await request.form()
        upload = form.get("audio")
        if not isinstance(upload, UploadFile):
            raise BadRequestError(
                "send the clip as multipart/form-data in a file field named 'audio'"
            )
        clip = await upload.read(limit + 1)
        if len(clip) > limit:
            raise TooLargeError(f"the clip is larger than {limit} bytes")
        hot = HotWords()
        session_id = form.get("session_id")
        if isinstance(session_id, str) and session_id:
            record = await sessions.get_for(principal(request), Role.VIEWER, session_id)
            hot = await for_session(event_log, relays, record)
        return await transcriber.transcribe(clip, hot)


def voice_controller(max_clip_bytes: int) -> type[VoiceController]:
    """The voice routes with their body limit from the settings (see module doc)."""

    class LimitedVoiceController(VoiceController):
        request_max_body_size = max_clip_bytes + MULTIPART_OVERHEAD_BYTES

    return LimitedVoiceController
