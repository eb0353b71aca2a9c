/**
 * Terminal view of a PTY session: xterm.js, loaded only here (dynamic import, so it is not in
 * the initial JS), with the fit addon. Replays the session's terminal_output, then follows it
 * live; keystrokes go out as send_input; a key bar gives phones Esc, Tab, a sticky Ctrl,
 * arrows and paste; the terminal is refitted on every layout change and the new size sent as
 * `resize`.
 */
import { useEffect, useRef, useState } from "preact/hooks";
import type { ScreenProps } from "../../app/router";
import { resize, sendKeys } from "../../app/session_actions";
import { followSession, sessionById, sessionLog } from "../../app/sessions";
import { keyBarKey, SizeReporter, TerminalFeed, withCtrl } from "../../app/terminal";
import { loadXterm, MirroredStyles, type Xterm } from "../components/xterm";
import { programName } from "../components/timeline/session_name";
import "../components/page_head.css";
import "./terminal.css";

// The key bar's keys that send a sequence: [label, accessible name, what the terminal receives].
const PLAIN_KEYS = [
  ["Esc", "Escape", "\x1b"],
  ["Tab", "Tab", "\t"],
] as const;
const ARROW_KEYS = [
  ["←", "Left arrow", "\x1b[D"],
  ["↑", "Up arrow", "\x1b[A"],
  ["↓", "Down arrow", "\x1b[B"],
  ["→", "Right arrow", "\x1b[C"],
] as const;

export default function TerminalRoute({ params }: ScreenProps) {
  const id = params.id ?? "";
  return <TerminalScreen key={id} id={id} />;
}

function TerminalScreen({ id }: { id: string }) {
  const host = useRef<HTMLDivElement>(null);
  const xterm = useRef<Xterm | null>(null);
  const ctrl = useRef(false);
  const [ctrlOn, setCtrlOn] = useState(false);
  const [state, setState] = useState<"loading" | "ready" | "failed">("loading");
  const [error, setError] = useState("");
  const session = sessionById(id);
  const ended = session?.status === "ended";

  const send = (data: string): void => {
    if (!data) return;
    sendKeys(id, data).catch((e: unknown) => setError(e instanceof Error ? e.message : String(e)));
  };

  useEffect(() => {
    let disposed = false;
    let unfollow: (() => void) | null = null;
    const cleanups: (() => void)[] = [];
    const styles = new MirroredStyles();
    const sizes = new SizeReporter((cols, rows) => resize(id, cols, rows));
    const feed = new TerminalFeed({
      write: (bytes) => xterm.current?.term.write(bytes),
      reset: () => xterm.current?.term.reset(),
    });

    const refit = (): void => {
      const x = xterm.current;
      if (!x || !host.current || host.current.clientWidth === 0) return;
      x.fit.fit();
      sizes.changed(() => x.term);
    };

    loadXterm(host.current as HTMLDivElement, styles)
      .then((x) => {
        if (disposed) {
          x.term.dispose();
          return;
        }
        xterm.current = x;
        x.term.onData((data) => {
          if (ctrl.current) {
            ctrl.current = false;
            setCtrlOn(false);
            send(withCtrl(data));
          } else send(data);
        });
        const observer = new ResizeObserver(refit);
        observer.observe(host.current as HTMLDivElement);
        cleanups.push(() => observer.disconnect());
        window.visualViewport?.addEventListener("resize", refit);
        cleanups.push(() => window.visualViewport?.removeEventListener("resize", refit));
        window.addEventListener("orientationchange", refit);
        cleanups.push(() => window.removeEventListener("orientationchange", refit));
        unfollow = followSession(id);
        cleanups.push(sessionLog(id).subscribe((log) => feed.update(log.events)));
        refit();
        x.term.focus();
        setState("ready");
      })
      .catch((e: unknown) => {
        if (disposed) return;
        setState("failed");
        setError(`The terminal could not be loaded: ${e instanceof Error ? e.message : String(e)}`);
      });

    return () => {
      disposed = true;
      sizes.dispose();
      for (const cleanup of cleanups) cleanup();
      unfollow?.();
      xterm.current?.term.dispose();
      xterm.current = null;
      styles.dispose();
    };
  }, [id]);

  const key = (data: string) => (e: Event) => {
    e.preventDefault();
    const x = xterm.current;
    send(keyBarKey(data, x?.term.modes.applicationCursorKeysMode ?? false));
    x?.term.focus();
  };
  const toggleCtrl = (e: Event) => {
    e.preventDefault();
    ctrl.current = !ctrl.current;
    setCtrlOn(ctrl.current);
    xterm.current?.term.focus();
  };
  const paste = async (e: Event) => {
    e.preventDefault();
    try {
      const text = await navigator.clipboard.readText();
      if (text)
        xterm.current?.term.paste(text); // bracketed when the program asked for it
      else setError("The clipboard is empty.");
    } catch {
      setError("The browser did not allow reading the clipboard.");
    }
    xterm.current?.term.focus();
  };
  const keep = (e: Event) => e.preventDefault(); // keep the keyboard up: no focus change on tap
  const keyButtons = (keys: typeof PLAIN_KEYS | typeof ARROW_KEYS) =>
    keys.map(([label, name, data]) => (
      <button key={name} type="button" class="btn" onMouseDown={keep} onClick={key(data)} aria-label={name}>
        {label}
      </button>
    ));

  return (
    <section class="term-view" aria-label="Terminal">
      <div class="page-head">
        <h1 class="truncate" title={session?.title || undefined}>
          {session ? `${programName(session.title) || "Shell"} · ${session.workspace}` : "Terminal"}
        </h1>
        <a class="btn btn-ghost" href={`/sessions/${encodeURIComponent(id)}`}>
          Back to session
        </a>
      </div>
      {state === "loading" && (
        <p class="muted" role="status">
          <span class="spinner" aria-hidden="true" /> Loading the terminal…
        </p>
      )}
      {ended && <p class="notice">This session has ended; the terminal is read-only.</p>}
      {session?.detail && <p class="notice small">{session.detail}</p>}
      {error && (
        <p class="notice notice-error" role="alert">
          {error}{" "}
          <button type="button" class="btn btn-ghost" onClick={() => setError("")}>
            Dismiss
          </button>
        </p>
      )}
      <div class="term-host" ref={host} />
      {!ended && state === "ready" && (
        <div class="keybar" role="toolbar" aria-label="Terminal keys">
          {keyButtons(PLAIN_KEYS)}
          <button
            type="button"
            class="btn"
            onMouseDown={keep}
            onClick={toggleCtrl}
            aria-pressed={ctrlOn}
            aria-label="Control (applies to the next key)"
          >
            Ctrl
          </button>
          <button
            type="button"
            class="btn"
            onMouseDown={keep}
            onClick={(e) => void paste(e)}
            aria-label="Paste from clipboard"
          >
            Paste
          </button>
          {keyButtons(ARROW_KEYS)}
        </div>
      )}
    </section>
  );
}
