// The warning a relay without a sandbox gets (app/relays.ts).
import { expect, test } from "vitest";
import { sandboxWarning } from "../src/app/relays";

test("a relay whose agents are not sandboxed is warned of, with the reason", () => {
  expect(sandboxWarning({ sandbox: "none", sandbox_note: "bwrap is not installed" })).toBe(
    "agents on this relay are not sandboxed: bwrap is not installed",
  );
  expect(sandboxWarning({ sandbox: "none", sandbox_note: "" })).toBe(
    "agents on this relay are not sandboxed",
  );
});

test("a sandboxed relay, or one that does not say, gets no warning", () => {
  expect(sandboxWarning({ sandbox: "bwrap", sandbox_note: "" })).toBeNull();
  expect(sandboxWarning({ sandbox: "", sandbox_note: "" })).toBeNull();
});
