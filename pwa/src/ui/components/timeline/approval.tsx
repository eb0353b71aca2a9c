/**
 * An approval in the timeline, and the decision buttons shared with the approval screen.
 * Only the options the request offers are shown (none listed: all three); the buttons are
 * disabled while a decision is on its way; a refusal because someone else answered first is
 * shown as such, and the resolved event then arrives through the log.
 */
import { memo } from "preact/compat";
import { useEffect, useRef, useState } from "preact/hooks";
import type { Decision } from "../../../api/protocol";
import { inputSummary } from "./format";
import type { ItemOf, ToolApproval } from "../../../app/timeline";
import "./timeline.css";
import "./approval.css";

export type { Decision };
type Decide = (decision: Decision, message: string) => Promise<void>;
type Request = ItemOf<"approval">["request"];
type Resolved = NonNullable<ItemOf<"approval">["resolved"]>;

const ALL: Decision[] = ["approve", "approve_for_session", "deny"];
const BUTTONS: Record<Decision, string> = {
  approve: "Approve",
  approve_for_session: "Allow for this session",
  deny: "Deny",
};
const RISK_BADGE: Record<string, string> = { low: "badge-ok", medium: "badge-warn", high: "badge-danger" };
const OUTCOMES: Record<string, string> = {
  approved: "Approved",
  approved_for_session: "Allowed for this session",
  denied: "Denied",
  expired: "Expired",
  cancelled: "Cancelled",
};

function offered(request: Request): Decision[] {
  const options = (request.options ?? []).filter((o): o is Decision => (ALL as string[]).includes(o));
  return options.length ? ALL.filter((d) => options.includes(d)) : ALL;
}

export function Outcome({ resolved }: { resolved: Resolved }) {
  return (
    <p class={`outcome outcome-${resolved.decision}`} role="status">
      {OUTCOMES[resolved.decision] ?? resolved.decision}
      {resolved.by && <span class="muted"> by {resolved.by}</span>}
      {resolved.message && <span class="muted"> — {resolved.message}</span>}
    </p>
  );
}

/** The error text of a failed decision; a late answer is "already answered", not a failure. */
function describe(error: unknown): string {
  const code = (error as { code?: string } | null)?.code ?? "";
  if (code === "unknown_approval") return "Already answered (someone else decided first).";
  if (code === "relay_offline") return "The agent's relay is offline; try again when it is back.";
  if (code === "forbidden") return "You may not answer approvals in this workspace.";
  const message = error instanceof Error ? error.message : String(error);
  return `Could not send the decision: ${message}`;
}

/** Approve / Allow for this session / Deny. `withReason` (the approval screen): Deny first asks
 * for an optional reason, shown to the agent, then denies; the buttons always come first. */
export function DecisionBar({
  request,
  onDecide,
  withReason = false,
}: {
  request: Request;
  onDecide: Decide;
  withReason?: boolean;
}) {
  const [sending, setSending] = useState<Decision | null>(null);
  const [error, setError] = useState("");
  const [reason, setReason] = useState("");
  const [denying, setDenying] = useState(false);
  const reasonBox = useRef<HTMLTextAreaElement>(null);
  useEffect(() => {
    if (denying) reasonBox.current?.focus();
  }, [denying]);
  const decide = async (decision: Decision): Promise<void> => {
    setSending(decision);
    setError("");
    try {
      await onDecide(decision, decision === "deny" ? reason.trim() : "");
    } catch (e) {
      setError(describe(e));
    } finally {
      setSending(null);
    }
  };
  const options = offered(request);
  const errorNote = error && (
    <p class="notice notice-error" role="alert">
      {error}
    </p>
  );
  if (denying) {
    return (
      <div class="decision">
        <label class="field">
          <span class="label">Reason for the denial (optional, shown to the agent)</span>
          <textarea
            class="textarea"
            rows={2}
            value={reason}
            ref={reasonBox}
            onInput={(e) => setReason(e.currentTarget.value)}
            disabled={sending !== null}
          />
        </label>
        <div class="decision-buttons">
          <button
            type="button"
            class="btn btn-danger"
            disabled={sending !== null}
            aria-busy={sending === "deny"}
            onClick={() => void decide("deny")}
          >
            {sending === "deny" ? "Denying…" : "Deny"}
          </button>
          <button type="button" class="btn" disabled={sending !== null} onClick={() => setDenying(false)}>
            Back
          </button>
        </div>
        {errorNote}
      </div>
    );
  }
  return (
    <div class="decision">
      <div class="decision-buttons">
        {options.map((d) => (
          <button
            key={d}
            type="button"
            class={`btn decision-${d} ${d === "deny" ? "btn-danger" : d === "approve" ? "btn-primary" : ""}`}
            disabled={sending !== null}
            aria-busy={sending === d}
            onClick={() => (d === "deny" && withReason ? setDenying(true) : void decide(d))}
          >
            {sending === d ? `${BUTTONS[d]}…` : BUTTONS[d]}
          </button>
        ))}
      </div>
      {errorNote}
    </div>
  );
}

type OnDecide = (approvalId: string, decision: Decision, message: string) => Promise<void>;

function detailsHref(sessionId: string, approvalId: string): string {
  return `/approvals/${encodeURIComponent(sessionId)}/${encodeURIComponent(approvalId)}`;
}

export const ApprovalItem = memo(function ApprovalItem({
  item,
  sessionId,
  onDecide,
}: {
  item: ItemOf<"approval">;
  sessionId: string;
  onDecide: OnDecide;
}) {
  const r = item.request;
  const summary = r.summary || inputSummary(r.input);
  return (
    <article
      data-seq={item.seq}
      class={`tl-item tl-card approval${item.resolved ? "" : " approval-pending"}`}
      aria-label={`Approval: ${r.tool}`}
    >
      <header class="tool-head">
        <span class="tool-name">{r.tool}</span>
        <span class={`badge ${RISK_BADGE[r.risk ?? "medium"]}`}>{r.risk ?? "medium"} risk</span>
      </header>
      {summary && <p class="approval-summary">{summary}</p>}
      <a class="link" href={detailsHref(sessionId, r.approval_id)}>
        Details
      </a>
      {item.resolved ? (
        <Outcome resolved={item.resolved} />
      ) : (
        <DecisionBar request={r} onDecide={(d, m) => onDecide(r.approval_id, d, m)} />
      )}
    </article>
  );
});

/** The approval asked for a running tool, inside that tool's card (before its result). */
export function ToolApprovalPart({
  approval,
  sessionId,
  onDecide,
}: {
  approval: ToolApproval;
  sessionId: string;
  onDecide: OnDecide;
}) {
  const r = approval.request;
  return (
    <section data-seq={approval.seq} class="tool-approval" aria-label={`Approval: ${r.tool}`}>
      <div class="tool-approval-head">
        <span class="tl-label">{approval.resolved ? "Approval" : "Needs your approval"}</span>
        <span class={`badge ${RISK_BADGE[r.risk ?? "medium"]}`}>{r.risk ?? "medium"} risk</span>
        <a class="link tool-approval-link" href={detailsHref(sessionId, r.approval_id)}>
          Details
        </a>
      </div>
      {approval.resolved ? (
        <Outcome resolved={approval.resolved} />
      ) : (
        <DecisionBar request={r} onDecide={(d, m) => onDecide(r.approval_id, d, m)} />
      )}
    </section>
  );
}
