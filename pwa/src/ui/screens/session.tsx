/**
 * One session: its timeline of structured events, following live (the page stays at the
 * bottom while you are there; scrolled up, a "Jump to latest" button appears) under a compact
 * header that stays on screen (title, agent, state, interrupt and stop), and a prompt box at the
 * bottom. PTY sessions link to their terminal.
 */
import { useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState } from "preact/hooks";
import { errorMessage } from "../../api/http";
import type { Decision } from "../../api/protocol";
import { hasRole } from "../../app/auth";
import { interrupt, resolveApproval, sendPrompt, stop } from "../../app/session_actions";
import { followSession, loadEarlier, sessionById, sessionLog } from "../../app/sessions";
import { STATE_LABELS } from "../components/timeline/status";
import { TimelineBuilder } from "../../app/timeline";
import { Timeline } from "../components/timeline/timeline";
import { Mic } from "../components/mic";
import { ago } from "../components/when";
import { sessionName } from "../components/timeline/session_name";
import type { ScreenProps } from "../../app/router";
import "../components/status_dot.css";
import "./session.css";

const BOTTOM_SLACK_PX = 80; // this close to the end counts as "at the bottom"

function atBottom(): boolean {
  const doc = document.documentElement;
  return window.innerHeight + window.scrollY >= doc.scrollHeight - BOTTOM_SLACK_PX;
}

function scrollToEnd(): void {
  window.scrollTo({ top: document.documentElement.scrollHeight, behavior: "auto" });
}

export default function SessionRoute({ params }: ScreenProps) {
  const id = params.id ?? "";
  return <SessionScreen key={id} id={id} />;
}

function SessionScreen({ id }: { id: string }) {
  useEffect(() => followSession(id), [id]);
  const log = sessionLog(id).value;
  const session = sessionById(id);
  const builder = useMemo(() => new TimelineBuilder(), [id]);
  const items = useMemo(() => builder.update(log.events), [builder, log.events]);
  const operator = hasRole("operator");
  const agent = session?.agent ?? "";
  const status = log.activity.status ?? session?.status ?? null;
  const ended = status === "ended" || session?.status === "ended";

  // follow live: stay at the bottom while the user is there
  const following = useRef(true);
  const [showJump, setShowJump] = useState(false);
  useEffect(() => {
    const onScroll = () => {
      following.current = atBottom();
      if (following.current) setShowJump(false);
    };
    window.addEventListener("scroll", onScroll, { passive: true });
    return () => window.removeEventListener("scroll", onScroll);
  }, []);
  useLayoutEffect(() => {
    if (following.current) scrollToEnd();
    else setShowJump(true);
  }, [items]);

  const onDecide = useCallback(
    async (approvalId: string, decision: Decision, message: string) => {
      await resolveApproval(id, approvalId, decision, message);
    },
    [id],
  );

  const [earlier, setEarlier] = useState<"idle" | "loading" | string>("idle");
  const fetchEarlier = () => {
    setEarlier("loading");
    following.current = false;
    loadEarlier(id).then(
      () => setEarlier("idle"),
      (e: unknown) => setEarlier(`Could not load earlier events: ${errorMessage(e)}`),
    );
  };

  const title = session ? sessionName(session) : "Session";
  const structured = agent !== "pty" && agent !== "";
  return (
    <section class="session-view" aria-label="Session">
      <header class="session-head">
        <div class="session-head-row">
          <h1 title={title}>{title}</h1>
          {status && (
            <span class={`badge state-${status}`}>
              <span class="dot" aria-hidden="true" />
              {STATE_LABELS[status] ?? status}
              {session?.detail && status === session.status ? ` — ${session.detail}` : ""}
            </span>
          )}
        </div>
        <div class="session-head-row">
          {session && (
            <p class="muted small session-meta">
              {session.agent} · {session.workspace}
              {!session.relay_online && " · relay offline"}
              <span class="session-active"> · active {ago(session.last_activity_at, { compact: true })}</span>
            </p>
          )}
          {agent === "pty" && (
            <a class="btn btn-primary" href={`/sessions/${encodeURIComponent(id)}/terminal`}>
              Open terminal
            </a>
          )}
          {operator && !ended && <Controls id={id} structured={structured} />}
        </div>
      </header>

      {log.firstSeq > 1 && log.events.length > 0 && (
        <button
          type="button"
          class="btn btn-ghost show-earlier"
          disabled={earlier === "loading"}
          onClick={fetchEarlier}
        >
          {earlier === "loading" ? "Loading earlier events…" : "Load earlier events"}
        </button>
      )}
      {earlier !== "idle" && earlier !== "loading" && (
        <p class="notice notice-error" role="alert">
          {earlier}
        </p>
      )}
      {log.state === "error" && (
        <p class="notice notice-error" role="alert">
          {log.error || "This session could not be followed."}
        </p>
      )}
      {log.state === "cached" && <p class="notice small">Showing saved events; reconnecting for new ones…</p>}
      {log.state === "loading" && log.events.length === 0 ? (
        <p class="muted" role="status">
          <span class="spinner" aria-hidden="true" /> Loading events…
        </p>
      ) : items.length === 0 && log.state !== "error" ? (
        <p class="empty">Nothing has happened in this session yet.</p>
      ) : (
        <Timeline items={items} sessionId={id} onDecide={onDecide} />
      )}

      {showJump && (
        <button
          type="button"
          class="btn btn-primary jump-latest"
          onClick={() => {
            following.current = true;
            setShowJump(false);
            scrollToEnd();
          }}
        >
          Jump to latest
        </button>
      )}

      {operator && !ended && structured && <Composer id={id} />}
      {!operator && (
        <p class="muted small">You can watch this session; steering it needs the operator role.</p>
      )}
    </section>
  );
}

