"""The PWA's bench: initial JS size, Lighthouse on a real signed-in server, installability.

    .venv/bin/python bench/pwa.py [--no-lighthouse]

1. initial JS   the scripts pwa/dist/index.html loads before the app can paint (its module
                entry and the chunks it modulepreloads; lazy chunks such as the terminal's
                xterm.js are not counted), each gzipped at level 9. Target: <= 60 KB.
2. Lighthouse   npm `lighthouse` (pinned, installed on first use into ~/.cache/tether/) with
                Debian's chromium (CHROME_PATH=/usr/bin/chromium, headless, mobile emulation:
                Lighthouse's default Moto G Power profile with simulated slow 4G) on the
                dashboard and on the session view of a recorded Claude session. The server is
                real (`tether serve`); the owner signs up with a software passkey through the
                real WebAuthn endpoints and Lighthouse sends that session cookie
                (--extra-headers). Targets: performance >= 90, accessibility >= 95.
                Lighthouse 12 dropped its PWA category, so:
3. installable  Chromium's own verdict, through Playwright over CDP: Page.getInstallabilityErrors
                (manifest fields, icons, service worker with a fetch handler, secure context)
                once the service worker controls the page.

The last line is one JSON object: initial_js_gzip_kb, lighthouse_performance,
lighthouse_accessibility, lighthouse_best_practices (the lowest of the two pages each),
installable, and the per-page figures.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import msgspec  # noqa: E402

from protocol import messages as m  # noqa: E402
from tests.fakes.authenticator import SoftAuthenticator  # noqa: E402
from tests.fakes.scripted_relay import publish  # noqa: E402
from tests.harness import ServerProcess, free_port, wait_until  # noqa: E402
from tests.pwa.build import ensure_built  # noqa: E402

LIGHTHOUSE = "lighthouse@12.8.2"  # 13.x needs Node >= 22; Debian bookworm ships Node 20
CHROMIUM = "/usr/bin/chromium"
LIGHTHOUSE_TIMEOUT_S = 240
LIGHTHOUSE_ATTEMPTS = 3
TARGET_JS_KB = 60.0
GOLDEN = ROOT / "tests" / "golden" / "claude"
RECORDED = ("text_and_thinking", "write_approved", "edit_approved_for_session")
CATEGORIES = ("performance", "accessibility", "best-practices")
METRICS = (
    "first-contentful-paint",
    "largest-contentful-paint",
    "total-blocking-time",
    "cumulative-layout-shift",
    "speed-index",
)


# ---------------------------------------------------------------------------- initial JS


class _Entry(HTMLParser):
    """The script files index.html loads up front: module entries and modulepreloads."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "script" and a.get("src"):
            self.scripts.append(str(a["src"]))
        elif tag == "link" and a.get("rel") == "modulepreload" and a.get("href"):
            self.scripts.append(str(a["href"]))


def initial_js(dist: Path) -> list[tuple[str, int, int]]:
    """(file, bytes, gzipped bytes) of each script index.html loads before first paint."""
    parser = _Entry()
    parser.feed((dist / "index.html").read_text())
    out = []
    for src in dict.fromkeys(parser.scripts):
        data = (dist / src.lstrip("/")).read_bytes()
        out.append((src, len(data), len(gzip.compress(data, compresslevel=9))))
    return out


# ---------------------------------------------------------------------------- the server


def _recorded_events() -> list[m.Event]:
    events: list[m.Event] = [
        m.SessionStarted(agent="claude", workspace="work", title="bench: recorded Claude turns")
    ]
    for name in RECORDED:
        events.append(m.UserPrompt(text=f"({name.replace('_', ' ')})", user="olivia"))
        for body in json.loads((GOLDEN / f"{name}.events.json").read_text()):
            events.append(msgspec.convert(body, m.Event))  # type: ignore[arg-type]
    return events


