// What screens do to sessions: start one (REST), send it input, resize, interrupt or stop it
// (commands on the socket, answered with a `result`), and answer its approvals (REST). The list
// in app/sessions.ts is kept current with what each answers.
import { api } from "../api/http";
import type { Decision, Result } from "../api/protocol";
import type { SessionView, StartRequest } from "../api/rest";
import { sendCommand } from "./connection";
import { postStart } from "./start_request";
import { refreshSoon, sessions } from "./sessions";

/** Start a session (see start_request.ts); returns it, also put into the list. */
export async function startSession(request: StartRequest): Promise<SessionView> {
  const created = await postStart(request);
  if (!sessions.value.some((s) => s.id === created.id)) sessions.value = [created, ...sessions.value];
  refreshSoon();
  return created;
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
