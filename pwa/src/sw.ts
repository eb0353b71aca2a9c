// Tether's service worker: a versioned cache of the app shell (precached at install, old
// versions removed at activate), network-first for navigations and index.html, cache-first for
// hashed assets; /api and /ws are never cached. A new version waits until the page accepts the
// "update available" prompt (it posts "skip-waiting"). The build replaces the two placeholders
// below with the list of built files and a hash of their contents (vite.config.ts).

// Minimal types (this file is built for a worker but type-checked with the DOM library).
interface ExtendableEventLike extends Event {
  waitUntil(promise: Promise<unknown>): void;
}
interface FetchEventLike extends ExtendableEventLike {
  request: Request;
  respondWith(response: Promise<Response> | Response): void;
}
interface WindowClientLike {
  postMessage(message: unknown): void;
}
interface WorkerScope {
  addEventListener(type: "install" | "activate", listener: (ev: ExtendableEventLike) => void): void;
  addEventListener(type: "fetch", listener: (ev: FetchEventLike) => void): void;
  addEventListener(type: "message", listener: (ev: MessageEvent) => void): void;
  skipWaiting(): Promise<void>;
  registration: { active: unknown };
  clients: {
    claim(): Promise<void>;
    matchAll(options?: { type?: string; includeUncontrolled?: boolean }): Promise<WindowClientLike[]>;
  };
}

const sw = self as unknown as WorkerScope;
const PRECACHE = "__TETHER_PRECACHE__" as unknown as string[];
const VERSION = "__TETHER_VERSION__" as string;
const CACHE = `tether-shell-${VERSION}`;
const CACHE_PREFIX = "tether-shell-";
const SHELL = "/"; // an app path: the server answers it with index.html

sw.addEventListener("install", (ev) => {
  ev.waitUntil(
    (async () => {
      const cache = await caches.open(CACHE);
      await cache.addAll([SHELL, ...PRECACHE].map((url) => new Request(url, { cache: "reload" })));
      if (sw.registration.active) {
        // An older version runs the open pages: tell them a new one is ready.
        for (const client of await sw.clients.matchAll({ type: "window", includeUncontrolled: true })) {
          client.postMessage({ type: "update-available", version: VERSION });
        }
      }
    })(),
  );
});

sw.addEventListener("activate", (ev) => {
  ev.waitUntil(
    (async () => {
      for (const key of await caches.keys()) {
        if (key.startsWith(CACHE_PREFIX) && key !== CACHE) await caches.delete(key);
      }
      await sw.clients.claim();
    })(),
  );
});

sw.addEventListener("message", (ev) => {
  const data = ev.data as { type?: string } | null;
  if (data?.type === "skip-waiting") void sw.skipWaiting();
});

sw.addEventListener("fetch", (ev) => {
  const request = ev.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== location.origin) return;
  if (url.pathname.startsWith("/api/") || url.pathname.startsWith("/ws/")) return; // never cached
  if (request.mode === "navigate" || url.pathname === SHELL) {
    ev.respondWith(networkFirstShell(request));
    return;
  }
  if (url.pathname.startsWith("/assets/") || PRECACHE.includes(url.pathname)) {
    ev.respondWith(cacheFirst(request));
  }
});

/** Pages: the network's index.html when reachable (and keep it), else the cached shell. */
async function networkFirstShell(request: Request): Promise<Response> {
  const cache = await caches.open(CACHE);
  try {
    const response = await fetch(request);
    if (response.ok && response.headers.get("content-type")?.includes("text/html")) {
      await cache.put(SHELL, response.clone());
    }
    return response;
  } catch {
    const cached = await cache.match(SHELL);
    if (cached) return cached;
    return new Response("Tether is offline and this device has no copy of the app yet.", {
      status: 503,
      headers: { "content-type": "text/plain; charset=utf-8" },
    });
  }
}

/** Hashed assets never change: the cache when it has them, else the network (and keep them). */
async function cacheFirst(request: Request): Promise<Response> {
  const cache = await caches.open(CACHE);
  const cached = await cache.match(request);
  if (cached) return cached;
  const response = await fetch(request);
  if (response.ok) await cache.put(request, response.clone());
  return response;
}
