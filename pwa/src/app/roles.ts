// Roles, lowest to highest: what each may do is decided by the server (server/domain/identity);
// the app only hides what a role could not do anyway.
import type { Role } from "../api/rest";

export type { Role };
export const ROLES: Role[] = ["owner", "admin", "operator", "viewer"];

const RANK: Record<Role, number> = { viewer: 0, operator: 1, admin: 2, owner: 3 };

export function roleAtLeast(role: Role, needed: Role): boolean {
  return RANK[role] >= RANK[needed];
}
