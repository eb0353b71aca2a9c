// The log rules of app/session_log.ts, without a browser: every event exactly once and in order,
// gaps and other epochs noticed, memory bounded, and what the session is doing derived from it.
import { describe, expect, test } from "vitest";
import type { AgentEvent, LoggedEvent } from "../src/api/protocol";
import { append, describeStatus, emptyLog, MEMORY_KEEP, MEMORY_MAX, rebuild } from "../src/app/session_log";

const message = (text: string): AgentEvent => ({ kind: "message", text });

function logged(seq: number, event: AgentEvent = message(`m${seq}`)): LoggedEvent {
  return { seq, ts: 1000 + seq, event };
}

function seqs(from: number, to: number): LoggedEvent[] {
  return Array.from({ length: to - from + 1 }, (_, i) => logged(from + i));
}

describe("append", () => {
  test("events in order are held once, with the epoch and their seq range", () => {
    const done = append(emptyLog("s1"), "e1", seqs(1, 3))!;
    expect(done.gap).toBe(false);
    expect(done.fresh.map((e) => e.seq)).toEqual([1, 2, 3]);
    expect(done.log.epoch).toBe("e1");
    expect(done.log.events.map((e) => e.seq)).toEqual([1, 2, 3]);
    expect([done.log.firstSeq, done.log.lastSeq]).toEqual([1, 3]);
  });

  test("events already held are dropped, so a replay overlapping the log adds nothing twice", () => {
    const first = append(emptyLog("s1"), "e1", seqs(1, 3))!.log;
    const again = append(first, "e1", seqs(2, 5))!;
    expect(again.fresh.map((e) => e.seq)).toEqual([4, 5]);
    expect(again.log.events.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
    const nothing = append(again.log, "e1", seqs(1, 5))!;
    expect(nothing.fresh).toEqual([]);
    expect(nothing.log).toBe(again.log);
  });

  test("a gap stops at the last contiguous event and is reported", () => {
    const first = append(emptyLog("s1"), "e1", seqs(1, 2))!.log;
    const done = append(first, "e1", [logged(3), logged(5), logged(6)])!;
    expect(done.gap).toBe(true);
    expect(done.log.lastSeq).toBe(3);
    expect(done.fresh.map((e) => e.seq)).toEqual([3]);
  });

  test("a gap with nothing new leaves the log as it was", () => {
    const first = append(emptyLog("s1"), "e1", seqs(1, 2))!.log;
    const done = append(first, "e1", [logged(4)])!;
    expect(done).toEqual({ log: first, fresh: [], gap: true });
  });

  test("the first events of a log without an epoch may start past seq 1 (a cache kept the tail)", () => {
    const done = append(emptyLog("s1"), "e1", seqs(41, 42))!;
    expect(done.gap).toBe(false);
    expect([done.log.firstSeq, done.log.lastSeq]).toEqual([41, 42]);
  });

  test("events of another epoch are refused", () => {
    const first = append(emptyLog("s1"), "e1", seqs(1, 2))!.log;
    expect(append(first, "e2", seqs(3, 4))).toBeNull();
  });

  test("beyond the memory bound the oldest events go", () => {
    const full = append(emptyLog("s1"), "e1", seqs(1, MEMORY_MAX))!.log;
    expect(full.events.length).toBe(MEMORY_MAX);
    const over = append(full, "e1", [logged(MEMORY_MAX + 1)])!.log;
    expect(over.events.length).toBe(MEMORY_KEEP);
    expect(over.firstSeq).toBe(MEMORY_MAX + 1 - MEMORY_KEEP + 1);
    expect(over.lastSeq).toBe(MEMORY_MAX + 1);
  });
});

describe("derived state", () => {
  const request = (id: string): AgentEvent => ({
    kind: "approval_requested",
    approval_id: id,
    tool: "Bash",
    summary: `run ${id}`,
  });

  test("an approval is pending from its request until it is resolved", () => {
    let log = append(emptyLog("s1"), "e1", [logged(1, request("a1")), logged(2, request("a2"))])!.log;
    expect(log.pending.map((p) => [p.session_id, p.seq, p.request.approval_id])).toEqual([
      ["s1", 1, "a1"],
      ["s1", 2, "a2"],
    ]);
    expect(log.activity.text).toBe("Waiting for approval: run a2");
    log = append(log, "e1", [
      logged(3, { kind: "approval_resolved", approval_id: "a1", decision: "approved" }),
    ])!.log;
    expect(log.pending.map((p) => p.request.approval_id)).toEqual(["a2"]);
  });

  test("the end of a session clears its pending approvals and open tool", () => {
    const log = rebuild(emptyLog("s1"), [
      logged(1, request("a1")),
      logged(2, { kind: "tool_started", tool_id: "t1", name: "Read" }),
      logged(3, { kind: "session_ended", reason: "exited" }),
    ]);
    expect(log.pending).toEqual([]);
    expect(log.activity).toEqual({ status: "ended", detail: "", tool: "", text: "Ended (exited)", at: 1003 });
  });

  test("the open tool is the latest started and not finished", () => {
    const log = rebuild(emptyLog("s1"), [
      logged(1, { kind: "tool_started", tool_id: "t1", name: "Read" }),
      logged(2, { kind: "tool_started", tool_id: "t2", name: "Grep" }),
      logged(3, { kind: "tool_finished", tool_id: "t2" }),
    ]);
    expect(log.activity.tool).toBe("Read");
    expect(log.activity.text).toBe("Using Grep");
  });

  test("a status event sets the status and says it in words", () => {
    const log = rebuild(emptyLog("s1"), [logged(1, { kind: "status", state: "idle", detail: "done" })]);
    expect(log.activity.status).toBe("idle");
    expect(log.activity.detail).toBe("done");
    expect(log.activity.text).toBe("Idle: done");
    expect(describeStatus("disconnected", "")).toBe("Relay disconnected");
  });

  test("rebuild holds exactly the given events and derives everything again", () => {
    const before = append(emptyLog("s1"), "e1", [logged(5, request("old"))])!.log;
    const log = rebuild(before, seqs(1, 3));
    expect(log.epoch).toBe("e1");
    expect([log.firstSeq, log.lastSeq]).toEqual([1, 3]);
    expect(log.pending).toEqual([]);
    expect(log.activity.text).toBe("Writing a reply");
    expect(rebuild(before, []).lastSeq).toBe(0);
  });
});
