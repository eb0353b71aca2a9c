"""Build the PWA (pwa/ -> pwa/dist) when its sources changed, as scripts/start does.

The browser tests and bench/pwa.py call this so they never run against a stale bundle, also when
pytest is run directly: it is scripts/bootstrap's `ensure_pwa` (npm ci when package-lock.json
changed, `npm run build` when any source changed; a no-op otherwise).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
DIST = ROOT / "pwa" / "dist"
BUILD_TIMEOUT_S = 600


def ensure_built() -> Path:
    """pwa/dist, rebuilt first if needed; raises with the build's output when it fails."""
    done = subprocess.run(
        ["bash", "-c", "set -euo pipefail; source scripts/bootstrap; ensure_pwa"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_S,
        check=False,
    )
    if done.returncode != 0 or not (DIST / "index.html").exists():
        raise RuntimeError(
            f"building the PWA failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
        )
    return DIST
