import { memo } from "preact/compat";
import { Diff, diffStats } from "../diff";
import type { ItemOf } from "../../../app/timeline";
import "./timeline.css";

type FileEvent = ItemOf<"file">["event"];

export function FileChangeBody({ event }: { event: FileEvent }) {
  const diff = event.diff ?? "";
  const { added, removed } = diffStats(diff);
  return (
    <details class="file-change" open={added + removed <= 40}>
      <summary>
        <span class="badge">{event.change ?? "modified"}</span> <span class="path">{event.path}</span>{" "}
        <span class="stat-add">+{added}</span> <span class="stat-del">−{removed}</span>
      </summary>
      <Diff diff={diff} label={`Diff of ${event.path}`} />
    </details>
  );
}

export const FileChangeItem = memo(function FileChangeItem({ item }: { item: ItemOf<"file"> }) {
  return (
    <article data-seq={item.seq} class="tl-item tl-card" aria-label={`File ${item.event.path}`}>
      <FileChangeBody event={item.event} />
    </article>
  );
});
