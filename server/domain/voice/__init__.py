"""Voice prompts: clips recorded in the browser, transcribed on this server's CPU.

    audio.py        decode an upload (webm/opus, ogg, mp4/aac, wav) to 16 kHz mono samples
    hotwords.py     the words of a session (workspace, repo, files, agents) that bias recognition
    spelling.py     the transcript's words that stand for one of those names, written as the name
    transcriber.py  one faster-whisper model, a bounded queue and a worker pool

Nothing here stores audio or sends it anywhere; see docs/voice.md.
"""

from server.domain.voice.hotwords import HotWords, hot_words, recent_files
from server.domain.voice.transcriber import Transcriber, Transcript, VoiceConfig

__all__ = ["HotWords", "Transcriber", "Transcript", "VoiceConfig", "hot_words", "recent_files"]
