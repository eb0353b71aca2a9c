/** Command / tool output as text: ANSI stripped, wrapped, long output folded. */
import { countLines, stripAnsi } from "./format";
import "../preformatted.css";
import "./timeline.css";

const INLINE_LINES = 12; // longer output is folded behind a summary

export function Output({ text, label, error = false }: { text: string; label: string; error?: boolean }) {
  if (!text) return null;
  const clean = stripAnsi(text);
  const lines = countLines(clean);
  const pre = (
    <pre class={error ? "out out-error" : "out"} aria-label={label} tabIndex={0}>
      {clean}
    </pre>
  );
  if (lines <= INLINE_LINES) return pre;
  return (
    <details class="fold">
      <summary>
        {label} ({lines} lines)
      </summary>
      {pre}
    </details>
  );
}
