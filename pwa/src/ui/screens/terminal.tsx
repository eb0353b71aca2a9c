/**
 * Terminal view of a PTY session: xterm.js, loaded only here (dynamic import, so it is not in
 * the initial JS), with the fit addon. Replays the session's terminal_output, then follows it
 * live; keystrokes go out as send_input; a key bar gives phones Esc, Tab, a sticky Ctrl,
 * arrows and paste; the terminal is refitted on every layout change and the new size sent as
 * `resize`.
 *
 * CSP: xterm 6.0's DOM renderer (the default; no canvas/WebGL addon) writes its theme, its cell
 * dimensions and its scrollbar colours into <style> elements, and 24-bit colours into `style`
 * attributes — all blocked by `default-src 'self'` (no 'unsafe-inline'), leaving the terminal
 * uncoloured and misaligned. Fixed here without relaxing the CSP:
 * - `cspDocument`: xterm's `documentOverride` gets a document whose createElement("style")
 *   returns an inert, hidden <xterm-style> element whose text is mirrored into a constructed
 *   stylesheet (document.adoptedStyleSheets, which CSP does not govern): theme and dimensions;
 * - `styleThroughCssom`: the row factory's `_addStyle` (24-bit colours) sets element.style
 *   through the CSSOM, which CSP allows, instead of setAttribute("style");
 * - the scrollbar's colours (a <style> xterm makes with the real document) are in terminal.css;
 *   that element's two blocked insertions are the only CSP reports left.
 * Nothing parsed from markup gains any style; xterm's own CSS is a file from this origin.
 * Both hooks touch xterm internals of the pinned 6.0.0 and fail soft (plain colours) if gone.
 */
import type { FitAddon } from "@xterm/addon-fit";
import type { Terminal } from "@xterm/xterm";
import { useEffect, useRef, useState } from "preact/hooks";
import type { LoggedEvent } from "../../api/protocol";
import type { ScreenProps } from "../../app/router";
import { followSession, resize, sendKeys, sessionById, sessionLog } from "../../app/sessions";
import { programName } from "../components/timeline/session_name";
import "../components/page_head.css";
import "./terminal.css";

const RESIZE_DEBOUNCE_MS = 150;

interface Xterm {
  term: Terminal;
  fit: FitAddon;
}

/** Sheets of the <xterm-style> elements, adopted by the document while the terminal lives. */
class MirroredStyles {
  private sheets: CSSStyleSheet[] = [];
  private observers: MutationObserver[] = [];

  element(): HTMLElement {
    const el = document.createElement("xterm-style");
    el.hidden = true;
    const sheet = new CSSStyleSheet();
    const sync = () => sheet.replaceSync(el.textContent ?? "");
    const observer = new MutationObserver(sync);
    observer.observe(el, { childList: true, characterData: true, subtree: true });
    this.observers.push(observer);
    this.sheets.push(sheet);
    document.adoptedStyleSheets = [...document.adoptedStyleSheets, sheet];
    return el;
  }

  dispose(): void {
    for (const observer of this.observers) observer.disconnect();
    const mine = new Set(this.sheets);
    document.adoptedStyleSheets = document.adoptedStyleSheets.filter((s) => !mine.has(s));
    this.sheets = [];
    this.observers = [];
  }
}

interface XtermInternals {
  _core?: { _renderService?: { _renderer?: { value?: { _rowFactory?: object } } } };
}

/** 24-bit colours through the CSSOM: see the header. */
function styleThroughCssom(term: Terminal): void {
  const factory = (term as unknown as XtermInternals)._core?._renderService?._renderer?.value?._rowFactory;
  const proto = factory ? (Object.getPrototypeOf(factory) as { _addStyle?: unknown }) : null;
  if (!proto || typeof proto._addStyle !== "function") {
    console.warn("xterm internals changed: 24-bit colours stay plain under the CSP");
    return;
  }
  proto._addStyle = (el: HTMLElement, style: string) => {
    el.style.cssText += style;
  };
}

