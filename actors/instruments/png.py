"""A tiny PNG writer and the strike-ladder chart, with zlib + struct only.

No plotting library ships with the engine, and the strike tester only needs one
picture: strikes along the price axis as bars whose height is the call delta, coloured
by bucket, the spot as a red dashed line, a few labels in a 3x5 pixel font.
Pure: returns bytes; the caller decides where they go.
"""

from __future__ import annotations

import struct
import zlib
from typing import Sequence

Colour = tuple[int, int, int]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
BUCKET_COLOURS: dict[str, Colour] = {"atm": (230, 110, 30), "outer": (40, 110, 210), "wings": (120, 120, 120)}
BACKGROUND: Colour = (255, 255, 255)
INK: Colour = (30, 30, 30)
GRID: Colour = (225, 225, 225)
SPOT: Colour = (210, 20, 20)

_FONT = {  # 3x5 glyphs, rows top to bottom
    "0": ("111", "101", "101", "101", "111"), "1": ("010", "110", "010", "010", "111"),
    "2": ("111", "001", "111", "100", "111"), "3": ("111", "001", "111", "001", "111"),
    "4": ("101", "101", "111", "001", "001"), "5": ("111", "100", "111", "001", "111"),
    "6": ("111", "100", "111", "101", "111"), "7": ("111", "001", "010", "010", "010"),
    "8": ("111", "101", "111", "101", "111"), "9": ("111", "101", "111", "001", "111"),
    ".": ("000", "000", "000", "000", "010"), "-": ("000", "000", "111", "000", "000"),
    " ": ("000", "000", "000", "000", "000"), "A": ("010", "101", "111", "101", "101"),
    "B": ("110", "101", "110", "101", "110"), "C": ("111", "100", "100", "100", "111"),
    "D": ("110", "101", "101", "101", "110"), "E": ("111", "100", "110", "100", "111"),
    "G": ("111", "100", "101", "101", "111"), "I": ("111", "010", "010", "010", "111"),
    "L": ("100", "100", "100", "100", "111"), "M": ("101", "111", "111", "101", "101"),
    "N": ("101", "111", "111", "111", "101"), "O": ("111", "101", "101", "101", "111"),
    "P": ("111", "101", "111", "100", "100"), "R": ("110", "101", "110", "101", "101"),
    "S": ("111", "100", "111", "001", "111"), "T": ("111", "010", "010", "010", "010"),
    "U": ("101", "101", "101", "101", "111"), "W": ("101", "101", "111", "111", "101"),
}


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def encode_png(width: int, height: int, rgb: bytes | bytearray) -> bytes:
    """An 8-bit RGB PNG of ``width`` x ``height`` from row-major RGB bytes."""
    if width <= 0 or height <= 0 or len(rgb) != width * height * 3:
        raise ValueError(f"need {width}x{height}x3 = {width * height * 3} bytes of RGB, got {len(rgb)}")
    stride = width * 3
    raw = b"".join(b"\x00" + bytes(rgb[y * stride:(y + 1) * stride]) for y in range(height))  # filter 0
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # depth 8, RGB, no interlace
    return PNG_SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(raw, 9)) + _chunk(b"IEND", b"")


class Canvas:
    """An RGB raster to draw on before encoding (clips everything to the picture)."""

    def __init__(self, width: int, height: int, background: Colour = BACKGROUND) -> None:
        self.width, self.height = width, height
        self.pixels = bytearray(bytes(background) * (width * height))

    def put(self, x: int, y: int, colour: Colour) -> None:
        if 0 <= x < self.width and 0 <= y < self.height:
            i = (y * self.width + x) * 3
            self.pixels[i:i + 3] = bytes(colour)

    def rect(self, x0: int, y0: int, x1: int, y1: int, colour: Colour) -> None:
        """Fill the inclusive rectangle between two corners."""
        for y in range(max(min(y0, y1), 0), min(max(y0, y1), self.height - 1) + 1):
            for x in range(max(min(x0, x1), 0), min(max(x0, x1), self.width - 1) + 1):
                self.put(x, y, colour)

    def text(self, x: int, y: int, text: str, colour: Colour = INK, scale: int = 2) -> None:
        for n, char in enumerate(text.upper()):
            glyph = _FONT.get(char, _FONT[" "])
            for row, bits in enumerate(glyph):
                for col, bit in enumerate(bits):
                    if bit == "1":
                        left, top = x + (n * 4 + col) * scale, y + row * scale
                        self.rect(left, top, left + scale - 1, top + scale - 1, colour)

    def png(self) -> bytes:
        return encode_png(self.width, self.height, self.pixels)


def text_width(text: str, scale: int = 2) -> int:
    return len(text) * 4 * scale


def _label(value: float) -> str:
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.4g}"


def ladder_png(strikes: Sequence[float], buckets: Sequence[str], call_deltas: Sequence[float], spot: float,
               width: int = 900, height: int = 360) -> bytes:
    """The ladder as a picture: x = strike, bar height = call delta, colour = bucket."""
    if not strikes or not (len(strikes) == len(buckets) == len(call_deltas)):
        raise ValueError("need strikes, buckets and call deltas of the same non-zero length")
    canvas = Canvas(width, height)
    left, right, top, bottom = 50, width - 20, 40, height - 50
    lo, hi = min(min(strikes), spot), max(max(strikes), spot)
    pad = (hi - lo) * 0.05 or abs(spot) * 0.05 or 1.0
    lo, hi = lo - pad, hi + pad

    def x_of(price: float) -> int:
        return round(left + (price - lo) / (hi - lo) * (right - left))

    def y_of(delta: float) -> int:
        return round(bottom - delta * (bottom - top))

    for delta in (0.1, 0.5, 0.9):
        canvas.rect(left, y_of(delta), right, y_of(delta), GRID)
        canvas.text(8, y_of(delta) - 5, f"{delta:.1f}")
    canvas.rect(left, bottom, right, bottom, INK)
    canvas.rect(left, top, left, bottom, INK)
    for y in range(top, bottom, 8):
        canvas.rect(x_of(spot), y, x_of(spot), y + 4, SPOT)
    for strike, bucket, delta in zip(strikes, buckets, call_deltas):
        x, colour = x_of(strike), BUCKET_COLOURS.get(bucket, INK)
        canvas.rect(x - 2, min(y_of(delta), bottom - 2), x + 2, bottom - 1, colour)
        canvas.rect(x, bottom + 1, x, bottom + 5, INK)
    for value in (min(strikes), max(strikes)):
        canvas.text(x_of(value) - text_width(_label(value)) // 2, bottom + 10, _label(value))
    spot_text = "SPOT " + _label(spot)
    canvas.text(min(max(x_of(spot) - text_width(spot_text) // 2, 0), width - text_width(spot_text)),
                bottom + 28, spot_text, SPOT)
    x = left
    for bucket, colour in BUCKET_COLOURS.items():
        canvas.rect(x, 12, x + 12, 24, colour)
        canvas.text(x + 18, 14, bucket)
        x += 18 + text_width(bucket) + 24
    canvas.text(x + 20, 14, "CALL DELTA")
    return canvas.png()
