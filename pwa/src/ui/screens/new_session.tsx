/**
 * Start a session: pick an online relay, one of its workspaces and agents, and give the first
 * prompt (for a terminal, an optional command instead) → POST /api/sessions → the session.
 */
import { useEffect, useState } from "preact/hooks";
import { errorMessage } from "../../api/http";
import type { RelayView } from "../../api/rest";
import { hasRole } from "../../app/auth";
import { listRelays } from "../../app/identity";
import { navigate, type ScreenProps } from "../../app/router";
import { startSession } from "../../app/session_actions";
import "./new_session.css";

/** Split a command line into words: whitespace separates, quotes group, backslash escapes. */
function splitCommand(line: string): string[] {
  const words: string[] = [];
  let word = "";
  let quote: string | null = null;
  let started = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i] as string;
    if (quote) {
      if (c === quote) quote = null;
      else if (c === "\\" && quote === '"' && i + 1 < line.length) word += line[++i];
      else word += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      started = true;
    } else if (c === "\\" && i + 1 < line.length) {
      word += line[++i];
      started = true;
    } else if (/\s/.test(c)) {
      if (started) words.push(word);
      word = "";
      started = false;
    } else {
      word += c;
      started = true;
    }
  }
  if (started) words.push(word);
  return words;
}

const AGENT_NAMES: Record<string, string> = {
  pty: "Terminal (shell or any command)",
  claude: "Claude Code",
  codex: "Codex",
  gemini: "Gemini CLI",
  copilot: "Copilot CLI",
  acp: "ACP agent",
};

/** A PTY size that fits this screen, so the shell starts roughly right (the terminal refits). */
function terminalSize(): { cols: number; rows: number } {
  const charW = window.innerWidth < 500 ? 7.8 : 8.4;
  const cols = Math.max(40, Math.min(250, Math.floor((window.innerWidth - 40) / charW)));
  const rows = Math.max(12, Math.min(100, Math.floor((window.innerHeight - 220) / 17)));
  return { cols, rows };
}

