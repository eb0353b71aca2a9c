// One voice clip from the microphone: getUserMedia + MediaRecorder in the best container the
// browser records (webm/opus in Chrome and Firefox, mp4/aac in Safari), and the input level for a
// meter (an AnalyserNode, RMS). Everything is released when the clip is stopped or cancelled: the
// tracks end (the browser's "recording" indicator goes away) and the AudioContext is closed.

const TYPES = ["audio/webm;codecs=opus", "audio/ogg;codecs=opus", "audio/mp4"]; // first supported wins
const BITRATE_BPS = 32_000; // speech in opus at 32 kbit/s: 2 min is under 0.5 MB
const LEVEL_GAIN = 4; // speech peaks around 0.1-0.3 RMS; this spreads it over the meter's width

type MicProblem = "denied" | "no_mic" | "insecure" | "unsupported" | "unavailable";

const MESSAGES: Record<MicProblem, string> = {
  denied:
    "Microphone access is blocked for this site. Allow it in the browser's site settings (the icon " +
    "next to the address; on an iPhone: Settings › Safari › Microphone), then try again.",
  no_mic: "No microphone found. Connect one (or check the system's sound settings) and try again.",
  insecure:
    "The microphone needs HTTPS: open Tether at its https:// address (plain http works only on " +
    "localhost).",
  unsupported: "This browser cannot record audio. Type the prompt instead.",
  unavailable: "The microphone could not be started: another app may be using it. Try again.",
};

export class MicError extends Error {
  readonly problem: MicProblem;

  constructor(problem: MicProblem, detail = "") {
    super(MESSAGES[problem] + (detail && problem === "unavailable" ? ` (${detail})` : ""));
    this.name = "MicError";
    this.problem = problem;
  }
}

export interface Recording {
  readonly mimeType: string; // what the clip is ("" until the browser says)
  level(): number; // the input level now, 0..1
  stop(): Promise<Blob>; // the clip so far; the microphone is released
  cancel(): void; // drop the clip and release the microphone
}

/** Why the microphone cannot be used here before asking for it, or null. */
export function micUnavailable(): MicProblem | null {
  if (!navigator.mediaDevices?.getUserMedia) return window.isSecureContext ? "unsupported" : "insecure";
  if (typeof MediaRecorder === "undefined") return "unsupported";
  return null;
}

function recordingType(): string {
  return TYPES.find((t) => MediaRecorder.isTypeSupported(t)) ?? ""; // "": the browser's default
}

/** Ask for the microphone and start recording; MicError when it cannot be had. */
export async function startRecording(): Promise<Recording> {
  const missing = micUnavailable();
  if (missing) throw new MicError(missing);
  let stream: MediaStream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: true, noiseSuppression: true, channelCount: 1 },
    });
  } catch (err) {
    throw toMicError(err);
  }
  const type = recordingType();
  let recorder: MediaRecorder;
  try {
    recorder = new MediaRecorder(stream, {
      ...(type ? { mimeType: type } : {}),
      audioBitsPerSecond: BITRATE_BPS,
    });
  } catch (err) {
    stopTracks(stream);
    throw new MicError("unsupported", String(err));
  }
  const meter = openMeter(stream);
  const chunks: Blob[] = [];
  recorder.addEventListener("dataavailable", (e) => {
    if (e.data.size > 0) chunks.push(e.data);
  });
  const stopped = new Promise<void>((resolve) =>
    recorder.addEventListener("stop", () => resolve(), { once: true }),
  );
  recorder.start();

  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    if (recorder.state !== "inactive") recorder.stop();
    stopTracks(stream);
    meter?.close();
  };
  return {
    get mimeType() {
      return recorder.mimeType || type;
    },
    level: () => (released || !meter ? 0 : meter.level()),
    async stop() {
      release();
      await stopped;
      return new Blob(chunks, { type: recorder.mimeType || type || "audio/webm" });
    },
    cancel() {
      release();
      chunks.length = 0;
    },
  };
}

function toMicError(err: unknown): MicError {
  const name = err instanceof DOMException || err instanceof Error ? err.name : "";
  switch (name) {
    case "NotAllowedError":
    case "PermissionDeniedError":
    case "SecurityError":
      return new MicError(window.isSecureContext ? "denied" : "insecure");
    case "NotFoundError":
    case "DevicesNotFoundError":
    case "OverconstrainedError":
      return new MicError("no_mic");
    default:
      return new MicError("unavailable", err instanceof Error ? err.message : String(err));
  }
}

function stopTracks(stream: MediaStream): void {
  for (const track of stream.getTracks()) track.stop();
}

interface Meter {
  level(): number;
  close(): void;
}

/** The level meter's source; null where Web Audio is missing (the clip is recorded anyway). */
function openMeter(stream: MediaStream): Meter | null {
  if (typeof AudioContext === "undefined") return null;
  const context = new AudioContext();
  void context.resume().catch(() => undefined); // Safari starts it suspended outside a gesture
  const analyser = context.createAnalyser();
  analyser.fftSize = 1024;
  context.createMediaStreamSource(stream).connect(analyser);
  const samples = new Float32Array(analyser.fftSize);
  return {
    level() {
      analyser.getFloatTimeDomainData(samples);
      let sum = 0;
      for (const s of samples) sum += s * s;
      return Math.min(1, Math.sqrt(sum / samples.length) * LEVEL_GAIN);
    },
    close() {
      void context.close().catch(() => undefined);
    },
  };
}
