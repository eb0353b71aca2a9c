import { memo } from "preact/compat";
import type { ItemOf } from "../../../app/timeline";
import "./timeline.css";

export const PromptItem = memo(function PromptItem({ item }: { item: ItemOf<"prompt"> }) {
  return (
    <article
      data-seq={item.seq}
      class="tl-item tl-prompt"
      aria-label={item.user ? `Prompt from ${item.user}` : "Prompt"}
    >
      {item.user && <div class="tl-meta">{item.user}</div>}
      <p class="prompt-text">{item.text}</p>
    </article>
  );
});
