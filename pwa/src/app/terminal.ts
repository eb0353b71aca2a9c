// A PTY session's terminal, without the terminal widget (ui/screens/terminal.tsx renders xterm):
// which terminal_output to write as the log grows or is replaced, the keys a phone's key bar
// sends (Ctrl, cursor keys in either mode), and the size reported to the session, debounced.
// No widget and no socket here: pwa/test/terminal.test.ts runs these without a browser.
import type { LoggedEvent } from "../api/protocol";

const RESIZE_DEBOUNCE_MS = 150;

export interface Screen {
  write: (bytes: Uint8Array) => void;
  reset: () => void;
}

/** Writes each terminal_output of a session's log once, in order; starts over on a full replay. */
export class TerminalFeed {
  private written = 0; // events of the log already written to the screen
  private firstSeq = -1;

  constructor(private readonly screen: Screen) {}

  update(events: readonly LoggedEvent[]): void {
    if ((events[0]?.seq ?? -1) !== this.firstSeq || events.length < this.written) {
      this.screen.reset(); // a full replay (another epoch): start over
      this.written = 0;
      this.firstSeq = events[0]?.seq ?? -1;
    }
    for (; this.written < events.length; this.written++) {
      const e = (events[this.written] as LoggedEvent).event;
      if (e.kind === "terminal_output") this.screen.write(decode(e.data));
    }
  }
}

function decode(base64: string): Uint8Array {
  const bin = atob(base64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return bytes;
}

/** The control character for `key` with Ctrl held (a → \x01, [ → \x1b, space → \x00). */
export function withCtrl(data: string): string {
  if (data.length !== 1) return data;
  const c = data.toUpperCase().charCodeAt(0);
  if (c === 32) return "\x00";
  if (c >= 64 && c <= 95) return String.fromCharCode(c - 64);
  if (c === 63) return "\x7f";
  return data;
}

/** A key bar's key as sent: arrows follow the terminal's cursor-key mode (vim and less switch
 * to "application" keys). */
export function keyBarKey(data: string, applicationCursorKeys: boolean): string {
  return applicationCursorKeys ? data.replace("\x1b[", "\x1bO") : data;
}

/** Tells the session the terminal's size after layout changes settle, once per new size. */
export class SizeReporter {
  private timer: ReturnType<typeof setTimeout> | null = null;
  private sent = { cols: 0, rows: 0 };

  /** `send` tells the session (app/sessions.ts's resize); a failure is tried again. */
  constructor(private readonly send: (cols: number, rows: number) => Promise<unknown>) {}

  /** `size` is read when the changes have settled. */
  changed(size: () => { cols: number; rows: number }): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      const { cols, rows } = size();
      if (cols === this.sent.cols && rows === this.sent.rows) return;
      this.sent = { cols, rows };
      this.send(cols, rows).catch(() => {
        this.sent = { cols: 0, rows: 0 }; // try again on the next layout change
      });
    }, RESIZE_DEBOUNCE_MS);
  }

  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
  }
}
