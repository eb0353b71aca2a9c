"""Acceptance 2: the XSS corpus (tests/pwa/xss.py) as agent output, rendered in Chromium: nothing
runs. A real `claude` says it as Markdown, thinks it, puts it in a tool's input (the approval
view and the tool card show it) and in a file whose diff the timeline shows; a PTY session prints
it raw, escapes and all, into the terminal view."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page, expect

from tests.fakes.anthropic_api import Reply
from tests.pwa import xss
from tests.pwa.browser import Tab, World

# What hostile content could leave behind in the page if the sanitizer let it through.
_AUDIT_DOM = """() => {
  const found = [];
  const root = document.querySelector('main') || document.body;
  for (const el of root.querySelectorAll('*')) {
    for (const a of el.attributes) {
      if (/^on/i.test(a.name)) found.push(`${el.tagName} ${a.name}`);
      if (/^(href|src|xlink:href|action|data|srcdoc|formaction)$/i.test(a.name)
          && /^\\s*(javascript|data|vbscript):/i.test(a.value)) {
        found.push(`${el.tagName} ${a.name}=${a.value}`);
      }
    }
  }
  // agent Markdown is the only agent text parsed as HTML: only formatting may come out of it
  for (const el of root.querySelectorAll('.md *')) {
    const formatting = /^(P|BR|STRONG|EM|DEL|S|CODE|PRE|BLOCKQUOTE|UL|OL|LI|A|H[1-6]|HR)$/;
    const tables = /^(TABLE|THEAD|TBODY|TR|TH|TD)$/;
    const tag = el.tagName;
    if (!formatting.test(tag) && !tables.test(tag)) found.push(`in md: ${tag}`);
  }
  for (const a of root.querySelectorAll('a[href]')) {
    if (!/^(https?|mailto):$/.test(a.protocol)) found.push(`link ${a.href}`);
    if (a.target === '_blank' && !/noopener/.test(a.rel)) found.push(`opener ${a.href}`);
  }
  return found;
}"""


# Every image and media element of the page has loaded or failed (so its handlers are queued)...
_LOADS_DONE = """() => [...document.images].every((img) => img.complete)
  && [...document.querySelectorAll('video, audio')].every(
    (media) => media.networkState !== HTMLMediaElement.NETWORK_LOADING)"""
# ... and the tasks those loads queued (load, error, CSP violation events) have run.
_TASKS_RUN = "() => new Promise((done) => requestAnimationFrame(() => setTimeout(done, 0)))"


def _settle(page: Page) -> None:
    """Wait until late loads (images, media) have failed or fired, and their events have run."""
    page.wait_for_function(_LOADS_DONE, timeout=10_000)
    page.evaluate(_TASKS_RUN)


def _assert_nothing_ran(tab: Tab, where: str) -> None:
    ran: dict[str, Any] = tab.executions()
    assert ran == {"dialogs": [], "xss_marker": None, "csp_script": []}, where
    assert tab.page.evaluate(_AUDIT_DOM) == [], where


def test_the_corpus_as_agent_output_runs_nothing(world: World) -> None:
    text = xss.corpus()
    target = world.stack.workspace / "corpus.md"
    blocks = (
        {"type": "thinking", "thinking": text, "signature": "c2ln"},
        {"type": "text", "text": text},
        {"type": "tool_use", "name": "Write", "input": {"file_path": str(target), "content": text}},
    )
    world.api.add(Reply(blocks=blocks, stop_reason="tool_use"), Reply.say(text))
    session_id = world.stack.start_session(agent="claude", prompt=text)
    asked = world.stack.wait_for_event(
        session_id, lambda e: e["kind"] == "approval_requested", "the approval request"
    )
    tab = world.tab()
    page = tab.page

    for path in ("/", "/approvals"):  # the prompt is the session's title; the tool input too
        page.goto(path)
        expect(page.get_by_text(xss.START).first).to_be_attached()
        _settle(page)
        _assert_nothing_ran(tab, path)
    page.goto(f"/approvals/{session_id}/{asked['event']['approval_id']}")
    expect(page.get_by_text(xss.END).first).to_be_attached()
    _assert_nothing_ran(tab, "approval view")
    page.get_by_role("button", name="Approve", exact=True).click()

    page.goto(f"/sessions/{session_id}")
    timeline = page.locator(".timeline")
    expect(timeline.locator(".tl-message", has_text=xss.END)).to_have_count(2)  # both replies
    expect(timeline).to_contain_text("+" + xss.END)  # the diff of the written file
    for toggle in page.locator(".timeline details > summary").all():
        toggle.click()  # open thinking and collapsed cards: render everything
    _settle(page)
    _assert_nothing_ran(tab, "session view")
    assert target.read_text() == text


def test_the_corpus_as_pty_output_runs_nothing(world: World) -> None:
    (world.stack.workspace / "corpus.txt").write_text(xss.corpus())
    command = ["python3", "-c", "import sys; sys.stdout.write(open('corpus.txt').read())"]
    session_id = world.stack.start_session([*command])
    tab = world.tab(path=f"/sessions/{session_id}/terminal")
    page = tab.page
    expect(page.locator(".xterm-rows")).to_contain_text(xss.END)
    page.locator(".xterm-screen").click()  # OSC 8 links act on click: there must be none
    _settle(page)
    _assert_nothing_ran(tab, "terminal view")
    page.goto(f"/sessions/{session_id}")
    _settle(page)
    _assert_nothing_ran(tab, "session view of a PTY session")
