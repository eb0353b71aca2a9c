/** Identity: passkey ceremonies, own passkeys and browser sessions, and the admin's users,
 * invites, relays and enrolments — typed calls to the server's REST API (server/http/api_auth.py,
 * api_users.py, api_relays.py, api_enrolment.py). Screens call these; they never fetch. */

import { browserSupportsWebAuthn, startAuthentication, startRegistration } from "@simplewebauthn/browser";
import { api, ApiError } from "../api/http";
import type {
  BrowserSessionList,
  BrowserSessionView,
  CreatedInvite,
  Grant,
  InviteList,
  InviteView,
  LinkView,
  Me,
  PasskeyList,
  PasskeyView,
  PendingEnrolment,
  PendingList,
  Approved,
  RelayList,
  RelayView,
  TerminalLoginApproved,
  UserList,
  UserView,
} from "../api/rest";
import type { Role } from "./roles";

export { ROLES } from "./roles";
export type { CreatedInvite, Grant, LinkView, Me, PendingEnrolment, Role };
export type Relay = RelayView;
export type Passkey = PasskeyView;
export type BrowserSession = BrowserSessionView;
export type User = UserView;
export type Invite = InviteView;

// ------------------------------------------------------------------ passkey ceremonies

/** Why passkeys cannot work on this page, or "" when they can. */
export function passkeyBlocker(): string {
  if (!window.isSecureContext) {
    return (
      "Passkeys only work on a secure address: https:// (or http://localhost on the server " +
      "itself). Open Tether through its https:// address — see docs/deploy.md."
    );
  }
  if (!browserSupportsWebAuthn()) {
    return "This browser cannot use passkeys. Use a current Safari, Chrome, Edge or Firefox.";
  }
  return "";
}

/** A human message for a failed ceremony: the browser's refusals and the server's errors. */
export function ceremonyError(err: unknown): string {
  if (err instanceof ApiError) return err.message;
  if (err instanceof Error) {
    const name = err.name;
    const code = (err as { code?: string }).code;
    if (code === "ERROR_AUTHENTICATOR_PREVIOUSLY_REGISTERED" || name === "InvalidStateError") {
      return "This device already holds a passkey for this account: sign in with it instead.";
    }
    if (name === "NotAllowedError" || name === "AbortError") {
      return "The passkey prompt was cancelled or timed out. Nothing changed — try again.";
    }
    if (name === "SecurityError" || code === "ERROR_INVALID_DOMAIN" || code === "ERROR_INVALID_RP_ID") {
      return (
        "The browser refused passkeys for this address. Tether must be opened at the address " +
        "it was started with (--public-origin), over https://."
      );
    }
    return `The passkey could not be used: ${err.message}`;
  }
  return "Something went wrong. Try again.";
}

/** A default name for a new passkey, from the device the browser runs on. */
export function deviceName(): string {
  const ua = navigator.userAgent;
  if (/iPhone/.test(ua)) return "iPhone";
  if (/iPad/.test(ua) || (/Macintosh/.test(ua) && navigator.maxTouchPoints > 1)) return "iPad";
  if (/Android/.test(ua)) return /Mobile/.test(ua) ? "Android phone" : "Android tablet";
  if (/Macintosh|Mac OS X/.test(ua)) return "Mac";
  if (/Windows/.test(ua)) return "Windows PC";
  if (/CrOS/.test(ua)) return "Chromebook";
  if (/Linux/.test(ua)) return "Linux computer";
  return "Phone";
}

/** What a setup or invite link grants; ApiError 401 when it is unknown, used or expired. */
export const linkInfo = (token: string) => api<LinkView>("POST", "/api/auth/link", { token });

/** A new user's first passkey, from a setup or invite link: signs them in. */
export async function registerWithLink(token: string, userName: string, passkeyName: string): Promise<Me> {
  const optionsJSON = await api<Parameters<typeof startRegistration>[0]["optionsJSON"]>(
    "POST",
    "/api/auth/register/options",
    { token, user_name: userName },
  );
  const credential = await startRegistration({ optionsJSON });
  return api<Me>("POST", "/api/auth/register/verify", { credential, passkey_name: passkeyName });
}

