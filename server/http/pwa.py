"""The web app: the built files of pwa/ (pwa/dist) and index.html for the app's own paths.

Hashed files under /assets never change, so browsers keep them for a year (immutable);
index.html, /sw.js and the other unhashed files are revalidated on every use (no-cache, ETag),
so a new build reaches everyone at once. Text files are gzipped once and kept in memory.
Only the paths the app routes (APP_PATHS) fall back to index.html: /api and /ws never do, and
an unknown path is a 404. When pwa/dist is missing the app's paths answer 503 with the usual
JSON error, saying how to build it. Everything here is public: the app shell holds no data.
"""

from __future__ import annotations

import gzip
import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from litestar import Request, Response, get
from litestar.handlers import HTTPRouteHandler

from protocol.codes import ErrorCode
from server.http.error_handlers import error_response
from server.settings import Settings

DEFAULT_DIST = Path(__file__).resolve().parent.parent.parent / "pwa" / "dist"

# The app's routes (pwa/src/main.tsx); each answers with index.html.
APP_PATHS = (
    "/",
    "/sessions/{session_id:str}",
    "/sessions/{session_id:str}/terminal",
    "/approvals",
    "/approvals/{session_id:str}/{approval_id:str}",
    "/new",
    "/admin",
    "/settings",
    "/login",
    "/setup",
    "/invite",
)
# Unhashed files at the root of pwa/dist that may be fetched by name.
ROOT_FILES = ("/sw.js", "/manifest.webmanifest", "/robots.txt")

IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
TYPES = {
    ".html": "text/html",
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".css": "text/css",
    ".json": "application/json",
    ".webmanifest": "application/manifest+json",
    ".map": "application/json",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".ico": "image/x-icon",
    ".webp": "image/webp",
    ".woff2": "font/woff2",
    ".woff": "font/woff",
    ".ttf": "font/ttf",
    ".txt": "text/plain",
    ".wasm": "application/wasm",
}
_COMPRESSIBLE = (".html", ".js", ".mjs", ".css", ".json", ".webmanifest", ".svg", ".map", ".txt")
_MIN_GZIP_BYTES = 1024


def dist_dir(settings: Settings) -> Path:
    return Path(settings.pwa_dist).expanduser() if settings.pwa_dist else DEFAULT_DIST


@dataclass(frozen=True)
class _Entry:
    stamp: tuple[int, int]  # (mtime_ns, size) of the file when read
    body: bytes
    gzipped: bytes | None
    etag: str


class StaticFiles:
    """Files of one directory, read on demand and kept while they do not change on disk."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._cache: dict[Path, _Entry] = {}
        self._lock = threading.Lock()

    def available(self) -> bool:
        return (self.root / "index.html").is_file()

    def locate(self, relative: str) -> Path | None:
        """The file for a URL path below the root, or None (missing, a directory, or outside)."""
        if not relative or "\\" in relative or "\x00" in relative:
            return None
        if any(part in ("", ".", "..") or part.startswith(".") for part in relative.split("/")):
            return None
        root = self.root.resolve()
        path = (root / relative).resolve()
        if not path.is_relative_to(root) or not path.is_file():
            return None
        return path

    def entry(self, path: Path) -> _Entry:
        stat = path.stat()
        stamp = (stat.st_mtime_ns, stat.st_size)
        with self._lock:
            found = self._cache.get(path)
        if found is not None and found.stamp == stamp:
            return found
        body = path.read_bytes()
        gzipped = None
        if path.suffix in _COMPRESSIBLE and len(body) >= _MIN_GZIP_BYTES:
            gzipped = gzip.compress(body, compresslevel=6, mtime=0)
        etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
        found = _Entry(stamp, body, gzipped, etag)
        with self._lock:
            self._cache[path] = found
        return found

    def response(self, request: Request[Any, Any, Any], path: Path, cache: str) -> Response[Any]:
        entry = self.entry(path)
        headers = {
            "cache-control": cache,
            "etag": entry.etag,
            "vary": "accept-encoding",
        }
        if _etag_matches(request.headers.get("if-none-match", ""), entry.etag):
            return Response(b"", status_code=304, headers=headers)
        body = entry.body
        if entry.gzipped is not None and "gzip" in request.headers.get("accept-encoding", ""):
            body = entry.gzipped
            headers["content-encoding"] = "gzip"
        media_type = TYPES.get(path.suffix, "application/octet-stream")
        return Response(body, status_code=200, media_type=media_type, headers=headers)


def _etag_matches(header: str, etag: str) -> bool:
    candidates = [c.strip().removeprefix("W/") for c in header.split(",")]
    return etag in candidates or "*" in candidates


def _not_built(root: Path) -> Response[Any]:
    return error_response(
        503,
        ErrorCode.INTERNAL,
        f"the web app is not built ({root} has no index.html): run `npm ci && npm run build` "
        "in pwa/, or start Tether with scripts/start, which does it",
    )


def _not_found() -> Response[Any]:
    return error_response(404, ErrorCode.NOT_FOUND, "no such file")


def pwa_handlers(settings: Settings) -> list[HTTPRouteHandler]:
    """The route handlers serving the web app from `dist_dir(settings)`."""
    files = StaticFiles(dist_dir(settings))

    @get(list(APP_PATHS), include_in_schema=False, sync_to_thread=False)
    def app_page(request: Request[Any, Any, Any]) -> Response[Any]:
        """The app shell for every path the app routes; the app reads the path itself."""
        if not files.available():
            return _not_built(files.root)
        return files.response(request, files.root / "index.html", REVALIDATE)

    @get("/assets/{name:path}", include_in_schema=False, sync_to_thread=False)
    def asset(request: Request[Any, Any, Any], name: str) -> Response[Any]:
        """Hashed build output: the name changes whenever the content does."""
        path = files.locate("assets/" + name.lstrip("/"))
        return files.response(request, path, IMMUTABLE) if path else _not_found()

    @get("/icons/{name:path}", include_in_schema=False, sync_to_thread=False)
    def icon(request: Request[Any, Any, Any], name: str) -> Response[Any]:
        path = files.locate("icons/" + name.lstrip("/"))
        return files.response(request, path, REVALIDATE) if path else _not_found()

    @get(list(ROOT_FILES), include_in_schema=False, sync_to_thread=False)
    def root_file(request: Request[Any, Any, Any]) -> Response[Any]:
        """The service worker and the manifest: fixed names, so always revalidated."""
        path = files.locate(request.url.path.lstrip("/"))
        if path is None:
            return _not_built(files.root) if not files.available() else _not_found()
        return files.response(request, path, REVALIDATE)

    return [app_page, asset, icon, root_file]
