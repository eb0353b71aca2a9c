// Relay enrolment: a relay shows a code on its terminal; the admin types it here to approve or
// deny. The pending list never shows codes: typing it proves you are looking at that relay.

import { useState } from "preact/hooks";
import { errorMessage } from "../../../api/http";
import { approveEnrolment, denyEnrolment, normaliseCode, type PendingEnrolment } from "../../../app/identity";
import { Notice } from "../identity/notice";
import { ago, fullDate } from "../when";

export function Enrolments({
  pending,
  reload,
}: {
  pending: PendingEnrolment[];
  reload: () => Promise<void>;
}) {
  const [code, setCode] = useState("");
  const [name, setName] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");
  const [done, setDone] = useState("");

  async function decide(approve: boolean) {
    const typed = normaliseCode(code);
    if (!typed) {
      setError("Type the code the relay shows.");
      return;
    }
    setBusy(true);
    setError("");
    setDone("");
    try {
      if (approve) {
        const made = await approveEnrolment(typed, name.trim());
        setDone(`Approved: the relay ${made.name} joins within a few seconds.`);
      } else {
        await denyEnrolment(typed);
        setDone(`Denied ${typed}.`);
      }
      setCode("");
      setName("");
      await reload();
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <>
      <form
        class="card id-form"
        aria-label="Approve a relay"
        onSubmit={(e) => {
          e.preventDefault();
          void decide(true);
        }}
      >
        <p class="small">
          On the agent host, <code>tether relay enroll URL</code> prints a code like <code>K7QM-4HXT</code>.
          Type it here.
        </p>
        <label class="id-field">
          <span>Code shown by the relay</span>
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
        <label class="id-field">
          <span>Relay name (optional)</span>
          <input
            class="input"
            autocomplete="off"
            maxLength={64}
            placeholder="keep the name it asked for"
            value={name}
            onInput={(e) => setName(e.currentTarget.value)}
          />
        </label>
        {error && <Notice kind="error">{error}</Notice>}
        {done && <Notice kind="ok">{done}</Notice>}
        <div class="row">
          <button type="submit" class="btn btn-primary" disabled={busy}>
            Approve relay
          </button>
          <button
            type="button"
            class="btn id-danger-quiet"
            disabled={busy}
            onClick={() => void decide(false)}
          >
            Deny
          </button>
        </div>
      </form>
      <h3>Waiting for approval</h3>
      {pending.length === 0 ? (
        <p class="muted">No relay is waiting.</p>
      ) : (
        <ul class="id-list" aria-label="Relays waiting for approval">
          {pending.map((e) => (
            <li class="id-item" key={e.id}>
              <div class="id-item-head">
                <strong class="id-item-title">{e.name || "unnamed relay"}</strong>
              </div>
              <p class="muted small">
                from {e.ip || "unknown address"} · asked{" "}
                <time title={fullDate(e.requested_at)}>{ago(e.requested_at)}</time> · code expires{" "}
                <time title={fullDate(e.expires_at)}>{ago(e.expires_at)}</time>
              </p>
            </li>
          ))}
        </ul>
      )}
    </>
  );
}
