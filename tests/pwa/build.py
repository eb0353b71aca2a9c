"""Build the PWA (pwa/ -> pwa/dist) when it is missing or older than its sources.

Used by the browser tests and bench/pwa.py, so neither ever runs against a stale bundle:
`npm ci` when node_modules is missing or older than package-lock.json, then `npm run build`
when any source is newer than dist/index.html.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
PWA = ROOT / "pwa"
DIST = PWA / "dist"
BUILD_TIMEOUT_S = 300
_SOURCES = ("src", "public", "index.html", "package.json", "package-lock.json")
_IGNORED = ("node_modules", "dist")


def _newest(paths: list[Path]) -> float:
    newest = 0.0
    for path in paths:
        if path.is_dir():
            for child in path.rglob("*"):
                if child.is_file() and not any(part in _IGNORED for part in child.parts):
                    newest = max(newest, child.stat().st_mtime)
        elif path.exists():
            newest = max(newest, path.stat().st_mtime)
    return newest


def ensure_built() -> Path:
    """pwa/dist, rebuilt first if needed; raises with npm's output when a step fails."""
    if not (PWA / "package.json").exists():
        raise FileNotFoundError(f"{PWA}/package.json is missing: there is no PWA to build")
    installed = PWA / "node_modules" / ".package-lock.json"
    lock = PWA / "package-lock.json"
    if not installed.exists() or installed.stat().st_mtime < lock.stat().st_mtime:
        _npm("ci", "--no-audit", "--no-fund")
    sources = [PWA / name for name in _SOURCES] + list(PWA.glob("*.config.*"))
    sources += list(PWA.glob("tsconfig*.json"))
    index = DIST / "index.html"
    if not index.exists() or index.stat().st_mtime < _newest(sources):
        _npm("run", "build")
    return DIST


def _npm(*args: str) -> None:
    done = subprocess.run(
        ["npm", *args],
        cwd=PWA,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_S,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"npm {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
        )
