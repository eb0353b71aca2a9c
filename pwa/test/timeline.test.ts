// How a session's log becomes timeline items (app/timeline.ts), without a browser.
import { expect, test } from "vitest";
import type { AgentEvent, LoggedEvent } from "../src/api/protocol";
import { type Item, TimelineBuilder } from "../src/app/timeline";

function log(...events: AgentEvent[]): LoggedEvent[] {
  return events.map((event, i) => ({ seq: i + 1, ts: 100 + i, event }));
}

const types = (items: Item[]) => items.map((i) => i.type);

test("text deltas stream into one message that the finished message replaces", () => {
  const builder = new TimelineBuilder();
  const events = log(
    { kind: "text_delta", text: "Hel", message_id: "m1" },
    { kind: "text_delta", text: "lo", message_id: "m1" },
  );
  const streaming = builder.update(events);
  expect(streaming).toMatchObject([{ type: "message", text: "Hello", streaming: true, key: "1" }]);
  const done = builder.update([
    ...events,
    { seq: 3, ts: 103, event: { kind: "message", text: "Hello!", message_id: "m1" } },
  ]);
  expect(done).toMatchObject([{ type: "message", text: "Hello!", streaming: false, role: "assistant" }]);
  expect(streaming[0]).not.toBe(done[0]); // items are immutable: a change is a new object
});

test("a tool's start and finish are one card, with the command and files that follow it", () => {
  const items = new TimelineBuilder().update(
    log(
      { kind: "tool_started", tool_id: "t1", name: "Bash", input: { command: "ls" } },
      { kind: "tool_finished", tool_id: "t1", output: "a.txt" },
      { kind: "command", command: "ls", exit_code: 0 },
      { kind: "file_changed", path: "a.txt" },
      { kind: "file_changed", path: "b.txt" },
    ),
  );
  expect(items).toHaveLength(1);
  expect(items[0]).toMatchObject({ type: "tool", finished: true, output: "a.txt", isError: false });
  const tool = items[0] as Extract<Item, { type: "tool" }>;
  expect(tool.command?.command).toBe("ls");
  expect(tool.files.map((f) => f.path)).toEqual(["a.txt", "b.txt"]);
});

test("an approval for the running tool goes into its card and is resolved there", () => {
  const items = new TimelineBuilder().update(
    log(
      { kind: "tool_started", tool_id: "t1", name: "Bash" },
      { kind: "approval_requested", approval_id: "a1", tool: "Bash" },
      { kind: "approval_resolved", approval_id: "a1", decision: "approved" },
    ),
  );
  expect(types(items)).toEqual(["tool"]);
  const tool = items[0] as Extract<Item, { type: "tool" }>;
  expect(tool.approval?.request.approval_id).toBe("a1");
  expect(tool.approval?.resolved?.decision).toBe("approved");
});

test("an approval for no running tool is its own card", () => {
  const items = new TimelineBuilder().update(
    log(
      { kind: "approval_requested", approval_id: "a1", tool: "Write" },
      { kind: "approval_resolved", approval_id: "a1", decision: "denied" },
    ),
  );
  expect(items).toMatchObject([{ type: "approval", resolved: { decision: "denied" } }]);
});

test("only changes of status are shown, and waiting for approval is not one", () => {
  const items = new TimelineBuilder().update(
    log(
      { kind: "status", state: "running" },
      { kind: "status", state: "running" },
      { kind: "status", state: "waiting_for_approval" },
      { kind: "message", text: "ok" },
      { kind: "status", state: "idle" },
    ),
  );
  expect(types(items)).toEqual(["status", "message", "status"]);
  expect(items[2]).toMatchObject({ state: "idle" });
});

test("terminal output and native events are not timeline items", () => {
  const items = new TimelineBuilder().update(
    log({ kind: "terminal_output", data: "aGk=" } as AgentEvent, { kind: "user_prompt", text: "go" }),
  );
  expect(types(items)).toEqual(["prompt"]);
});

test("a log that does not extend the one seen (a new epoch) is built again from scratch", () => {
  const builder = new TimelineBuilder();
  builder.update(log({ kind: "user_prompt", text: "first" }, { kind: "user_prompt", text: "second" }));
  const items = builder.update(log({ kind: "user_prompt", text: "other" }));
  expect(items).toMatchObject([{ type: "prompt", text: "other" }]);
});

test("events the server lost are one visible item with their range", () => {
  const items = new TimelineBuilder().update(
    log(
      { kind: "message", text: "before" },
      { kind: "events_lost", first_relay_seq: 6, last_relay_seq: 8, reason: "beyond the window" },
      { kind: "message", text: "after" },
    ),
  );
  expect(types(items)).toEqual(["message", "lost", "message"]);
  expect(items[1]).toMatchObject({ type: "lost", event: { first_relay_seq: 6, last_relay_seq: 8 } });
});
