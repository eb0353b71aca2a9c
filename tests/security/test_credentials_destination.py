"""Credentials go only where they belong: the console token to a server on this machine, a
relay's token not in clear text to another machine, and never on a printed command line.

A listener on this machine's non-loopback address plays the server someone pointed a client
at (a typo, a hostile link, a spoofed name): it records every request it receives. The real
`tether sessions`, `tether attach` and `tether relay` processes are run against it.
"""

from __future__ import annotations

import http.server
import os
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import ROOT, free_port, tether_argv, wait_until

CONSOLE_TOKEN = "tc_" + "c" * 43
RELAY_TOKEN = "tr_" + "r" * 43


def _lan_address() -> str:
    """This machine's address on its network (a UDP 'connect' sends nothing)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.254", 9))
            return str(probe.getsockname()[0])
        except OSError:
            return ""


class Listener:
    """An HTTP server on every interface that keeps the headers of what reaches it."""

    def __init__(self) -> None:
        self.port = free_port()
        self.seen: list[str] = []
        seen = self.seen

        class Handler(http.server.BaseHTTPRequestHandler):
            def _record(self) -> None:
                seen.append(f"{self.command} {self.path}\n{self.headers}")
                self.send_response(404)
                self.send_header("content-length", "0")
                self.end_headers()

            do_GET = do_POST = _record

            def log_message(self, *_: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("0.0.0.0", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Listener:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    with Listener() as found:
        yield found


@pytest.fixture
def remote() -> str:
    address = _lan_address()
    if not address or address.startswith("127."):
        pytest.skip("this machine has no non-loopback address to play another machine")
    return address


def _client_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TETHER_", "XDG_"))}
    return {**env, "HOME": str(tmp_path / "home"), "TETHER_CONSOLE_TOKEN": CONSOLE_TOKEN}


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        tether_argv(*args), capture_output=True, text=True, cwd=ROOT, env=env, timeout=60
    )


@pytest.mark.parametrize(
    "command",
    [("sessions",), ("attach", "some-session")],
    ids=["sessions", "attach"],
)
def test_the_console_token_is_never_sent_to_another_machine(
    tmp_path: Path, listener: Listener, remote: str, command: tuple[str, ...]
) -> None:
    results = [
        _run(
            _client_env(tmp_path),
            command[0],
            "--server",
            f"{scheme}://{remote}:{listener.port}",
            *command[1:],
        )
        for scheme in ("http", "https")
    ]
    assert not any(CONSOLE_TOKEN in request for request in listener.seen), listener.seen
    for result in results:
        assert result.returncode == 1, result.stdout + result.stderr
        assert "tether login" in result.stderr or "unencrypted" in result.stderr, result.stderr
    # The same listener on loopback is "this machine": there the console token does go.
    here = _run(_client_env(tmp_path), "sessions", "--server", f"http://127.0.0.1:{listener.port}")
    assert here.returncode == 1  # the listener answers 404
    assert any(f"Bearer {CONSOLE_TOKEN}" in request for request in listener.seen), listener.seen


def _relay(tmp_path: Path, url: str, *extra: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TETHER_", "XDG_"))}
    env = {**env, "HOME": str(tmp_path / "home"), "TETHER_RELAY_TOKEN": RELAY_TOKEN}
    argv = tether_argv("relay", "--server", url, "--state-dir", str(tmp_path / "state"), *extra)
    with (tmp_path / "relay.log").open("ab") as log:
        return subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


def test_a_relay_refuses_plain_http_to_another_machine_unless_insecure(
    tmp_path: Path, listener: Listener, remote: str
) -> None:
    url = f"http://{remote}:{listener.port}"
    refused = _relay(tmp_path, url)
    try:
        wait_until(
            lambda: refused.poll() is not None or bool(listener.seen), 30, "the relay to decide"
        )
    finally:  # a relay that does not refuse keeps dialling: stop it
        if refused.poll() is None:
            refused.kill()
        refused.wait(15)
    assert listener.seen == [], listener.seen
    log = (tmp_path / "relay.log").read_text()
    assert refused.returncode == 2 and "--insecure" in log and "unencrypted" in log, log

    allowed = _relay(tmp_path, url, "--insecure")
    try:
        wait_until(lambda: bool(listener.seen), 30, "the relay's connection attempt")
    finally:
        allowed.terminate()
        allowed.wait(15)
    assert f"Bearer {RELAY_TOKEN}" in listener.seen[0]


def test_no_printed_command_line_carries_a_token(tmp_path: Path) -> None:
    """`tether admin relay-token create` shows the token once, but no command line with it: a
    command line is visible to every user in ps. `--token` still works, with a warning."""
    data = tmp_path / "data"
    made = _run(dict(os.environ), "admin", "--data-dir", str(data), "relay-token", "create", "box")
    assert made.returncode == 0, made.stderr
    token = next(w for w in made.stdout.split() if w.startswith("tr_"))
    lines = [line for line in made.stdout.splitlines() if token in line]
    assert [line.strip() for line in lines] == [token], made.stdout
    assert "--token" not in made.stdout.replace("never pass it with --token", "")

    relay = _run(
        {**os.environ, "HOME": str(tmp_path / "home")},
        "relay",
        "--server",
        "https://tether.invalid",
        "--token",
        RELAY_TOKEN,
        "--log-level",
        "nonsense",  # exits at once, after the warning
    )
    assert relay.returncode == 2
    assert "--token puts the relay's token where every user" in relay.stderr
    assert RELAY_TOKEN not in relay.stderr + relay.stdout