export default function NewSession(_: ScreenProps) {
  const [relays, setRelays] = useState<RelayView[] | null>(null);
  const [loadError, setLoadError] = useState("");
  const [relayId, setRelayId] = useState("");
  const [workspace, setWorkspace] = useState("");
  const [agent, setAgent] = useState("");
  const [prompt, setPrompt] = useState("");
  const [command, setCommand] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");

  const load = () => {
    setLoadError("");
    listRelays().then(
      (found) => {
        setRelays(found);
        const first = found.find((r) => r.online);
        if (first && !found.some((r) => r.id === relayId && r.online)) {
          setRelayId(first.id);
          setWorkspace(first.workspaces[0]?.name ?? "");
          setAgent(first.agents.includes("claude") ? "claude" : (first.agents[0] ?? "pty"));
        }
      },
      (e: unknown) => setLoadError(errorMessage(e)),
    );
  };
  useEffect(load, []);

  const online = relays?.filter((r) => r.online) ?? [];
  const relay = online.find((r) => r.id === relayId);
  const agents = relay?.agents ?? [];
  const pty = agent === "pty";
  const ready = Boolean(relay && workspace && agent && (pty || prompt.trim()));

  const pickRelay = (id: string) => {
    const r = online.find((x) => x.id === id);
    setRelayId(id);
    setWorkspace(r?.workspaces[0]?.name ?? "");
    if (r && !r.agents.includes(agent)) setAgent(r.agents[0] ?? "");
  };

  const submit = async (e: Event) => {
    e.preventDefault();
    if (!ready || busy || !relay) return;
    setBusy(true);
    setError("");
    try {
      const created = await startSession({
        relay_id: relay.id,
        workspace,
        agent,
        command: pty ? splitCommand(command) : [],
        prompt: pty ? "" : prompt.trim(),
        ...terminalSize(),
      });
      navigate(
        pty
          ? `/sessions/${encodeURIComponent(created.id)}/terminal`
          : `/sessions/${encodeURIComponent(created.id)}`,
      );
    } catch (err) {
      setError(errorMessage(err));
      setBusy(false);
    }
  };

  if (!hasRole("operator")) {
    return (
      <section>
        <h1>New session</h1>
        <p class="notice">Starting sessions needs the operator role.</p>
      </section>
    );
  }
  return (
    <section aria-labelledby="new-title">
      <h1 id="new-title">New session</h1>
      {loadError && (
        <p class="notice notice-error" role="alert">
          Could not load the relays: {loadError}{" "}
          <button type="button" class="btn btn-ghost" onClick={load}>
            Retry
          </button>
        </p>
      )}
      {relays === null && !loadError && (
        <p class="muted" role="status">
          <span class="spinner" aria-hidden="true" /> Loading relays…
        </p>
      )}
      {relays !== null && online.length === 0 && (
        <p class="notice">
          No relay is online. Start <code>tether relay</code> on the machine where your agents run, then{" "}
          <button type="button" class="btn btn-ghost" onClick={load}>
            check again
          </button>
        </p>
      )}
      {online.length > 0 && (
        <form onSubmit={(e) => void submit(e)} class="card">
          <div class="field">
            <label for="ns-relay">Relay</label>
            <select
              id="ns-relay"
              class="select"
              value={relayId}
              onChange={(e) => pickRelay(e.currentTarget.value)}
              disabled={busy}
            >
              {online.map((r) => (
                <option key={r.id} value={r.id}>
                  {r.name || r.hostname}
                  {r.hostname && r.name !== r.hostname ? ` (${r.hostname})` : ""}
                </option>
              ))}
            </select>
          </div>
          <div class="field">
            <label for="ns-workspace">Workspace</label>
            <select
              id="ns-workspace"
              class="select"
              value={workspace}
              onChange={(e) => setWorkspace(e.currentTarget.value)}
              disabled={busy || !relay?.workspaces.length}
            >
              {relay?.workspaces.map((w) => (
                <option key={w.name} value={w.name}>
                  {w.name} — {w.path}
                </option>
              ))}
            </select>
            {relay && relay.workspaces.length === 0 && (
              <span class="hint">This relay offers you no workspace.</span>
            )}
          </div>
          <div class="field">
            <label for="ns-agent">Agent</label>
            <select
              id="ns-agent"
              class="select"
              value={agent}
              onChange={(e) => setAgent(e.currentTarget.value)}
              disabled={busy || agents.length === 0}
            >
              {agents.map((a) => (
                <option key={a} value={a}>
                  {AGENT_NAMES[a] ?? a}
                </option>
              ))}
            </select>
          </div>
          {pty ? (
            <div class="field">
              <label for="ns-command">Command (optional)</label>
              <input
                id="ns-command"
                class="input"
                value={command}
                onInput={(e) => setCommand(e.currentTarget.value)}
                placeholder="empty: the relay's shell"
                autocomplete="off"
                autocapitalize="off"
                spellcheck={false}
                disabled={busy}
              />
              <span class="hint">Runs in the workspace; leave empty for a shell.</span>
            </div>
          ) : (
            <div class="field">
              <label for="ns-prompt">First prompt</label>
              <textarea
                id="ns-prompt"
                class="textarea"
                rows={4}
                value={prompt}
                onInput={(e) => setPrompt(e.currentTarget.value)}
                placeholder="What should the agent do?"
                disabled={busy}
              />
            </div>
          )}
          {error && (
            <p class="notice notice-error" role="alert">
              {error}
            </p>
          )}
          <div class="form-actions">
            <button type="submit" class="btn btn-primary" disabled={!ready || busy}>
              {busy ? "Starting…" : "Start session"}
            </button>
          </div>
        </form>
      )}
    </section>
  );
}
