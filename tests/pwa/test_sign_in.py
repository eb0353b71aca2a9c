"""First run and sign-in in Chromium: the owner setup link, a passkey, sign-out, passkey login."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.pwa.browser import Site, expect_signed_in


def test_owner_sets_up_with_a_passkey_signs_out_and_signs_back_in(site: Site) -> None:
    tab = site.tab(signed_in=False, path="/")
    page = tab.page
    expect(page).to_have_url(re.compile(r"/login$"))  # nobody is signed in yet

    site.sign_up_owner(tab)  # /setup#<token>: name, "Create passkey", then the dashboard
    [credential] = tab.credentials()
    assert credential["isResidentCredential"]  # a discoverable passkey: login asks no name
    assert site.server.get("/api/users")["users"][0]["role"] == "owner"

    page.reload()  # the session cookie keeps the owner signed in
    expect_signed_in(page)

    page.goto("/settings")
    page.get_by_role("button", name=re.compile(r"^sign out$", re.I)).click()
    expect(page).to_have_url(re.compile(r"/login$"))
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login$"))  # the cookie no longer works

    page.get_by_role("button", name="Sign in with a passkey").click()
    expect_signed_in(page)
    [used] = tab.credentials()
    assert used["signCount"] > credential["signCount"]  # the login was signed by that passkey
    assert tab.watch.errors == []


def test_a_used_setup_link_is_refused_on_the_setup_screen(site: Site) -> None:
    tab = site.tab(signed_in=False, path=None)
    token = site.setup_token()
    site.sign_up_owner(tab)
    other = site.tab(signed_in=False, path=f"/setup#{token}")
    expect(other.page.get_by_role("alert")).to_contain_text("already used")
    expect(other.page.get_by_role("button", name="Create passkey")).to_have_count(0)
    assert len(site.server.get("/api/users")["users"]) == 1
