"""The server serves the built web app: index.html for the app's paths (never for /api or /ws),
hashed assets as immutable, index.html and sw.js revalidated, gzip and ETags, no path escape,
and a JSON 503 when the app is not built."""

from __future__ import annotations

import asyncio
import gzip
from pathlib import Path

from tests.server.identity_app import running_app

INDEX = b"<!doctype html><title>Tether</title><script type=module src=/assets/index-abc123.js>"
SCRIPT = b"console.log('tether');\n" * 200  # > 1 KiB: served gzipped when asked


def _dist(root: Path) -> Path:
    dist = root / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "icons").mkdir()
    (dist / "index.html").write_bytes(INDEX)
    (dist / "assets" / "index-abc123.js").write_bytes(SCRIPT)
    (dist / "sw.js").write_bytes(b"self.addEventListener('fetch', () => {});")
    (dist / "manifest.webmanifest").write_text('{"name": "Tether"}')
    (dist / "icons" / "icon-192.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (root / "secret.txt").write_text("outside dist")
    return dist


def test_app_paths_get_the_shell_and_other_paths_do_not(tmp_path: Path) -> None:
    asyncio.run(_app_paths_get_the_shell_and_other_paths_do_not(tmp_path))


async def _app_paths_get_the_shell_and_other_paths_do_not(tmp_path: Path) -> None:
    dist = _dist(tmp_path)
    async with running_app(tmp_path / "data", pwa_dist=str(dist)) as (client, _):
        for path in (
            "/",
            "/sessions/s1",
            "/sessions/s1/terminal",
            "/approvals",
            "/approvals/s1/a1",
            "/new",
            "/admin",
            "/settings",
            "/login",
            "/setup",
            "/invite",
        ):
            page = await client.get(path)
            assert page.status_code == 200, path
            assert page.content == INDEX
            assert page.headers["content-type"].startswith("text/html")
            assert page.headers["cache-control"] == "no-cache"
            assert "default-src 'self'" in page.headers["content-security-policy"]
        for path in ("/nope", "/sessions", "/api/nope", "/ws/nope", "/sessions/s1/x/y"):
            refused = await client.get(path)
            assert refused.status_code == 404, path
            assert refused.json()["error"]["code"] == "not_found"
        # The API is not shadowed by the fallback.
        assert (await client.get("/api/health")).json()["ok"] is True
        assert (await client.get("/api/sessions")).status_code == 401


def test_cache_headers_types_gzip_and_etags(tmp_path: Path) -> None:
    asyncio.run(_cache_headers_types_gzip_and_etags(tmp_path))


async def _cache_headers_types_gzip_and_etags(tmp_path: Path) -> None:
    dist = _dist(tmp_path)
    async with running_app(tmp_path / "data", pwa_dist=str(dist)) as (client, _):
        asset = await client.get("/assets/index-abc123.js", headers={"accept-encoding": "gzip"})
        assert asset.status_code == 200
        assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert asset.headers["content-type"].startswith("text/javascript")
        assert asset.headers["content-encoding"] == "gzip"
        assert asset.content == SCRIPT  # httpx decodes it
        plain = await client.get("/assets/index-abc123.js", headers={"accept-encoding": "identity"})
        assert "content-encoding" not in plain.headers and plain.content == SCRIPT
        assert len(gzip.compress(SCRIPT)) < len(SCRIPT)

        worker = await client.get("/sw.js")
        assert worker.headers["cache-control"] == "no-cache"
        assert worker.headers["content-type"].startswith("text/javascript")
        manifest = await client.get("/manifest.webmanifest")
        assert manifest.headers["content-type"] == "application/manifest+json"
        icon = await client.get("/icons/icon-192.png")
        assert icon.headers["content-type"] == "image/png"

        etag = (await client.get("/")).headers["etag"]
        again = await client.get("/", headers={"if-none-match": etag})
        assert again.status_code == 304 and again.content == b""
        (dist / "index.html").write_bytes(INDEX + b"<!-- new build -->")
        changed = await client.get("/", headers={"if-none-match": etag})
        assert changed.status_code == 200 and changed.headers["etag"] != etag


def test_no_file_outside_dist_or_hidden(tmp_path: Path) -> None:
    asyncio.run(_no_file_outside_dist_or_hidden(tmp_path))


async def _no_file_outside_dist_or_hidden(tmp_path: Path) -> None:
    dist = _dist(tmp_path)
    (dist / "assets" / ".built").write_text("stamp")
    async with running_app(tmp_path / "data", pwa_dist=str(dist)) as (client, _):
        for path in (
            "/assets/../../secret.txt",
            "/assets/%2e%2e/%2e%2e/secret.txt",
            "/assets/..%2f..%2fsecret.txt",
            "/assets/.built",
            "/assets/",
            "/icons/../index.html",
        ):
            response = await client.get(path)
            assert response.status_code == 404, path
            assert b"outside dist" not in response.content


def test_a_missing_build_is_a_clear_503(tmp_path: Path) -> None:
    asyncio.run(_a_missing_build_is_a_clear_503(tmp_path))


async def _a_missing_build_is_a_clear_503(tmp_path: Path) -> None:
    async with running_app(tmp_path / "data", pwa_dist=str(tmp_path / "nothing")) as (client, _):
        for path in ("/", "/sessions/s1", "/sw.js"):
            response = await client.get(path)
            assert response.status_code == 503, path
            error = response.json()["error"]
            assert error["code"] == "internal"
            assert "npm run build" in error["message"]
        assert (await client.get("/api/health")).status_code == 200