def _sign_up_owner(server: ServerProcess, origin: str) -> str:
    """The owner's session cookie, from a real passkey ceremony with a software authenticator."""
    wait_until(lambda: "/setup#" in server.log(), 10, "the setup link")
    token = re.findall(r"/setup#(\S+)", server.log())[-1]
    with httpx.Client(base_url=server.url, headers={"origin": origin}, timeout=10) as http:
        options = http.post(
            "/api/auth/register/options", json={"token": token, "user_name": "olivia"}
        )
        options.raise_for_status()
        key = SoftAuthenticator(origin)
        done = http.post(
            "/api/auth/register/verify", json={"credential": key.register(options.json())}
        )
        done.raise_for_status()
        return str(done.cookies["tether_session"])


# ---------------------------------------------------------------------------- Lighthouse


def _lighthouse_bin() -> Path:
    version = LIGHTHOUSE.split("@", 1)[1]
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    directory = cache / "tether" / f"lighthouse-{version}"
    marker = directory / ".installed"
    if not marker.exists():
        print(f"installing {LIGHTHOUSE} into {directory}...", file=sys.stderr)
        directory.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                "npm",
                "install",
                "--prefix",
                str(directory),
                "--no-audit",
                "--no-fund",
                "--loglevel=error",
                LIGHTHOUSE,
            ],
            check=True,
            timeout=600,
        )
        marker.touch()
    return directory / "node_modules" / ".bin" / "lighthouse"


def _signed_in_profile(profile: Path, origin: str, cookie: str) -> None:
    """A Chromium profile holding the owner's session cookie (Lighthouse's --extra-headers
    would not reach the app's WebSocket, which then signs the page out)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, args=["--no-sandbox", "--password-store=basic"]
        )
        expires = time.time() + 3600  # a session cookie would not be written to the profile
        jar = {"name": "tether_session", "value": cookie, "url": origin, "expires": expires}
        context.add_cookies([jar])  # type: ignore[list-item]
        context.close()


@contextlib.contextmanager
def _chromium(profile: Path) -> Iterator[int]:
    """Headless Chromium on that profile with a DevTools port, for Lighthouse's --port."""
    port = free_port()
    argv = [
        CHROMIUM,
        "--headless=new",
        "--no-sandbox",
        "--password-store=basic",  # as Playwright wrote the cookie
        f"--user-data-dir={profile}",
        f"--remote-debugging-port={port}",
        "about:blank",
    ]
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:

        def listening() -> bool:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/version", timeout=1):
                    return True
            except OSError:
                return False

        wait_until(listening, 20, "chromium's DevTools port")
        yield port
    finally:
        process.terminate()
        process.wait(10)


def lighthouse(url: str, profile: Path, out: Path) -> dict[str, Any]:
    """Run Lighthouse (mobile, the default form factor) and return its JSON report."""
    for attempt in range(1, LIGHTHOUSE_ATTEMPTS + 1):
        with _chromium(profile) as port:
            argv = [
                str(_lighthouse_bin()),
                url,
                "--quiet",
                "--output=json",
                f"--output-path={out}",
                "--only-categories=" + ",".join(CATEGORIES),
                f"--port={port}",
            ]
            # Lighthouse now and then loses the trace of a load on a busy machine (NO_NAVSTART)
            done = subprocess.run(argv, timeout=LIGHTHOUSE_TIMEOUT_S, check=False)
        if done.returncode == 0:
            report = dict(json.loads(out.read_text()))
            shown = str(report.get("finalDisplayedUrl", ""))
            if shown != url:  # e.g. /login: the session cookie was not accepted
                raise RuntimeError(f"lighthouse measured {shown}, not {url}")
            return report
        print(f"lighthouse failed on {url} (attempt {attempt})", file=sys.stderr)
    raise RuntimeError(f"lighthouse failed {LIGHTHOUSE_ATTEMPTS} times on {url}")


def scores(report: dict[str, Any]) -> dict[str, int]:
    return {
        name: round((category["score"] or 0) * 100)
        for name, category in report["categories"].items()
    }


def failing_audits(report: dict[str, Any]) -> list[str]:
    """Audits of the scored categories that lost points, worst first."""
    audits = report["audits"]
    failing = []
    for category in report["categories"].values():
        for ref in category["auditRefs"]:
            audit = audits[ref["id"]]
            score = audit.get("score")
            if ref.get("weight", 0) > 0 and score is not None and score < 0.9:
                shown = audit.get("displayValue") or ""
                failing.append(
                    (score, f"{category['id']}: {ref['id']} {score:.2f} {shown}".strip())
                )
    return [text for _, text in sorted(failing)]


