/**
 * Unified diffs, readable on a phone: one line per row, added/removed coloured, long lines
 * wrapped (never a horizontal page scroll), big diffs cut with a "Show all" button.
 * `lineDiff` builds a unified-style diff from old/new text (approval requests carry those).
 */
import { memo } from "preact/compat";
import { useMemo, useState } from "preact/hooks";
import "./preformatted.css";
import "./diff.css";

const SHOWN_LINES = 300; // lines rendered before "Show all"
const MAX_LCS_CELLS = 4_000_000; // old × new lines above this: no line matching, all -/+

type Kind = "add" | "del" | "hunk" | "meta" | "ctx";

function kindOf(line: string): Kind {
  if (line.startsWith("+++") || line.startsWith("---")) return "meta";
  if (line.startsWith("+")) return "add";
  if (line.startsWith("-")) return "del";
  if (line.startsWith("@@")) return "hunk";
  if (/^(diff |index |new file|deleted file|similarity|rename |old mode|new mode|\\ No newline)/.test(line))
    return "meta";
  return "ctx";
}

export function diffStats(diff: string): { added: number; removed: number } {
  let added = 0;
  let removed = 0;
  for (const line of diff.split("\n")) {
    const kind = kindOf(line);
    if (kind === "add") added++;
    else if (kind === "del") removed++;
  }
  return { added, removed };
}

export const Diff = memo(function Diff({ diff, label }: { diff: string; label: string }) {
  const [all, setAll] = useState(false);
  const lines = useMemo(() => diff.replace(/\n$/, "").split("\n"), [diff]);
  const shown = all ? lines : lines.slice(0, SHOWN_LINES);
  if (!diff.trim()) return <p class="muted">No textual changes.</p>;
  return (
    <div class="diff">
      <pre class="diff-body" aria-label={label} tabIndex={0}>
        {shown.map((line, i) => (
          <span key={i} class={`diff-line diff-${kindOf(line)}`}>
            {line || " "}
            {"\n"}
          </span>
        ))}
      </pre>
      {lines.length > shown.length && (
        <button type="button" class="btn btn-ghost" onClick={() => setAll(true)}>
          Show all {lines.length} lines
        </button>
      )}
    </div>
  );
});

/** A unified diff (without hunk headers' line numbers) of two texts, by longest common subsequence. */
export function lineDiff(before: string, after: string, context = 3): string {
  const a = before === "" ? [] : before.replace(/\n$/, "").split("\n");
  const b = after === "" ? [] : after.replace(/\n$/, "").split("\n");
  let ops: string[];
  if (a.length * b.length > MAX_LCS_CELLS) {
    ops = [...a.map((l) => `-${l}`), ...b.map((l) => `+${l}`)];
  } else {
    // lcs[i][j] = length of the LCS of a[i..] and b[j..], in one flat array
    const w = b.length + 1;
    const lcs = new Uint32Array((a.length + 1) * w);
    for (let i = a.length - 1; i >= 0; i--) {
      for (let j = b.length - 1; j >= 0; j--) {
        lcs[i * w + j] =
          a[i] === b[j]
            ? (lcs[(i + 1) * w + j + 1] as number) + 1
            : Math.max(lcs[(i + 1) * w + j] as number, lcs[i * w + j + 1] as number);
      }
    }
    ops = [];
    let i = 0;
    let j = 0;
    while (i < a.length || j < b.length) {
      if (i < a.length && j < b.length && a[i] === b[j]) {
        ops.push(` ${a[i]}`);
        i++;
        j++;
      } else if (
        j < b.length &&
        (i === a.length || (lcs[i * w + j + 1] as number) > (lcs[(i + 1) * w + j] as number))
      ) {
        ops.push(`+${b[j]}`);
        j++;
      } else {
        ops.push(`-${a[i]}`);
        i++;
      }
    }
  }
  // keep `context` unchanged lines around changes; "@@" between distant hunks
  const keep = ops.map((op) => !op.startsWith(" "));
  const near = keep.map((_, k) => {
    for (let d = -context; d <= context; d++) if (keep[k + d]) return true;
    return false;
  });
  const out: string[] = [];
  let gap = false;
  ops.forEach((op, k) => {
    if (near[k]) {
      if (gap || (out.length === 0 && k > 0)) out.push("@@ … @@");
      out.push(op);
      gap = false;
    } else gap = true;
  });
  return out.join("\n");
}
