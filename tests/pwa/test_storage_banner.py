"""The app says "Server storage full" while the server's list of sessions says so, and stops
saying it when the server does (the server side: tests/e2e/test_disk_full.py)."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import Route, expect

from tests.pwa.browser import World


def test_the_banner_follows_the_servers_storage_state(world: World) -> None:
    state = {"storage": "full"}

    def answer(route: Route) -> None:
        response = route.fetch()
        body: dict[str, Any] = response.json()
        body["storage"] = state["storage"]
        route.fulfill(response=response, json=body)

    tab = world.tab(path=None)
    tab.page.route(re.compile(r".*/api/sessions$"), answer)
    tab.page.goto("/")
    banner = tab.page.get_by_role("alert").filter(has_text="Server storage full")
    expect(banner).to_be_visible()
    state["storage"] = "ok"
    with tab.page.expect_response(re.compile(r".*/api/sessions$")):
        tab.page.reload()
    expect(banner).to_have_count(0)
    # the app polls on: a request still being answered when the page closes must not fail
    tab.page.unroute_all(behavior="ignoreErrors")
