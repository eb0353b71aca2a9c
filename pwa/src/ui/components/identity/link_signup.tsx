// The first passkey of a new user, from a setup link (the owner) or an invite link: check the
// link, ask a name and a passkey name, run the ceremony, hand the signed-in user back.

import { useEffect, useState } from "preact/hooks";
import { ApiError } from "../../../api/http";
import type { Me } from "../../../api/rest";
import {
  ceremonyError,
  deviceName,
  linkInfo,
  passkeyBlocker,
  registerWithLink,
  type LinkView,
} from "../../../app/identity";
import { Notice, Spinner } from "./notice";
import { ROLE_HELP, ROLE_LABEL, grantsText } from "./role";
import { ago, fullDate } from "../when";

const NAME_MAX_CHARS = 64;

type Phase =
  | { at: "checking" }
  | { at: "dead"; message: string }
  | { at: "ready"; link: LinkView }
  | { at: "creating"; link: LinkView };

export function LinkSignup({
  kind,
  token,
  onSignedIn,
}: {
  kind: "setup" | "invite";
  token: string;
  onSignedIn: (me: Me) => void;
}) {
  const [phase, setPhase] = useState<Phase>({ at: "checking" });
  const [name, setName] = useState("");
  const [passkeyName, setPasskeyName] = useState(deviceName());
  const [error, setError] = useState("");
  const blocker = passkeyBlocker();
  const deadLink =
    kind === "setup"
      ? "This setup link has expired or was already used. Restart `tether serve` on the server: it prints a fresh link while there are no users."
      : "This invite link has expired, was revoked or was already used. Ask whoever invited you for a new one.";

  useEffect(() => {
    if (!token) {
      setPhase({
        at: "dead",
        message:
          "This link is incomplete: the part after # is missing. Copy the whole link and open it again.",
      });
      return;
    }
    let live = true;
    linkInfo(token).then(
      (link) => live && setPhase({ at: "ready", link }),
      (err: unknown) => {
        if (!live) return;
        const message =
          err instanceof ApiError && err.status === 401
            ? deadLink
            : `Could not check this link: ${err instanceof Error ? err.message : String(err)}`;
        setPhase({ at: "dead", message });
      },
    );
    return () => {
      live = false;
    };
  }, [token]);

  if (phase.at === "checking") return <Spinner label="Checking the link…" />;
  if (phase.at === "dead") return <Notice kind="error">{phase.message}</Notice>;
  const link = phase.link;

  async function submit(e: Event) {
    e.preventDefault();
    setError("");
    setPhase({ at: "creating", link });
    try {
      const me = await registerWithLink(token, name.trim(), passkeyName.trim());
      onSignedIn(me);
    } catch (err) {
      setPhase({ at: "ready", link });
      setError(err instanceof ApiError && err.status === 401 ? deadLink : ceremonyError(err));
    }
  }

  const busy = phase.at === "creating";
  return (
    <form class="id-form" onSubmit={submit} aria-busy={busy}>
      {kind === "invite" && (
        <div class="card id-grant">
          <p>
            You are invited as <strong>{ROLE_LABEL[link.role]}</strong>: {ROLE_HELP[link.role]}.
          </p>
          {(link.role === "operator" || link.role === "viewer") && (
            <p class="muted">Workspaces: {grantsText(link.grants, (id) => link.relay_names[id] ?? id)}</p>
          )}
          <p class="muted">
            This link expires <time title={fullDate(link.expires_at)}>{ago(link.expires_at)}</time>.
          </p>
        </div>
      )}
      <p class="id-explain">
        A passkey signs you in with your fingerprint, face or screen lock instead of a password; it stays on
        this device and only works for this Tether.
      </p>
      {blocker && <Notice kind="error">{blocker}</Notice>}
      <label class="id-field">
        <span>Your name</span>
        <input
          class="input"
          name="name"
          autocomplete="name"
          required
          maxLength={NAME_MAX_CHARS}
          placeholder={kind === "setup" ? "e.g. Olivia" : "e.g. Sam"}
          value={name}
          onInput={(e) => setName(e.currentTarget.value)}
        />
        <small class="muted">Shown to other people on this Tether.</small>
      </label>
      <label class="id-field">
        <span>Passkey name</span>
        <input
          class="input"
          name="passkey"
          required
          maxLength={NAME_MAX_CHARS}
          value={passkeyName}
          onInput={(e) => setPasskeyName(e.currentTarget.value)}
        />
        <small class="muted">Which device this is, so you can tell your passkeys apart.</small>
      </label>
      {error && <Notice kind="error">{error}</Notice>}
      <button class="btn btn-primary btn-block" type="submit" disabled={busy || !!blocker}>
        {busy ? "Waiting for your passkey…" : "Create passkey"}
      </button>
    </form>
  );
}
