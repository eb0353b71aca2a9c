"""The real `claude` TUI under a PTY, its hooks installed by `tether hook install`: a tool call
waits in the hook for a decision made through Tether, and is answered natively."""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ptyprocess import PtyProcess

from protocol import messages as m
from tests.agents.tether_cli import run_tether
from tests.fakes.anthropic_api import AnthropicApi, Reply
from tests.harness import Stack, Viewer, wait_until, wait_until_async

API_KEY = "sk-ant-api03-tether-hooks-test-key-0000"


PROMPT_MARK = "\u276f"  # the TUI's input prompt
TUI_START_S = 60.0  # node-free, but a cold start of the TUI on a busy 2-core box is slow
# How long the TUI is watched for acting without a decision: a Claude that did not wait in the
# hook would run the command and ask the API for its next turn within this
TUI_WATCH_S = 1.0


def _plain(screen: bytes) -> str:
    """Terminal output without its escape sequences."""
    return re.sub(
        r"\x1b\[[0-9;?>]*[A-Za-z]|\x1b\][^\x07]*\x07", "", screen.decode(errors="replace")
    )


class _Tui:
    """The real `claude` TUI in a PTY, as a developer runs it in their terminal."""

    def __init__(self, claude: Path, cwd: Path, home: Path, api_url: str) -> None:
        env = {
            "HOME": str(home),
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "TERM": "xterm-256color",
            "LANG": "C.UTF-8",
            "ANTHROPIC_BASE_URL": api_url,
            "ANTHROPIC_API_KEY": API_KEY,
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
            "DISABLE_TELEMETRY": "1",
            "DISABLE_AUTOUPDATER": "1",
            "DISABLE_ERROR_REPORTING": "1",
            "CLAUDE_CODE_DISABLE_OFFICIAL_MARKETPLACE_AUTOINSTALL": "1",  # else it clones GitHub
            "CLAUDE_CODE_IDE_SKIP_AUTO_INSTALL": "1",
        }
        self.process = PtyProcess.spawn([str(claude)], cwd=str(cwd), env=env, dimensions=(40, 120))
        self.screen = bytearray()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                self.screen += self.process.read(65536)
            except EOFError:
                return

    def type(self, text: str) -> None:
        """Type `text`, then Enter once the TUI shows it (typed, not pasted: Enter on its own)."""
        shown = len(self.screen)
        self.process.write(text.encode())
        wanted = "".join(text.split())
        wait_until(
            lambda: wanted in "".join(_plain(bytes(self.screen[shown:])).split()),
            10,
            f"the TUI to show {text!r}",
        )
        self.process.write(b"\r")

    def text(self) -> str:
        return _plain(bytes(self.screen))

    def close(self) -> None:
        self.process.terminate(force=True)


def _claude_home(home: Path, workspace: Path) -> Path:
    """A HOME where Claude Code has been set up once: onboarding done, this API key accepted,
    the workspace trusted (the keys of ~/.claude.json), so the TUI opens straight at its prompt."""
    home.mkdir()
    config = {
        "hasCompletedOnboarding": True,
        "theme": "dark",
        "customApiKeyResponses": {"approved": [API_KEY[-20:]], "rejected": []},
        "projects": {str(workspace): {"hasTrustDialogAccepted": True}},
    }
    (home / ".claude.json").write_text(json.dumps(config))
    return home


def _result(viewer: Viewer, request_id: str) -> m.Result | None:
    return next(
        (r for r in viewer.results if isinstance(r, m.Result) and r.request_id == request_id), None
    )


def test_claude_tui_tool_call_waits_for_a_decision_made_in_tether(
    tmp_path: Path, agent_bin: Callable[[str], Path]
) -> None:
    api = AnthropicApi(
        [
            Reply.tool("Bash", {"command": "touch approved.txt", "description": "Create a file"}),
            Reply.say("Created approved.txt."),
            Reply.tool("Bash", {"command": "touch denied.txt", "description": "Create a file"}),
            Reply.say("Understood, I left it alone."),
        ]
    )
    stack = Stack(tmp_path)
    tui: _Tui | None = None
    try:
        stack.relay.start()
        stack.wait_relay_online()
        workspace = stack.workspace.resolve()
        home = _claude_home(tmp_path / "home", workspace)
        installed = run_tether(
            "hook",
            "install",
            "--settings",
            str(home / ".claude/settings.json"),
            "--state-dir",
            str(stack.relay.state_dir),
        )
        assert installed.returncode == 0, installed.stderr
        with api:
            tui = _Tui(agent_bin("claude"), workspace, home, api.url)
            asyncio.run(_drive(stack, tui, api, workspace))
    finally:
        if tui is not None:
            tui.close()
        stack.close()


