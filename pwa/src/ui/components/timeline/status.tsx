import { memo } from "preact/compat";
import type { ItemOf } from "../../../app/timeline";
import "../status_dot.css";
import "./timeline.css";

export const STATE_LABELS: Record<string, string> = {
  starting: "Starting",
  running: "Running",
  waiting_for_approval: "Waiting for approval",
  idle: "Idle",
  disconnected: "Disconnected",
  ended: "Ended",
};

export const StatusItem = memo(function StatusItem({ item }: { item: ItemOf<"status"> }) {
  return (
    <p data-seq={item.seq} class={`tl-item tl-status state-${item.state}`}>
      <span class="dot" aria-hidden="true" />
      {STATE_LABELS[item.state] ?? item.state}
      {item.detail && <span class="muted"> — {item.detail}</span>}
    </p>
  );
});
