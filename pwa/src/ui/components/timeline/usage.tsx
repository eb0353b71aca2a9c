import { memo } from "preact/compat";
import { fmtCost, fmtInt } from "./format";
import type { ItemOf } from "../../../app/timeline";
import "./timeline.css";

export const UsageItem = memo(function UsageItem({ item }: { item: ItemOf<"usage"> }) {
  const e = item.event;
  const parts = [`${fmtInt(e.input_tokens ?? 0)} in`, `${fmtInt(e.output_tokens ?? 0)} out`];
  if (e.cached_tokens) parts.push(`${fmtInt(e.cached_tokens)} cached`);
  if (e.cost_usd !== null && e.cost_usd !== undefined) parts.push(fmtCost(e.cost_usd));
  if (e.model) parts.push(e.model);
  return (
    <p data-seq={item.seq} class="tl-item tl-note" aria-label="Usage">
      <span class="tl-label">Usage</span> {parts.join(" · ")}
    </p>
  );
});
