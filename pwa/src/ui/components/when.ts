// Times for people, one formatter for the whole app: "just now", "5 minutes ago", "in 7 days" (in
// the browser's language), or compact for lists ("5 min ago", "3 h ago"); and the full local date
// for titles.

type Unit = "day" | "hour" | "minute";
const UNITS: [Unit, number][] = [
  ["day", 86400],
  ["hour", 3600],
  ["minute", 60],
];
const COMPACT: Record<Unit, string> = { day: "d", hour: "h", minute: "min" };
const JUST_NOW_S = 45;
const relative = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });

export interface AgoOptions {
  compact?: boolean; // "5 min ago"; only the past: a clock ahead of ours shows "just now"
  nowMs?: number;
}

/** A unix time (seconds) relative to now: "5 minutes ago", "in 2 hours", "just now". */
export function ago(unixS: number, { compact = false, nowMs = Date.now() }: AgoOptions = {}): string {
  let delta = unixS - nowMs / 1000;
  if (compact) delta = Math.min(0, delta);
  if (Math.abs(delta) < JUST_NOW_S) return "just now";
  const [unit, size] = UNITS.find(([, size]) => Math.abs(delta) >= size) ?? ["minute", 60];
  if (compact) return `${Math.round(-delta / size)} ${COMPACT[unit]} ago`;
  return relative.format(Math.round(delta / size), unit);
}

/** The full local date and time, for a title. */
export function fullDate(unixS: number): string {
  return new Date(unixS * 1000).toLocaleString();
}
