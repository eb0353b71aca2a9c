// Shapes of the REST API's JSON (server/http/api_*.py, server/domain/sessions.py). The socket's
// messages and events are generated into protocol.ts; these are the REST views around them.
import type { Decision, LoggedEvent, SessionStatus, Workspace } from "./protocol";

export type Role = "owner" | "admin" | "operator" | "viewer";

export interface Grant {
  relay_id: string; // "*" for every relay
  workspace: string; // "*" for every workspace
}

export interface Me {
  user_id: string;
  name: string;
  role: Role;
  grants: Grant[];
  via: string; // "session" or "console"
  session_id: string;
}

export interface SessionView {
  id: string;
  relay_id: string;
  agent: string;
  workspace: string;
  title: string;
  status: SessionStatus;
  relay_online: boolean;
  created_at: number; // unix seconds
  last_activity_at: number;
  last_seq: number;
  epoch: string;
}

export interface SessionList {
  sessions: SessionView[];
}

export interface EventPage {
  session_id: string;
  epoch: string;
  events: LoggedEvent[];
  next_after: number;
  has_more: boolean;
}

export interface StartRequest {
  relay_id: string;
  workspace: string;
  agent?: string;
  command?: string[];
  prompt?: string;
  cols?: number;
  rows?: number;
}

export interface DecisionRequest {
  decision: Decision;
  message?: string;
}

export interface RelayView {
  id: string;
  name: string;
  online: boolean;
  hostname: string;
  workspaces: Workspace[];
  agents: string[];
  created_at: number;
  last_seen_at: number | null;
}

export interface RelayList {
  relays: RelayView[];
}

const RANK: Record<Role, number> = { viewer: 0, operator: 1, admin: 2, owner: 3 };

export function roleAtLeast(role: Role, needed: Role): boolean {
  return RANK[role] >= RANK[needed];
}
