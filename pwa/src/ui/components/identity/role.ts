import type { Grant, Role } from "../../../api/rest";

export const ROLE_LABEL: Record<Role, string> = {
  owner: "Owner",
  admin: "Admin",
  operator: "Operator",
  viewer: "Viewer",
};

export const ROLE_HELP: Record<Role, string> = {
  owner: "everything, including other owners and admins",
  admin: "everything on every workspace, plus users, invites and relays",
  operator: "start and steer sessions and answer approvals in the granted workspaces",
  viewer: "read sessions of the granted workspaces",
};

/** "all workspaces", or "api on build-box, web on laptop" (relay ids shown as names if known). */
export function grantsText(grants: Grant[], relayName: (id: string) => string = (id) => id): string {
  if (grants.length === 0) return "no workspaces yet";
  return grants
    .map(({ relay_id = "*", workspace = "*" }) => {
      if (relay_id === "*" && workspace === "*") return "all workspaces";
      const relay = relay_id === "*" ? "every relay" : relayName(relay_id);
      return `${workspace === "*" ? "all workspaces" : workspace} on ${relay}`;
    })
    .join(", ");
}
