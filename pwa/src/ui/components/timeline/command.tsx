import { memo } from "preact/compat";
import type { ItemOf } from "../../../app/timeline";
import { Output } from "./output";
import "./timeline.css";

type CommandEvent = ItemOf<"command">["event"];

function ExitBadge({ code }: { code: number | null | undefined }) {
  if (code === null || code === undefined) return <span class="badge">running</span>;
  return <span class={code === 0 ? "badge badge-ok" : "badge badge-danger"}>exit {code}</span>;
}

export function CommandBody({ event }: { event: CommandEvent }) {
  return (
    <>
      <div class="cmd-line">
        <code class="cmd">$ {event.command}</code> <ExitBadge code={event.exit_code} />
      </div>
      <Output text={event.output ?? ""} label="Command output" error={(event.exit_code ?? 0) !== 0} />
      {event.truncated && <p class="muted small">Output truncated.</p>}
    </>
  );
}

export const CommandItem = memo(function CommandItem({ item }: { item: ItemOf<"command"> }) {
  return (
    <article data-seq={item.seq} class="tl-item tl-card" aria-label="Command">
      <CommandBody event={item.event} />
    </article>
  );
});
