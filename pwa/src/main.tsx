// Entry point: the route table, the app shell, sign-in gating, link interception and startup.
import "./styles/base.css";
import { effect, signal, untracked } from "@preact/signals";
import { render } from "preact";
import { useEffect } from "preact/hooks";
import { authState, goToLogin, isPublicPath, refreshMe } from "./app/auth";
import { registerServiceWorker } from "./app/pwa";
import { here, match, navigate, type Params, type RouteDef, type ScreenProps } from "./app/router";
import { forgetSessions, noteSessionsUnreachable, refreshSessions, startSessions } from "./app/sessions";
import { PageMessage, Shell } from "./ui/shell/Shell";

// One line per screen: the path pattern and its module (loaded when first visited; each module
// default-exports a component taking ScreenProps). Sign-in pages (/login, /setup, /invite) show
// without navigation and without requiring a session (app/auth.ts PUBLIC_PATHS).
const ROUTES: RouteDef[] = [
  // ROUTES: each screen adds one line here
  { path: "/", load: () => import("./ui/screens/dashboard") },
  { path: "/sessions/:id", load: () => import("./ui/screens/session") },
  { path: "/sessions/:id/terminal", load: () => import("./ui/screens/terminal") },
  { path: "/approvals", load: () => import("./ui/screens/approvals") },
  { path: "/approvals/:sessionId/:approvalId", load: () => import("./ui/screens/approval") },
  { path: "/new", load: () => import("./ui/screens/new_session") },
  { path: "/login", load: () => import("./ui/screens/login") },
  { path: "/setup", load: () => import("./ui/screens/setup") },
  { path: "/invite", load: () => import("./ui/screens/invite") },
  { path: "/settings", load: () => import("./ui/screens/settings") },
  { path: "/admin", load: () => import("./ui/screens/admin") },
];

type ScreenComponent = (props: ScreenProps) => preact.JSX.Element | null;
const loaded = new Map<RouteDef, ScreenComponent>();
const loadError = signal<string>("");
const loadTick = signal(0); // bumps when a screen module arrives

function resolve(path: string): { route: RouteDef; params: Params } | null {
  for (const route of ROUTES) {
    const params = match(route.path, path);
    if (params) return { route, params };
  }
  return null;
}

function available(path: string): boolean {
  return resolve(path) !== null;
}

function load(route: RouteDef): void {
  if (loaded.has(route)) return;
  route
    .load()
    .then((module) => {
      loaded.set(route, module.default);
      loadError.value = "";
      loadTick.value++;
    })
    .catch((err: unknown) => {
      loadError.value = navigator.onLine
        ? `This screen failed to load (${err instanceof Error ? err.message : String(err)}).`
        : "This screen is not available offline yet.";
    });
}

function Screen({ route, params }: { route: RouteDef; params: Params }) {
  void loadTick.value;
  const Component = loaded.get(route);
  useEffect(() => load(route), [route]);
  if (Component) return <Component params={params} />;
  if (loadError.value) {
    return (
      <PageMessage title="Something went wrong">
        <p>{loadError.value}</p>
        <button type="button" class="btn" onClick={() => location.reload()}>
          Reload
        </button>
      </PageMessage>
    );
  }
  return <PageMessage title="Loading" busy />;
}

function App() {
  const { path } = here.value;
  const state = authState.value;
  const bare = isPublicPath(path);
  const found = resolve(path);

  if (!bare && state === "unknown") {
    return (
      <Shell chrome={false} available={available}>
        <PageMessage title="Loading" busy />
      </Shell>
    );
  }
  if (!bare && state === "signed_out") return null; // goToLogin() is on its way
  if (!found) {
    return (
      <Shell chrome={!bare} available={available}>
        <PageMessage title="Page not found">
          <p class="muted">There is nothing at {path}.</p>
          <a class="btn" href="/">
            Go to sessions
          </a>
        </PageMessage>
      </Shell>
    );
  }
  return (
    <Shell chrome={!bare} available={available}>
      <Screen key={found.route.path} route={found.route} params={found.params} />
    </Shell>
  );
}

// Same-origin links navigate inside the app (no reload); anything else behaves as usual.
document.addEventListener("click", (ev) => {
  if (ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) {
    return;
  }
  const anchor = (ev.target as Element | null)?.closest?.("a");
  if (!anchor || anchor.target || anchor.hasAttribute("download")) return;
  const url = new URL(anchor.href, location.href);
  if (url.origin !== location.origin || url.pathname.startsWith("/api/")) return;
  ev.preventDefault();
  navigate(url.pathname + url.search + url.hash);
});

// Signed out on a page that needs a session: go to /login. Signed out at all: forget the cache.
// Only authState is tracked: what runs here reads and writes other signals (untracked, or
// the effect would depend on them and "Cycle detected" when they change).
effect(() => {
  const state = authState.value;
  untracked(() => {
    if (state === "signed_out") {
      forgetSessions();
      if (!isPublicPath(here.peek().path)) goToLogin();
    } else if (state === "signed_in") {
      void refreshSessions();
    } else if (state === "unreachable") {
      noteSessionsUnreachable();
    }
  });
});

// Who is signed in. While the server cannot be reached, ask again with backoff (and at once
// when the browser says it is back online or the page becomes visible).
let probeDelayMs = 2_000;
let probeTimer: ReturnType<typeof setTimeout> | null = null;
function probe(): void {
  if (probeTimer) clearTimeout(probeTimer);
  probeTimer = null;
  refreshMe()
    .then(() => {
      probeDelayMs = 2_000;
    })
    .catch(() => {
      probeTimer = setTimeout(probe, probeDelayMs);
      probeDelayMs = Math.min(probeDelayMs * 2, 30_000);
    });
}

function probeIfUnreachable(): void {
  if (!document.hidden && (authState.value === "unreachable" || authState.value === "unknown")) {
    probeDelayMs = 2_000;
    probe();
  }
}
window.addEventListener("online", probeIfUnreachable);
document.addEventListener("visibilitychange", probeIfUnreachable);

startSessions();
probe();
registerServiceWorker();
render(<App />, document.getElementById("app")!);
