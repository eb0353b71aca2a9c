// Starting a session: one Idempotency-Key per start, kept for the retry after a lost answer.
import { afterEach, expect, test, vi } from "vitest";
import { postStart as startSession } from "../src/app/start_request";
import type { SessionView, StartRequest } from "../src/api/rest";

const request: StartRequest = { relay_id: "r1", workspace: "work", agent: "pty" };
const session: SessionView = {
  id: "s1",
  relay_id: "r1",
  agent: "pty",
  workspace: "work",
  title: "",
  status: "starting",
  relay_online: true,
  created_at: 1,
  last_activity_at: 1,
  last_seq: 0,
  epoch: "e",
  detail: "relay not answering",
};

function keysSent(fetch: ReturnType<typeof vi.fn>): (string | undefined)[] {
  return fetch.mock.calls.map(
    ([, init]) => (init as RequestInit & { headers: Record<string, string> }).headers["Idempotency-Key"],
  );
}

afterEach(() => vi.unstubAllGlobals());

test("a start lost to the network is tried again with the same key", async () => {
  const fetch = vi
    .fn()
    .mockRejectedValueOnce(new TypeError("network down"))
    .mockResolvedValueOnce(new Response(JSON.stringify(session), { status: 202 }));
  vi.stubGlobal("fetch", fetch);
  vi.stubGlobal("navigator", { onLine: true });
  const created = await startSession(request);
  expect(created.detail).toBe("relay not answering");
  const keys = keysSent(fetch);
  expect(keys).toHaveLength(2);
  expect(keys[0]).toMatch(/^[0-9a-f]{32}$/);
  expect(keys[1]).toBe(keys[0]);
});

test("each start has its own key, and a refusal is not retried", async () => {
  const refusal = { error: { code: "relay_offline", message: "that relay is not connected" } };
  const fetch = vi
    .fn()
    .mockImplementation(async () => new Response(JSON.stringify(refusal), { status: 503 }));
  vi.stubGlobal("fetch", fetch);
  await expect(startSession(request)).rejects.toThrow("not connected");
  await expect(startSession(request)).rejects.toThrow("not connected");
  const keys = keysSent(fetch);
  expect(keys).toHaveLength(2);
  expect(keys[0]).not.toBe(keys[1]);
});
