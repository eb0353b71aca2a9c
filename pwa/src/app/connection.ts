// The connection to the server, as a state machine over the one socket (api/socket.ts): it
// subscribes every followed session with `since` after each (re)connect, reconnects with
// exponential backoff and full jitter on transient closes (4000-4499 and abnormal ones), stops on
// final ones (4500-4999; 4500 means signed out), pauses while the page is hidden and resumes on
// `visibilitychange` / `online`. Commands carry a request_id and resolve with the server's
// `result` (15 s timeout). The UI reads its state from the signals here.
import { signal } from "@preact/signals";
import {
  type ClientMessage,
  CloseCode,
  type Result,
  type ServerToClient,
  type Since,
  shouldReconnect,
} from "../api/protocol";
import { ClientSocket } from "../api/socket";

export type ConnectionState = "connecting" | "online" | "offline" | "paused" | "signed_out";

/** The socket's state, for the header's indicator and for screens that send commands. */
export const connection = signal<ConnectionState>("connecting");
/** Why the socket is not online, in words (empty when it is). */
export const connectionDetail = signal<string>("");

const COMMAND_TIMEOUT_MS = 15_000;
const CONNECT_TIMEOUT_MS = 10_000; // a socket still opening after this is dropped and retried
const HIDDEN_GRACE_MS = 10_000; // a hidden page keeps its socket this long, then pauses
const BACKOFF_BASE_MS = 500;
const BACKOFF_CAP_MS = 30_000;

export class CommandError extends Error {
  readonly code: string; // an ErrorCode, or "timeout" / "offline" / "connection_lost"
  constructor(code: string, message: string) {
    super(message);
    this.name = "CommandError";
    this.code = code;
  }
}

/** A command as a screen sends it: the wire message without request_id / command_id. */
type CommandMessage = Exclude<
  ClientMessage,
  { type: "hello" } | { type: "subscribe" } | { type: "unsubscribe" }
>;

type Listener = (message: ServerToClient) => void;
type SinceOf = () => Since | null;

interface Pending {
  message: ClientMessage;
  sent: boolean;
  resolve: (result: Result) => void;
  reject: (error: CommandError) => void;
  timer: ReturnType<typeof setTimeout>;
}

let ws: ClientSocket | null = null;
let ready = false; // the server's hello arrived on `ws`
let running = false; // started and not stopped (signed out / final close)
let paused = false;
let attempt = 0;
let retryTimer: ReturnType<typeof setTimeout> | null = null;
let connectTimer: ReturnType<typeof setTimeout> | null = null;
let hiddenTimer: ReturnType<typeof setTimeout> | null = null;
let nextRequest = 0;
const listeners = new Set<Listener>();
const followed = new Map<string, SinceOf>();
const pending = new Map<string, Pending>();
let onSignedOut: () => void = () => {};

/** Called once when the server closes with 4500 (credentials gone): the app goes to /login. */
export function setSignedOutHandler(handler: () => void): void {
  onSignedOut = handler;
}

