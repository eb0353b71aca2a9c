// /admin (admins and owners): users and roles, invites, relays, relay enrolments.

import { useCallback, useEffect, useState } from "preact/hooks";
import { errorMessage } from "../../api/http";
import { roleAtLeast } from "../../app/roles";
import { me } from "../../app/auth";
import {
  listEnrolments,
  listInvites,
  listRelays,
  listUsers,
  type Invite,
  type PendingEnrolment,
  type Relay,
  type User,
} from "../../app/identity";
import { Enrolments } from "../components/admin/enrolments";
import { Invites } from "../components/admin/invites";
import { Relays } from "../components/admin/relays";
import { Users } from "../components/admin/users";
import { Notice, Spinner } from "../components/identity/notice";
import "../../styles/identity.css";

const REFRESH_MS = 10_000; // relays come online and ask to enrol while the page is open

type Tab = "users" | "invites" | "relays" | "enrol";
const TABS: { id: Tab; label: string }[] = [
  { id: "users", label: "Users" },
  { id: "invites", label: "Invites" },
  { id: "relays", label: "Relays" },
  { id: "enrol", label: "Enrolments" },
];

interface Data {
  users: User[];
  invites: Invite[];
  relays: Relay[];
  pending: PendingEnrolment[];
}

export default function AdminScreen() {
  const who = me.value;
  const [tab, setTab] = useState<Tab>("users");
  const [data, setData] = useState<Data | null>(null);
  const [error, setError] = useState("");
  const allowed = who !== null && roleAtLeast(who.role, "admin");

  const reload = useCallback(async () => {
    try {
      const [users, invites, relays, pending] = await Promise.all([
        listUsers(),
        listInvites(),
        listRelays(),
        listEnrolments(),
      ]);
      setData({ users, invites, relays, pending });
      setError("");
    } catch (err) {
      setError(`Could not load: ${errorMessage(err)}`);
    }
  }, []);

  useEffect(() => {
    if (!allowed) return;
    void reload();
    const timer = setInterval(() => {
      if (document.visibilityState === "visible") void reload();
    }, REFRESH_MS);
    return () => clearInterval(timer);
  }, [allowed, reload]);

  if (!who) return <Spinner label="Loading…" />;
  if (!allowed) {
    return (
      <div class="id-page">
        <h1>Admin</h1>
        <Notice kind="info">Only admins and owners manage users, invites and relays.</Notice>
      </div>
    );
  }

  const count = (t: Tab) =>
    !data
      ? ""
      : t === "users"
        ? data.users.length
        : t === "invites"
          ? data.invites.length
          : t === "relays"
            ? data.relays.length
            : data.pending.length;

  return (
    <div class="id-page id-admin">
      <h1>Admin</h1>
      <nav class="id-tabs" aria-label="Admin sections">
        {TABS.map((t) => (
          <button
            key={t.id}
            type="button"
            class="id-tab"
            aria-current={tab === t.id ? "page" : undefined}
            onClick={() => setTab(t.id)}
          >
            {t.label}
            {data && <span class="id-tab-count"> {count(t.id)}</span>}
          </button>
        ))}
      </nav>
      {error && <Notice kind="error">{error}</Notice>}
      {!data && !error && <Spinner label="Loading…" />}
      {data && (
        <section class="id-section" aria-label={TABS.find((t) => t.id === tab)!.label}>
          {tab === "users" && <Users me={who} users={data.users} relays={data.relays} reload={reload} />}
          {tab === "invites" && (
            <Invites
              me={who}
              invites={data.invites}
              relays={data.relays}
              users={data.users}
              reload={reload}
            />
          )}
          {tab === "relays" && <Relays relays={data.relays} reload={reload} />}
          {tab === "enrol" && <Enrolments pending={data.pending} reload={reload} />}
        </section>
      )}
    </div>
  );
}
