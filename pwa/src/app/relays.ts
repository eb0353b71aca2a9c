// What the app says about a relay's sandbox (docs/security.md, "Confinement").

import type { RelayView } from "../api/rest";

/** The plain warning for a relay whose agents run without a sandbox, or null. A relay from
 * before the sandbox reports "" and gets none: nothing is known about it. */
export function sandboxWarning(relay: Pick<RelayView, "sandbox" | "sandbox_note">): string | null {
  if (relay.sandbox !== "none") return null;
  const why = relay.sandbox_note ? `: ${relay.sandbox_note}` : "";
  return `agents on this relay are not sandboxed${why}`;
}
