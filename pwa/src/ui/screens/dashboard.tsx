/**
 * Dashboard: every session grouped by state (waiting for approval first, then running, idle,
 * disconnected, ended), each with agent, workspace, what it is doing now and time since its
 * last activity; the relays and whether they are online. Sessions that are not ended are
 * followed while the dashboard is open, so "what it is doing" stays live.
 */
import { effect } from "@preact/signals";
import { useEffect, useState } from "preact/hooks";
import { errorMessage } from "../../api/http";
import type { SessionStatus } from "../../api/protocol";
import type { RelayView, SessionView } from "../../api/rest";
import { hasRole } from "../../app/auth";
import { connection } from "../../app/connection";
import { listRelays } from "../../app/identity";
import { sandboxWarning } from "../../app/relays";
import type { ScreenProps } from "../../app/router";
import {
  followSession,
  refreshSessions,
  sessionLog,
  sessions,
  sessionsError,
  sessionsFromCache,
  sessionsState,
} from "../../app/sessions";
import { ago } from "../components/when";
import { sessionName } from "../components/timeline/session_name";
import "../components/page_head.css";
import "../components/session_list.css";
import "../components/status_dot.css";
import "./dashboard.css";

const LIVE_FOLLOW_MAX = 20; // sessions followed for their live activity while this is open
const RELAYS_REFRESH_MS = 30_000;
const CLOCK_TICK_MS = 30_000; // "5 min ago" stays right
const ENDED_SHOWN = 10;

const GROUPS: { label: string; states: SessionStatus[] }[] = [
  { label: "Waiting for approval", states: ["waiting_for_approval"] },
  { label: "Running", states: ["running", "starting"] },
  { label: "Idle", states: ["idle"] },
  { label: "Disconnected", states: ["disconnected"] },
  { label: "Ended", states: ["ended"] },
];

/** The relays, reloaded every RELAYS_REFRESH_MS, when the browser comes back online and when
 * the live connection returns (so "Could not load the relays" does not outlive an outage). */
function useRelays(): { relays: RelayView[] | null; error: string; retry: () => void } {
  const [relays, setRelays] = useState<RelayView[] | null>(null);
  const [error, setError] = useState("");
  const [attempt, setAttempt] = useState(0);
  useEffect(() => {
    let alive = true;
    const load = () =>
      listRelays().then(
        (found) => {
          if (!alive) return;
          setRelays(found);
          setError("");
        },
        (e: unknown) => alive && setError(errorMessage(e)),
      );
    void load();
    const timer = setInterval(() => void load(), RELAYS_REFRESH_MS);
    const onOnline = () => void load();
    window.addEventListener("online", onOnline);
    let was = connection.peek();
    const stopWatching = effect(() => {
      const now = connection.value;
      if (now === "online" && was !== "online") void load();
      was = now;
    });
    return () => {
      alive = false;
      clearInterval(timer);
      window.removeEventListener("online", onOnline);
      stopWatching();
    };
  }, [attempt]);
  return { relays, error, retry: () => setAttempt((n) => n + 1) };
}

function SessionCard({ s }: { s: SessionView }) {
  const activity = sessionLog(s.id).value.activity;
  const doing = s.detail || (s.status === "ended" ? "" : activity.text);
  const name = sessionName(s);
  return (
    <li>
      <a class={`session-card state-${s.status}`} href={`/sessions/${encodeURIComponent(s.id)}`}>
        <span class="title">{name}</span>
        {doing && <span class="doing">{doing}</span>}
        <span class="meta">
          <span>{s.agent}</span>
          <span>{s.workspace}</span>
          <span>{ago(Math.max(s.last_activity_at, activity.at), { compact: true })}</span>
        </span>
      </a>
    </li>
  );
}

