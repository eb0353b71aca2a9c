"""Installable and usable offline: the service worker installs (its whole precache answers), then
with the network gone a reload still opens the app and shows the sessions already seen."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.harness import ticker
from tests.pwa.browser import World

_SW_READY = """() => Promise.race([
  navigator.serviceWorker.ready.then((reg) => reg.active !== null),
  new Promise((ok) => setTimeout(() => ok(false), 10000)),
])"""


def test_the_service_worker_installs_and_the_app_opens_offline(world: World) -> None:
    session_id = world.stack.start_session(ticker(2, 0.01))
    world.wait_for(session_id, "session_ended")
    tab = world.tab(path="/")
    page = tab.page
    card = page.get_by_role("link", name=re.compile("ticker.py"))
    expect(card.first).to_be_visible()
    assert page.evaluate(_SW_READY), "the service worker did not install (a precache fetch failed?)"
    page.reload()
    assert page.evaluate("navigator.serviceWorker.controller !== null")
    expect(card.first).to_be_visible()
    found = tab.cdp.send("Page.getInstallabilityErrors")["installabilityErrors"]
    errors = {e["errorId"] for e in found} - {"in-incognito"}  # test contexts are incognito
    assert errors == set(), found  # Chromium would offer to install the app

    tab.context.set_offline(True)
    page.reload()  # the shell from the worker's cache, the sessions from IndexedDB
    expect(card.first).to_be_visible()
    expect(page.get_by_text(re.compile("offline", re.I)).first).to_be_visible()
    tab.context.set_offline(False)
