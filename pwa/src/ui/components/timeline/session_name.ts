import type { SessionView } from "../../../api/rest";
import { sessionLog } from "../../../app/sessions";
import { oneLine } from "./format";

/** A command line with every path shortened to its last part:
 * "/usr/bin/python3 /home/me/tools/ticker.py 3" -> "python3 ticker.py 3". */
function shortCommand(command: string): string {
  return command
    .trim()
    .split(/\s+/)
    .map((word) => (word.includes("/") && !word.endsWith("/") ? word.slice(word.lastIndexOf("/") + 1) : word))
    .join(" ");
}

/** The program a command line runs, without its path: "bash --norc -i" -> "bash". */
export function programName(command: string): string {
  return shortCommand(command).split(" ")[0] || "";
}

/** A name for a session: its first prompt when known, else a PTY's command (paths shortened),
 * else agent and workspace (an agent session's title is its long command line, not worth
 * showing). */
export function sessionName(s: SessionView): string {
  const prompt = sessionLog(s.id).value.events.find((e) => e.event.kind === "user_prompt");
  if (prompt && prompt.event.kind === "user_prompt") return oneLine(prompt.event.text, 80);
  if (s.agent === "pty") return shortCommand(s.title) || "Shell";
  return `${s.agent} in ${s.workspace}`;
}
