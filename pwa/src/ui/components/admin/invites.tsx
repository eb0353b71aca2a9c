// Invites: create a single-use link (role, workspaces, expiry), copy it, list and revoke open ones.

import { useEffect, useRef, useState } from "preact/hooks";
import { errorMessage } from "../../../api/http";
import type { Grant, Me, Role } from "../../../api/rest";
import { roleAtLeast } from "../../../app/roles";
import {
  createInvite,
  revokeInvite,
  type CreatedInvite,
  type Invite,
  type Relay,
  type User,
} from "../../../app/identity";
import { ConfirmButton } from "../identity/confirm";
import { useItemActions } from "../identity/item_actions";
import { Notice } from "../identity/notice";
import { ROLE_LABEL, grantsText } from "../identity/role";
import { ago, fullDate } from "../when";
import { GrantsEditor } from "./grants_editor";
import { RolePicker, assignableRoles } from "./users";

const HOUR_S = 3600;
const DAY_S = 86400;
const EXPIRIES: { label: string; seconds: number }[] = [
  { label: "1 hour", seconds: HOUR_S },
  { label: "1 day", seconds: DAY_S },
  { label: "7 days", seconds: 7 * DAY_S },
  { label: "30 days", seconds: 30 * DAY_S },
];

export function Invites({
  me,
  invites,
  relays,
  users,
  reload,
}: {
  me: Me;
  invites: Invite[];
  relays: Relay[];
  users: User[];
  reload: () => Promise<void>;
}) {
  const [created, setCreated] = useState<CreatedInvite | null>(null);
  const { error, done, busyId, run } = useItemActions(reload);
  const relayName = (id: string) => relays.find((r) => r.id === id)?.name ?? id;
  return (
    <>
      {created && <CreatedLink created={created} relayName={relayName} />}
      <NewInvite
        me={me}
        relays={relays}
        onCreated={async (c) => {
          setCreated(c);
          await reload();
        }}
      />
      <h3>Open invites</h3>
      {error && <Notice kind="error">{error}</Notice>}
      {done && <Notice kind="ok">{done}</Notice>}
      {invites.length === 0 ? (
        <p class="muted">No open invites.</p>
      ) : (
        <ul class="id-list" aria-label="Open invites">
          {invites.map((inv) => (
            <li class="id-item" key={inv.id}>
              <div class="id-item-head">
                <strong class="id-item-title">{ROLE_LABEL[inv.role]}</strong>
                <span class="muted small">
                  by {users.find((u) => u.id === inv.created_by)?.name ?? inv.created_by}
                </span>
              </div>
              <p class="muted small">
                {roleAtLeast(inv.role, "admin") ? "All workspaces" : grantsText(inv.grants, relayName)} ·
                expires <time title={fullDate(inv.expires_at)}>{ago(inv.expires_at)}</time>
              </p>
              <ConfirmButton
                text="Revoke"
                label={`Revoke ${ROLE_LABEL[inv.role]} invite created ${ago(inv.created_at)}`}
                question="Revoke this invite? Its link stops working at once."
                confirmLabel="Yes, revoke the invite"
                busy={busyId === inv.id}
                onConfirm={() =>
                  run(
                    inv.id,
                    async () => {
                      await revokeInvite(inv.id);
                      if (created?.invite.id === inv.id) setCreated(null);
                    },
                    "Invite revoked.",
                  )
                }
              />
            </li>
          ))}
        </ul>
      )}
    </>
  );
}

function NewInvite({
  me,
  relays,
  onCreated,
}: {
  me: Me;
  relays: Relay[];
  onCreated: (created: CreatedInvite) => Promise<void>;
}) {
  const [role, setRole] = useState<Role>("operator");
  const [grants, setGrants] = useState<Grant[]>([]);
  const [expiresInS, setExpiresInS] = useState(7 * DAY_S);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");
  const scoped = !roleAtLeast(role, "admin");
  return (
    <form
      class="card id-form"
      aria-label="New invite"
      onSubmit={async (e) => {
        e.preventDefault();
        setBusy(true);
        setError("");
        try {
          await onCreated(await createInvite(role, scoped ? grants : [], expiresInS));
        } catch (err) {
          setError(errorMessage(err));
        } finally {
          setBusy(false);
        }
      }}
    >
      <h3>New invite</h3>
      <RolePicker roles={assignableRoles(me)} value={role} onChange={setRole} name="invite-role" />
      {scoped && <GrantsEditor relays={relays} value={grants} onChange={setGrants} />}
      {scoped && grants.length === 0 && (
        <p class="muted small">With no workspace ticked they see nothing until you grant some under Users.</p>
      )}
      <label class="id-field">
        <span>Link valid for</span>
        <select
          class="select"
          value={String(expiresInS)}
          onChange={(e) => setExpiresInS(Number(e.currentTarget.value))}
        >
          {EXPIRIES.map((x) => (
            <option key={x.seconds} value={String(x.seconds)}>
              {x.label}
            </option>
          ))}
        </select>
      </label>
      {error && <Notice kind="error">{error}</Notice>}
      <button type="submit" class="btn btn-primary btn-block" disabled={busy}>
        {busy ? "Creating…" : "Create invite link"}
      </button>
    </form>
  );
}

function CreatedLink({ created, relayName }: { created: CreatedInvite; relayName: (id: string) => string }) {
  const [copied, setCopied] = useState("");
  const { invite, link } = created;
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    box.current?.scrollIntoView({ block: "nearest" });
    setCopied("");
  }, [link]);
  async function copy() {
    try {
      await navigator.clipboard.writeText(link);
      setCopied("Copied.");
    } catch {
      const field = document.getElementById("invite-link") as HTMLInputElement | null;
      field?.select();
      setCopied("Select the link and copy it by hand: this browser refused the clipboard.");
    }
  }
  return (
    <div class="card id-created" role="region" aria-label="Invite created" ref={box}>
      <p>
        Send this link to the person you invite as <strong>{ROLE_LABEL[invite.role]}</strong>
        {!roleAtLeast(invite.role, "admin") && <> ({grantsText(invite.grants, relayName)})</>}. It works once
        and expires <time title={fullDate(invite.expires_at)}>{ago(invite.expires_at)}</time> (
        {fullDate(invite.expires_at)}). It is shown only now.
      </p>
      <label class="id-field">
        <span>Invite link</span>
        <input
          class="input"
          id="invite-link"
          readOnly
          value={link}
          onFocus={(e) => e.currentTarget.select()}
        />
      </label>
      <button type="button" class="btn btn-primary" onClick={copy}>
        Copy link
      </button>
      {copied && (
        <p class="small" role="status">
          {copied}
        </p>
      )}
    </div>
  );
}
