"""Fixtures for the PWA's browser tests: Debian's chromium through Playwright, real servers.

`bash scripts/test` installs chromium (apt) and Playwright (the `test` extra); the PWA is built
into pwa/dist on first use when missing or stale (tests/pwa/build.py). Nothing here downloads a
browser: Playwright always launches /usr/bin/chromium.

- `site`: a fresh server (no relay) for tests of first-run setup and sign-in.
- `world`: one server + relay offering a PTY shell and the real `claude` (pointed at the scripted
  Anthropic endpoint `world.api`), the owner signed up through the real setup screen; shared by
  the module's tests (each adds its own replies and starts its own sessions).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Playwright, sync_playwright

from tests.agents.conftest import agent_bin  # noqa: F401  (the fixture, for `world`)
from tests.agents.test_claude import _claude_stack
from tests.fakes.anthropic_api import AnthropicApi
from tests.harness import running
from tests.pwa.browser import CHROMIUM, Site, World, fresh_site
from tests.pwa.build import ensure_built


@pytest.fixture(scope="session")
def pwa_dist() -> Path:
    try:
        return ensure_built()
    except (FileNotFoundError, RuntimeError) as error:
        pytest.fail(str(error))


# Module scope: the sync API keeps an event loop running in this thread while it is open,
# and the rest of the suite calls asyncio.run(), so Playwright must be gone after each module.
@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run the tests through `bash scripts/test`")
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright: Playwright, pwa_dist: Path) -> Iterator[Browser]:
    browser = playwright.chromium.launch(
        executable_path=str(CHROMIUM),
        args=["--no-sandbox"],  # root in CI containers; pages are still isolated by site
        headless=True,
    )
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture
def site(browser: Browser, tmp_path: Path) -> Iterator[Site]:
    """A fresh server with no users yet: its log holds the owner setup link."""
    with fresh_site(browser, tmp_path / "server") as site:
        yield site


@pytest.fixture(scope="module")
def world(
    browser: Browser,
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("pwa")
    find_agent: Callable[[str], Path] = request.getfixturevalue("agent_bin")
    with AnthropicApi() as api, running(_claude_stack(tmp, find_agent("claude"), api)) as stack:
        world = World(browser, stack, api)
        try:
            world.sign_up_owner(world.tab(signed_in=False, path=None))
            yield world
        finally:
            world.close()
