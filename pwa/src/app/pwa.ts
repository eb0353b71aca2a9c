// Service-worker registration and the "update available" signal. A new service worker installs
// and waits; the page shows a prompt, and applyUpdate() lets the new one take over and reloads.
import { signal } from "@preact/signals";

export const updateAvailable = signal(false);
const UPDATE_CHECK_MS = 30 * 60_000;
let waiting: ServiceWorker | null = null;

export function registerServiceWorker(): void {
  if (!("serviceWorker" in navigator) || import.meta.env.DEV) return;
  const hadController = navigator.serviceWorker.controller !== null;
  let reloading = false;
  navigator.serviceWorker.addEventListener("controllerchange", () => {
    // Only reload for an update the user accepted, not for the first install.
    if (!hadController || reloading || !updateRequested) return;
    reloading = true;
    location.reload();
  });
  navigator.serviceWorker.addEventListener("message", (ev: MessageEvent) => {
    const data = ev.data as { type?: string } | null;
    if (data?.type === "update-available" && hadController) {
      void navigator.serviceWorker.getRegistration().then((reg) => reg && watch(reg));
    }
  });
  window.addEventListener("load", () => {
    navigator.serviceWorker
      .register("/sw.js", { scope: "/" })
      .then((reg) => {
        watch(reg);
        setInterval(() => void reg.update().catch(() => {}), UPDATE_CHECK_MS);
        document.addEventListener("visibilitychange", () => {
          if (!document.hidden) void reg.update().catch(() => {});
        });
      })
      .catch((err: unknown) => console.warn("service worker registration failed", err));
  });
}

function watch(reg: ServiceWorkerRegistration): void {
  const offer = (worker: ServiceWorker | null) => {
    if (worker && navigator.serviceWorker.controller) {
      waiting = worker;
      updateAvailable.value = true;
    }
  };
  offer(reg.waiting);
  reg.addEventListener("updatefound", () => {
    const installing = reg.installing;
    installing?.addEventListener("statechange", () => {
      if (installing.state === "installed") offer(installing);
    });
  });
}

let updateRequested = false;

/** Let the waiting service worker take over; the page reloads when it does. */
export function applyUpdate(): void {
  updateRequested = true;
  if (waiting) waiting.postMessage({ type: "skip-waiting" });
  else location.reload();
}

export function dismissUpdate(): void {
  updateAvailable.value = false;
}