export default function Dashboard(_: ScreenProps) {
  const list = sessions.value;
  const state = sessionsState.value;
  const { relays, error: relaysError, retry: retryRelays } = useRelays();
  const [, tick] = useState(0);
  const [allEnded, setAllEnded] = useState(false);

  useEffect(() => {
    void refreshSessions();
    const timer = setInterval(() => tick((n) => n + 1), CLOCK_TICK_MS);
    return () => clearInterval(timer);
  }, []);

  // follow the sessions that can still change, for their live activity
  const live = list
    .filter((s) => s.status !== "ended")
    .slice(0, LIVE_FOLLOW_MAX)
    .map((s) => s.id);
  const liveKey = live.join(" ");
  useEffect(() => {
    const releases = live.map((id) => followSession(id));
    return () => {
      for (const release of releases) release();
    };
  }, [liveKey]);

  const online = relays?.filter((r) => r.online) ?? [];
  return (
    <section aria-labelledby="dash-title">
      <div class="page-head">
        <h1 id="dash-title">Sessions</h1>
        {hasRole("operator") && (
          <a class="btn btn-primary" href="/new">
            New session
          </a>
        )}
      </div>

      {state === "error" && (
        <p class="notice notice-error" role="alert">
          Could not load the sessions: {sessionsError.value}{" "}
          <button type="button" class="btn btn-ghost" onClick={() => void refreshSessions()}>
            Retry
          </button>
        </p>
      )}
      {sessionsFromCache.value && <p class="notice small">Showing the sessions this device saw last.</p>}
      {(state === "loading" || state === "idle") && list.length === 0 && (
        <p class="muted" role="status">
          <span class="spinner" aria-hidden="true" /> Loading sessions…
        </p>
      )}
      {state === "ready" && list.length === 0 && (
        <div class="empty">
          <p>No sessions yet.</p>
          {hasRole("operator") && online.length > 0 && (
            <a class="btn btn-primary" href="/new">
              Start a session
            </a>
          )}
          {relays !== null && online.length === 0 && (
            <p class="small">
              No relay is online. Run <code>tether relay</code> on a machine with your agents to connect it.
            </p>
          )}
        </div>
      )}

      {GROUPS.map(({ label, states }) => {
        const inGroup = list.filter((s) => states.includes(s.status));
        if (inGroup.length === 0) return null;
        const isEnded = states.includes("ended");
        const shown = isEnded && !allEnded ? inGroup.slice(0, ENDED_SHOWN) : inGroup;
        return (
          <section class="dash-group" key={label} aria-label={`${label}: ${inGroup.length}`}>
            <h2>
              <span class={`dot state-${states[0]}`} aria-hidden="true" />
              {label} ({inGroup.length})
            </h2>
            <ul class="session-list grid">
              {shown.map((s) => (
                <SessionCard key={s.id} s={s} />
              ))}
            </ul>
            {shown.length < inGroup.length && (
              <button type="button" class="btn btn-ghost" onClick={() => setAllEnded(true)}>
                Show all {inGroup.length} ended sessions
              </button>
            )}
          </section>
        );
      })}

      <section class="dash-group" aria-label="Relays">
        <h2>Relays</h2>
        {relaysError && (
          <p class="notice notice-error small" role="alert">
            Could not load the relays: {relaysError}{" "}
            <button type="button" class="btn btn-ghost" onClick={retryRelays}>
              Retry
            </button>
          </p>
        )}
        {relays === null && !relaysError && <p class="muted small">Loading relays…</p>}
        {relays !== null && relays.length === 0 && <p class="muted small">No relay is enrolled yet.</p>}
        {relays !== null && relays.length > 0 && (
          <ul class="relay-list">
            {relays.map((r) => (
              <li key={r.id} class="badge">
                <span class={r.online ? "dot online" : "dot"} aria-hidden="true" />
                {r.name || r.hostname} {r.online ? "online" : "offline"}
              </li>
            ))}
          </ul>
        )}
        {relays
          ?.filter((r) => sandboxWarning(r) !== null)
          .map((r) => (
            <p key={r.id} class="notice" role="status">
              {r.name || r.hostname}: {sandboxWarning(r)}
            </p>
          ))}
      </section>
    </section>
  );
}
