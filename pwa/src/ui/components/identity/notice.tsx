import type { ComponentChildren } from "preact";

/** A message in the flow of the page: errors are announced (role=alert), others are polite. */
export function Notice({ kind, children }: { kind: "error" | "info" | "ok"; children: ComponentChildren }) {
  return (
    <div
      class={kind === "error" ? "notice notice-error" : kind === "ok" ? "notice id-notice-ok" : "notice"}
      role={kind === "error" ? "alert" : "status"}
    >
      {children}
    </div>
  );
}

export function Spinner({ label }: { label: string }) {
  return (
    <p class="id-loading" role="status">
      <span class="spinner" aria-hidden="true" />
      {label}
    </p>
  );
}
