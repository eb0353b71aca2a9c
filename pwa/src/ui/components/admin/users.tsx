// Users: role and workspace grants, disable. Admins may manage operators and viewers; owners
// anyone (the server decides and says why when it refuses).

import { useState } from "preact/hooks";
import type { Grant, Me, Role } from "../../../api/rest";
import { roleAtLeast } from "../../../app/roles";
import { disableUser, updateUser, type Relay, type User } from "../../../app/identity";
import { ConfirmButton } from "../identity/confirm";
import { useItemActions } from "../identity/item_actions";
import { Notice } from "../identity/notice";
import { ROLE_HELP, ROLE_LABEL, grantsText } from "../identity/role";
import { ago, fullDate } from "../when";
import { GrantsEditor } from "./grants_editor";

/** Roles `me` may hand out: owners any, admins operator and viewer. */
export function assignableRoles(me: Me): Role[] {
  return me.role === "owner" ? ["owner", "admin", "operator", "viewer"] : ["operator", "viewer"];
}

export function Users({
  me,
  users,
  relays,
  reload,
}: {
  me: Me;
  users: User[];
  relays: Relay[];
  reload: () => Promise<void>;
}) {
  const relayName = (id: string) => relays.find((r) => r.id === id)?.name ?? id;
  return (
    <ul class="id-list" aria-label="Users">
      {users.map((u) => (
        <UserItem key={u.id} me={me} user={u} relays={relays} relayName={relayName} reload={reload} />
      ))}
    </ul>
  );
}

function UserItem({
  me,
  user,
  relays,
  relayName,
  reload,
}: {
  me: Me;
  user: User;
  relays: Relay[];
  relayName: (id: string) => string;
  reload: () => Promise<void>;
}) {
  const [editing, setEditing] = useState(false);
  const [role, setRole] = useState<Role>(user.role);
  const [grants, setGrants] = useState<Grant[]>(user.grants);
  const { error, done, busyId, run: runItem } = useItemActions(reload);
  const busy = busyId !== "";
  const self = user.id === me.user_id;
  const mayManage = !self && !user.disabled && (me.role === "owner" || !roleAtLeast(user.role, "admin"));
  const roles = assignableRoles(me);

  const run = (action: () => Promise<unknown>, ok: string) =>
    runItem(
      user.id,
      async () => {
        await action();
        setEditing(false);
      },
      ok,
    );

  return (
    <li class="id-item">
      <div class="id-item-head">
        <strong class="id-item-title">{user.name}</strong>
        <span class={`badge id-role-${user.role}`}>{ROLE_LABEL[user.role]}</span>
        {self && <span class="badge">you</span>}
        {user.disabled && <span class="badge badge-warn">disabled</span>}
      </div>
      <p class="muted small">
        {roleAtLeast(user.role, "admin")
          ? "All workspaces"
          : `Workspaces: ${grantsText(user.grants, relayName)}`}{" "}
        · joined <time title={fullDate(user.created_at)}>{ago(user.created_at)}</time>
      </p>
      {error && <Notice kind="error">{error}</Notice>}
      {done && <Notice kind="ok">{done}</Notice>}
      {mayManage && !editing && (
        <div class="row">
          <button
            type="button"
            class="btn"
            aria-label={`Change role of ${user.name}`}
            onClick={() => {
              setRole(user.role);
              setGrants(user.grants);
              setEditing(true);
            }}
          >
            Change role
          </button>
          <ConfirmButton
            text="Disable"
            label={`Disable ${user.name}`}
            question={`Disable ${user.name}? They are signed out everywhere at once and cannot sign in again.`}
            confirmLabel={`Yes, disable ${user.name}`}
            busy={busy}
            onConfirm={() => run(() => disableUser(user.id), `${user.name} is disabled.`)}
          />
        </div>
      )}
      {editing && (
        <form
          class="card id-form"
          aria-label={`Role of ${user.name}`}
          onSubmit={(e) => {
            e.preventDefault();
            void run(
              () => updateUser(user.id, role, roleAtLeast(role, "admin") ? [] : grants),
              `${user.name} is now ${ROLE_LABEL[role]}.`,
            );
          }}
        >
          <RolePicker roles={roles} value={role} onChange={setRole} name={`role-${user.id}`} />
          {!roleAtLeast(role, "admin") && (
            <GrantsEditor relays={relays} value={grants} onChange={setGrants} />
          )}
          <p class="muted small">Their open pages reconnect under the new role.</p>
          <div class="row">
            <button type="submit" class="btn btn-primary" disabled={busy}>
              {busy ? "Saving…" : "Save"}
            </button>
            <button type="button" class="btn" disabled={busy} onClick={() => setEditing(false)}>
              Cancel
            </button>
          </div>
        </form>
      )}
    </li>
  );
}

/** One role out of several, as large buttons (aria-pressed) with what each role may do. */
export function RolePicker({
  roles,
  value,
  onChange,
  name,
}: {
  roles: Role[];
  value: Role;
  onChange: (role: Role) => void;
  name: string;
}) {
  return (
    <div class="id-roles" role="group" aria-labelledby={`${name}-label`}>
      <span class="id-roles-label" id={`${name}-label`}>
        Role
      </span>
      {roles.map((r) => (
        <button type="button" class="id-radio" key={r} aria-pressed={value === r} onClick={() => onChange(r)}>
          <span class="id-box id-box-round" aria-hidden="true" />
          <span>
            <strong>{ROLE_LABEL[r]}</strong>
            <small class="muted"> — {ROLE_HELP[r]}</small>
          </span>
        </button>
      ))}
    </div>
  );
}
