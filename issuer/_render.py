"""QR rendering: SVG and PNG straight from zxing-cpp's module matrix.

zxing-cpp encodes (mode segmentation, error correction, mask choice) in C++;
the SVG and PNG writers here are small and linear in the number of modules.
Rendering is not on the issuing path: the service renders on first request
and caches.
"""

from __future__ import annotations

import re
import struct
import zlib

import zxingcpp

__all__ = ["QUIET_ZONE", "qr_matrix", "qr_version", "render_png", "render_svg"]

#: Light modules around the symbol, as ISO/IEC 18004 requires.
QUIET_ZONE = 4
# A light gap (maybe empty) and the dark run after it.
_RUNS = re.compile(b"(\xff*)(\x00+)")


def qr_matrix(text: str, *, ec_level: str = "M") -> tuple[int, bytes]:
    """Encode ``text`` as a QR code; return ``(size, modules)``, modules row-major, 0 = dark."""
    barcode = zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.QRCode, ec_level=ec_level)
    image = memoryview(barcode.to_image(scale=1, add_quiet_zones=False))  # type: ignore[arg-type]
    return image.shape[0] if image.shape else 0, image.tobytes()


def qr_version(text: str, *, ec_level: str = "M") -> int:
    """Return the QR version (1-40) ``text`` encodes to."""
    size, _ = qr_matrix(text, ec_level=ec_level)
    return (size - 17) // 4


def render_svg(text: str, *, ec_level: str = "M") -> str:
    """Return a scalable SVG of the QR code for ``text``.

    One stroked path: per row an absolute move, then for each dark run a
    relative move over the light gap and a horizontal line over the run.
    """
    size, modules = qr_matrix(text, ec_level=ec_level)
    rows = []
    for y in range(size):
        runs = _RUNS.findall(modules, y * size, (y + 1) * size)
        if runs:
            rows.append(f"M{QUIET_ZONE} {y + QUIET_ZONE}.5" + "".join([f"m{len(g)} 0h{len(d)}" for g, d in runs]))
    full = size + 2 * QUIET_ZONE
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {full} {full}" '
        f'shape-rendering="crispEdges"><rect width="{full}" height="{full}" fill="#fff"/>'
        f'<path stroke="#000" d="{"".join(rows)}"/></svg>'
    )


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def render_png(text: str, *, scale: int = 6, ec_level: str = "M") -> bytes:
    """Return a 1-bit greyscale PNG of the QR code, ``scale`` pixels a module."""
    size, modules = qr_matrix(text, ec_level=ec_level)
    full = (size + 2 * QUIET_ZONE) * scale
    row_bytes = (full + 7) // 8
    pad = "1" * (row_bytes * 8 - full)
    quiet = "1" * (QUIET_ZONE * scale)
    bits = {0: "0" * scale, 255: "1" * scale}
    blank = b"\x00" + b"\xff" * row_bytes
    lines = [blank] * (QUIET_ZONE * scale)
    for y in range(size):
        row = quiet + "".join(map(bits.__getitem__, modules[y * size : (y + 1) * size])) + quiet + pad
        lines.extend([b"\x00" + int(row, 2).to_bytes(row_bytes, "big")] * scale)
    lines.extend([blank] * (QUIET_ZONE * scale))
    header = struct.pack(">IIBBBBB", full, full, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(b"".join(lines), 6))
        + _png_chunk(b"IEND", b"")
    )
