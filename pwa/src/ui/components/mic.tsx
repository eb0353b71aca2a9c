/**
 * The prompt box's microphone: hold it to talk (released after HOLD_MS, it stops), or tap it to
 * start and tap again to stop; Enter or Space toggles it from the keyboard. While recording, a
 * level meter and the time against the server's limit (it stops by itself there); then the clip
 * is transcribed on the server and the text handed to `onTranscript`, never sent anywhere else.
 * Its messages (denied, no microphone, HTTPS needed, voice off, server errors) show in a line
 * above the prompt box (`.mic-line`, which the composer's row wraps onto its own line).
 */
import { useEffect, useRef, useState } from "preact/hooks";
import { clockText, VoicePrompt } from "../../app/voice_prompt";
import "./mic.css";

const HOLD_MS = 350; // pressed longer than this, releasing stops; shorter is a tap

export function Mic({
  sessionId,
  onTranscript,
}: {
  sessionId: string;
  onTranscript: (text: string) => void;
}) {
  const [prompt] = useState(() => new VoicePrompt(sessionId, onTranscript));
  prompt.onTranscript = onTranscript;
  const [holding, setHolding] = useState(false);
  const pressedAt = useRef<number | null>(null); // a press that started the recording
  const level = useRef<HTMLSpanElement>(null);
  const phase = prompt.phase.value;
  const blocked = prompt.blocked.value;
  const note = prompt.note.value;

  useEffect(() => prompt.open(), [prompt]);

  useEffect(() => {
    if (phase !== "recording") return;
    let frame = 0;
    const paint = () => {
      level.current?.style.setProperty("--level", prompt.level().toFixed(3));
      frame = requestAnimationFrame(paint);
    };
    frame = requestAnimationFrame(paint);
    return () => cancelAnimationFrame(frame);
  }, [phase, prompt]);

  async function begin() {
    if (!(await prompt.begin())) {
      pressedAt.current = null;
      setHolding(false);
    }
  }

  function finish() {
    pressedAt.current = null;
    setHolding(false);
    void prompt.finish();
  }

  const onPointerDown = (e: PointerEvent) => {
    if (e.button !== 0) return;
    if (prompt.refuse()) return;
    const button = e.currentTarget as HTMLButtonElement;
    button.setPointerCapture(e.pointerId); // the release reaches us even off the button
    if (prompt.phase.value === "idle") {
      pressedAt.current = performance.now();
      setHolding(true);
      void begin();
    } else if (prompt.phase.value === "recording") {
      finish();
    }
  };

  const onPointerUp = () => {
    const at = pressedAt.current;
    pressedAt.current = null;
    setHolding(false);
    // a release while the microphone is still being granted leaves it recording, as a tap
    if (at !== null && performance.now() - at > HOLD_MS && prompt.isRecording()) finish();
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
              {clockText(prompt.elapsedS.value)} / {clockText(prompt.maxClipS.value)}
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
            <button type="button" class="btn btn-ghost mic-cancel" onClick={() => prompt.cancelUpload()}>
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
          if (prompt.refuse()) return;
          prompt.toggle(); // Enter or Space
        }}
      >
        {phase === "recording" ? <StopIcon /> : <MicIcon />}
      </button>
    </>
  );
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
