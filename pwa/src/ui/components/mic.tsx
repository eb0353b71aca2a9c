/**
 * The prompt box's microphone: hold it to talk (released after HOLD_MS, it stops), or tap it to
 * start and tap again to stop; Enter or Space toggles it from the keyboard. While recording, a
 * level meter and the time against the server's limit (it stops by itself there); then the clip
 * is transcribed on the server and the text handed to `onTranscript`, never sent anywhere else.
 * Its messages (denied, no microphone, HTTPS needed, voice off, server errors) show in a line
 * above the prompt box (`.mic-line`, which the composer's row wraps onto its own line).
 */
import { useEffect, useRef, useState } from "preact/hooks";
import { ApiError, errorMessage } from "../../api/http";
import { MicError, micUnavailable, startRecording, type Recording } from "../../app/recorder";
import { transcribe, voiceStatus } from "../../app/voice";
import "./mic.css";

const HOLD_MS = 350; // pressed longer than this, releasing stops; shorter is a tap
const DEFAULT_MAX_CLIP_S = 120; // until GET /api/voice answers (the server's default)
const LIMIT_MARGIN_S = 0.5; // stop a little before the server's limit: its decoder counts too
const CLOCK_MS = 250;
const MISSED = "Didn't catch that — try again.";
const VOICE_OFF = "Voice prompts are turned off on this server.";

type Phase = "idle" | "starting" | "recording" | "transcribing";
interface Note {
  text: string;
  error: boolean;
}

