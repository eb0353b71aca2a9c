// Who is signed in. `me` is null until known; `authState` says whether the session cookie works.
// A 401 from any API call or a 4500 close of the socket sends the app to /login, remembering the
// path to come back to (afterLogin()).
import { signal } from "@preact/signals";
import { api, ApiError, setUnauthorizedHandler } from "../api/http";
import { noteUnreachable, setSignedOutHandler, startSocket, stopSocket } from "./connection";
import type { Me } from "../api/rest";
import { roleAtLeast, type Role } from "./roles";
import { here, navigate } from "./router";

/** "unreachable": the server could not be asked (offline); the app shows what it has cached. */
type AuthState = "unknown" | "signed_in" | "signed_out" | "unreachable";

const ME_KEY = "tether.me"; // the last identity seen, to draw the app while offline
export const me = signal<Me | null>(readCachedMe());
export const authState = signal<AuthState>("unknown");
let socketRefusals = 0; // 4500 closes while the cookie still worked, in a row

/** Paths that work without signing in; everything else needs a session. */
export const PUBLIC_PATHS = ["/login", "/setup", "/invite"];
const NEXT_KEY = "tether.next";

export function isPublicPath(path: string): boolean {
  return PUBLIC_PATHS.includes(path);
}

export function hasRole(role: Role): boolean {
  return me.value !== null && roleAtLeast(me.value.role, role);
}

/** Ask the server who we are; starts the socket when signed in. Network failures keep the last
 * known state (offline use of cached sessions) and rethrow. */
export async function refreshMe(): Promise<Me | null> {
  try {
    const found = await api<Me>("GET", "/api/auth/me");
    setSignedIn(found);
    return found;
  } catch (err) {
    if (err instanceof ApiError && (err.status === 401 || err.status === 403)) {
      setSignedOut();
      return null;
    }
    if (authState.value !== "signed_in") {
      authState.value = "unreachable";
      noteUnreachable(err instanceof Error ? err.message : "Cannot reach the server");
    }
    throw err;
  }
}

/** Call after a successful passkey login or registration. */
export function setSignedIn(found: Me): void {
  me.value = found;
  socketRefusals = 0;
  try {
    localStorage.setItem(ME_KEY, JSON.stringify(found));
  } catch {
    /* storage unavailable */
  }
  authState.value = "signed_in";
  startSocket();
}

function setSignedOut(): void {
  me.value = null;
  forgetMe();
  authState.value = "signed_out";
  stopSocket("signed_out", "Signed out");
}

export async function logout(): Promise<void> {
  try {
    await api<unknown>("POST", "/api/auth/logout");
  } finally {
    setSignedOut();
    navigate("/login", { replace: true });
  }
}

/** Send the user to /login, remembering where they were. */
export function goToLogin(): void {
  const { path, search } = here.value;
  if (isPublicPath(path)) return;
  sessionStorage.setItem(NEXT_KEY, path + search);
  navigate("/login", { replace: true });
}

/** Where to go after signing in: the remembered path, or the dashboard. Clears it. */
export function afterLogin(): string {
  const next = sessionStorage.getItem(NEXT_KEY);
  sessionStorage.removeItem(NEXT_KEY);
  return next?.startsWith("/") && !next.startsWith("//") && !isPublicPath(next.split("?")[0]!) ? next : "/";
}

setUnauthorizedHandler((path) => {
  // Sign-in endpoints and the /me probe report their own failures.
  if (/^\/api\/auth\/(login|register|me|link)\b/.test(path)) return;
  setSignedOut();
  goToLogin();
});
function readCachedMe(): Me | null {
  try {
    const text = localStorage.getItem(ME_KEY);
    return text ? (JSON.parse(text) as Me) : null;
  } catch {
    return null;
  }
}

function forgetMe(): void {
  try {
    localStorage.removeItem(ME_KEY);
  } catch {
    /* storage unavailable */
  }
}

// The socket was closed with 4500 (unauthorized). Ask the REST API whether the sign-in really
// ended: if it did, go to /login; if the cookie still works (the socket alone was refused, e.g.
// by a proxy), stay, say so in the connection state and try the socket again later.
setSignedOutHandler(() => {
  api<Me>("GET", "/api/auth/me")
    .then((found) => {
      me.value = found;
      socketRefusals++;
      const delayMs = Math.min(30_000, 1_000 * 2 ** socketRefusals);
      noteUnreachable("The server refused the live connection; retrying");
      setTimeout(() => {
        if (authState.value === "signed_in") startSocket();
      }, delayMs);
    })
    .catch((err: unknown) => {
      if (err instanceof ApiError && (err.status === 401 || err.status === 403)) {
        setSignedOut();
        goToLogin();
      } else {
        noteUnreachable(err instanceof Error ? err.message : "Cannot reach the server");
        setTimeout(() => {
          if (authState.value === "signed_in") startSocket();
        }, 5_000);
      }
    });
});
