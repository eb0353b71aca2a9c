// Sign in a terminal: `tether login URL` prints a code; typing it here and confirming with one
// of your passkeys signs that terminal in as you (your role, not the right to manage users,
// invites, relays or sessions). It then appears under "Signed-in browsers and terminals".

import { useState } from "preact/hooks";
import { approveTerminalLogin, ceremonyError, normaliseCode, passkeyBlocker } from "../../../app/identity";
import { Notice } from "./notice";

export function TerminalLogin({ onApproved }: { onApproved: () => Promise<void> }) {
  const [code, setCode] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");
  const [done, setDone] = useState("");
  const blocker = passkeyBlocker();

  async function approve() {
    const typed = normaliseCode(code);
    if (!typed) {
      setError("Type the code the terminal shows.");
      return;
    }
    setBusy(true);
    setError("");
    setDone("");
    try {
      const name = await approveTerminalLogin(typed);
      setDone(`Approved: ${name} is signed in as you. End its session below to sign it out.`);
      setCode("");
      await onApproved();
    } catch (err) {
      setError(ceremonyError(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <section class="id-section" aria-labelledby="terminal-login-h">
      <h2 id="terminal-login-h">Sign in a terminal</h2>
      <form
        class="card id-form"
        aria-label="Sign in a terminal"
        onSubmit={(e) => {
          e.preventDefault();
          void approve();
        }}
      >
        <p class="small">
          On your computer, <code>tether login URL</code> prints a code like <code>K7QM-4HXT</code>. Type it
          here and confirm with your passkey: that terminal can then list, watch and steer what you may, but
          not manage users, invites, relays or sessions.
        </p>
        <label class="id-field">
          <span>Code shown by the terminal</span>
          <input
            class="input id-code"
            required
            autocomplete="off"
            autocapitalize="characters"
            spellcheck={false}
            inputMode="text"
            maxLength={12}
            placeholder="ABCD-EFGH"
            value={code}
            onInput={(e) => setCode(e.currentTarget.value)}
          />
        </label>
        {blocker && <Notice kind="error">{blocker}</Notice>}
        {error && <Notice kind="error">{error}</Notice>}
        {done && <Notice kind="ok">{done}</Notice>}
        <button type="submit" class="btn btn-primary" disabled={busy || !!blocker}>
          {busy ? "Waiting for your passkey…" : "Approve with passkey"}
        </button>
      </form>
    </section>
  );
}
