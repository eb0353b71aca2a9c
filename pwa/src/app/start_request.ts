// POST /api/sessions, safe to retry: a fresh Idempotency-Key per start (one per tap on Start),
// kept for the one retry after an answer lost to the network, so the retry gets the same
// session instead of running the agent twice. The session may come back "starting" with detail
// "relay not answering" (202); it resolves by itself.
import { ApiError, api } from "../api/http";
import type { SessionView, StartRequest } from "../api/rest";

const START_ATTEMPTS = 2; // a start lost to the network is tried once more, with the same key
const START_TIMEOUT_MS = 20_000; // over the server's command_timeout_s (10 s by default)

export async function postStart(request: StartRequest): Promise<SessionView> {
  const headers = { "Idempotency-Key": newKey() };
  for (let attempt = 1; ; attempt++) {
    try {
      return await api<SessionView>("POST", "/api/sessions", request, {
        timeoutMs: START_TIMEOUT_MS,
        headers,
      });
    } catch (err) {
      const lost = err instanceof ApiError && (err.code === "network" || err.code === "timeout");
      if (!lost || attempt >= START_ATTEMPTS) throw err;
    }
  }
}

/** 128 random bits as hex; crypto.randomUUID needs a secure context, getRandomValues does not. */
function newKey(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
