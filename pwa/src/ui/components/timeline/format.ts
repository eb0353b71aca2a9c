/** Small text helpers for agent output shown as text nodes. */

// CSI (ESC [ … final), OSC (ESC ] … BEL/ST), other two-byte escapes, and stray C0 controls
// except tab and newline: agent output may carry terminal escapes, never shown raw.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const ANSI = /\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-_]|[\x00-\x08\x0b-\x1f\x7f]/g;

export function stripAnsi(text: string): string {
  return text.replace(ANSI, "");
}

/** The first line of a value, cut to `max` characters, for one-line summaries. */
export function oneLine(text: string, max = 120): string {
  const line = stripAnsi(text).split("\n", 1)[0] ?? "";
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

export function countLines(text: string): number {
  let n = text ? 1 : 0;
  for (let i = text.indexOf("\n"); i !== -1 && i < text.length - 1; i = text.indexOf("\n", i + 1)) n++;
  return n;
}

/** A tool input as one line: its command, path, pattern or URL, else compact JSON. */
export function inputSummary(input: unknown): string {
  if (input === null || input === undefined) return "";
  if (typeof input === "string") return oneLine(input);
  if (typeof input !== "object") return String(input);
  const o = input as Record<string, unknown>;
  for (const key of [
    "command",
    "file_path",
    "path",
    "notebook_path",
    "pattern",
    "url",
    "query",
    "description",
    "prompt",
  ]) {
    const value = o[key];
    if (typeof value === "string" && value) return oneLine(value);
  }
  const paths = o.paths;
  if (Array.isArray(paths) && paths.length) return oneLine(paths.join(", "));
  return oneLine(JSON.stringify(input));
}

export function prettyJson(value: unknown): string {
  try {
    return JSON.stringify(value, null, 2) ?? "";
  } catch {
    return String(value);
  }
}

const numbers = new Intl.NumberFormat();
export const fmtInt = (n: number): string => numbers.format(n);

export function fmtCost(usd: number): string {
  return usd < 0.01 ? `$${usd.toFixed(4)}` : `$${usd.toFixed(2)}`;
}

export function fmtClock(ts: number): string {
  return new Date(ts * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}
