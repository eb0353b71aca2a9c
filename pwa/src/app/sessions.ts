// Sessions: the list (REST, refreshed on events and every 15 s while visible), each followed
// session's events (socket, resumed with `since`, deduplicated by seq, replaced on a new epoch),
// what each is doing now and which approvals are pending (the actions are in session_actions.ts).
import { batch, computed, signal, type ReadonlySignal, type Signal } from "@preact/signals";
import { api } from "../api/http";
import type { AgentEvent, LoggedEvent, ServerToClient, Since } from "../api/protocol";
import type { EventPage, SessionList, SessionView } from "../api/rest";
import { follow, onServerMessage } from "./connection";
import { authState } from "./auth";
import * as cache from "./cache";
import { append, emptyLog, type PendingApproval, rebuild, type SessionLog } from "./session_log";

const REFRESH_MS = 15_000;
const EVENT_REFRESH_DEBOUNCE_MS = 1_000;
const CACHE_SAVE_DEBOUNCE_MS = 2_000;
const BACKGROUND_FOLLOW_MAX = 20; // sessions followed only for their pending approvals

// ------------------------------------------------------------------------------ the list

type LoadState = "idle" | "loading" | "ready" | "error";

export const sessions = signal<SessionView[]>([]);
export const sessionsState = signal<LoadState>("idle");
export const sessionsError = signal<string>("");
/** True while the list shown comes from the cache, not (yet) from the server. */
export const sessionsFromCache = signal(false);
/** True while the server says its disk is full (its writes wait; the app shows a banner). */
export const serverStorageFull = signal(false);

export function sessionById(id: string): SessionView | undefined {
  return sessions.value.find((s) => s.id === id);
}

let refreshing: Promise<void> | null = null;

/** GET /api/sessions; keeps the previous list (and says why) when it fails. */
export function refreshSessions(): Promise<void> {
  if (refreshing) return refreshing;
  if (sessionsState.value !== "ready") sessionsState.value = "loading";
  refreshing = api<SessionList>("GET", "/api/sessions")
    .then((list) => {
      batch(() => {
        sessions.value = list.sessions;
        sessionsState.value = "ready";
        sessionsError.value = "";
        sessionsFromCache.value = false;
        serverStorageFull.value = list.storage === "full";
      });
      void cache.saveSessions(list.sessions);
      syncBackgroundFollows();
    })
    .catch((err: unknown) => {
      sessionsError.value = err instanceof Error ? err.message : String(err);
      if (sessionsState.value !== "ready" || sessionsFromCache.value) sessionsState.value = "error";
    })
    .finally(() => {
      refreshing = null;
    });
  return refreshing;
}

let refreshTimer: ReturnType<typeof setTimeout> | null = null;
/** Refresh the list in a moment (once for a burst of changes). */
export function refreshSoon(): void {
  if (refreshTimer) return;
  refreshTimer = setTimeout(() => {
    refreshTimer = null;
    void refreshSessions();
  }, EVENT_REFRESH_DEBOUNCE_MS);
}

// ------------------------------------------------------------------------------ per-session logs

const logs = new Map<string, Signal<SessionLog>>();
const followers = new Map<string, { count: number; unfollow: () => void }>();
const saveTimers = new Map<string, ReturnType<typeof setTimeout>>();

function logSignal(sessionId: string): Signal<SessionLog> {
  let found = logs.get(sessionId);
  if (!found) {
    found = signal(emptyLog(sessionId));
    logs.set(sessionId, found);
    // Not now: this may run while a component renders or a computed evaluates.
    queueMicrotask(() => logsVersion.value++);
  }
  return found;
}

const logsVersion = signal(0); // bumps when a log is added, so global computeds see it

/** The events and derived state of one session (empty until followSession loads it). */
export function sessionLog(sessionId: string): ReadonlySignal<SessionLog> {
  return logSignal(sessionId);
}

/** Follow a session live: cached events first, then the socket resumes from the cached seq.
 * Returns the function to stop following (reference counted; call it on unmount). */
