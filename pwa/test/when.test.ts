// The app's one relative-time formatter (ui/components/when.ts).
import { expect, test } from "vitest";
import { ago } from "../src/ui/components/when";

const NOW_MS = 1_700_000_000_000;
const at = (secondsFromNow: number) => NOW_MS / 1000 + secondsFromNow;

test("compact times of the past: just now, then minutes, hours and days", () => {
  const compact = (s: number) => ago(at(s), { compact: true, nowMs: NOW_MS });
  expect(compact(-44)).toBe("just now");
  expect(compact(-45)).toBe("1 min ago");
  expect(compact(-90)).toBe("2 min ago"); // halves round up, as before
  expect(compact(-3599)).toBe("60 min ago");
  expect(compact(-3600)).toBe("1 h ago");
  expect(compact(-86399)).toBe("24 h ago");
  expect(compact(-3 * 86400)).toBe("3 d ago");
});

test("a compact time ahead of our clock is just now", () => {
  expect(ago(at(600), { compact: true, nowMs: NOW_MS })).toBe("just now");
});

test("long times say the past and the future in words", () => {
  const long = (s: number) => ago(at(s), { nowMs: NOW_MS });
  expect(long(10)).toBe("just now");
  const format = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
  expect(long(-300)).toBe(format.format(-5, "minute"));
  expect(long(2 * 3600)).toBe(format.format(2, "hour"));
  expect(long(7 * 86400)).toBe(format.format(7, "day"));
});
