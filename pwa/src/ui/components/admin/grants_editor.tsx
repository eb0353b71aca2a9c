// Which workspaces an operator or viewer may use: everything, whole relays, or single workspaces.

import type { Grant } from "../../../api/rest";
import type { Relay } from "../../../app/identity";

const ANY = "*";
const key = (g: Grant) => `${g.relay_id}\u0000${g.workspace}`;

export function GrantsEditor({
  relays,
  value,
  onChange,
}: {
  relays: Relay[];
  value: Grant[];
  onChange: (grants: Grant[]) => void;
}) {
  const chosen = new Set(value.map(key));
  const everything = chosen.has(key({ relay_id: ANY, workspace: ANY }));
  const toggle = (g: Grant, on: boolean) => {
    const rest = value.filter((v) => key(v) !== key(g));
    onChange(on ? [...rest, g] : rest);
  };
  const known = new Set<string>([key({ relay_id: ANY, workspace: ANY })]);
  for (const r of relays) {
    known.add(key({ relay_id: r.id, workspace: ANY }));
    for (const w of r.workspaces) known.add(key({ relay_id: r.id, workspace: w.name }));
  }
  const orphans = value.filter((g) => !known.has(key(g)));

  return (
    <fieldset class="id-grants">
      <legend>Workspaces</legend>
      <Check
        label="All workspaces on every relay"
        checked={everything}
        onChange={(on) => onChange(on ? [{ relay_id: ANY, workspace: ANY }] : [])}
      />
      {!everything &&
        relays.map((r) => {
          const whole = chosen.has(key({ relay_id: r.id, workspace: ANY }));
          return (
            <div class="id-grants-relay" key={r.id}>
              <Check
                label={`All of ${r.name}`}
                checked={whole}
                onChange={(on) => {
                  const others = value.filter((g) => g.relay_id !== r.id);
                  onChange(on ? [...others, { relay_id: r.id, workspace: ANY }] : others);
                }}
              />
              {!whole &&
                r.workspaces.map((w) => (
                  <Check
                    key={w.name}
                    label={`${w.name} on ${r.name}`}
                    checked={chosen.has(key({ relay_id: r.id, workspace: w.name }))}
                    onChange={(on) => toggle({ relay_id: r.id, workspace: w.name }, on)}
                    indent
                  />
                ))}
            </div>
          );
        })}
      {!everything &&
        orphans.map((g) => (
          <Check
            key={key(g)}
            label={`${g.workspace === ANY ? "all workspaces" : g.workspace} on relay ${g.relay_id} (not registered now)`}
            checked
            onChange={(on) => toggle(g, on)}
          />
        ))}
      {!everything && relays.length === 0 && (
        <p class="muted small">No relays yet: enrol one to grant its workspaces.</p>
      )}
    </fieldset>
  );
}

/** A checkbox as a full-width row: the whole row is the touch target. */
function Check({
  label,
  checked,
  onChange,
  indent = false,
}: {
  label: string;
  checked: boolean;
  onChange: (on: boolean) => void;
  indent?: boolean;
}) {
  return (
    <button
      type="button"
      role="checkbox"
      aria-checked={checked}
      class={indent ? "id-check id-check-indent" : "id-check"}
      onClick={() => onChange(!checked)}
    >
      <span class="id-box" aria-hidden="true" />
      <span>{label}</span>
    </button>
  );
}