export function followSession(sessionId: string): () => void {
  const existing = followers.get(sessionId);
  if (existing) {
    existing.count++;
  } else {
    const log = logSignal(sessionId);
    const entry = { count: 1, unfollow: () => {} };
    followers.set(sessionId, entry);
    const start = () => {
      if (followers.get(sessionId) !== entry) return; // unfollowed while the cache loaded
      entry.unfollow = follow(sessionId, () => sinceOf(log.value));
    };
    if (log.value.lastSeq === 0) {
      void cache.loadLog(sessionId).then((cached) => {
        if (cached && cached.events.length > 0 && log.value.lastSeq === 0) {
          log.value = rebuild(
            { ...emptyLog(sessionId), epoch: cached.epoch, state: "cached" },
            cached.events,
          );
        }
        start();
      });
    } else {
      start();
    }
  }
  let released = false;
  return () => {
    if (released) return;
    released = true;
    const entry = followers.get(sessionId);
    if (!entry) return;
    entry.count--;
    if (entry.count <= 0) {
      followers.delete(sessionId);
      entry.unfollow();
    }
  };
}

function sinceOf(log: SessionLog): Since | null {
  return log.epoch && log.lastSeq > 0 ? { epoch: log.epoch, seq: log.lastSeq } : null;
}

/** Fetch up to `limit` events before the oldest held (after a cache that kept only the tail). */
export async function loadEarlier(sessionId: string, limit = 500): Promise<void> {
  const log = logSignal(sessionId);
  const { firstSeq, epoch } = log.value;
  if (firstSeq <= 1) return;
  const after = Math.max(0, firstSeq - 1 - limit);
  const page = await api<EventPage>(
    "GET",
    `/api/sessions/${encodeURIComponent(sessionId)}/events?after=${after}&limit=${firstSeq - 1 - after}`,
  );
  const now = log.value;
  if (page.epoch !== epoch || now.epoch !== epoch || now.firstSeq !== firstSeq) return;
  const older = page.events.filter((e) => e.seq < firstSeq);
  if (older.length === 0 || older[older.length - 1]!.seq !== firstSeq - 1) return;
  log.value = rebuild({ ...now }, [...older, ...now.events]);
}

function handle(message: ServerToClient): void {
  if (message.type === "subscribed") {
    const log = logs.get(message.session_id);
    if (!log) return;
    if (!message.recovered) {
      // Another epoch, nothing held, or a since beyond the end: drop everything; a full replay follows.
      log.value = { ...emptyLog(message.session_id), epoch: message.epoch, state: "live" };
    } else {
      log.value = { ...log.value, epoch: message.epoch, state: "live", error: "" };
    }
    return;
  }
  if (message.type === "session_events") {
    const log = logs.get(message.session_id);
    if (!log) return;
    appendTo(log, message.epoch, message.events);
    return;
  }
  if (message.type === "error" && message.session_id) {
    const log = logs.get(message.session_id);
    if (log) log.value = { ...log.value, state: "error", error: message.message };
  }
}

function appendTo(log: Signal<SessionLog>, epoch: string, incoming: LoggedEvent[]): void {
  const current = log.value;
  const appended = append(current, epoch, incoming);
  if (appended === null) {
    // Should not happen without a `subscribed {recovered:false}` first; resubscribe from scratch.
    log.value = { ...emptyLog(current.session_id), state: "loading" };
    resubscribe(current.session_id);
    return;
  }
  if (appended.fresh.length > 0) {
    log.value = appended.log;
    scheduleSave(current.session_id);
    touchListEntry(appended.log, appended.fresh);
  }
  if (appended.gap) resubscribe(current.session_id);
}

function resubscribe(sessionId: string): void {
  const entry = followers.get(sessionId);
  if (!entry) return;
  entry.unfollow();
  const log = logSignal(sessionId);
  entry.unfollow = follow(sessionId, () => sinceOf(log.value));
}

