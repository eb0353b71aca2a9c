/**
 * One approval: what exactly is asked (tool, command, file and diff, the full input), its risk,
 * and Approve / Deny (with an optional reason) / Allow for this session — only the options the
 * request offers. Once answered (here or by someone else) it shows the outcome.
 */
import { useEffect, useState } from "preact/hooks";
import type { Decision } from "../../api/protocol";
import { hasRole } from "../../app/auth";
import type { ScreenProps } from "../../app/router";
import { resolveApproval } from "../../app/session_actions";
import { followSession, sessionById, sessionLog } from "../../app/sessions";
import { DecisionBar, Outcome } from "../components/timeline/approval";
import { ApprovalDetail } from "../components/timeline/approval_detail";
import { fmtClock } from "../components/timeline/format";
import { ago } from "../components/when";
import { sessionName } from "../components/timeline/session_name";
import "../components/page_head.css";
import "./approval.css";

const RISK_BADGE: Record<string, string> = { low: "badge-ok", medium: "badge-warn", high: "badge-danger" };

export default function ApprovalScreen({ params }: ScreenProps) {
  const sessionId = params.sessionId ?? "";
  const approvalId = params.approvalId ?? "";
  useEffect(() => followSession(sessionId), [sessionId]);
  const [sent, setSent] = useState<Decision | null>(null);
  const log = sessionLog(sessionId).value;
  const session = sessionById(sessionId);
  let asked = null;
  let resolved = null;
  for (const e of log.events) {
    if (e.event.kind === "approval_requested" && e.event.approval_id === approvalId) asked = e;
    else if (e.event.kind === "approval_resolved" && e.event.approval_id === approvalId) resolved = e.event;
  }
  const sessionLink = (
    <a class="link" href={`/sessions/${encodeURIComponent(sessionId)}`}>
      Open the session{session ? `: ${sessionName(session)}` : ""}
    </a>
  );

  if (asked?.event.kind !== "approval_requested") {
    const searching = log.state === "loading" || log.state === "cached" || log.firstSeq > 1;
    return (
      <section aria-labelledby="approval-title">
        <h1 id="approval-title">Approval</h1>
        {log.state === "error" ? (
          <p class="notice notice-error" role="alert">
            {log.error || "This session could not be loaded."}
          </p>
        ) : searching ? (
          <p class="muted" role="status">
            <span class="spinner" aria-hidden="true" /> Loading the request…
          </p>
        ) : (
          <p class="notice">This approval was not found in the session.</p>
        )}
        {sessionLink}
      </section>
    );
  }
  const r = asked.event;
  return (
    <section class="stack" aria-labelledby="approval-title">
      <div class="page-head">
        <h1 id="approval-title">{r.summary || r.tool}</h1>
        <span class={`badge ${RISK_BADGE[r.risk ?? "medium"] ?? "badge-warn"}`}>
          {r.risk ?? "medium"} risk
        </span>
      </div>
      <dl class="kv">
        <dt>Tool</dt>
        <dd>
          <code>{r.tool}</code>
        </dd>
        {session && (
          <>
            <dt>Agent</dt>
            <dd>
              {session.agent} in {session.workspace}
            </dd>
          </>
        )}
        <dt>Asked</dt>
        <dd>
          {ago(asked.ts, { compact: true })} ({fmtClock(asked.ts)})
        </dd>
      </dl>
      <ApprovalDetail request={r} />
      {resolved ? (
        <div class="card">
          <Outcome resolved={resolved} />
          <a class="link" href="/approvals">
            Back to approvals
          </a>
        </div>
      ) : sent ? (
        <p class="notice" role="status">
          <span class="spinner" aria-hidden="true" /> Decision delivered; waiting for the agent to confirm…
        </p>
      ) : hasRole("operator") ? (
        <div class="card decision-dock" role="group" aria-label="Your decision">
          <DecisionBar
            request={r}
            withReason
            onDecide={async (decision, message) => {
              await resolveApproval(sessionId, approvalId, decision, message);
              setSent(decision);
            }}
          />
        </div>
      ) : (
        <p class="muted">Answering approvals needs the operator role.</p>
      )}
      {sessionLink}
    </section>
  );
}
