import { memo } from "preact/compat";
import { oneLine } from "./format";
import type { ItemOf } from "../../../app/timeline";
import "./timeline.css";

export const ThinkingItem = memo(function ThinkingItem({ item }: { item: ItemOf<"thinking"> }) {
  return (
    <details data-seq={item.seq} class="tl-item tl-thinking">
      <summary>
        <span class="tl-label">Thinking</span> <span class="muted">{oneLine(item.text, 80)}</span>
      </summary>
      <p class="thinking-text">{item.text}</p>
    </details>
  );
});
