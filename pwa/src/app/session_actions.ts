// What screens do to sessions: start one (REST), send it input, resize, interrupt or stop it
// (commands on the socket, answered with a `result`), and answer its approvals (REST). The list
// in app/sessions.ts is kept current with what each answers.
import { ApiError, api } from "../api/http";
import type { Decision, Result } from "../api/protocol";
import type { SessionView, StartRequest } from "../api/rest";
import { sendCommand } from "./connection";
import { refreshSoon, sessions } from "./sessions";

const START_ATTEMPTS = 2; // a start lost to the network is tried once more, with the same key

/** POST /api/sessions with a fresh Idempotency-Key per call (one per tap on Start), so the retry
 *  after a lost answer gets the same session instead of running the agent twice. The session
 *  may come back "starting" with detail "relay not answering" (202); it resolves by itself.
 *  Returns the session (also put into the list). */
export async function startSession(request: StartRequest): Promise<SessionView> {
  const headers = { "Idempotency-Key": newKey() };
  let created: SessionView | undefined;
  for (let attempt = 1; created === undefined; attempt++) {
    try {
      created = await api<SessionView>("POST", "/api/sessions", request, { timeoutMs: 20_000, headers });
    } catch (err) {
      const lost = err instanceof ApiError && (err.code === "network" || err.code === "timeout");
      if (!lost || attempt >= START_ATTEMPTS) throw err;
    }
  }
  if (!sessions.value.some((s) => s.id === created.id)) sessions.value = [created, ...sessions.value];
  refreshSoon();
  return created;
}

/** 128 random bits as hex; crypto.randomUUID needs a secure context, getRandomValues does not. */
function newKey(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** A prompt for an agent session. */
export function sendPrompt(sessionId: string, text: string): Promise<Result> {
  return sendCommand({ type: "send_input", session_id: sessionId, data: text });
}

/** Keystrokes for a PTY session. */
export function sendKeys(sessionId: string, data: string): Promise<Result> {
  return sendCommand({ type: "send_input", session_id: sessionId, data });
}

export function resize(sessionId: string, cols: number, rows: number): Promise<Result> {
  return sendCommand({ type: "resize", session_id: sessionId, cols, rows });
}

export function interrupt(sessionId: string): Promise<Result> {
  return sendCommand({ type: "interrupt", session_id: sessionId });
}

export function stop(sessionId: string): Promise<Result> {
  return sendCommand({ type: "stop_session", session_id: sessionId });
}

/** Answer a pending approval (REST); resolves once the agent has the decision. */
export async function resolveApproval(
  sessionId: string,
  approvalId: string,
  decision: Decision,
  message = "",
): Promise<SessionView> {
  const view = await api<SessionView>(
    "POST",
    `/api/sessions/${encodeURIComponent(sessionId)}/approvals/${encodeURIComponent(approvalId)}`,
    { decision, message },
    { timeoutMs: 20_000 },
  );
  sessions.value = sessions.value.map((s) => (s.id === view.id ? view : s));
  return view;
}
