"""Real Chromium (Debian's, through Playwright) against a real `tether serve` serving the PWA.

A `Site` is a running server (and usually a relay) reached as a browser reaches it: at its public
origin http://localhost:PORT (passkeys need a secure context and an RP id matching the host).
Each browser context it opens has a given viewport and colour scheme, a CDP virtual authenticator
(CTAP2, resident keys, user verification), and a `Watch` that records what hostile output must
never cause: JavaScript dialogs, the `window.__xss` marker set, CSP violations, uncaught errors.
"""

from __future__ import annotations

import contextlib
import json
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, BrowserContext, CDPSession, Dialog, Page, expect

from tests.fakes.anthropic_api import AnthropicApi
from tests.harness import ServerProcess, Stack, wait_until

CHROMIUM = Path("/usr/bin/chromium")
PHONE = (360, 740)
TABLET = (768, 1024)
UI_TIMEOUT_MS = 15_000  # the longest any screen may take to show what a test waits for
expect.set_options(timeout=UI_TIMEOUT_MS)

# Recorded in every page before any of its own scripts run (Page.addScriptToEvaluateOnNewDocument
# is not subject to the page's CSP). Payloads of the XSS corpus set window.__xss or call alert().
_WATCH_SCRIPT = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__csp.push(e.effectiveDirective + ' ' + (e.blockedURI || '') + ' ' + (e.sample || ''));
});
"""

# The page's queued work (xterm writes what it received in a timer task) and the frame that
# renders it have run
_RECEIVED_SHOWN = """() => new Promise((done) =>
  setTimeout(() => requestAnimationFrame(() => setTimeout(done, 0)), 0))"""


@dataclass
class Watch:
    """What a page did that hostile content must never make it do."""

    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def on_dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()


@dataclass
class Tab:
    """A page in its own browser context, with its virtual authenticator and its watch."""

    page: Page
    context: BrowserContext
    cdp: CDPSession
    authenticator_id: str
    watch: Watch

    def executions(self) -> dict[str, Any]:
        """Every sign of script run by content: dialogs, the marker, script CSP violations."""
        state = self.page.evaluate("() => ({xss: window.__xss ?? null, csp: window.__csp ?? []})")
        scripts = [v for v in state["csp"] if v.startswith("script-src")]
        return {"dialogs": self.watch.dialogs, "xss_marker": state["xss"], "csp_script": scripts}

    def csp_violations(self) -> list[str]:
        """Everything the server's CSP blocked on this page (the app itself must need nothing)."""
        return list(self.page.evaluate("window.__csp ?? []"))

    def go_offline(self) -> None:
        """Cut the network, and wait until the app has dropped its socket and put on screen
        everything it received before: from then on, nothing new can reach the page."""
        self.context.set_offline(True)
        expect(self.page.locator(".conn")).to_have_attribute("data-state", "offline")
        self.page.evaluate(_RECEIVED_SHOWN)

    def credentials(self) -> list[dict[str, Any]]:
        answer = self.cdp.send(
            "WebAuthn.getCredentials", {"authenticatorId": self.authenticator_id}
        )
        return list(answer["credentials"])


