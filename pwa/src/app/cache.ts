// IndexedDB cache of the session list and recent events, so sessions already seen show offline
// and a reload resumes from the cached seq instead of replaying everything. Bounded: the last
// MAX_EVENTS events of each of the MAX_SESSIONS most recently active sessions. Every call
// fails soft (private mode, quota, no IndexedDB): the app then simply starts empty.
import type { LoggedEvent } from "../api/protocol";
import type { SessionView } from "../api/rest";

const MAX_EVENTS = 2000;
const MAX_SESSIONS = 50;
const DB_NAME = "tether";
const DB_VERSION = 1;

interface CachedLog {
  session_id: string;
  epoch: string;
  events: LoggedEvent[]; // oldest first, contiguous seqs
}

let dbPromise: Promise<IDBDatabase | null> | null = null;

function db(): Promise<IDBDatabase | null> {
  if (!dbPromise) {
    dbPromise = new Promise((resolve) => {
      if (typeof indexedDB === "undefined") return resolve(null);
      let request: IDBOpenDBRequest;
      try {
        request = indexedDB.open(DB_NAME, DB_VERSION);
      } catch {
        return resolve(null);
      }
      request.onupgradeneeded = () => {
        const d = request.result;
        if (!d.objectStoreNames.contains("sessions")) d.createObjectStore("sessions", { keyPath: "id" });
        if (!d.objectStoreNames.contains("logs")) d.createObjectStore("logs", { keyPath: "session_id" });
      };
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => resolve(null);
      request.onblocked = () => resolve(null);
    });
  }
  return dbPromise;
}

function done(tx: IDBTransaction): Promise<void> {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error);
  });
}

function all<T>(store: IDBObjectStore): Promise<T[]> {
  return new Promise((resolve, reject) => {
    const request = store.getAll();
    request.onsuccess = () => resolve(request.result as T[]);
    request.onerror = () => reject(request.error);
  });
}

/** The cached session list, newest activity first. */
export async function loadSessions(): Promise<SessionView[]> {
  try {
    const d = await db();
    if (!d) return [];
    const tx = d.transaction("sessions", "readonly");
    const found = await all<SessionView>(tx.objectStore("sessions"));
    return found.sort((a, b) => b.last_activity_at - a.last_activity_at);
  } catch {
    return [];
  }
}

/** Replace the cached list with `sessions` (the newest MAX_SESSIONS); drops logs of the rest. */
export async function saveSessions(sessions: SessionView[]): Promise<void> {
  try {
    const d = await db();
    if (!d) return;
    const keep = [...sessions].sort((a, b) => b.last_activity_at - a.last_activity_at).slice(0, MAX_SESSIONS);
    const ids = new Set(keep.map((s) => s.id));
    const tx = d.transaction(["sessions", "logs"], "readwrite");
    const store = tx.objectStore("sessions");
    store.clear();
    for (const s of keep) store.put(s);
    const logs = tx.objectStore("logs");
    const keys = await new Promise<IDBValidKey[]>((resolve, reject) => {
      const request = logs.getAllKeys();
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
    for (const key of keys) if (!ids.has(String(key))) logs.delete(key);
    await done(tx);
  } catch {
    /* the cache is an optimisation */
  }
}

export async function loadLog(sessionId: string): Promise<CachedLog | null> {
  try {
    const d = await db();
    if (!d) return null;
    const tx = d.transaction("logs", "readonly");
    return await new Promise<CachedLog | null>((resolve, reject) => {
      const request = tx.objectStore("logs").get(sessionId);
      request.onsuccess = () => resolve((request.result as CachedLog | undefined) ?? null);
      request.onerror = () => reject(request.error);
    });
  } catch {
    return null;
  }
}

/** Store the newest MAX_EVENTS events of a session (one record per session). */
export async function saveLog(sessionId: string, epoch: string, events: LoggedEvent[]): Promise<void> {
  try {
    const d = await db();
    if (!d) return;
    const tx = d.transaction("logs", "readwrite");
    const record: CachedLog = { session_id: sessionId, epoch, events: events.slice(-MAX_EVENTS) };
    tx.objectStore("logs").put(record);
    await done(tx);
  } catch {
    /* the cache is an optimisation */
  }
}

/** Forget everything (sign-out: the next user of this browser must not see it). */
export async function clearCache(): Promise<void> {
  try {
    const d = await db();
    if (!d) return;
    const tx = d.transaction(["sessions", "logs"], "readwrite");
    tx.objectStore("sessions").clear();
    tx.objectStore("logs").clear();
    await done(tx);
  } catch {
    /* nothing to clear */
  }
}
