// Voice prompts on the server (docs/voice.md): whether it transcribes at all and its limits
// (GET /api/voice, asked once per page load), and one clip's upload (multipart, with the session
// whose words bias recognition). Errors come back as ApiError with a message fit to show.
import { ApiError, api } from "../api/http";
import type { Transcript, VoiceStatus } from "../api/rest";

export type { Transcript, VoiceStatus };

// The upload, a queue wait behind a few other clips and up to two minutes of audio on a small CPU
const TRANSCRIBE_TIMEOUT_MS = 90_000;

let status: Promise<VoiceStatus> | null = null;

/** The server's voice settings; asked once, asked again after a failure. */
export function voiceStatus(): Promise<VoiceStatus> {
  if (!status) {
    status = api<VoiceStatus>("GET", "/api/voice").catch((err: unknown) => {
      status = null;
      if (err instanceof ApiError && err.code === "voice_disabled") {
        return {
          enabled: false,
          model: "",
          loaded: false,
          max_clip_s: 0,
          max_clip_bytes: 0,
          accepted_types: [],
        };
      }
      throw err;
    });
  }
  return status;
}

/** The clip as text; ApiError with a message a person can act on when the server refuses it. */
export async function transcribe(clip: Blob, sessionId: string, signal?: AbortSignal): Promise<Transcript> {
  const form = new FormData();
  form.append("audio", clip, `clip.${extension(clip.type)}`);
  if (sessionId) form.append("session_id", sessionId);
  try {
    return await api<Transcript>("POST", "/api/voice/transcriptions", form, {
      timeoutMs: TRANSCRIBE_TIMEOUT_MS,
      signal,
    });
  } catch (err) {
    throw explain(err);
  }
}

function extension(mime: string): string {
  if (mime.includes("ogg")) return "ogg";
  if (mime.includes("mp4") || mime.includes("aac")) return "m4a";
  if (mime.includes("wav")) return "wav";
  return "webm";
}

function explain(err: unknown): unknown {
  if (!(err instanceof ApiError)) return err;
  const say = (message: string) => new ApiError(err.status, err.code, message, err.retryAfterS);
  switch (err.code) {
    case "voice_busy":
      return say(`The server is busy transcribing other clips; try again in ${err.retryAfterS ?? 2} s.`);
    case "voice_disabled":
      return say("Voice prompts are turned off on this server.");
    case "audio_too_long":
    case "payload_too_large":
      return say(`The recording is too long for this server: ${err.message}. Record a shorter one.`);
    case "bad_audio":
      return say(`The server could not read the recording: ${err.message}.`);
    case "timeout":
      return say(`No transcript from the server in ${TRANSCRIBE_TIMEOUT_MS / 1000} s; try again.`);
    default:
      return err;
  }
}
