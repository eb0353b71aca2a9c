import { memo } from "preact/compat";
import { stripAnsi } from "./format";
import type { ItemOf } from "../../../app/timeline";
import "../preformatted.css";
import "./timeline.css";

export const ErrorItem = memo(function ErrorItem({ item }: { item: ItemOf<"error"> }) {
  return (
    <div data-seq={item.seq} class="tl-item tl-error" role="note" aria-label="Agent error">
      <strong>Error{item.code ? ` (${item.code})` : ""}</strong>
      <pre class="out out-error">{stripAnsi(item.message)}</pre>
    </div>
  );
});
