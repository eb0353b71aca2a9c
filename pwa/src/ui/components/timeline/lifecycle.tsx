import { memo } from "preact/compat";
import type { ItemOf } from "../../../app/timeline";
import "./timeline.css";

export const StartedItem = memo(function StartedItem({ item }: { item: ItemOf<"started"> }) {
  const e = item.event;
  return (
    <p data-seq={item.seq} class="tl-item tl-note">
      <span class="tl-label">Started</span> {e.agent} in {e.workspace}
      {e.agent === "pty" && e.command && e.command.length > 0 && (
        <code class="tool-summary">{e.command.join(" ")}</code>
      )}
    </p>
  );
});

export const EndedItem = memo(function EndedItem({ item }: { item: ItemOf<"ended"> }) {
  const e = item.event;
  const parts = [
    e.reason,
    e.exit_code !== null && e.exit_code !== undefined ? `exit ${e.exit_code}` : "",
  ].filter(Boolean);
  return (
    <p data-seq={item.seq} class="tl-item tl-note tl-ended">
      <span class="tl-label">Session ended</span> {parts.join(", ")}
    </p>
  );
});

/** Events the server lost and the relay could no longer resend: never a silent hole. */
export const LostItem = memo(function LostItem({ item }: { item: ItemOf<"lost"> }) {
  const e = item.event;
  const count = e.last_relay_seq - e.first_relay_seq + 1;
  return (
    <p data-seq={item.seq} class="tl-item tl-note tl-lost" role="note">
      <span class="tl-label">
        {count} {count === 1 ? "event" : "events"} lost
      </span>{" "}
      relay_seq {e.first_relay_seq}–{e.last_relay_seq}
      {e.reason ? `, ${e.reason}` : ""}
    </p>
  );
});