/** The document xterm creates its elements with (its `documentOverride`): see the header. */
function cspDocument(styles: MirroredStyles): Document {
  return new Proxy(document, {
    get(target, key) {
      if (key === "createElement") {
        return (tag: string, options?: ElementCreationOptions) => {
          if (tag.toLowerCase() === "style") return styles.element();
          return target.createElement(tag, options);
        };
      }
      const value: unknown = Reflect.get(target, key, target);
      return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

async function loadXterm(host: HTMLElement, styles: MirroredStyles): Promise<Xterm> {
  const [{ Terminal }, { FitAddon }] = await Promise.all([
    import("@xterm/xterm"),
    import("@xterm/addon-fit"),
    import("@xterm/xterm/css/xterm.css"),
  ]);
  const term = new Terminal({
    cursorBlink: true,
    fontFamily: 'ui-monospace, "SFMono-Regular", Menlo, Consolas, "Liberation Mono", monospace',
    fontSize: window.innerWidth < 500 ? 13 : 14,
    scrollback: 5000,
    convertEol: false,
    theme: { background: "#101214", foreground: "#e8eaed" },
    documentOverride: cspDocument(styles),
  });
  const fit = new FitAddon();
  term.loadAddon(fit);
  term.open(host);
  styleThroughCssom(term);
  return { term, fit };
}

function decode(base64: string): Uint8Array {
  const bin = atob(base64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return bytes;
}

/** The control character for `key` with Ctrl held (a → \x01, [ → \x1b, space → \x00). */
function withCtrl(data: string): string {
  if (data.length !== 1) return data;
  const c = data.toUpperCase().charCodeAt(0);
  if (c === 32) return "\x00";
  if (c >= 64 && c <= 95) return String.fromCharCode(c - 64);
  if (c === 63) return "\x7f";
  return data;
}

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
    let written = 0; // events of the feed already written to the terminal
    let firstSeq = -1;
    let unfollow: (() => void) | null = null;
    let resizeTimer: ReturnType<typeof setTimeout> | null = null;
    let sent = { cols: 0, rows: 0 };
    const cleanups: (() => void)[] = [];
    const styles = new MirroredStyles();

    const writeNew = (events: readonly LoggedEvent[]): void => {
      const x = xterm.current;
      if (!x) return;
      if ((events[0]?.seq ?? -1) !== firstSeq || events.length < written) {
        x.term.reset(); // a full replay (another epoch): start over
        written = 0;
        firstSeq = events[0]?.seq ?? -1;
      }
      for (; written < events.length; written++) {
        const e = (events[written] as LoggedEvent).event;
        if (e.kind === "terminal_output") x.term.write(decode(e.data));
      }
    };

    const refit = (): void => {
      const x = xterm.current;
      if (!x || !host.current || host.current.clientWidth === 0) return;
      x.fit.fit();
      if (resizeTimer) clearTimeout(resizeTimer);
      resizeTimer = setTimeout(() => {
        const { cols, rows } = x.term;
        if (cols === sent.cols && rows === sent.rows) return;
        sent = { cols, rows };
        resize(id, cols, rows).catch(() => {
          sent = { cols: 0, rows: 0 }; // try again on the next layout change
        });
      }, RESIZE_DEBOUNCE_MS);
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
        cleanups.push(sessionLog(id).subscribe((log) => writeNew(log.events)));
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
      if (resizeTimer) clearTimeout(resizeTimer);
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
    // arrows follow the terminal's cursor-key mode (vim, less switch to "application" keys)
    const app = x?.term.modes.applicationCursorKeysMode ?? false;
    send(app ? data.replace("\x1b[", "\x1bO") : data);
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
          <button type="button" class="btn" onMouseDown={keep} onClick={key("\x1b")} aria-label="Escape">
            Esc
          </button>
          <button type="button" class="btn" onMouseDown={keep} onClick={key("\t")} aria-label="Tab">
            Tab
          </button>
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
          <button
            type="button"
            class="btn"
            onMouseDown={keep}
            onClick={key("\x1b[D")}
            aria-label="Left arrow"
          >
            ←
          </button>
          <button type="button" class="btn" onMouseDown={keep} onClick={key("\x1b[A")} aria-label="Up arrow">
            ↑
          </button>
          <button
            type="button"
            class="btn"
            onMouseDown={keep}
            onClick={key("\x1b[B")}
            aria-label="Down arrow"
          >
            ↓
          </button>
          <button
            type="button"
            class="btn"
            onMouseDown={keep}
            onClick={key("\x1b[C")}
            aria-label="Right arrow"
          >
            →
          </button>
        </div>
      )}
    </section>
  );
}
