/**
 * Agent Markdown, rendered safely: marked → DOMPurify (strict allow-list) → innerHTML.
 *
 * Agent output is hostile. Raw HTML in the Markdown is escaped by marked's renderer override,
 * and DOMPurify then keeps only a small set of formatting tags with no event handlers, no
 * style, no class, no ids. Links survive only with http(s) or mailto URLs and open in a new
 * tab with rel="noopener noreferrer". Images are never loaded (tracking pixels, data: URLs):
 * they become a link to their URL, labelled with their alt text.
 */
import DOMPurify from "dompurify";
import { Marked, type Tokens } from "marked";
import { memo } from "preact/compat";
import { useMemo } from "preact/hooks";
import "./preformatted.css";
import "./markdown.css";

const SAFE_URL = /^(?:https?:|mailto:)/i;

const escapeHtml = (text: string): string => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const marked = new Marked({
  gfm: true,
  breaks: true,
  async: false,
  renderer: {
    // raw HTML in agent Markdown is shown as text, never parsed
    html: ({ text }: Tokens.HTML | Tokens.Tag) => escapeHtml(text),
    image: ({ href, text }: Tokens.Image) =>
      SAFE_URL.test(href)
        ? `<a href="${escapeHtml(href)}">${escapeHtml(`[image: ${text || href}]`)}</a>`
        : escapeHtml(`[image: ${text}]`),
  },
});

const purifier = DOMPurify();
purifier.addHook("afterSanitizeAttributes", (node) => {
  if (node.nodeName === "A") {
    const href = node.getAttribute("href") ?? "";
    if (!SAFE_URL.test(href)) node.removeAttribute("href");
    else {
      node.setAttribute("target", "_blank");
      node.setAttribute("rel", "noopener noreferrer");
    }
  }
});

const CONFIG = {
  ALLOWED_TAGS: [
    "p",
    "br",
    "strong",
    "em",
    "del",
    "s",
    "code",
    "pre",
    "blockquote",
    "ul",
    "ol",
    "li",
    "a",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
  ],
  ALLOWED_ATTR: ["href", "title", "start", "target", "rel"],
  ALLOWED_URI_REGEXP: SAFE_URL,
  ALLOW_DATA_ATTR: false,
  ALLOW_ARIA_ATTR: false,
  ALLOW_UNKNOWN_PROTOCOLS: false,
  KEEP_CONTENT: true,
  RETURN_TRUSTED_TYPE: false as const,
};

/** Sanitised HTML for a Markdown string (exported for tests and the approval view). */
function renderMarkdown(text: string): string {
  const html = marked.parse(text) as string;
  return purifier.sanitize(html, CONFIG) as string;
}

export const Markdown = memo(function Markdown({ text }: { text: string }) {
  const html = useMemo(() => renderMarkdown(text), [text]);
  // eslint-disable-next-line react/no-danger -- sanitised above with a strict allow-list
  return <div class="md" dangerouslySetInnerHTML={{ __html: html }} />;
});
