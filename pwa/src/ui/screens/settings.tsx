// /settings: your passkeys (rename, revoke, re-approve a flagged one, add), signing in a terminal
// (`tether login`), your signed-in browsers and terminals, sign out.
// The theme follows the system (prefers-color-scheme): nothing to set here.

import { useEffect, useState } from "preact/hooks";
import { errorMessage } from "../../api/http";
import { logout, me } from "../../app/auth";
import {
  addPasskey,
  ceremonyError,
  deviceName,
  listBrowserSessions,
  listPasskeys,
  passkeyBlocker,
  reapprovePasskey,
  renamePasskey,
  revokeBrowserSession,
  revokePasskey,
  type BrowserSession,
  type Passkey,
} from "../../app/identity";
import { ConfirmButton } from "../components/identity/confirm";
import { useItemActions } from "../components/identity/item_actions";
import { Notice, Spinner } from "../components/identity/notice";
import { ROLE_LABEL } from "../components/identity/role";
import { ago, fullDate } from "../components/when";
import { browserLabel } from "../components/identity/browser_label";
import { TerminalLogin } from "../components/identity/terminal_login";
import "../../styles/identity.css";

const NAME_MAX_CHARS = 64;

export default function SettingsScreen() {
  const who = me.value;
  return (
    <div class="id-page">
      <h1>Settings</h1>
      {who && (
        <section class="id-section" aria-labelledby="account-h">
          <h2 id="account-h">Account</h2>
          <p>
            Signed in as <strong>{who.name}</strong> · {ROLE_LABEL[who.role]}
          </p>
          <SignOutHere />
        </section>
      )}
      <Passkeys />
      <Browsers />
      <p class="muted small">Light and dark follow your device's setting.</p>
    </div>
  );
}

function SignOutHere() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");
  return (
    <>
      <button
        type="button"
        class="btn"
        disabled={busy}
        onClick={async () => {
          setBusy(true);
          try {
            await logout();
          } catch (err) {
            setError(`Signed out here, but the server did not confirm: ${errorMessage(err)}`);
            setBusy(false);
          }
        }}
      >
        Sign out
      </button>
      {error && <Notice kind="error">{error}</Notice>}
    </>
  );
}

function Passkeys() {
  const [keys, setKeys] = useState<Passkey[] | null>(null);
  const { error, setError, done, setDone, busyId, run: act } = useItemActions();

  const load = () =>
    listPasskeys().then(
      (found) => setKeys(found),
      (err: unknown) => setError(`Could not load your passkeys: ${errorMessage(err)}`),
    );
  useEffect(() => {
    void load();
  }, []);

  return (
    <section class="id-section" aria-labelledby="passkeys-h">
      <h2 id="passkeys-h">Passkeys</h2>
      {error && <Notice kind="error">{error}</Notice>}
      {done && <Notice kind="ok">{done}</Notice>}
      {keys === null && !error && <Spinner label="Loading passkeys…" />}
      {keys && (
        <ul class="id-list" aria-label="Your passkeys">
          {keys.map((key) => (
            <PasskeyItem
              key={key.id}
              passkey={key}
              busy={busyId === key.id}
              onRename={(name) =>
                act(key.id, async () => setKeys(await renamePasskey(key.id, name)), `Renamed to ${name}.`)
              }
              onRevoke={() =>
                act(
                  key.id,
                  async () => {
                    await revokePasskey(key.id);
                    await load();
                  },
                  `Revoked ${key.name}: it no longer signs you in.`,
                )
              }
              onReapprove={() =>
                act(
                  key.id,
                  async () => {
                    await reapprovePasskey(key.id);
                    await load();
                  },
                  `Re-approved ${key.name}: it signs you in again.`,
                )
              }
            />
          ))}
        </ul>
      )}
      <AddPasskey
        onAdded={async (name) => {
          setDone(`Added ${name}.`);
          setError("");
          await load();
        }}
      />
    </section>
  );
}

