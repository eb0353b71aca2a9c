"""Public endpoints have limits, proved against a real `tether serve`.

- An enrolment flood from one address (rotating X-Forwarded-For, which counts for nothing)
  takes at most that address's share of the queue: a relay on another host still enrols.
- Deeply nested JSON on a public route is a 400 like any other bad body, not a 500.
- Public auth routes refuse a 10 MB body with 413, declared (before a byte of it is read) or
  chunked (as soon as it passes the cap).
- A voice upload sent chunked, its oversized part a plain form field, is refused while it is
  read: the server's peak memory does not grow by the upload's size.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.harness import ServerProcess

REQUESTS_PER_ADDRESS = 10  # server/domain/enrolment.py REQUESTS_PER_IP
QUEUE = 50  # server/domain/enrolment.py MAX_PENDING
OTHER_HOST = "127.0.0.2"  # another machine, as far as the server can tell
VOICE_LIMIT_BYTES = 1 << 20
UPLOAD_MIB = 64
ANSWER_TIMEOUT_S = 5.0  # "quickly": an answer that needs the body read would take longer


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    server = ServerProcess(
        tmp_path / "server", env={"TETHER_VOICE_MAX_CLIP_BYTES": str(VOICE_LIMIT_BYTES)}
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _client(server: ServerProcess, source: str = "127.0.0.1") -> httpx.Client:
    return httpx.Client(
        base_url=server.url, timeout=10, transport=httpx.HTTPTransport(local_address=source)
    )


def test_an_enrolment_flood_from_one_address_leaves_room_for_a_real_relay(
    server: ServerProcess,
) -> None:
    with _client(server) as flooder:
        statuses = [
            flooder.post(
                "/api/relays/enrolments",
                json={"name": f"fake-{i}"},
                headers={"x-forwarded-for": f"203.0.113.{i}"},
            ).status_code
            for i in range(QUEUE + 10)
        ]
    assert statuses.count(201) == REQUESTS_PER_ADDRESS
    assert set(statuses[REQUESTS_PER_ADDRESS:]) == {429}

    with _client(server, source=OTHER_HOST) as relay:
        made = relay.post("/api/relays/enrolments", json={"name": "real"})
        assert made.status_code == 201, made.text
        approved = httpx.post(
            f"{server.url}/api/relays/enrolments/{made.json()['code']}/approve",
            headers=server.auth_headers(),
            timeout=10,
        )
        assert approved.status_code == 200, approved.text
        polled = relay.post("/api/relays/enrolments/poll", json={"handle": made.json()["handle"]})
    assert polled.json()["status"] == "approved"
    assert polled.json()["token"].startswith("tr_")


PUBLIC_JSON_ROUTES = [
    "/api/auth/login/verify",
    "/api/auth/register/options",
    "/api/relays/enrolments",
    "/api/relays/enrolments/poll",
]


def test_deeply_nested_json_on_a_public_route_is_a_400(server: ServerProcess) -> None:
    depth = 3000  # 6 KB: within the public routes' body limit
    body = '{"credential": {"a": ' + "[" * depth + "]" * depth + "}}"
    with _client(server) as client:
        for path in PUBLIC_JSON_ROUTES:
            answer = client.post(path, content=body, headers={"content-type": "application/json"})
            assert answer.status_code == 400, f"{path}: {answer.status_code} {answer.text}"
            assert answer.json()["error"]["code"] == "bad_request"
            assert "nested too deeply" in answer.json()["error"]["message"]
    assert "Traceback" not in server.log()


def _status_of_answer(sock: socket.socket) -> int:
    """The status code of the response on `sock` (socket.timeout if none comes in time)."""
    received = b""
    while b"\r\n" not in received:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError(f"closed without an answer: {received!r}")
        received += chunk
    return int(received.split(b" ", 2)[1])


def _exchange(port: int, parts: Iterable[bytes]) -> tuple[int, float]:
    """Send `parts` from a thread while reading the answer: (status, seconds until it came).
    The sender stops when the server closes the connection; what is left is not wanted."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=ANSWER_TIMEOUT_S)

    def send() -> None:
        try:
            for part in parts:
                sock.sendall(part)
        except OSError:
            return

    sender = threading.Thread(target=send, daemon=True)
    started = time.monotonic()
    sender.start()
    try:
        status = _status_of_answer(sock)
        return status, time.monotonic() - started
    finally:
        sock.close()
        sender.join(ANSWER_TIMEOUT_S)


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def _head(port: int, path: str, headers: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def test_a_10_mb_body_to_an_auth_route_is_refused_quickly(server: ServerProcess) -> None:
    size = 10_000_000
    json_head = {"Content-Type": "application/json"}
    declared = _head(
        server.port, "/api/auth/login/options", {**json_head, "Content-Length": str(size)}
    )
    status, took_s = _exchange(server.port, [declared])  # the body is never sent
    assert status == 413
    assert took_s < ANSWER_TIMEOUT_S

    def chunked() -> Iterator[bytes]:
        yield _head(
            server.port,
            "/api/auth/register/verify",
            {**json_head, "Transfer-Encoding": "chunked"},
        )
        yield _chunk(b'{"credential": {"a": "')
        for _ in range(size // (1 << 16)):
            yield _chunk(b"x" * (1 << 16))
        yield _chunk(b'"}}') + b"0\r\n\r\n"

    status, took_s = _exchange(server.port, chunked())
    assert status == 413
    assert took_s < ANSWER_TIMEOUT_S


def _peak_rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc/PID/status")


def test_a_chunked_oversized_voice_upload_is_refused_while_it_is_read(
    server: ServerProcess,
) -> None:
    assert server.process is not None
    assert server.get("/api/voice")["max_clip_bytes"] == VOICE_LIMIT_BYTES
    peak_before = _peak_rss_bytes(server.process.pid)
    boundary = "tether-limit-test"

    def upload() -> Iterator[bytes]:
        yield _head(
            server.port,
            "/api/voice/transcriptions",
            {
                **server.auth_headers(),
                "Content-Type": f"multipart/form-data; boundary={boundary}",
                "Transfer-Encoding": "chunked",
            },
        )
        # a plain form field, not a file: a parser keeps such a value in memory
        yield _chunk(
            f'--{boundary}\r\nContent-Disposition: form-data; name="session_id"\r\n\r\n'.encode()
        )
        for _ in range(UPLOAD_MIB):
            yield _chunk(b"x" * (1 << 20))
        yield _chunk(f"\r\n--{boundary}--\r\n".encode()) + b"0\r\n\r\n"

    status, _ = _exchange(server.port, upload())
    grown = _peak_rss_bytes(server.process.pid) - peak_before
    assert grown < (UPLOAD_MIB << 20) // 4, f"peak memory grew by {grown >> 20} MiB"
    assert status == 413
    assert server.get("/api/voice")["enabled"]  # and the server is still serving
