import { memo } from "preact/compat";
import { Markdown } from "../markdown";
import type { ItemOf } from "../../../app/timeline";
import "./timeline.css";

export const MessageItem = memo(function MessageItem({ item }: { item: ItemOf<"message"> }) {
  return (
    <article
      data-seq={item.seq}
      class="tl-item tl-message"
      aria-label={item.streaming ? "Assistant (writing)" : "Assistant"}
    >
      <Markdown text={item.text} />
      {item.streaming && <span class="typing" aria-hidden="true" />}
    </article>
  );
});
