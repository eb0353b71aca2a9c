/**
 * What exactly an approval asks: the command, the file(s) and the diff of a proposed edit
 * (built from old/new content when the request carries those), and the whole tool input as
 * formatted JSON. Understands Claude's Bash / Edit / MultiEdit / Write inputs, Codex's
 * command and `changes`, and ACP's `diff` / `paths`; anything else shows as JSON.
 */
import { Diff, lineDiff } from "../diff";
import { prettyJson } from "./format";
import type { ItemOf } from "../../../app/timeline";
import "../preformatted.css";
import "./timeline.css";
import "./approval.css";

type Request = ItemOf<"approval">["request"];
type Obj = Record<string, unknown>;

const str = (v: unknown): string | null => (typeof v === "string" ? v : null);
const obj = (v: unknown): Obj | null =>
  v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Obj) : null;

interface Change {
  path: string;
  diff: string;
}

/** The file changes a tool input proposes, as unified diffs. */
function proposedChanges(input: unknown): Change[] {
  const o = obj(input);
  if (!o) return [];
  const path = str(o.file_path) ?? str(o.path) ?? str(o.notebook_path) ?? "";
  const old = str(o.old_string);
  const neu = str(o.new_string);
  if (old !== null && neu !== null) return [{ path, diff: lineDiff(old, neu) }];
  const edits = o.edits;
  if (Array.isArray(edits)) {
    const diffs = edits
      .map(obj)
      .filter((e): e is Obj => e !== null)
      .map((e) => lineDiff(str(e.old_string) ?? "", str(e.new_string) ?? ""));
    if (diffs.length) return [{ path, diff: diffs.join("\n@@ … @@\n") }];
  }
  const content = str(o.content);
  if (content !== null && path) return [{ path, diff: lineDiff("", content) }];
  const diff = str(o.diff);
  if (diff) {
    const paths = Array.isArray(o.paths) ? (o.paths as unknown[]).map(String) : [];
    return [{ path: path || paths.join(", "), diff }];
  }
  const changes = o.changes;
  if (Array.isArray(changes)) {
    return changes
      .map(obj)
      .filter((c): c is Obj => c !== null)
      .map((c) => ({ path: str(c.path) ?? "", diff: str(c.diff) ?? "" }));
  }
  return [];
}

function filesOf(input: unknown): string[] {
  const o = obj(input);
  if (!o) return [];
  const one = str(o.file_path) ?? str(o.path) ?? str(o.notebook_path);
  if (one) return [one];
  if (Array.isArray(o.paths)) return (o.paths as unknown[]).map(String);
  if (Array.isArray(o.changes))
    return (o.changes as unknown[]).map((c) => str(obj(c)?.path) ?? "").filter(Boolean);
  return [];
}

export function ApprovalDetail({ request }: { request: Request }) {
  const input = request.input;
  const o = obj(input);
  const command = str(o?.command) ?? (Array.isArray(o?.command) ? (o.command as unknown[]).join(" ") : null);
  const cwd = str(o?.cwd);
  const reason = str(o?.reason) ?? str(o?.description);
  const files = filesOf(input);
  const changes = proposedChanges(input);
  const specific = Boolean(command) || files.length > 0 || changes.length > 0;
  return (
    <div class="stack">
      {reason && <p class="approval-summary">{reason}</p>}
      {command && (
        <div>
          <h2 class="small muted">Command</h2>
          <pre class="out" aria-label="Command to run" tabIndex={0}>
            {command}
          </pre>
          {cwd && <p class="small muted">in {cwd}</p>}
        </div>
      )}
      {files.length > 0 && (
        <div>
          <h2 class="small muted">{files.length === 1 ? "File" : "Files"}</h2>
          <ul class="approval-list">
            {files.map((f) => (
              <li key={f} class="path">
                {f}
              </li>
            ))}
          </ul>
        </div>
      )}
      {changes
        .filter((c) => c.diff)
        .map((c, i) => (
          <div key={i}>
            <h2 class="small muted">Proposed change{c.path ? ` to ${c.path}` : ""}</h2>
            <Diff diff={c.diff} label={`Proposed change${c.path ? ` to ${c.path}` : ""}`} />
          </div>
        ))}
      {input !== undefined && input !== null && (
        <details class="fold" open={!specific}>
          <summary>Full tool input</summary>
          <pre class="out" aria-label="Full tool input" tabIndex={0}>
            {prettyJson(input)}
          </pre>
        </details>
      )}
    </div>
  );
}
