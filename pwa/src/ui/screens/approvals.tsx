/**
 * Pending approvals across sessions: every approval_requested without its approval_resolved
 * in the logs this app holds (sessions waiting for approval are followed in the background by
 * app/sessions.ts). Each opens the approval view.
 */
import { useEffect } from "preact/hooks";
import type { ScreenProps } from "../../app/router";
import {
  pendingApprovals,
  refreshSessions,
  sessionById,
  sessionLog,
  sessions,
  sessionsState,
} from "../../app/sessions";
import { inputSummary } from "../components/timeline/format";
import { ago } from "../components/when";
import { sessionName } from "../components/timeline/session_name";
import "../components/page_head.css";
import "../components/session_list.css";

export default function Approvals(_: ScreenProps) {
  useEffect(() => void refreshSessions(), []);
  const pending = pendingApprovals.value;
  const known = new Set(pending.map((p) => p.session_id));
  // waiting sessions whose request this app has not loaded yet
  const loading = sessions.value.filter(
    (s) => s.status === "waiting_for_approval" && !known.has(s.id) && sessionLog(s.id).value.state !== "live",
  );
  const state = sessionsState.value;
  return (
    <section aria-labelledby="approvals-title">
      <div class="page-head">
        <h1 id="approvals-title">Approvals</h1>
      </div>
      {pending.length === 0 &&
        loading.length === 0 &&
        (state === "ready" ? (
          <p class="empty">Nothing is waiting for your approval.</p>
        ) : (
          <p class="muted" role="status">
            <span class="spinner" aria-hidden="true" /> Loading…
          </p>
        ))}
      <ul class="session-list">
        {pending.map((p) => {
          const session = sessionById(p.session_id);
          const r = p.request;
          return (
            <li key={`${p.session_id}/${r.approval_id}`}>
              <a
                class="session-card state-waiting_for_approval"
                href={`/approvals/${encodeURIComponent(p.session_id)}/${encodeURIComponent(r.approval_id)}`}
              >
                <span class="title">{r.summary || `${r.tool}: ${inputSummary(r.input)}`}</span>
                <span class="doing">{session ? sessionName(session) : p.session_id}</span>
                <span class="meta">
                  <span>{r.tool}</span>
                  <span>{r.risk ?? "medium"} risk</span>
                  {session && <span>{session.workspace}</span>}
                  <span>{ago(p.ts, { compact: true })}</span>
                </span>
              </a>
            </li>
          );
        })}
        {loading.map((s) => (
          <li key={s.id}>
            <a class="session-card state-waiting_for_approval" href={`/sessions/${encodeURIComponent(s.id)}`}>
              <span class="title">{sessionName(s)}</span>
              <span class="doing">
                <span class="spinner" aria-hidden="true" /> Loading its request…
              </span>
            </a>
          </li>
        ))}
      </ul>
    </section>
  );
}
