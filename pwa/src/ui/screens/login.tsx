// /login: sign in with any passkey of this site (discoverable credentials: no user name asked).

import { useState } from "preact/hooks";
import { afterLogin, setSignedIn } from "../../app/auth";
import { ceremonyError, passkeyBlocker, signInWithPasskey } from "../../app/identity";
import { navigate } from "../../app/router";
import { Notice } from "../components/identity/notice";
import "../../styles/identity.css";

export default function LoginScreen() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");
  const blocker = passkeyBlocker();

  async function signIn() {
    setError("");
    setBusy(true);
    try {
      const me = await signInWithPasskey();
      setSignedIn(me);
      navigate(afterLogin(), { replace: true });
    } catch (err) {
      setError(ceremonyError(err));
      setBusy(false);
    }
  }

  return (
    <div class="id-page id-page-center">
      <h1>Sign in to Tether</h1>
      <p class="id-lead">Use the passkey you created on this device or another one nearby.</p>
      {blocker && <Notice kind="error">{blocker}</Notice>}
      {error && <Notice kind="error">{error}</Notice>}
      <button
        type="button"
        class="btn btn-primary btn-block"
        onClick={signIn}
        disabled={busy || !!blocker}
        aria-busy={busy}
      >
        {busy ? "Waiting for your passkey…" : "Sign in with a passkey"}
      </button>
      <p class="muted small">
        No passkey yet? Ask an admin of this Tether for an invite link. New server? Open the setup link that{" "}
        <code>tether serve</code> printed.
      </p>
    </div>
  );
}