async def _drive(stack: Stack, tui: _Tui, api: AnthropicApi, workspace: Path) -> None:
    # SessionStart brings the session into Tether before anything is typed
    wait_until(
        lambda: any(
            s["agent"] == "claude-hooks" for s in stack.server.get("/api/sessions")["sessions"]
        ),
        TUI_START_S,
        "the Claude Code session to appear in Tether",
    )
    (session,) = stack.server.get("/api/sessions")["sessions"]
    session_id = session["id"]
    viewer = await Viewer.open(stack.server.url)
    await viewer.subscribe(session_id)

    def of(kind: type[m.Event]) -> list[Any]:
        return [e.event for e in viewer.events.get(session_id, []) if isinstance(e.event, kind)]

    await viewer.until(lambda: bool(of(m.SessionStarted)))
    started = of(m.SessionStarted)[0]
    assert (started.agent, started.workspace, started.cwd) == (
        "claude-hooks",
        "work",
        str(workspace),
    )

    await viewer.send(m.SendInput(session_id=session_id, data="hi", request_id="in"))
    await viewer.until(lambda: _result(viewer, "in") is not None)
    refused = _result(viewer, "in")
    assert refused is not None and not refused.ok and "own terminal" in refused.message

    # approve: nothing runs until the decision arrives through Tether
    wait_until(
        lambda: PROMPT_MARK in tui.text(), TUI_START_S, f"the TUI prompt:\n{tui.text()[-2000:]}"
    )
    tui.type("create approved.txt")
    await viewer.until(lambda: bool(of(m.ApprovalRequested)), 60)
    asked = of(m.ApprovalRequested)[0]
    assert asked.tool == "Bash" and "touch approved.txt" in asked.summary
    await asyncio.sleep(TUI_WATCH_S)  # Claude must not run the tool or carry on meanwhile
    assert not (workspace / "approved.txt").exists()
    assert len(api.requests) == 1  # Claude is waiting in the hook, not carrying on
    await viewer.send(
        m.ResolveApproval(
            session_id=session_id, approval_id=asked.approval_id, decision="approve", request_id="a"
        )
    )
    await viewer.until(lambda: bool(of(m.Command)), 60)
    assert (workspace / "approved.txt").exists()
    assert (of(m.Command)[0].command, of(m.Command)[0].exit_code) == ("touch approved.txt", 0)
    assert [f.tool_id for f in of(m.ToolFinished)] == [asked.approval_id]
    await viewer.until(lambda: any(s.state == "idle" for s in of(m.Status)[-1:]), 60)

    # deny: no file, and Claude carries on with the reason
    tui.type("create denied.txt")
    await viewer.until(lambda: len(of(m.ApprovalRequested)) == 2, 60)
    second = of(m.ApprovalRequested)[1]
    await viewer.send(
        m.ResolveApproval(
            session_id=session_id,
            approval_id=second.approval_id,
            decision="deny",
            message="not this one",
            request_id="d",
        )
    )
    await wait_until_async(
        lambda: len(api.requests) >= 4, 60, "Claude to carry on after the denial"
    )
    assert "not this one" in api.texts_sent(3)
    assert not (workspace / "denied.txt").exists()
    await viewer.until(lambda: len(of(m.ApprovalResolved)) == 2)
    assert [r.decision for r in of(m.ApprovalResolved)] == ["approved", "denied"]
    prompts = [p.text for p in of(m.UserPrompt)]
    assert prompts == ["create approved.txt", "create denied.txt"]

    tui.close()  # the developer quits Claude Code: its Tether session ends with it
    await viewer.until(lambda: bool(of(m.SessionEnded)), 30)
    assert of(m.SessionEnded)[0].reason == "exited"
    await viewer.close()