class Site:
    """The PWA served by a running server, and the browser contexts opened on it."""

    def __init__(self, browser: Browser, server: ServerProcess) -> None:
        self.browser = browser
        self.server = server
        self.origin = f"http://localhost:{server.port}"
        self.owner_state: dict[str, Any] | None = None  # cookies of the signed-in owner
        self._contexts: list[BrowserContext] = []

    def tab(
        self,
        size: tuple[int, int] = PHONE,
        scheme: str = "light",
        *,
        signed_in: bool = True,
        path: str | None = "/",
        service_workers: str = "allow",
    ) -> Tab:
        """A fresh context and page; signed in as the owner unless told otherwise."""
        state = self.owner_state if signed_in else None
        if signed_in and state is None:
            raise RuntimeError("no owner has signed in on this site yet")
        context = self.browser.new_context(
            base_url=self.origin,
            viewport={"width": size[0], "height": size[1]},
            color_scheme=scheme,  # type: ignore[arg-type]
            storage_state=state,  # type: ignore[arg-type]
            service_workers=service_workers,  # type: ignore[arg-type]
        )
        context.set_default_timeout(UI_TIMEOUT_MS)
        self._contexts.append(context)
        page = context.new_page()
        watch = Watch()
        page.on("dialog", watch.on_dialog)
        page.on("pageerror", lambda error: watch.errors.append(str(error)))
        page.add_init_script(_WATCH_SCRIPT)
        cdp = context.new_cdp_session(page)
        cdp.send("WebAuthn.enable")
        added = cdp.send(
            "WebAuthn.addVirtualAuthenticator",
            {
                "options": {
                    "protocol": "ctap2",
                    "transport": "internal",
                    "hasResidentKey": True,
                    "hasUserVerification": True,
                    "isUserVerified": True,
                }
            },
        )
        tab = Tab(page, context, cdp, added["authenticatorId"], watch)
        if path is not None:
            page.goto(path)
        return tab

    def setup_token(self) -> str:
        """The token of the one-time owner setup link `tether serve` printed."""
        wait_until(lambda: "/setup#" in self.server.log(), 10, "the setup link")
        links = re.findall(r"http://localhost:\d+/setup#(\S+)", self.server.log())
        assert links, self.server.log()
        return str(links[-1])

    def sign_up_owner(self, tab: Tab, name: str = "olivia") -> None:
        """Create the owner through the real setup screen, as a new user would."""
        page = tab.page
        page.goto(f"/setup#{self.setup_token()}")
        page.get_by_label("Your name").fill(name)
        page.get_by_role("button", name="Create passkey").click()
        expect_signed_in(page)
        assert len(tab.credentials()) == 1
        self.owner_state = tab.context.storage_state()  # type: ignore[assignment]

    def close(self) -> None:
        for context in self._contexts:
            context.close()
        self._contexts.clear()


@contextlib.contextmanager
def fresh_site(browser: Browser, directory: Path) -> Iterator[Site]:
    """A new server in `directory` with no users yet (its log holds the owner setup link)."""
    server = ServerProcess(directory).start()
    site = Site(browser, server)
    try:
        yield site
    finally:
        site.close()
        server.stop()


class World(Site):
    """A Site whose server has a relay with a PTY shell and `claude`, and the scripted API."""

    def __init__(self, browser: Browser, stack: Stack, api: AnthropicApi) -> None:
        super().__init__(browser, stack.server)
        self.stack = stack
        self.api = api

    def post(self, path: str, body: dict[str, Any]) -> Any:
        """A REST call as the owner (the console token), e.g. to answer an approval."""
        request = urllib.request.Request(
            self.server.url + path,
            data=json.dumps(body).encode(),
            method="POST",
            headers={"content-type": "application/json", **self.server.auth_headers()},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def wait_for(self, session_id: str, kind: str, timeout_s: float = 60.0) -> dict[str, Any]:
        """The first event of `kind` in the session's log, once there (the session may not
        exist yet)."""
        found: list[dict[str, Any]] = []

        def seen() -> bool:
            try:
                events = self.stack.events(session_id)
            except urllib.error.HTTPError as error:
                if error.code != 404:
                    raise
                return False
            found[:] = [e["event"] for e in events if e["event"]["kind"] == kind]
            return bool(found)

        wait_until(seen, timeout_s, f"{kind} in session {session_id}")
        return found[0]


def expect_signed_in(page: Page) -> None:
    """The dashboard is showing (the app's home after any sign-in)."""
    expect(page).to_have_url(re.compile(r"/$"), timeout=UI_TIMEOUT_MS)
    expect(page.get_by_role("heading", name=re.compile("sessions", re.I)).first).to_be_visible()