/** Keep the list's entry of a followed session current between REST refreshes. */
function touchListEntry(log: SessionLog, fresh: LoggedEvent[]): void {
  const list = sessions.value;
  const index = list.findIndex((s) => s.id === log.session_id);
  if (index < 0) {
    refreshSoon(); // a session we do not list yet
    return;
  }
  const old = list[index]!;
  const latest = fresh[fresh.length - 1]!;
  const status = log.activity.status ?? old.status;
  const updated: SessionView = {
    ...old,
    last_seq: log.lastSeq,
    epoch: log.epoch,
    last_activity_at: Math.max(old.last_activity_at, latest.ts),
    status: status === "disconnected" && old.relay_online ? old.status : status,
  };
  const next = list.slice();
  next[index] = updated;
  sessions.value = next.sort((a, b) => b.last_activity_at - a.last_activity_at);
  if (fresh.some((e) => isListEvent(e.event))) refreshSoon();
}

function isListEvent(event: AgentEvent): boolean {
  return event.kind === "status" || event.kind === "session_started" || event.kind === "session_ended";
}

function scheduleSave(sessionId: string): void {
  if (saveTimers.has(sessionId)) return;
  saveTimers.set(
    sessionId,
    setTimeout(() => {
      saveTimers.delete(sessionId);
      const log = logs.get(sessionId)?.value;
      if (log?.epoch) void cache.saveLog(sessionId, log.epoch, log.events);
    }, CACHE_SAVE_DEBOUNCE_MS),
  );
}

// ------------------------------------------------------------------------------ approvals

/** Sessions waiting for approval are followed in the background so their requests are known. */
const background = new Map<string, () => void>();

function syncBackgroundFollows(): void {
  const waiting = sessions.value
    .filter((s) => s.status === "waiting_for_approval")
    .slice(0, BACKGROUND_FOLLOW_MAX)
    .map((s) => s.id);
  const want = new Set(waiting);
  for (const [id, release] of background) {
    if (!want.has(id)) {
      release();
      background.delete(id);
    }
  }
  for (const id of waiting) if (!background.has(id)) background.set(id, followSession(id));
}

/** Every pending approval of every session held, oldest first. */
export const pendingApprovals = computed<PendingApproval[]>(() => {
  void logsVersion.value;
  const found: PendingApproval[] = [];
  for (const log of logs.values()) found.push(...log.value.pending);
  return found.sort((a, b) => a.ts - b.ts);
});

/** How many approvals wait: the known requests, or at least one per waiting session. */
export const pendingCount = computed(() => {
  const known = new Set(pendingApprovals.value.map((p) => p.session_id));
  const unknownWaiting = sessions.value.filter(
    (s) => s.status === "waiting_for_approval" && !known.has(s.id),
  ).length;
  return pendingApprovals.value.length + unknownWaiting;
});

// ------------------------------------------------------------------------------ lifecycle

let started = false;
let cachedListLoaded: Promise<void> = Promise.resolve();

/** Load the cached list, then keep the list fresh while signed in and visible. */
export function startSessions(): void {
  if (started) return;
  started = true;
  onServerMessage(handle);
  cachedListLoaded = cache.loadSessions().then((cached) => {
    if (cached.length > 0 && sessionsState.value !== "ready") {
      batch(() => {
        sessions.value = cached;
        sessionsFromCache.value = true;
        sessionsState.value = "ready";
      });
    }
  });
  const tick = () => {
    if (!document.hidden && authState.value === "signed_in") void refreshSessions();
  };
  setInterval(tick, REFRESH_MS);
  document.addEventListener("visibilitychange", tick);
  window.addEventListener("online", tick);
}

/** The server cannot be reached to sign in: unless the cache had a list, say so. */
export function noteSessionsUnreachable(): void {
  void cachedListLoaded.then(() => {
    if (sessionsState.value === "ready") return;
    batch(() => {
      sessionsError.value = navigator.onLine
        ? "Cannot reach the server, and this device has no saved sessions yet."
        : "You are offline, and this device has no saved sessions yet.";
      sessionsState.value = "error";
    });
  });
}

/** Forget all session state (sign-out). */
export function forgetSessions(): void {
  for (const release of background.values()) release();
  background.clear();
  for (const entry of followers.values()) entry.unfollow();
  followers.clear();
  logs.clear();
  logsVersion.value++;
  batch(() => {
    sessions.value = [];
    sessionsState.value = "idle";
    sessionsFromCache.value = false;
  });
  void cache.clearCache();
}
