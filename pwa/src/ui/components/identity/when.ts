// Times for people: "just now", "5 minutes ago", "in 7 days" (in the browser's language), and
// the full local date for titles.

const UNITS: [Intl.RelativeTimeFormatUnit, number][] = [
  ["day", 86400],
  ["hour", 3600],
  ["minute", 60],
];
const JUST_NOW_S = 45;
const relative = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });

/** A unix time (seconds) relative to now: "5 minutes ago", "in 2 hours", "just now". */
export function ago(unixS: number, nowMs: number = Date.now()): string {
  const delta = unixS - nowMs / 1000;
  if (Math.abs(delta) < JUST_NOW_S) return "just now";
  for (const [unit, size] of UNITS) {
    if (Math.abs(delta) >= size || unit === "minute") {
      return relative.format(Math.round(delta / size), unit);
    }
  }
  return "just now";
}

/** The full local date and time, for a title. */
export function fullDate(unixS: number): string {
  return new Date(unixS * 1000).toLocaleString();
}
