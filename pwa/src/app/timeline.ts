/**
 * Turns a session's event log into timeline items, incrementally.
 *
 * - text_delta chunks are coalesced into one streaming message, which the finished `message`
 *   (same message_id) replaces; consecutive `thinking` chunks become one thinking block;
 * - tool_started / tool_finished pair up by tool_id into one tool card; a `command` or
 *   `file_changed` that directly follows a finished tool is shown inside that card;
 * - approval_requested / approval_resolved pair up by approval_id; a request for the tool that
 *   is running (same name, started and not finished) goes into that tool's card, so it reads
 *   tool, approval, then the tool's result;
 * - terminal_output, native and text-free events are not timeline items.
 *
 * Items are immutable: a changed item is a new object, so memoised item components re-render
 * only what changed. `TimelineBuilder.update` processes only the events it has not seen.
 */
import type { EventKind, EventOf, LoggedEvent } from "../api/protocol";

type Of<K extends EventKind> = EventOf<K>;

interface Base {
  key: string; // stable: the seq of the event that created the item
  seq: number;
  ts: number;
}

export type Item =
  | (Base & { type: "message"; text: string; messageId: string; streaming: boolean; role: string })
  | (Base & { type: "thinking"; text: string })
  | (Base & { type: "prompt"; text: string; user: string })
  | (Base & {
      type: "tool";
      toolId: string;
      name: string;
      input: unknown;
      finished: boolean;
      output: string;
      isError: boolean;
      command: Of<"command"> | null;
      files: Of<"file_changed">[];
      approval: ToolApproval | null;
    })
  | (Base & { type: "command"; event: Of<"command"> })
  | (Base & { type: "file"; event: Of<"file_changed"> })
  | (Base & { type: "approval"; request: Of<"approval_requested">; resolved: Of<"approval_resolved"> | null })
  | (Base & { type: "usage"; event: Of<"usage"> })
  | (Base & { type: "status"; state: string; detail: string })
  | (Base & { type: "error"; message: string; code: string })
  | (Base & { type: "started"; event: Of<"session_started"> })
  | (Base & { type: "ended"; event: Of<"session_ended"> })
  | (Base & { type: "lost"; event: Of<"events_lost"> });

export type ItemOf<T extends Item["type"]> = Extract<Item, { type: T }>;

/** An approval asked for a tool while it runs, shown inside the tool's card. */
export interface ToolApproval {
  seq: number;
  request: Of<"approval_requested">;
  resolved: Of<"approval_resolved"> | null;
}

const APPROVAL_TOOL_LOOKBACK = 50; // items searched back for the running tool an approval is for

export class TimelineBuilder {
  items: Item[] = [];
  private source: readonly LoggedEvent[] | null = null;
  private done = 0; // events of `source` already processed
  private firstSeq = -1;
  private tools = new Map<string, number>(); // tool_id -> item index
  private approvals = new Map<string, number>(); // approval_id -> item index
  private lastTool = -1; // index of a finished tool that may take a following command/file
  private lastState = ""; // of the latest status event

  /** Feed the session's whole event list (seq order); returns the items, reusing prior work. */
  update(events: readonly LoggedEvent[]): Item[] {
    const extendsPrior =
      this.source !== null &&
      events.length >= this.done &&
      (this.done === 0 || events[0]?.seq === this.firstSeq) &&
      (this.done === 0 || events[this.done - 1]?.seq === this.source[this.done - 1]?.seq);
    if (!extendsPrior) this.reset();
    if (events.length === this.done) {
      this.source = events;
      return this.items;
    }
    const items = this.items.slice();
    for (let i = this.done; i < events.length; i++) this.add(items, events[i] as LoggedEvent);
    this.items = items;
    this.source = events;
    this.done = events.length;
    this.firstSeq = events[0]?.seq ?? -1;
    return items;
  }

  /** The index of the latest running tool called `name` without an approval yet, or -1. */
  private runningTool(items: Item[], name: string): number {
    for (let i = items.length - 1; i >= 0 && i >= items.length - APPROVAL_TOOL_LOOKBACK; i--) {
      const it = items[i] as Item;
      if (it.type === "tool" && !it.finished && it.approval === null && it.name === name) return i;
    }
    return -1;
  }

  private reset(): void {
    this.items = [];
    this.source = null;
    this.done = 0;
    this.firstSeq = -1;
    this.tools.clear();
    this.approvals.clear();
    this.lastTool = -1;
    this.lastState = "";
  }