/** Another passkey for the signed-in user. */
export async function addPasskey(passkeyName: string): Promise<Me> {
  const optionsJSON = await api<Parameters<typeof startRegistration>[0]["optionsJSON"]>(
    "POST",
    "/api/auth/register/options",
    {},
  );
  const credential = await startRegistration({ optionsJSON });
  return api<Me>("POST", "/api/auth/register/verify", { credential, passkey_name: passkeyName });
}

/** Sign in with any passkey of this site the authenticator holds (discoverable credentials). */
export async function signInWithPasskey(): Promise<Me> {
  const optionsJSON = await api<Parameters<typeof startAuthentication>[0]["optionsJSON"]>(
    "POST",
    "/api/auth/login/options",
    {},
  );
  const credential = await startAuthentication({ optionsJSON });
  return api<Me>("POST", "/api/auth/login/verify", { credential });
}

/** Approve a `tether login` code: a passkey prompt bound to that code, answered by one of the
 * signed-in user's passkeys, signs that terminal in as them. Returns the terminal's name. */
export async function approveTerminalLogin(code: string): Promise<string> {
  const path = `/api/auth/terminal-logins/${enc(normaliseCode(code))}`;
  const optionsJSON = await api<Parameters<typeof startAuthentication>[0]["optionsJSON"]>(
    "POST",
    `${path}/options`,
    {},
  );
  const credential = await startAuthentication({ optionsJSON });
  const approved = await api<TerminalLoginApproved>("POST", `${path}/approve`, { credential });
  return approved.name;
}

// ------------------------------------------------------------------ own passkeys and sessions

export const listPasskeys = () => api<PasskeyList>("GET", "/api/auth/passkeys").then((r) => r.passkeys);
export const renamePasskey = (id: string, name: string) =>
  api<PasskeyList>("PATCH", `/api/auth/passkeys/${enc(id)}`, { name }).then((r) => r.passkeys);
export const revokePasskey = (id: string) => api<void>("DELETE", `/api/auth/passkeys/${enc(id)}`);
export const reapprovePasskey = (id: string) => api<void>("POST", `/api/auth/passkeys/${enc(id)}/reapprove`);
export const listBrowserSessions = () =>
  api<BrowserSessionList>("GET", "/api/auth/sessions").then((r) => r.sessions);
export const revokeBrowserSession = (id: string) => api<void>("DELETE", `/api/auth/sessions/${enc(id)}`);

// ------------------------------------------------------------------ admin

export const listUsers = () => api<UserList>("GET", "/api/users").then((r) => r.users);
export const updateUser = (id: string, role: Role, grants: Grant[]) =>
  api<User>("PATCH", `/api/users/${enc(id)}`, { role, grants });
export const disableUser = (id: string) => api<void>("DELETE", `/api/users/${enc(id)}`);

export const listInvites = () => api<InviteList>("GET", "/api/invites").then((r) => r.invites);
export const createInvite = (role: Role, grants: Grant[], expiresInS: number) =>
  api<CreatedInvite>("POST", "/api/invites", { role, grants, expires_in_s: expiresInS });
export const revokeInvite = (id: string) => api<void>("DELETE", `/api/invites/${enc(id)}`);

export const listRelays = () => api<RelayList>("GET", "/api/relays").then((r) => r.relays);
export const revokeRelay = (id: string) => api<void>("DELETE", `/api/relays/${enc(id)}`);

export const listEnrolments = () =>
  api<PendingList>("GET", "/api/relays/enrolments").then((r) => r.enrolments);
export const approveEnrolment = (code: string, name: string) =>
  api<Approved>("POST", `/api/relays/enrolments/${enc(code)}/approve`, { name });
export const denyEnrolment = (code: string) => api<void>("POST", `/api/relays/enrolments/${enc(code)}/deny`);

/** Codes are typed as seen (ABCD-EFGH); accept lower case, spaces and a missing dash. */
export function normaliseCode(typed: string): string {
  const raw = typed.toUpperCase().replace(/[^A-Z0-9]/g, "");
  return raw.length === 8 ? `${raw.slice(0, 4)}-${raw.slice(4)}` : typed.trim().toUpperCase();
}

const enc = encodeURIComponent;