# ---------------------------------------------------------------------------- installability


def installability(origin: str, cookie: str, profile: Path) -> dict[str, Any]:
    """Chromium's installability errors for the dashboard, once its service worker is active
    (a persistent profile: Chromium never offers to install from an incognito context)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, args=["--no-sandbox"], base_url=origin
        )
        try:
            context.add_cookies([{"name": "tether_session", "value": cookie, "url": origin}])
            page = context.new_page()
            page.goto("/")
            registered = page.evaluate(
                """() => Promise.race([
                    navigator.serviceWorker.ready.then(() => true),
                    new Promise((ok) => setTimeout(() => ok(false), 10000)),
                  ])"""
            )
            page.reload()  # so the worker controls the page, as on a second visit
            controlled = page.evaluate("navigator.serviceWorker.controller !== null")
            cdp = context.new_cdp_session(page)
            errors = cdp.send("Page.getInstallabilityErrors")["installabilityErrors"]
            manifest = cdp.send("Page.getAppManifest")
            return {
                "installable": not errors and bool(registered) and bool(controlled),
                "service_worker_ready": bool(registered),
                "service_worker_controls_page": bool(controlled),
                "errors": [e["errorId"] for e in errors],
                "manifest_url": manifest.get("url", ""),
                "manifest_errors": [e["message"] for e in manifest.get("errors", [])],
            }
        finally:
            context.close()


# ---------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-lighthouse", action="store_true", help="only the JS size")
    args = parser.parse_args()

    dist = ensure_built()
    files = initial_js(dist)
    total_kb = sum(z for _, _, z in files) / 1024
    print("initial JS (index.html's entry and modulepreloads), gzip -9:")
    for name, raw, zipped in files:
        print(f"  {name:48} {raw / 1024:8.1f} KB  {zipped / 1024:7.1f} KB gzipped")
    verdict = "ok" if total_kb <= TARGET_JS_KB else "OVER TARGET"
    print(f"  total {total_kb:.1f} KB gzipped (target <= {TARGET_JS_KB:.0f} KB: {verdict})")
    result: dict[str, Any] = {"initial_js_gzip_kb": round(total_kb, 1)}
    if args.no_lighthouse:
        print(json.dumps(result))
        return

    with tempfile.TemporaryDirectory(prefix="tether-bench-pwa-") as tmp:
        server = ServerProcess(Path(tmp) / "server")
        server.data_dir.mkdir(parents=True)
        relay_token = server.create_relay_token("bench")
        server.start()
        try:
            origin = f"http://localhost:{server.port}"
            cookie = _sign_up_owner(server, origin)
            session_id = "bench-recorded-claude-session-1"
            publish(server.url, relay_token, session_id, _recorded_events())
            pages = {"dashboard": "/", "session": f"/sessions/{session_id}"}
            figures: dict[str, dict[str, int]] = {}
            for name, path in pages.items():
                started = time.monotonic()
                profile = Path(tmp) / f"profile-{name}"
                _signed_in_profile(profile, origin, cookie)
                report = lighthouse(origin + path, profile, Path(tmp) / f"{name}.json")
                figures[name] = scores(report)
                print(
                    f"\nLighthouse, {name} ({path}), {time.monotonic() - started:.0f} s: "
                    + ", ".join(f"{k} {v}" for k, v in figures[name].items())
                )
                audits = report["audits"]
                shown = (f"{m} {audits[m].get('displayValue', '?')}" for m in METRICS)
                print("  " + ", ".join(shown))
                for line in failing_audits(report):
                    print(f"  - {line}")
            install = installability(origin, cookie, Path(tmp) / "profile-install")
            print(f"\ninstallable: {install['installable']} {json.dumps(install)}")
        finally:
            server.stop()

    for category in CATEGORIES:
        key = "lighthouse_" + category.replace("-", "_")
        result[key] = min(f.get(category, 0) for f in figures.values())
        for name, f in figures.items():
            result[f"{key}_{name}"] = f.get(category, 0)
    result["installable"] = install["installable"]
    print(json.dumps(result))


if __name__ == "__main__":
    main()
