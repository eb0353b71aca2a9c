import type { SessionView } from "../../../api/types";
import { sessionLog } from "../../../app/sessions";
import { oneLine } from "./format";

/** A name for a session: its first prompt when known, else a PTY's command, else agent and
 * workspace (an agent session's title is its long command line, not worth showing). */
export function sessionName(s: SessionView): string {
  const prompt = sessionLog(s.id).value.events.find((e) => e.event.kind === "user_prompt");
  if (prompt && prompt.event.kind === "user_prompt") return oneLine(prompt.event.text, 80);
  if (s.agent === "pty") return s.title || "Shell";
  return `${s.agent} in ${s.workspace}`;
}