function PasskeyItem({
  passkey,
  busy,
  onRename,
  onRevoke,
  onReapprove,
}: {
  passkey: Passkey;
  busy: boolean;
  onRename: (name: string) => void;
  onRevoke: () => void;
  onReapprove: () => void;
}) {
  const [editing, setEditing] = useState(false);
  const [name, setName] = useState(passkey.name);
  return (
    <li class="id-item">
      <div class="id-item-head">
        <strong class="id-item-title">{passkey.name}</strong>
        {passkey.flagged && <span class="badge badge-warn">may be copied</span>}
      </div>
      <p class="muted small">
        Created <time title={fullDate(passkey.created_at)}>{ago(passkey.created_at)}</time> ·{" "}
        {passkey.last_used_at === null ? (
          "never used to sign in"
        ) : (
          <>
            last used <time title={fullDate(passkey.last_used_at)}>{ago(passkey.last_used_at)}</time>
          </>
        )}
      </p>
      {passkey.flagged && (
        <p class="small">
          Its signature counter went backwards once: someone may hold a copy, so it cannot sign in. Revoke it,
          or re-approve it if you restored it yourself (from this browser, signed in with another passkey).
        </p>
      )}
      {editing ? (
        <form
          class="id-inline-form"
          onSubmit={(e) => {
            e.preventDefault();
            setEditing(false);
            if (name.trim() && name.trim() !== passkey.name) onRename(name.trim());
          }}
        >
          <label class="id-field">
            <span>New name for {passkey.name}</span>
            <input
              class="input"
              required
              maxLength={NAME_MAX_CHARS}
              value={name}
              onInput={(e) => setName(e.currentTarget.value)}
            />
          </label>
          <div class="row">
            <button type="submit" class="btn btn-primary">
              Save name
            </button>
            <button
              type="button"
              class="btn"
              onClick={() => {
                setName(passkey.name);
                setEditing(false);
              }}
            >
              Cancel
            </button>
          </div>
        </form>
      ) : (
        <div class="row">
          <button
            type="button"
            class="btn"
            aria-label={`Rename passkey ${passkey.name}`}
            disabled={busy}
            onClick={() => setEditing(true)}
          >
            Rename
          </button>
          <ConfirmButton
            text="Revoke"
            label={`Revoke passkey ${passkey.name}`}
            question={`Revoke ${passkey.name}? It will no longer sign you in.`}
            confirmLabel={`Yes, revoke ${passkey.name}`}
            busy={busy}
            onConfirm={onRevoke}
          />
          {passkey.flagged && (
            <ConfirmButton
              text="Re-approve"
              label={`Re-approve passkey ${passkey.name}`}
              question={`Let ${passkey.name} sign in again? Only if you know why its counter went backwards.`}
              confirmLabel={`Yes, re-approve ${passkey.name}`}
              busy={busy}
              onConfirm={onReapprove}
            />
          )}
        </div>
      )}
    </li>
  );
}

function AddPasskey({ onAdded }: { onAdded: (name: string) => Promise<void> }) {
  const [open, setOpen] = useState(false);
  const [name, setName] = useState(deviceName());
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");
  const blocker = passkeyBlocker();
  if (!open) {
    return (
      <button type="button" class="btn btn-block" onClick={() => setOpen(true)}>
        Add a passkey
      </button>
    );
  }
  return (
    <form
      class="card id-form"
      aria-label="Add a passkey"
      onSubmit={async (e) => {
        e.preventDefault();
        setError("");
        setBusy(true);
        try {
          await addPasskey(name.trim());
          setOpen(false);
          await onAdded(name.trim());
        } catch (err) {
          setError(ceremonyError(err));
        } finally {
          setBusy(false);
        }
      }}
    >
      <p class="small">
        Add one for each device you use (phone, laptop, security key), so losing one never locks you out.
      </p>
      {blocker && <Notice kind="error">{blocker}</Notice>}
      <label class="id-field">
        <span>Passkey name</span>
        <input
          class="input"
          required
          maxLength={NAME_MAX_CHARS}
          value={name}
          onInput={(e) => setName(e.currentTarget.value)}
        />
      </label>
      {error && <Notice kind="error">{error}</Notice>}
      <div class="row">
        <button type="submit" class="btn btn-primary" disabled={busy || !!blocker}>
          {busy ? "Waiting for your passkey…" : "Create passkey"}
        </button>
        <button type="button" class="btn" disabled={busy} onClick={() => setOpen(false)}>
          Cancel
        </button>
      </div>
    </form>
  );
}

function Browsers() {
  const [sessions, setSessions] = useState<BrowserSession[] | null>(null);
  const { error, setError, done, busyId, run } = useItemActions(() => load());
  const load = () =>
    listBrowserSessions().then(
      (found) => setSessions(found),
      (err: unknown) => setError(`Could not load your browsers: ${errorMessage(err)}`),
    );
  useEffect(() => {
    void load();
  }, []);
  return (
    <>
      <TerminalLogin onApproved={load} />
      <section class="id-section" aria-labelledby="browsers-h">
        <h2 id="browsers-h">Signed-in browsers and terminals</h2>
        {error && <Notice kind="error">{error}</Notice>}
        {done && <Notice kind="ok">{done}</Notice>}
        {sessions === null && !error && <Spinner label="Loading browsers…" />}
        {sessions && (
          <ul class="id-list" aria-label="Your signed-in browsers and terminals">
            {sessions.map((s) => {
              const label = s.kind === "terminal" ? s.device : browserLabel(s.device);
              return (
                <li class="id-item" key={s.id}>
                  <div class="id-item-head">
                    <strong class="id-item-title">{label}</strong>
                    {s.current && <span class="badge">this browser</span>}
                    {s.kind === "terminal" && <span class="badge">terminal</span>}
                  </div>
                  <p class="muted small">
                    {s.ip || "unknown address"} · signed in{" "}
                    <time title={fullDate(s.created_at)}>{ago(s.created_at)}</time> · active{" "}
                    <time title={fullDate(s.last_seen_at)}>{ago(s.last_seen_at)}</time>
                  </p>
                  {!s.current && (
                    <ConfirmButton
                      text="End session"
                      label={`End session of ${label}, ${s.ip || "unknown address"}`}
                      question={`End the session of ${label}? It is signed out and its open pages disconnect at once.`}
                      confirmLabel="Yes, end it"
                      busy={busyId === s.id}
                      onConfirm={() => run(s.id, () => revokeBrowserSession(s.id), `${label} is signed out.`)}
                    />
                  )}
                </li>
              );
            })}
          </ul>
        )}
      </section>
    </>
  );
}