export function Mic({
  sessionId,
  onTranscript,
}: {
  sessionId: string;
  onTranscript: (text: string) => void;
}) {
  const [phase, setPhaseState] = useState<Phase>("idle");
  const [blocked, setBlocked] = useState<string | null>(() => {
    const problem = micUnavailable();
    return problem && new MicError(problem).message;
  });
  const [note, setNote] = useState<Note | null>(null);
  const [elapsedS, setElapsedS] = useState(0);
  const [holding, setHolding] = useState(false);
  const maxClipS = useRef(DEFAULT_MAX_CLIP_S);
  const phaseRef = useRef<Phase>("idle");
  const recording = useRef<Recording | null>(null);
  const pressedAt = useRef<number | null>(null); // a press that started the recording
  const upload = useRef<AbortController | null>(null);
  const level = useRef<HTMLSpanElement>(null);
  const timers = useRef<{ frame: number; clock: number }>({ frame: 0, clock: 0 });
  const alive = useRef(true);

  const setPhase = (next: Phase) => {
    phaseRef.current = next;
    setPhaseState(next);
  };

  useEffect(() => {
    voiceStatus().then(
      (status) => {
        if (!alive.current) return;
        if (!status.enabled) setBlocked(VOICE_OFF);
        else if (status.max_clip_s) maxClipS.current = status.max_clip_s; // 0: no limit given
      },
      () => undefined, // unknown for now: the upload will say what is wrong
    );
    const release = () => {
      stopMeter();
      recording.current?.cancel();
      recording.current = null;
      upload.current?.abort();
    };
    window.addEventListener("pagehide", release);
    return () => {
      alive.current = false;
      window.removeEventListener("pagehide", release);
      release();
    };
  }, []);

  function stopMeter() {
    cancelAnimationFrame(timers.current.frame);
    clearInterval(timers.current.clock);
  }

  function startMeter(rec: Recording) {
    const started = performance.now();
    const limitS = Math.max(1, maxClipS.current - LIMIT_MARGIN_S);
    const paint = () => {
      level.current?.style.setProperty("--level", rec.level().toFixed(3));
      timers.current.frame = requestAnimationFrame(paint);
    };
    timers.current.frame = requestAnimationFrame(paint);
    timers.current.clock = window.setInterval(() => {
      const seconds = (performance.now() - started) / 1000;
      setElapsedS(Math.floor(seconds));
      if (seconds >= limitS) void finish(`Stopped at this server's limit of ${clock(maxClipS.current)}.`);
    }, CLOCK_MS);
  }

  async function begin() {
    setNote(null);
    setElapsedS(0);
    setPhase("starting");
    let rec: Recording;
    try {
      rec = await startRecording();
    } catch (err) {
      pressedAt.current = null;
      setHolding(false);
      setPhase("idle");
      setNote({ text: errorMessage(err), error: true });
      return;
    }
    if (!alive.current) return rec.cancel();
    recording.current = rec;
    setPhase("recording");
    startMeter(rec);
  }

  async function finish(why = "") {
    const rec = recording.current;
    if (!rec) return;
    recording.current = null;
    pressedAt.current = null;
    stopMeter();
    setHolding(false);
    setPhase("transcribing");
    if (why) setNote({ text: why, error: false });
    const clip = await rec.stop();
    if (!alive.current) return;
    if (clip.size === 0) {
      setPhase("idle");
      setNote({ text: MISSED, error: true });
      return;
    }
    const controller = new AbortController();
    upload.current = controller;
    try {
      const transcript = await transcribe(clip, sessionId, controller.signal);
      const text = transcript.text.trim();
      if (text) onTranscript(text);
      else setNote({ text: MISSED, error: true });
    } catch (err) {
      if (err instanceof ApiError && err.code === "aborted") return;
      if (err instanceof ApiError && err.code === "voice_disabled") setBlocked(VOICE_OFF);
      setNote({ text: errorMessage(err), error: true });
    } finally {
      upload.current = null;
      if (alive.current) setPhase("idle");
    }
  }

  function toggle() {
    if (phaseRef.current === "idle") void begin();
    else if (phaseRef.current === "recording") void finish();
  }

  const onPointerDown = (e: PointerEvent) => {
    if (e.button !== 0) return;
    if (blocked) return setNote({ text: blocked, error: true });
    const button = e.currentTarget as HTMLButtonElement;
    button.setPointerCapture(e.pointerId); // the release reaches us even off the button
    if (phaseRef.current === "idle") {
      pressedAt.current = performance.now();
      setHolding(true);
      void begin();
    } else if (phaseRef.current === "recording") {
      void finish();
    }
  };

  const onPointerUp = () => {
    const at = pressedAt.current;
    pressedAt.current = null;
    setHolding(false);
    // a release while the microphone is still being granted leaves it recording, as a tap
    if (at !== null && performance.now() - at > HOLD_MS && recording.current) void finish();
  };

  const recordingNow = phase === "recording" || phase === "starting";
  return (
    <>
      <div class="mic-line">
        {phase === "recording" && (
          <p class="mic-recording">
            <span class="rec-dot" aria-hidden="true" />
            <span role="status">Recording</span>
            <span class="mic-clock">
              {clock(elapsedS)} / {clock(maxClipS.current)}
            </span>
            <span class="mic-meter" aria-hidden="true">
              <span class="mic-level" ref={level} />
            </span>
            <span class="muted small">{holding ? "release to stop" : "tap ■ to stop"}</span>
          </p>
        )}
        {phase === "starting" && (
          <p class="muted small" role="status">
            Starting the microphone…
          </p>
        )}
        {phase === "transcribing" && (
          <p class="mic-recording" role="status">
            <span class="spinner" aria-hidden="true" /> Transcribing…
            <button type="button" class="btn btn-ghost mic-cancel" onClick={() => upload.current?.abort()}>
              Cancel
            </button>
          </p>
        )}
        {note && (
          <p
            class={note.error ? "notice notice-error small" : "notice small"}
            role={note.error ? "alert" : "status"}
          >
            {note.text}
          </p>
        )}
      </div>
      <button
        type="button"
        class={`btn mic${recordingNow ? " mic-on" : ""}`}
        aria-label={phase === "recording" ? "Stop recording" : "Record a voice prompt"}
        aria-pressed={recordingNow}
        aria-disabled={blocked !== null || phase === "transcribing" || undefined}
        title={blocked ?? "Hold to talk, or tap to start and tap again to stop"}
        onPointerDown={onPointerDown}
        onPointerUp={onPointerUp}
        onPointerCancel={onPointerUp}
        onContextMenu={(e) => e.preventDefault()} // a long press is a hold, not a menu
        onClick={(e) => {
          if (e.detail !== 0) return; // pointer presses were handled above
          if (blocked) return setNote({ text: blocked, error: true });
          toggle(); // Enter or Space
        }}
      >
        {phase === "recording" ? <StopIcon /> : <MicIcon />}
      </button>
    </>
  );
}

function clock(seconds: number): string {
  const s = Math.floor(seconds);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

function MicIcon() {
  return (
    <svg
      viewBox="0 0 24 24"
      width="22"
      height="22"
      aria-hidden="true"
      fill="none"
      stroke="currentColor"
      stroke-width="2"
    >
      <rect x="9" y="3" width="6" height="11" rx="3" />
      <path d="M5 11a7 7 0 0 0 14 0M12 18v3" stroke-linecap="round" />
    </svg>
  );
}

function StopIcon() {
  return (
    <svg viewBox="0 0 24 24" width="22" height="22" aria-hidden="true">
      <rect x="6" y="6" width="12" height="12" rx="2" fill="currentColor" />
    </svg>
  );
}