/** Every message from the server (after the handshake). Returns an unsubscribe function. */
export function onServerMessage(listener: Listener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** Connect (after sign-in). Safe to call again. */
export function startSocket(): void {
  if (running) return;
  running = true;
  paused = false;
  attempt = 0;
  if (document.hidden) pause();
  else connect();
}

/** Before the socket is started: show why (the server could not be reached to sign in). */
export function noteUnreachable(detail: string): void {
  if (running) return;
  connection.value = "offline";
  connectionDetail.value = detail;
}

/** Close for good (sign-out): no reconnects until startSocket() again. */
export function stopSocket(state: ConnectionState = "signed_out", detail = ""): void {
  running = false;
  clearTimers();
  closeSocket(1000, "stopped");
  failPending("offline", "Not connected");
  connection.value = state;
  connectionDetail.value = detail;
}

/** Follow a session: subscribed now if online and again after every reconnect, each time with
 * `since()` (the last event held, or null for a full replay). Returns an unfollow function. */
export function follow(sessionId: string, since: SinceOf): () => void {
  followed.set(sessionId, since);
  if (ready) sendSubscribe(sessionId, since);
  return () => {
    if (followed.get(sessionId) !== since) return;
    followed.delete(sessionId);
    if (ready) send({ type: "unsubscribe", session_id: sessionId });
  };
}

/** Send a command; resolves with the server's result when ok, rejects with CommandError when
 * not ok, not answered within 15 s, or the connection drops before the answer. While the
 * socket is (re)connecting the command waits, within the same 15 s. */
export function sendCommand(command: CommandMessage, timeoutMs = COMMAND_TIMEOUT_MS): Promise<Result> {
  const requestId = `r${Date.now().toString(36)}-${(nextRequest++).toString(36)}`;
  const message = { ...command, request_id: requestId } as ClientMessage;
  return new Promise<Result>((resolve, reject) => {
    if (!running || connection.value === "signed_out") {
      reject(new CommandError("offline", "Not connected"));
      return;
    }
    const timer = setTimeout(() => {
      pending.delete(requestId);
      reject(new CommandError("timeout", "No answer from the server in time"));
    }, timeoutMs);
    const entry: Pending = { message, sent: false, resolve, reject, timer };
    pending.set(requestId, entry);
    if (ready) {
      entry.sent = send(message);
    } else if (paused) {
      resume();
    }
  });
}

// ------------------------------------------------------------------------------ internals

function connect(): void {
  if (!running || ws) return;
  clearTimers();
  paused = false;
  connection.value = "connecting";
  let socket: ClientSocket;
  try {
    socket = new ClientSocket({
      message: (message) => {
        if (ws === socket) received(message);
      },
      closed: (code, reason) => {
        if (ws !== socket) return;
        ws = null;
        ready = false;
        onClosed(code, reason);
      },
    });
  } catch {
    scheduleRetry("Cannot open a connection");
    return;
  }
  ws = socket;
  ready = false;
  connectTimer = setTimeout(() => {
    if (ws === socket && !ready) {
      closeSocket(4000, "connect timeout"); // onClosed schedules the retry
    }
  }, CONNECT_TIMEOUT_MS);
}

function received(message: ServerToClient): void {
  if (message.type === "hello") {
    onReady();
    return;
  }
  if (message.type === "result") {
    const entry = pending.get(message.request_id);
    if (entry) {
      pending.delete(message.request_id);
      clearTimeout(entry.timer);
      if (message.ok) entry.resolve(message);
      else entry.reject(new CommandError(message.code || "error", message.message || "Refused"));
    }
  }
  for (const listener of listeners) {
    try {
      listener(message);
    } catch (err) {
      console.error("socket listener failed", err);
    }
  }
}

function onReady(): void {
  if (connectTimer) clearTimeout(connectTimer);
  connectTimer = null;
  ready = true;
  attempt = 0;
  connection.value = "online";
  connectionDetail.value = "";
  for (const [sessionId, since] of followed) sendSubscribe(sessionId, since);
  for (const entry of pending.values()) {
    if (!entry.sent) entry.sent = send(entry.message);
  }
}

function onClosed(code: number, reason: string): void {
  // Commands already sent may or may not have been applied: tell the caller, never resend.
  for (const [id, entry] of pending) {
    if (!entry.sent) continue;
    pending.delete(id);
    clearTimeout(entry.timer);
    entry.reject(new CommandError("connection_lost", "Connection lost before the server answered"));
  }
  if (!running) return;
  if (code === CloseCode.UNAUTHORIZED) {
    stopSocket("signed_out", "Signed out");
    onSignedOut();
    return;
  }
  if (!shouldReconnect(code)) {
    stopSocket("offline", `The server closed the connection (${code}${reason ? `: ${reason}` : ""})`);
    return;
  }
  if (paused) {
    connection.value = "paused";
    return;
  }
  scheduleRetry(navigator.onLine ? "Connection lost; reconnecting" : "You are offline");
}

function scheduleRetry(detail: string): void {
  if (!running) return;
  connection.value = navigator.onLine ? "connecting" : "offline";
  connectionDetail.value = detail;
  if (retryTimer) clearTimeout(retryTimer);
  const ceiling = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** attempt);
  attempt = Math.min(attempt + 1, 16);
  const delay = Math.random() * ceiling; // full jitter
  retryTimer = setTimeout(() => {
    retryTimer = null;
    if (!navigator.onLine) {
      // The `online` event reconnects at once; keep trying slowly in case it never comes.
      connection.value = "offline";
      retryTimer = setTimeout(() => {
        retryTimer = null;
        connect();
      }, BACKOFF_CAP_MS);
      return;
    }
    connect();
  }, delay);
}

function sendSubscribe(sessionId: string, since: SinceOf): void {
  send({ type: "subscribe", session_id: sessionId, since: since() });
}

function send(message: ClientMessage): boolean {
  return ws?.send(message) ?? false;
}

function closeSocket(code: number, reason: string): void {
  const socket = ws;
  ws = null;
  ready = false;
  if (!socket) return;
  socket.close(code, reason);
  onClosed(code, reason);
}

function failPending(code: string, message: string): void {
  for (const [id, entry] of pending) {
    pending.delete(id);
    clearTimeout(entry.timer);
    entry.reject(new CommandError(code, message));
  }
}

function clearTimers(): void {
  for (const timer of [retryTimer, connectTimer, hiddenTimer]) if (timer) clearTimeout(timer);
  retryTimer = connectTimer = hiddenTimer = null;
}

function pause(): void {
  if (!running) return;
  paused = true;
  clearTimers();
  closeSocket(1000, "page hidden");
  connection.value = "paused";
  connectionDetail.value = "Paused while the app is in the background";
}

function resume(): void {
  if (!running) return;
  if (hiddenTimer) clearTimeout(hiddenTimer);
  hiddenTimer = null;
  paused = false;
  if (ws) return; // still connected (came back within the grace period) or connecting
  attempt = 0;
  connect();
}

document.addEventListener("visibilitychange", () => {
  if (!running) return;
  if (document.hidden) {
    if (hiddenTimer) clearTimeout(hiddenTimer);
    hiddenTimer = setTimeout(pause, HIDDEN_GRACE_MS);
  } else {
    resume();
  }
});

window.addEventListener("online", () => {
  if (running && !document.hidden) resume();
});

window.addEventListener("offline", () => {
  if (!running) return;
  // Browsers may keep a dead socket open for minutes: drop it now and resume when back online.
  if (retryTimer) clearTimeout(retryTimer);
  retryTimer = null;
  closeSocket(4000, "offline");
  if (retryTimer) clearTimeout(retryTimer);
  retryTimer = null;
  connection.value = "offline";
  connectionDetail.value = "You are offline";
});

/** The browser's own idea of being online (navigator.onLine, kept current). */
export const browserOnline = signal(navigator.onLine);
window.addEventListener("online", () => {
  browserOnline.value = true;
});
window.addEventListener("offline", () => {
  browserOnline.value = false;
});