  private add(items: Item[], logged: LoggedEvent): void {
    const e = logged.event;
    const base: Base = { key: String(logged.seq), seq: logged.seq, ts: logged.ts };
    const push = (item: Item): void => {
      items.push(item);
      this.lastTool = -1;
    };
    const last = items[items.length - 1];
    switch (e.kind) {
      case "text_delta": {
        const id = e.message_id ?? "";
        if (last?.type === "message" && last.streaming && last.messageId === id) {
          items[items.length - 1] = { ...last, text: last.text + e.text };
        } else {
          push({ ...base, type: "message", text: e.text, messageId: id, streaming: true, role: "assistant" });
        }
        return;
      }
      case "message": {
        const id = e.message_id ?? "";
        for (let i = items.length - 1; i >= 0 && i >= items.length - 50; i--) {
          const it = items[i] as Item;
          if (it.type === "message" && it.streaming && it.messageId === id) {
            items[i] = { ...it, text: e.text, streaming: false, role: e.role ?? "assistant" };
            return;
          }
        }
        push({
          ...base,
          type: "message",
          text: e.text,
          messageId: id,
          streaming: false,
          role: e.role ?? "assistant",
        });
        return;
      }
      case "thinking":
        if (last?.type === "thinking") items[items.length - 1] = { ...last, text: last.text + e.text };
        else push({ ...base, type: "thinking", text: e.text });
        return;
      case "user_prompt":
        push({ ...base, type: "prompt", text: e.text, user: e.user ?? "" });
        return;
      case "tool_started":
        push({
          ...base,
          type: "tool",
          toolId: e.tool_id,
          name: e.name,
          input: e.input,
          finished: false,
          output: "",
          isError: false,
          command: null,
          files: [],
          approval: null,
        });
        this.tools.set(e.tool_id, items.length - 1);
        return;
      case "tool_finished": {
        const index = this.tools.get(e.tool_id);
        const it = index === undefined ? undefined : items[index];
        if (index !== undefined && it?.type === "tool") {
          items[index] = { ...it, finished: true, output: e.output ?? "", isError: e.is_error ?? false };
          this.lastTool = index;
        } else {
          // a result without its start (log cut): show it alone
          push({
            ...base,
            type: "tool",
            toolId: e.tool_id,
            name: "tool",
            input: null,
            finished: true,
            output: e.output ?? "",
            isError: e.is_error ?? false,
            command: null,
            files: [],
            approval: null,
          });
          this.lastTool = items.length - 1;
        }
        return;
      }
      case "command": {
        const it = this.lastTool >= 0 ? items[this.lastTool] : undefined;
        if (it?.type === "tool" && it.command === null) {
          items[this.lastTool] = { ...it, command: e };
          return;
        }
        push({ ...base, type: "command", event: e });
        return;
      }
      case "file_changed": {
        const it = this.lastTool >= 0 ? items[this.lastTool] : undefined;
        if (it?.type === "tool") {
          items[this.lastTool] = { ...it, files: [...it.files, e] };
          return;
        }
        push({ ...base, type: "file", event: e });
        return;
      }
      case "approval_requested": {
        const index = this.runningTool(items, e.tool);
        const it = index < 0 ? undefined : items[index];
        if (it?.type === "tool") {
          items[index] = { ...it, approval: { seq: logged.seq, request: e, resolved: null } };
          this.approvals.set(e.approval_id, index);
          return;
        }
        push({ ...base, type: "approval", request: e, resolved: null });
        this.approvals.set(e.approval_id, items.length - 1);
        return;
      }
      case "approval_resolved": {
        const index = this.approvals.get(e.approval_id);
        const it = index === undefined ? undefined : items[index];
        if (index === undefined) return;
        if (it?.type === "approval") items[index] = { ...it, resolved: e };
        else if (it?.type === "tool" && it.approval?.request.approval_id === e.approval_id) {
          items[index] = { ...it, approval: { ...it.approval, resolved: e } };
        }
        return;
      }
      case "usage":
        push({ ...base, type: "usage", event: e });
        return;
      case "status": {
        // only changes are shown, and "waiting for approval" is the approval card itself
        if (e.state === "waiting_for_approval") return;
        const changed = e.state !== this.lastState || Boolean(e.detail);
        this.lastState = e.state;
        if (!changed) return;
        if (last?.type === "status")
          items[items.length - 1] = { ...last, state: e.state, detail: e.detail ?? "" };
        else push({ ...base, type: "status", state: e.state, detail: e.detail ?? "" });
        return;
      }
      case "error":
        push({ ...base, type: "error", message: e.message, code: e.code ?? "" });
        return;
      case "session_started":
        push({ ...base, type: "started", event: e });
        return;
      case "session_ended":
        push({ ...base, type: "ended", event: e });
        return;
      case "events_lost":
        push({ ...base, type: "lost", event: e });
        return;
      default:
        return; // terminal_output (terminal view), native (debugging only)
    }
  }
}
