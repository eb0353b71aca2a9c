/**
 * The session timeline: the newest PAGE items rendered, older ones behind "Show earlier".
 * Each item component is memoised and items are immutable, so a new event re-renders only
 * the item it changed (a streaming message) or appends one.
 */
import { useState } from "preact/hooks";
import { ApprovalItem, type Decision } from "./approval";
import { CommandItem } from "./command";
import { ErrorItem } from "./error";
import { FileChangeItem } from "./file_change";
import { EndedItem, LostItem, StartedItem } from "./lifecycle";
import { MessageItem } from "./message";
import type { Item } from "../../../app/timeline";
import { PromptItem } from "./prompt";
import { StatusItem } from "./status";
import { ThinkingItem } from "./thinking";
import { ToolItem } from "./tool";
import { UsageItem } from "./usage";
import "./timeline.css";

const PAGE = 150; // items rendered at first, and added by each "Show earlier"

interface Props {
  items: Item[];
  sessionId: string;
  onDecide: (approvalId: string, decision: Decision, message: string) => Promise<void>;
}

function render(item: Item, props: Props) {
  switch (item.type) {
    case "message":
      return <MessageItem key={item.key} item={item} />;
    case "thinking":
      return <ThinkingItem key={item.key} item={item} />;
    case "prompt":
      return <PromptItem key={item.key} item={item} />;
    case "tool":
      return <ToolItem key={item.key} item={item} sessionId={props.sessionId} onDecide={props.onDecide} />;
    case "command":
      return <CommandItem key={item.key} item={item} />;
    case "file":
      return <FileChangeItem key={item.key} item={item} />;
    case "approval":
      return (
        <ApprovalItem key={item.key} item={item} sessionId={props.sessionId} onDecide={props.onDecide} />
      );
    case "usage":
      return <UsageItem key={item.key} item={item} />;
    case "status":
      return <StatusItem key={item.key} item={item} />;
    case "error":
      return <ErrorItem key={item.key} item={item} />;
    case "started":
      return <StartedItem key={item.key} item={item} />;
    case "ended":
      return <EndedItem key={item.key} item={item} />;
    case "lost":
      return <LostItem key={item.key} item={item} />;
  }
}

export function Timeline(props: Props) {
  const [limit, setLimit] = useState(PAGE);
  const { items } = props;
  const hidden = Math.max(0, items.length - limit);
  return (
    <div class="timeline">
      {hidden > 0 && (
        <button type="button" class="btn btn-ghost show-earlier" onClick={() => setLimit(limit + PAGE)}>
          Show earlier ({hidden} more)
        </button>
      )}
      {items.slice(hidden).map((item) => render(item, props))}
    </div>
  );
}
