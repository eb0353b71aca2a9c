"""A real `claude` session in the browser: the structured stream, and an approval answered in the
approvals screens after which the agent carries on (the file is written, its reply shown)."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.fakes.anthropic_api import Reply
from tests.pwa.browser import World


def _write_turn(world: World, name: str, after: str) -> tuple[str, str]:
    """A session whose first turn thinks, says Markdown and asks to write `name`."""
    target = world.stack.workspace / name
    thinking = {"type": "thinking", "thinking": "They want a greeting file.", "signature": "c2ln"}
    text = {"type": "text", "text": f"I will **write** `{name}` now."}
    tool_input = {"file_path": str(target), "content": "hello\n"}
    write = {"type": "tool_use", "name": "Write", "input": tool_input}
    world.api.add(Reply(blocks=(thinking, text, write), stop_reason="tool_use"), Reply.say(after))
    session_id = world.stack.start_session(agent="claude", prompt=f"please write {name}")
    asked = world.stack.wait_for_event(
        session_id, lambda e: e["kind"] == "approval_requested", "the approval request"
    )
    return session_id, str(asked["event"]["approval_id"])


def test_structured_stream_and_an_approval_the_agent_continues_after(world: World) -> None:
    session_id, approval_id = _write_turn(world, "hello.txt", "Written: it says *hello*.")
    target = world.stack.workspace / "hello.txt"
    tab = world.tab()
    page = tab.page

    page.goto(f"/sessions/{session_id}")
    timeline = page.locator(".timeline")
    expect(timeline).to_contain_text("please write hello.txt")  # the prompt
    expect(timeline.locator("strong", has_text="write")).to_be_visible()  # Markdown, rendered
    expect(timeline).to_contain_text("They want a greeting file.")  # thinking (collapsed)
    expect(timeline.locator(".tl-item", has_text="Write").first).to_be_visible()  # the tool card

    page.goto("/approvals")
    page.get_by_role("link", name=re.compile("hello.txt")).first.click()
    expect(page).to_have_url(re.compile(f"/approvals/{session_id}/{approval_id}$"))
    expect(page.get_by_text(str(target)).first).to_be_visible()  # exactly what is asked
    assert not target.exists()
    page.get_by_role("button", name="Approve", exact=True).click()

    page.goto(f"/sessions/{session_id}")
    expect(timeline.locator("em", has_text="hello")).to_be_visible()  # the agent's next reply
    expect(timeline).to_contain_text("+hello")  # the file change, as a diff
    assert target.read_text() == "hello\n"
    seqs = timeline.locator("[data-seq]").evaluate_all("els => els.map(e => e.dataset.seq)")
    assert len(seqs) == len(set(seqs))  # no event rendered twice
    assert tab.watch.errors == []
    assert tab.csp_violations() == []
    page.goto("/approvals")
    expect(page.get_by_role("link", name=re.compile("hello.txt"))).to_have_count(0)
