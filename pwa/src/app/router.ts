// Path-based routing without a library: the current location as a signal, navigate(), and a
// matcher for patterns like "/sessions/:id". Same-origin <a href> clicks are intercepted in
// main.tsx, so screens use plain links.
import { signal } from "@preact/signals";

interface Location {
  path: string; // pathname
  search: string; // "?a=b" or ""
  hash: string; // "#token" or ""
}

function current(): Location {
  return { path: location.pathname, search: location.search, hash: location.hash };
}

export const here = signal<Location>(current());

window.addEventListener("popstate", () => {
  here.value = current();
});

/** Go to an app path (pushes history unless `replace`). */
export function navigate(to: string, { replace = false }: { replace?: boolean } = {}): void {
  const url = new URL(to, location.origin);
  if (url.origin !== location.origin) {
    location.assign(url.href);
    return;
  }
  const target = url.pathname + url.search + url.hash;
  if (target === location.pathname + location.search + location.hash) return;
  if (replace) history.replaceState(null, "", target);
  else history.pushState(null, "", target);
  here.value = current();
  window.scrollTo(0, 0);
}

export type Params = Record<string, string>;

/** Params of `path` matched against `pattern` ("/sessions/:id"), or null if it does not match. */
export function match(pattern: string, path: string): Params | null {
  const want = pattern.split("/").filter(Boolean);
  const have = path.split("/").filter(Boolean);
  if (want.length !== have.length) return null;
  const params: Params = {};
  for (let i = 0; i < want.length; i++) {
    const w = want[i]!;
    const h = have[i]!;
    if (w.startsWith(":")) {
      try {
        params[w.slice(1)] = decodeURIComponent(h);
      } catch {
        return null;
      }
    } else if (w !== h) {
      return null;
    }
  }
  return params;
}

/** What every screen component receives. */
export interface ScreenProps {
  params: Params;
}

/** A route of main.tsx's table: a path pattern and the screen module (lazily loaded). */
export interface RouteDef {
  path: string;
  load: () => Promise<{ default: (props: ScreenProps) => preact.JSX.Element | null }>;
}
