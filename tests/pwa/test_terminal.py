"""PTY sessions in the terminal view: live output, typing, and a socket cut mid-stream."""

from __future__ import annotations

import re
import shlex
import uuid

from playwright.sync_api import expect

from tests.harness import ticker, wait_until
from tests.pwa.browser import TABLET, World

SHELL = ["bash", "--norc", "--noprofile", "-i"]
# Ticks the server logs while the page is offline, ~1.5 s at 0.15 s a tick: any tick it sent
# the page would have long been on screen
TICKS_WHILE_OFFLINE = 10


def test_terminal_shows_the_live_shell_and_takes_typing(world: World) -> None:
    session_id = world.stack.start_session(SHELL)
    tab = world.tab(path=f"/sessions/{session_id}/terminal")
    page = tab.page
    rows = page.locator(".xterm-rows")
    expect(rows).to_contain_text("bash-")  # the prompt arrived through the socket
    page.locator(".xterm").click()
    page.keyboard.type("echo hi-$((6*7))")
    page.keyboard.press("Enter")
    expect(rows).to_contain_text("hi-42")  # only the shell's answer says 42
    page.keyboard.type("ech")
    page.get_by_role("button", name="Tab", exact=True).click()  # the phone key bar completes
    page.keyboard.type(" ok-$((40+2))")
    page.keyboard.press("Enter")
    expect(rows).to_contain_text("ok-42")
    page.get_by_role("button", name="Up arrow", exact=True).click()  # the last command again
    page.keyboard.press("Enter")
    wait_until(lambda: rows.inner_text().count("ok-42") == 2, 10, "the recalled command's answer")
    assert tab.watch.errors == []
    # xterm still makes two <style> elements with the real document (scrollbar colours, which
    # pwa/src/ui/screens/terminal.css repeats): the CSP blocks them harmlessly; nothing else may
    # be blocked
    blocked = [v for v in tab.csp_violations() if not v.startswith("style-src-elem inline")]
    assert blocked == []


def test_going_offline_mid_stream_loses_and_repeats_nothing(world: World) -> None:
    count = 30
    go = world.stack.workspace / f"go-{uuid.uuid4().hex}"  # the ticker starts once it exists
    wait = f'while [ ! -e {shlex.quote(str(go))} ]; do sleep 0.05; done; exec "$@"'
    session_id = world.stack.start_session(["bash", "-c", wait, "-", *ticker(count, 0.15, 10)])
    tab = world.tab(TABLET, path=f"/sessions/{session_id}/terminal")  # all ticks fit on screen
    rows = tab.page.locator(".xterm-rows")
    expect(rows).to_be_visible()
    go.touch()
    expect(rows).to_contain_text("tick 000004")

    tab.go_offline()
    frozen = rows.inner_text()
    logged = len(world.stack.events(session_id))
    wait_until(
        lambda: len(world.stack.events(session_id)) >= logged + TICKS_WHILE_OFFLINE,
        10,
        "ticks the server logs but this page cannot receive",
    )
    assert rows.inner_text() == frozen, "output kept arriving while offline"
    assert f"tick {count:06d}" not in frozen

    tab.context.set_offline(False)
    expect(rows).to_contain_text(f"tick {count:06d}", timeout=20_000)
    ticks = re.findall(r"tick (\d{6})", rows.inner_text())
    assert ticks == [f"{n:06d}" for n in range(1, count + 1)]  # each exactly once, in order
    assert tab.watch.errors == []
