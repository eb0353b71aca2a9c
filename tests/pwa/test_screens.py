"""Every main screen at 360x740 and 768x1024, light and dark, with real content.

Each render is checked for what a phone user feels at once: no horizontal scrolling, and no
control smaller than a 44 px touch target (inline links in running text are exempt, as in WCAG
2.5.8). With TETHER_SCREENSHOTS=1 the renders are also written to
docs/screenshots/<screen>-<w>x<h>-<scheme>.png for the README (commit them when they change);
without it the test writes nothing, so ordinary runs leave the tree clean.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.fakes.anthropic_api import Reply
from tests.harness import ROOT, ticker
from tests.pwa.browser import PHONE, TABLET, Site, World, fresh_site

SHOTS = ROOT / "docs" / "screenshots"
SIZES = (PHONE, TABLET)
SCHEMES = ("light", "dark")
MIN_TARGET_PX = 44

pytestmark = pytest.mark.screenshots


def screenshots_wanted() -> bool:
    """Write docs/screenshots/*.png only when asked, so test runs leave the tree clean."""
    return os.environ.get("TETHER_SCREENSHOTS") == "1"


# Controls smaller than a touch target; links inside running text are exempt.
_SMALL_TARGETS = """(min) => {
  const small = [];
  const controls = 'button, input:not([type=hidden]), select, textarea, summary, a[href], '
    + '[role=button]';
  for (const el of document.querySelectorAll(controls)) {
    const box = el.getBoundingClientRect();
    const style = getComputedStyle(el);
    if (box.width < 2 || box.height < 2 || style.visibility === 'hidden' || style.opacity === '0')
      continue;  // not shown (e.g. xterm's input helper)
    if (box.bottom <= 0 || box.right <= 0) continue;  // parked off-screen (a skip link)
    if (el.closest('.xterm')) continue;
    if (el.tagName === 'A' && el.closest('p, li, td, .md, small')) continue;  // inline link
    if (box.height < min - 0.5 || box.width < min - 0.5) {
      const name = (el.getAttribute('aria-label') || el.textContent || el.name || '').trim();
      const tag = el.tagName.toLowerCase();
      small.push(`${tag} "${name.slice(0, 30)}" ${box.width | 0}x${box.height | 0}`);
    }
  }
  return small;
}"""


def _check_and_shoot(page: Page, screen: str, size: tuple[int, int], scheme: str) -> list[str]:
    page.wait_for_load_state("networkidle")
    page.evaluate("document.fonts.ready")
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{screen} {size} {scheme}: scrolls sideways by {overflow} px"
    if screenshots_wanted():
        SHOTS.mkdir(parents=True, exist_ok=True)
        path = SHOTS / f"{screen}-{size[0]}x{size[1]}-{scheme}.png"
        page.screenshot(path=str(path), animations="disabled", caret="hide")
    small: list[str] = page.evaluate(_SMALL_TARGETS, MIN_TARGET_PX)
    return [f"{screen} {size[0]}x{size[1]}: {s}" for s in small]


@pytest.fixture(scope="module")
def setup_site(browser: Browser, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with fresh_site(browser, tmp_path_factory.mktemp("setup") / "server") as site:
        yield site


@pytest.fixture(scope="module")
def content(world: World) -> dict[str, str]:
    """Sessions in every state the screens show: a finished Claude turn with a diff, one waiting
    for approval, a live shell, an ended command; and an open invite."""
    work = world.stack.workspace
    (work / "greeting.py").write_text('def greet():\n    return "hi"\n')
    edit = {"file_path": str(work / "greeting.py"), "old_string": '"hi"', "new_string": '"hello"'}
    world.api.add(
        Reply(
            blocks=(
                {"type": "thinking", "thinking": "A one-line change.", "signature": "c2ln"},
                {"type": "text", "text": "I'll make `greet()` say **hello** instead of *hi*."},
                {"type": "tool_use", "name": "Edit", "input": edit},
            ),
            stop_reason="tool_use",
        ),
        Reply.say('Done: `greet()` now returns `"hello"`.\n\n- one line changed\n- tests pass'),
    )
    done = world.stack.start_session(agent="claude", prompt="make greet() say hello")
    asked = world.wait_for(done, "approval_requested")
    world.post(f"/api/sessions/{done}/approvals/{asked['approval_id']}", {"decision": "approve"})
    world.wait_for(done, "usage")

    world.api.add(Reply.tool("Bash", {"command": "npm test", "description": "Run the tests"}))
    pending = world.stack.start_session(agent="claude", prompt="run the test suite")
    approval = world.wait_for(pending, "approval_requested")["approval_id"]

    shell = world.stack.start_session(["bash", "--norc", "--noprofile", "-i"])
    ended = world.stack.start_session(ticker(3, 0.01))
    world.wait_for(ended, "session_ended")
    world.post("/api/invites", {"role": "operator", "grants": []})
    return {"done": done, "pending": pending, "approval": approval, "shell": shell}


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_every_screen_fits(
    world: World, content: dict[str, str], setup_site: Site, size: tuple[int, int], scheme: str
) -> None:
    small: list[str] = []

    tab = setup_site.tab(size, scheme, signed_in=False, path=f"/setup#{setup_site.setup_token()}")
    expect(tab.page.get_by_role("button", name="Create passkey")).to_be_visible()
    small += _check_and_shoot(tab.page, "setup", size, scheme)
    tab.context.close()

    tab = world.tab(size, scheme, signed_in=False, path="/login")
    expect(tab.page.get_by_role("button", name="Sign in with a passkey")).to_be_visible()
    small += _check_and_shoot(tab.page, "login", size, scheme)
    tab.context.close()

    tab = world.tab(size, scheme, path=None)
    page = tab.page
    timeline, rows = page.locator(".timeline"), page.locator(".xterm-rows")
    visits: dict[str, tuple[str, Callable[[], None]]] = {
        "dashboard": (
            "/",
            lambda: expect(page.get_by_text("run the test suite").first).to_be_visible(),
        ),
        "session": (
            f"/sessions/{content['done']}",
            lambda: expect(timeline).to_contain_text("now returns"),
        ),
        "terminal": (
            f"/sessions/{content['shell']}/terminal",
            lambda: expect(rows).to_contain_text("bash-"),
        ),
        "approvals": (
            "/approvals",
            lambda: expect(page.get_by_text("npm test").first).to_be_visible(),
        ),
        "approval": (
            f"/approvals/{content['pending']}/{content['approval']}",
            lambda: expect(page.get_by_role("button", name="Approve", exact=True)).to_be_visible(),
        ),
        "new": (
            "/new",
            lambda: expect(
                page.get_by_role("button", name=re.compile("start", re.I))
            ).to_be_visible(),
        ),
        "settings": (
            "/settings",
            lambda: expect(page.get_by_role("button", name="Sign out")).to_be_visible(),
        ),
        "admin": ("/admin", lambda: expect(page.get_by_text("olivia").first).to_be_visible()),
    }
    for screen, (path, ready) in visits.items():
        page.goto(path)
        ready()
        small += _check_and_shoot(page, screen, size, scheme)
    assert tab.watch.errors == []
    assert small == [], "controls smaller than a touch target:\n" + "\n".join(small)
