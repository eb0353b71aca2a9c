// Relays: online state, workspaces and agents; revoke (its link closes at once).

import { revokeRelay, type Relay } from "../../../app/identity";
import { sandboxWarning } from "../../../app/relays";
import { ConfirmButton } from "../identity/confirm";
import { useItemActions } from "../identity/item_actions";
import { Notice } from "../identity/notice";
import { ago, fullDate } from "../when";

export function Relays({ relays, reload }: { relays: Relay[]; reload: () => Promise<void> }) {
  const { error, done, busyId, run } = useItemActions(reload);
  return (
    <>
      {error && <Notice kind="error">{error}</Notice>}
      {done && <Notice kind="ok">{done}</Notice>}
      {relays.length === 0 ? (
        <p class="muted">
          No relays yet. On an agent host run <code>tether relay enroll URL</code> and approve its code under
          Enrolments.
        </p>
      ) : (
        <ul class="id-list" aria-label="Relays">
          {relays.map((r) => (
            <li class="id-item" key={r.id}>
              <div class="id-item-head">
                <strong class="id-item-title">{r.name}</strong>
                <span class={r.online ? "badge badge-ok" : "badge"}>
                  <span class="id-dot" aria-hidden="true" />
                  {r.online ? "online" : "offline"}
                </span>
              </div>
              <p class="muted small">
                {r.hostname || "unknown host"}
                {!r.online && r.last_seen_at !== null && (
                  <>
                    {" "}
                    · last seen <time title={fullDate(r.last_seen_at)}>{ago(r.last_seen_at)}</time>
                  </>
                )}
                {!r.online && r.last_seen_at === null && " · never connected"}
              </p>
              {sandboxWarning(r) && <Notice kind="error">{sandboxWarning(r)}</Notice>}
              <dl class="id-facts">
                <dt>Workspaces</dt>
                <dd>
                  {r.workspaces.length === 0
                    ? "none"
                    : r.workspaces.map((w) => (
                        <span class="id-chip" key={w.name} title={w.path}>
                          {w.name}
                        </span>
                      ))}
                </dd>
                <dt>Agents</dt>
                <dd>
                  {r.agents.length === 0
                    ? "none reported"
                    : r.agents.map((a) => (
                        <span class="id-chip" key={a}>
                          {a}
                        </span>
                      ))}
                </dd>
              </dl>
              <ConfirmButton
                text="Revoke"
                label={`Revoke relay ${r.name}`}
                question={`Revoke ${r.name}? Its token stops working, its link closes now and it must be enrolled again.`}
                confirmLabel={`Yes, revoke ${r.name}`}
                busy={busyId === r.id}
                onConfirm={() => run(r.id, () => revokeRelay(r.id), `${r.name} is revoked.`)}
              />
            </li>
          ))}
        </ul>
      )}
    </>
  );
}
