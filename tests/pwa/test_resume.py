"""The timeline across a cut connection: a session streams structured events while the page goes
offline and back; afterwards every event is on screen exactly once, in order."""

from __future__ import annotations

import uuid

from playwright.sync_api import expect

from protocol import messages as m
from tests.fakes.streaming_relay import StreamingRelay
from tests.harness import wait_until
from tests.pwa.browser import World

COUNT = 40
# Events the server commits while the page is offline, ~1.5 s at 0.1 s an event: any event it
# sent the page would have long been on screen
EVENTS_WHILE_OFFLINE = 15


def test_timeline_going_offline_mid_stream_loses_and_repeats_nothing(world: World) -> None:
    token = world.server.create_relay_token(f"streamer-{uuid.uuid4().hex[:6]}")
    session_id = f"pwa-stream-{uuid.uuid4().hex}"
    events: list[m.Event] = [m.SessionStarted(agent="claude", workspace="work", title="streamed")]
    events += [m.Message(text=f"line {n:04d}", message_id=f"m{n}") for n in range(1, COUNT + 1)]
    events.append(m.SessionEnded(exit_code=0, reason="exited"))
    relay = StreamingRelay(world.server.url, token, session_id, events, 0.1, hold_after=1)
    relay.start()
    world.wait_for(session_id, "session_started", timeout_s=10)

    tab = world.tab(path=f"/sessions/{session_id}")
    messages = tab.page.locator(".timeline .tl-message")
    expect(tab.page.locator(".timeline")).to_be_visible()
    relay.release()  # the stream starts once the page follows the session
    expect(messages.filter(has_text="line 0005")).to_have_count(1)

    tab.go_offline()
    seen = messages.count()
    logged = len(world.stack.events(session_id))
    wait_until(
        lambda: len(world.stack.events(session_id)) >= logged + EVENTS_WHILE_OFFLINE,
        10,
        "events the server commits but this page cannot receive",
    )
    assert messages.count() == seen, "events kept arriving while offline"
    assert seen < COUNT

    tab.context.set_offline(False)
    relay.join()
    expect(messages.filter(has_text=f"line {COUNT:04d}")).to_have_count(1, timeout=20_000)
    assert messages.all_inner_texts() == [f"line {n:04d}" for n in range(1, COUNT + 1)]
    seqs = tab.page.locator(".timeline [data-seq]").evaluate_all(
        "els => els.map(e => Number(e.dataset.seq))"
    )
    assert seqs == sorted(set(seqs))  # where the app exposes seqs: unique and in order
    assert tab.watch.errors == []
