import { memo } from "preact/compat";
import { ToolApprovalPart, type Decision } from "./approval";
import { CommandBody } from "./command";
import { FileChangeBody } from "./file_change";
import { inputSummary, prettyJson } from "./format";
import type { ItemOf } from "../../../app/timeline";
import { Output } from "./output";
import "../preformatted.css";
import "./timeline.css";
import "./approval.css";

export const ToolItem = memo(function ToolItem({
  item,
  sessionId,
  onDecide,
}: {
  item: ItemOf<"tool">;
  sessionId: string;
  onDecide: (approvalId: string, decision: Decision, message: string) => Promise<void>;
}) {
  const state = !item.finished ? "running" : item.isError ? "failed" : "done";
  const pending = item.approval !== null && item.approval.resolved === null;
  const summary = inputSummary(item.input);
  return (
    <article
      data-seq={item.seq}
      class={`tl-item tl-card tool tool-${state}${pending ? " approval-pending" : ""}`}
      aria-label={`Tool ${item.name}, ${state}`}
    >
      <header class="tool-head">
        <span class="tool-name">{item.name}</span>
        <span class={`badge badge-${state === "failed" ? "danger" : state === "done" ? "ok" : "accent"}`}>
          {state}
        </span>
      </header>
      {summary && <code class="tool-summary">{summary}</code>}
      {item.input !== null && item.input !== undefined && typeof item.input === "object" && (
        <details class="fold">
          <summary>Input</summary>
          <pre class="out" tabIndex={0} aria-label="Tool input">
            {prettyJson(item.input)}
          </pre>
        </details>
      )}
      {item.approval && (
        <ToolApprovalPart approval={item.approval} sessionId={sessionId} onDecide={onDecide} />
      )}
      {item.command && <CommandBody event={item.command} />}
      {item.files.map((f, i) => (
        <FileChangeBody key={i} event={f} />
      ))}
      {!item.command && item.files.length === 0 && (
        <Output text={item.output} label={item.isError ? "Error" : "Output"} error={item.isError} />
      )}
      {!item.command && item.files.length > 0 && item.isError && (
        <Output text={item.output} label="Error" error />
      )}
    </article>
  );
});