/** Interrupt (structured agents) and Stop (after a confirmation), in the session's header. */
function Controls({ id, structured }: { id: string; structured: boolean }) {
  const [busy, setBusy] = useState<"" | "interrupt" | "stop">("");
  const [error, setError] = useState("");
  const [confirmStop, setConfirmStop] = useState(false);
  const run = async (what: "interrupt" | "stop", action: () => Promise<unknown>) => {
    setBusy(what);
    setError("");
    try {
      await action();
    } catch (e) {
      setError(errorMessage(e));
    } finally {
      setBusy("");
    }
  };
  return (
    <>
      {confirmStop ? (
        <div class="session-controls session-confirm" role="group" aria-label="Stop this session?">
          <span>Stop this session? The agent process ends.</span>
          <button
            type="button"
            class="btn btn-danger"
            disabled={busy !== ""}
            onClick={() => {
              setConfirmStop(false);
              void run("stop", () => stop(id));
            }}
          >
            Yes, stop it
          </button>
          <button type="button" class="btn" onClick={() => setConfirmStop(false)}>
            Cancel
          </button>
        </div>
      ) : (
        <div class="session-controls">
          {structured && (
            <button
              type="button"
              class="btn"
              disabled={busy !== ""}
              onClick={() => void run("interrupt", () => interrupt(id))}
            >
              {busy === "interrupt" ? "Interrupting…" : "Interrupt"}
            </button>
          )}
          <button
            type="button"
            class="btn"
            disabled={busy !== ""}
            aria-label="Stop session"
            onClick={() => setConfirmStop(true)}
          >
            {busy === "stop" ? "Stopping…" : "Stop"}
          </button>
        </div>
      )}
      {error && (
        <p class="notice notice-error small session-controls-error" role="alert">
          {error}
        </p>
      )}
    </>
  );
}

function Composer({ id }: { id: string }) {
  const [text, setText] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");
  const coarse = useMemo(() => window.matchMedia("(pointer: coarse)").matches, []);
  const box = useRef<HTMLTextAreaElement>(null);
  const heard = useRef(false); // a transcript was just added: focus the box, cursor at the end

  // a transcript is added to what is there, to be edited and sent by the user, never sent here
  const addTranscript = useCallback((transcript: string) => {
    heard.current = true;
    setText((current) => (current.trim() ? `${current.replace(/\s+$/, "")} ${transcript}` : transcript));
  }, []);
  useLayoutEffect(() => {
    const area = box.current;
    if (!heard.current || !area) return;
    heard.current = false;
    area.focus();
    area.setSelectionRange(area.value.length, area.value.length);
    area.scrollTop = area.scrollHeight;
  }, [text]);

  const send = async () => {
    const prompt = text.trim();
    if (!prompt || busy) return;
    setBusy(true);
    setError("");
    try {
      await sendPrompt(id, prompt);
      setText("");
    } catch (e) {
      setError(errorMessage(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form
      class="composer"
      aria-label="Prompt"
      onSubmit={(e) => {
        e.preventDefault();
        void send();
      }}
    >
      {error && (
        <p class="notice notice-error small" role="alert">
          {error}
        </p>
      )}
      <div class="composer-row">
        <textarea
          ref={box}
          class="textarea"
          rows={coarse ? 2 : 3}
          placeholder="Message the agent"
          aria-label="Prompt for the agent"
          value={text}
          onInput={(e) => setText(e.currentTarget.value)}
          onKeyDown={(e) => {
            // Enter sends on a keyboard; on phones Enter is a new line and the button sends
            if (e.key === "Enter" && !e.shiftKey && !coarse && !e.isComposing) {
              e.preventDefault();
              void send();
            }
          }}
        />
        <Mic sessionId={id} onTranscript={addTranscript} />
        <button type="submit" class="btn btn-primary" disabled={!text.trim() || busy}>
          {busy ? "Sending…" : "Send"}
        </button>
      </div>
    </form>
  );
}
