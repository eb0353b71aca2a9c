// The actions a list offers on each of its items (revoke, rename): which item is busy, and what
// the last action came to.

import { useState } from "preact/hooks";
import { errorMessage } from "../../../api/http";

/** `run(id, action, ok)` marks item `id` busy and runs `action`; then it says `ok` and calls
 * `reload` (when given), or shows what went wrong as `error`. */
export function useItemActions(reload?: () => Promise<unknown>) {
  const [error, setError] = useState("");
  const [done, setDone] = useState("");
  const [busyId, setBusyId] = useState("");

  async function run(id: string, action: () => Promise<unknown>, ok: string) {
    setBusyId(id);
    setError("");
    setDone("");
    try {
      await action();
      setDone(ok);
      await reload?.();
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusyId("");
    }
  }

  return { error, setError, done, setDone, busyId, run };
}
