"""Draw Tether's app icons into pwa/public/icons/ (PNG, standard library only).

    python3 pwa/tools/make_icons.py

The mark: two linked rings on the accent colour, a ring (the agent) tethered to a disc (you).
"any" icons are a rounded square on transparency; "maskable" ones fill the square and keep the
mark inside the central 80 % safe zone, as the manifest spec asks. Edges are anti-aliased from
signed distances, so no supersampling is needed.
"""

from __future__ import annotations

import math
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "public" / "icons"
ACCENT = (31, 95, 209)
INK = (255, 255, 255)


def _png(size: int, pixels: list[bytes]) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    raw = b"".join(b"\x00" + row for row in pixels)
    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)  # 8-bit RGBA
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def _cover(distance: float) -> float:
    """Coverage of a pixel whose centre is `distance` px outside a shape's edge."""
    return min(1.0, max(0.0, 0.5 - distance))


def _rounded_square(size: float, radius: float) -> Callable[[float, float], float]:
    half = size / 2

    def sdf(x: float, y: float) -> float:
        qx = abs(x - half) - (half - radius)
        qy = abs(y - half) - (half - radius)
        outside = math.hypot(max(qx, 0.0), max(qy, 0.0))
        return outside + min(max(qx, qy), 0.0) - radius

    return sdf


def draw(size: int, maskable: bool) -> bytes:
    s = float(size)
    # The mark's geometry in a 32-unit box (as in the header's SVG), scaled into the icon.
    inner = s * (0.62 if maskable else 0.78)  # maskable: inside the 80 % safe circle
    unit = inner / 24.0
    cx, cy = s / 2, s / 2
    left = (cx - 6 * unit, cy)
    right = (cx + 6 * unit, cy)
    ring_r, ring_w = 4.2 * unit, 2.6 * unit
    disc_r = 4.2 * unit
    bar_half_w, bar_half_h = 2.2 * unit, 1.3 * unit
    background = _rounded_square(s, s * 0.22) if not maskable else (lambda x, y: -1.0)

    rows: list[bytes] = []
    for j in range(size):
        row = bytearray()
        y = j + 0.5
        for i in range(size):
            x = i + 0.5
            bg = _cover(background(x, y))
            ring = _cover(abs(math.hypot(x - left[0], y - left[1]) - ring_r) - ring_w / 2)
            disc = _cover(math.hypot(x - right[0], y - right[1]) - disc_r)
            bar = _cover(max(abs(x - cx) - bar_half_w, abs(y - cy) - bar_half_h))
            ink = max(ring, disc, bar)
            r = ACCENT[0] * (1 - ink) + INK[0] * ink
            g = ACCENT[1] * (1 - ink) + INK[1] * ink
            b = ACCENT[2] * (1 - ink) + INK[2] * ink
            row += bytes((round(r), round(g), round(b), round(255 * bg)))
        rows.append(bytes(row))
    return _png(size, rows)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, size, maskable in (
        ("icon-192.png", 192, False),
        ("icon-512.png", 512, False),
        ("maskable-192.png", 192, True),
        ("maskable-512.png", 512, True),
        ("apple-touch-icon.png", 180, True),  # iOS rounds the corners itself
    ):
        (OUT / name).write_bytes(draw(size, maskable))
        print(f"wrote {OUT / name}")


if __name__ == "__main__":
    main()
