// Times for people: "just now", "5 min ago", "in 3 days", and a full date for titles.

const MINUTE_S = 60;
const HOUR_S = 3600;
const DAY_S = 86400;

/** A unix time (seconds) relative to now: "5 min ago", "in 2 h", "just now". */
export function ago(unixS: number, nowMs: number = Date.now()): string {
  const delta = unixS - nowMs / 1000;
  const size = Math.abs(delta);
  let amount: string;
  if (size < 45) return "just now";
  else if (size < HOUR_S) amount = `${Math.round(size / MINUTE_S)} min`;
  else if (size < DAY_S) amount = `${Math.round(size / HOUR_S)} h`;
  else amount = `${Math.round(size / DAY_S)} d`;
  return delta < 0 ? `${amount} ago` : `in ${amount}`;
}

/** The full local date and time, for a title or a <time> element. */
export function fullDate(unixS: number): string {
  return new Date(unixS * 1000).toLocaleString();
}

export function isoDate(unixS: number): string {
  return new Date(unixS * 1000).toISOString();
}
