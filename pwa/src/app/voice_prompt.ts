// One voice prompt, from the microphone to the text (ui/components/mic.tsx renders it): the
// phases idle → starting → recording → transcribing → idle, the time recorded against the server's
// limit (it stops by itself a little before it), the clip transcribed on the server, and the
// messages to show (denied, no microphone, HTTPS needed, voice off, nothing heard, server errors).
import { signal } from "@preact/signals";
import { ApiError, errorMessage } from "../api/http";
import { MicError, micUnavailable, type Recording, startRecording } from "./recorder";
import { transcribe, voiceStatus } from "./voice";

const DEFAULT_MAX_CLIP_S = 120; // until GET /api/voice answers (the server's default)
const LIMIT_MARGIN_S = 0.5; // stop a little before the server's limit: its decoder counts too
const CLOCK_MS = 250;
const MISSED = "Didn't catch that — try again.";
const VOICE_OFF = "Voice prompts are turned off on this server.";

export type MicPhase = "idle" | "starting" | "recording" | "transcribing";

export interface MicNote {
  text: string;
  error: boolean;
}

export class VoicePrompt {
  readonly phase = signal<MicPhase>("idle");
  /** Why the microphone cannot be used at all here, or null. */
  readonly blocked = signal<string | null>(null);
  readonly note = signal<MicNote | null>(null);
  readonly elapsedS = signal(0);
  readonly maxClipS = signal(DEFAULT_MAX_CLIP_S);
  /** Called with the text of each clip heard; the latest one given is used. */
  onTranscript: (text: string) => void;

  private recording: Recording | null = null;
  private upload: AbortController | null = null;
  private clock = 0;
  private alive = true;

  constructor(
    private readonly sessionId: string,
    onTranscript: (text: string) => void,
  ) {
    this.onTranscript = onTranscript;
    const problem = micUnavailable();
    this.blocked.value = problem && new MicError(problem).message;
  }

  /** Asks the server's voice settings and releases the microphone when the page goes away.
   * Returns the function that releases everything (call it on unmount). */
  open(): () => void {
    voiceStatus().then(
      (status) => {
        if (!this.alive) return;
        if (!status.enabled) this.blocked.value = VOICE_OFF;
        else if (status.max_clip_s) this.maxClipS.value = status.max_clip_s; // 0: no limit given
      },
      () => undefined, // unknown for now: the upload will say what is wrong
    );
    const release = () => this.release();
    window.addEventListener("pagehide", release);
    return () => {
      this.alive = false;
      window.removeEventListener("pagehide", release);
      release();
    };
  }

  /** The level of the recording now, 0..1 (0 when not recording). */
  level(): number {
    return this.recording?.level() ?? 0;
  }

  /** True (and says why) when the microphone cannot be used. */
  refuse(): boolean {
    if (this.blocked.value) this.note.value = { text: this.blocked.value, error: true };
    return this.blocked.value !== null;
  }

  /** Starts recording; resolves false when the microphone could not be had (the note says why). */
  async begin(): Promise<boolean> {
    this.note.value = null;
    this.elapsedS.value = 0;
    this.phase.value = "starting";
    let rec: Recording;
    try {
      rec = await startRecording();
    } catch (err) {
      this.phase.value = "idle";
      this.note.value = { text: errorMessage(err), error: true };
      return false;
    }
    if (!this.alive) {
      rec.cancel();
      return false;
    }
    this.recording = rec;
    this.phase.value = "recording";
    this.startClock();
    return true;
  }

  /** Stops recording and transcribes the clip; `why` is shown meanwhile (e.g. the limit). */
  async finish(why = ""): Promise<void> {
    const rec = this.recording;
    if (!rec) return;
    this.recording = null;
    clearInterval(this.clock);
    this.phase.value = "transcribing";
    if (why) this.note.value = { text: why, error: false };
    const clip = await rec.stop();
    if (!this.alive) return;
    if (clip.size === 0) {
      this.phase.value = "idle";
      this.note.value = { text: MISSED, error: true };
      return;
    }
    const controller = new AbortController();
    this.upload = controller;
    try {
      const transcript = await transcribe(clip, this.sessionId, controller.signal);
      const text = transcript.text.trim();
      if (text) this.onTranscript(text);
      else this.note.value = { text: MISSED, error: true };
    } catch (err) {
      if (err instanceof ApiError && err.code === "aborted") return;
      if (err instanceof ApiError && err.code === "voice_disabled") this.blocked.value = VOICE_OFF;
      this.note.value = { text: errorMessage(err), error: true };
    } finally {
      this.upload = null;
      if (this.alive) this.phase.value = "idle";
    }
  }

  /** Enter, Space or a tap: start when idle, stop when recording. */
  toggle(): void {
    if (this.phase.value === "idle") void this.begin();
    else if (this.phase.value === "recording") void this.finish();
  }

  isRecording(): boolean {
    return this.recording !== null;
  }

  cancelUpload(): void {
    this.upload?.abort();
  }

  private startClock(): void {
    const started = performance.now();
    const limitS = Math.max(1, this.maxClipS.value - LIMIT_MARGIN_S);
    this.clock = window.setInterval(() => {
      const seconds = (performance.now() - started) / 1000;
      this.elapsedS.value = Math.floor(seconds);
      if (seconds >= limitS) {
        void this.finish(`Stopped at this server's limit of ${clockText(this.maxClipS.value)}.`);
      }
    }, CLOCK_MS);
  }

  private release(): void {
    clearInterval(this.clock);
    this.recording?.cancel();
    this.recording = null;
    this.upload?.abort();
  }
}

/** Seconds as m:ss. */
export function clockText(seconds: number): string {
  const s = Math.floor(seconds);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}
