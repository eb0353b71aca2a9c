// One session's log as the app holds it, and the pure rules that keep it: events appended in seq
// order exactly once (a duplicate dropped, a gap reported, another epoch refused), the oldest
// dropped beyond a memory bound, and what is derived from them (pending approvals, what the
// session is doing now). No signals, no I/O: app/sessions.ts owns the state and the socket;
// pwa/test/session_log.test.ts checks these rules without a browser.
import type { EvApprovalRequested, LoggedEvent, SessionStatus } from "../api/protocol";

// Events held in memory per session: beyond MEMORY_MAX the oldest go (down to MEMORY_KEEP);
// loadEarlier() fetches them again. Pending approvals and activity are kept regardless.
export const MEMORY_MAX = 10_000;
export const MEMORY_KEEP = 8_000;

export interface PendingApproval {
  session_id: string;
  seq: number;
  ts: number;
  request: EvApprovalRequested;
}

export interface Activity {
  status: SessionStatus | null; // from the latest `status` event
  detail: string; // that event's detail
  tool: string; // name of a tool started and not finished yet, or ""
  text: string; // one line: what it is doing now
  at: number; // ts of the latest event
}

export type LogState = "loading" | "live" | "cached" | "error";

export interface SessionLog {
  session_id: string;
  epoch: string;
  events: LoggedEvent[]; // contiguous seqs, oldest first; a new array on every change
  firstSeq: number; // seq of events[0]; > 1 when older events were not loaded
  lastSeq: number; // 0 when nothing is held
  state: LogState;
  error: string;
  pending: PendingApproval[]; // approval_requested without approval_resolved, oldest first
  activity: Activity;
}

export function emptyLog(sessionId: string): SessionLog {
  return {
    session_id: sessionId,
    epoch: "",
    events: [],
    firstSeq: 1,
    lastSeq: 0,
    state: "loading",
    error: "",
    pending: [],
    activity: { status: null, detail: "", tool: "", text: "", at: 0 },
  };
}

export interface Appended {
  log: SessionLog; // the same object when nothing was new
  fresh: LoggedEvent[]; // the events added, oldest first
  gap: boolean; // an event was missing after `fresh`: ask again from log.lastSeq
}

/** `incoming` appended to `log`, or null when it is of another epoch (start over). */
export function append(log: SessionLog, epoch: string, incoming: LoggedEvent[]): Appended | null {
  if (log.epoch && epoch !== log.epoch) return null;
  const fresh: LoggedEvent[] = [];
  let last = log.lastSeq;
  let gap = false;
  for (const event of incoming) {
    if (event.seq <= last) continue; // already held: drop
    if ((last > 0 || log.epoch) && event.seq !== last + 1) {
      gap = true; // a gap would be a silent loss: ask again from what we hold
      break;
    }
    fresh.push(event);
    last = event.seq;
  }
  if (fresh.length === 0) return { log, fresh, gap };
  const base = log.events.length === 0 ? { ...log, firstSeq: fresh[0]!.seq } : log;
  let events = log.events.concat(fresh);
  if (events.length > MEMORY_MAX) events = events.slice(-MEMORY_KEEP);
  const firstSeq = events[0]!.seq;
  return { log: derive({ ...base, epoch, events, firstSeq, lastSeq: last }, fresh), fresh, gap };
}

/** `base` holding exactly `events`, with the pending approvals and activity derived again. */
export function rebuild(base: SessionLog, events: LoggedEvent[]): SessionLog {
  const start: SessionLog = {
    ...base,
    events,
    firstSeq: events[0]?.seq ?? 1,
    lastSeq: events[events.length - 1]?.seq ?? 0,
    pending: [],
    activity: { status: null, detail: "", tool: "", text: "", at: 0 },
  };
  return derive(start, events);
}

/** Fold `fresh` events into the pending approvals and the current activity. */
function derive(log: SessionLog, fresh: LoggedEvent[]): SessionLog {
  let pending = log.pending;
  let { status, detail, tool, text, at } = log.activity;
  const openTools = new Map<string, string>();
  if (tool) openTools.set("", tool);
  for (const { seq, ts, event } of fresh) {
    at = ts;
    switch (event.kind) {
      case "approval_requested":
        if (!pending.some((p) => p.request.approval_id === event.approval_id)) {
          pending = [...pending, { session_id: log.session_id, seq, ts, request: event }];
        }
        text = `Waiting for approval: ${event.summary || event.tool}`;
        break;
      case "approval_resolved":
        pending = pending.filter((p) => p.request.approval_id !== event.approval_id);
        break;
      case "status":
        status = event.state;
        detail = event.detail ?? "";
        text = describeStatus(event.state, detail);
        break;
      case "tool_started":
        openTools.set(event.tool_id, event.name);
        tool = event.name;
        text = `Using ${event.name}`;
        break;
      case "tool_finished":
        openTools.delete(event.tool_id);
        tool = [...openTools.values()].pop() ?? "";
        break;
      case "thinking":
        text = "Thinking";
        break;
      case "text_delta":
      case "message":
        text = "Writing a reply";
        break;
      case "command":
        text = `Ran ${event.command}`;
        break;
      case "file_changed":
        text = `Changed ${event.path}`;
        break;
      case "user_prompt":
        text = "Working on a prompt";
        break;
      case "session_ended":
        status = "ended";
        tool = "";
        pending = [];
        text = event.reason ? `Ended (${event.reason})` : "Ended";
        break;
      case "error":
        text = `Error: ${event.message}`;
        break;
      default:
        break;
    }
  }
  return { ...log, pending, activity: { status, detail, tool, text, at } };
}

const STATUS_WORDS: Record<SessionStatus, string> = {
  starting: "Starting",
  running: "Running",
  waiting_for_approval: "Waiting for approval",
  idle: "Idle",
  disconnected: "Relay disconnected",
  ended: "Ended",
};

export function describeStatus(state: SessionStatus, detail: string): string {
  return detail ? `${STATUS_WORDS[state]}: ${detail}` : STATUS_WORDS[state];
}
