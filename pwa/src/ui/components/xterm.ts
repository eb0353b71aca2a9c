/**
 * xterm.js for the terminal screen, loaded on demand (dynamic import, so it is not in the initial
 * JS), with the fit addon.
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

export interface Xterm {
  term: Terminal;
  fit: FitAddon;
}

/** Sheets of the <xterm-style> elements, adopted by the document while the terminal lives. */
export class MirroredStyles {
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

export async function loadXterm(host: HTMLElement, styles: MirroredStyles): Promise<Xterm> {
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
