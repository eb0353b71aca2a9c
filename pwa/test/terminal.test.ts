// The terminal's logic (app/terminal.ts) without a browser or a widget.
import { afterEach, beforeEach, describe, expect, test, vi } from "vitest";
import type { AgentEvent, LoggedEvent } from "../src/api/protocol";
import { keyBarKey, SizeReporter, TerminalFeed, withCtrl } from "../src/app/terminal";

const output = (seq: number, text: string): LoggedEvent => ({
  seq,
  ts: seq,
  event: { kind: "terminal_output", data: btoa(text) } as AgentEvent,
});
const other = (seq: number): LoggedEvent => ({ seq, ts: seq, event: { kind: "message", text: "hi" } });

function screen() {
  const shown: string[] = [];
  const feed = new TerminalFeed({
    write: (bytes) => shown.push(new TextDecoder().decode(bytes)),
    reset: () => shown.push("<reset>"),
  });
  return { shown, feed };
}

test("each terminal_output is written once, in order, and other events are not", () => {
  const { shown, feed } = screen();
  const log = [output(1, "a"), other(2), output(3, "b")];
  feed.update(log);
  feed.update(log);
  feed.update([...log, output(4, "c")]);
  expect(shown).toEqual(["<reset>", "a", "b", "c"]);
});

test("a replaced log (another epoch, or fewer events) starts the screen over", () => {
  const { shown, feed } = screen();
  feed.update([output(1, "a"), output(2, "b")]);
  feed.update([output(1, "x")]);
  feed.update([output(7, "y")]);
  expect(shown).toEqual(["<reset>", "a", "b", "<reset>", "x", "<reset>", "y"]);
});

test("Ctrl turns a key into its control character; other input passes as it is", () => {
  expect(withCtrl("a")).toBe("\x01");
  expect(withCtrl("C")).toBe("\x03");
  expect(withCtrl("[")).toBe("\x1b");
  expect(withCtrl(" ")).toBe("\x00");
  expect(withCtrl("?")).toBe("\x7f");
  expect(withCtrl("1")).toBe("1");
  expect(withCtrl("ab")).toBe("ab");
});

test("arrows follow the terminal's cursor-key mode", () => {
  expect(keyBarKey("\x1b[A", false)).toBe("\x1b[A");
  expect(keyBarKey("\x1b[A", true)).toBe("\x1bOA");
  expect(keyBarKey("\t", true)).toBe("\t");
});

describe("the size reported", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  test("the size is sent once layout changes settle, and only when it changed", async () => {
    const sent: [number, number][] = [];
    const sizes = new SizeReporter(async (cols, rows) => {
      sent.push([cols, rows]);
    });
    sizes.changed(() => ({ cols: 80, rows: 24 }));
    sizes.changed(() => ({ cols: 100, rows: 30 }));
    await vi.runAllTimersAsync();
    sizes.changed(() => ({ cols: 100, rows: 30 }));
    await vi.runAllTimersAsync();
    expect(sent).toEqual([[100, 30]]);
  });

  test("a size that could not be sent is sent again on the next change", async () => {
    let fail = true;
    const sent: [number, number][] = [];
    const sizes = new SizeReporter(async (cols, rows) => {
      sent.push([cols, rows]);
      if (fail) throw new Error("offline");
    });
    sizes.changed(() => ({ cols: 80, rows: 24 }));
    await vi.runAllTimersAsync();
    fail = false;
    sizes.changed(() => ({ cols: 80, rows: 24 }));
    await vi.runAllTimersAsync();
    expect(sent).toEqual([
      [80, 24],
      [80, 24],
    ]);
  });
});
