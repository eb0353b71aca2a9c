// The app shell: header (name, connection state, account), the offline and storage banners, the
// "update available" prompt, the screen, and the navigation (bottom bar on phones, top on wide
// screens).
import type { ComponentChildren } from "preact";
import { authState, hasRole, me } from "../../app/auth";
import { browserOnline, connection, connectionDetail, type ConnectionState } from "../../app/connection";
import { applyUpdate, dismissUpdate, updateAvailable } from "../../app/pwa";
import { here } from "../../app/router";
import { pendingCount, serverStorageFull, sessionsFromCache } from "../../app/sessions";
import { AdminIcon, ApprovalsIcon, NewIcon, SessionsIcon, SettingsIcon, TetherMark } from "./icons";
import "./shell.css";

const LABELS: Record<ConnectionState, string> = {
  connecting: "Connecting",
  online: "Live",
  offline: "Offline",
  paused: "Paused",
  signed_out: "Signed out",
};

function ConnectionIndicator() {
  const state = connection.value;
  const detail = connectionDetail.value;
  return (
    <span
      class={`conn conn-${state}`}
      role="status"
      aria-live="polite"
      title={detail || LABELS[state]}
      data-state={state}
    >
      <span class="conn-dot" aria-hidden="true" />
      <span class="conn-label">
        <span class="visually-hidden">Connection: </span>
        {LABELS[state]}
      </span>
    </span>
  );
}

function OfflineBanner() {
  if (browserOnline.value && authState.value !== "unreachable") return null;
  return (
    <div class="banner banner-offline" role="status">
      You are offline.{" "}
      {sessionsFromCache.value || authState.value === "unreachable"
        ? "Showing what this device saw last; it updates when you are back online."
        : "Live updates resume when you are back online."}
    </div>
  );
}

function StorageBanner() {
  if (!serverStorageFull.value) return null;
  return (
    <div class="banner banner-storage" role="alert">
      Server storage full. New output waits on the agent hosts and nothing is lost; it arrives once space is
      freed on the server.
    </div>
  );
}

function UpdatePrompt() {
  if (!updateAvailable.value) return null;
  return (
    <div class="update" role="status" aria-live="polite">
      <span>A new version of Tether is ready.</span>
      <div class="row">
        <button type="button" class="btn btn-primary" onClick={applyUpdate}>
          Reload
        </button>
        <button type="button" class="btn btn-ghost" onClick={dismissUpdate}>
          Later
        </button>
      </div>
    </div>
  );
}

interface NavItem {
  href: string;
  label: string;
  icon: () => preact.JSX.Element;
  badge?: number;
}

function navItems(available: (path: string) => boolean): NavItem[] {
  const items: NavItem[] = [{ href: "/", label: "Sessions", icon: SessionsIcon }];
  items.push({ href: "/approvals", label: "Approvals", icon: ApprovalsIcon, badge: pendingCount.value });
  if (hasRole("operator")) items.push({ href: "/new", label: "New", icon: NewIcon });
  if (hasRole("admin")) items.push({ href: "/admin", label: "Admin", icon: AdminIcon });
  else items.push({ href: "/settings", label: "Settings", icon: SettingsIcon });
  return items.filter((item) => available(item.href));
}

function isCurrent(href: string, path: string): boolean {
  if (href === "/") return path === "/" || path.startsWith("/sessions/");
  return path === href || path.startsWith(`${href}/`);
}

function Nav({ available }: { available: (path: string) => boolean }) {
  const path = here.value.path;
  const items = navItems(available);
  if (items.length < 2) return null;
  return (
    <nav class="nav" aria-label="Main">
      <ul>
        {items.map((item) => {
          const current = isCurrent(item.href, path);
          const label = item.badge && item.badge > 0 ? `${item.label}, ${item.badge} pending` : item.label;
          return (
            <li key={item.href}>
              <a
                href={item.href}
                class={current ? "nav-link current" : "nav-link"}
                aria-current={current ? "page" : undefined}
                aria-label={label}
              >
                <span class="nav-icon">
                  <item.icon />
                  {item.badge && item.badge > 0 ? (
                    <span class="nav-badge" aria-hidden="true">
                      {item.badge > 99 ? "99+" : item.badge}
                    </span>
                  ) : null}
                </span>
                <span class="nav-text" aria-hidden="true">
                  {item.label}
                </span>
              </a>
            </li>
          );
        })}
      </ul>
    </nav>
  );
}

export function Shell({
  children,
  chrome,
  available,
}: {
  children: ComponentChildren;
  chrome: boolean; // false on sign-in pages: no navigation, no connection state
  available: (path: string) => boolean;
}) {
  const user = me.value;
  return (
    <div class={chrome ? "shell" : "shell shell-bare"}>
      <a class="skip-link" href="#main">
        Skip to content
      </a>
      <header class="header">
        <a href="/" class="brand" aria-label="Tether, sessions">
          <TetherMark />
          <span class="brand-name">Tether</span>
        </a>
        {chrome ? <Nav available={available} /> : null}
        {chrome ? (
          <div class="header-end">
            <ConnectionIndicator />
            {user && available("/settings") ? (
              <a href="/settings" class="account" aria-label={`Your account: ${user.name}`}>
                <span aria-hidden="true">{initials(user.name)}</span>
              </a>
            ) : null}
          </div>
        ) : null}
      </header>
      <OfflineBanner />
      <StorageBanner />
      <UpdatePrompt />
      <main id="main" class="main" tabIndex={-1}>
        {children}
      </main>
    </div>
  );
}

function initials(name: string): string {
  const parts = name.trim().split(/\s+/).filter(Boolean);
  const letters = parts.length > 1 ? parts[0]![0]! + parts[parts.length - 1]![0]! : name.slice(0, 2);
  return letters.toUpperCase() || "?";
}

/** A full-page message inside the shell: loading, not found, server unreachable. */
export function PageMessage({
  title,
  children,
  busy = false,
}: {
  title: string;
  children?: ComponentChildren;
  busy?: boolean;
}) {
  return (
    <section class="page-message" aria-busy={busy}>
      <h1>
        {busy ? <span class="spinner" aria-hidden="true" /> : null} {title}
      </h1>
      {children}
    </section>
  );
}
