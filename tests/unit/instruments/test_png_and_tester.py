"""The PNG writer decodes as a PNG; the strike tester prints a ladder and saves a picture."""

from __future__ import annotations

import datetime as dt
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from actors.instruments.png import PNG_SIGNATURE, encode_png, ladder_png
from actors.instruments.tester import Inputs, interactive, ladder_for, markdown_table, render_report

ROOT = Path(__file__).resolve().parents[3]


def decode_png(data: bytes) -> tuple[int, int, bytes]:
    """Check signature, chunk CRCs and layout; return width, height and the raw RGB rows."""
    assert data[:8] == PNG_SIGNATURE
    offset, chunks = 8, []
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset:offset + 4])
        kind, body = data[offset + 4:offset + 8], data[offset + 8:offset + 8 + length]
        (crc,) = struct.unpack(">I", data[offset + 8 + length:offset + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF, kind
        chunks.append((kind, body))
        offset += 12 + length
    assert offset == len(data)
    assert [k for k, _ in chunks][0] == b"IHDR" and chunks[-1] == (b"IEND", b"")
    width, height, depth, colour, compression, filtering, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    assert (depth, colour, compression, filtering, interlace) == (8, 2, 0, 0, 0)
    raw = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    assert len(raw) == height * (1 + 3 * width)
    rows = b"".join(raw[y * (1 + 3 * width) + 1:(y + 1) * (1 + 3 * width)] for y in range(height))
    assert all(raw[y * (1 + 3 * width)] == 0 for y in range(height))
    return width, height, rows


def test_encode_png_round_trips_pixels() -> None:
    pixels = bytes((x * 40) % 256 for x in range(3 * 2 * 3))
    assert decode_png(encode_png(3, 2, pixels)) == (3, 2, pixels)
    with pytest.raises(ValueError):
        encode_png(3, 2, b"\x00" * 5)


def test_ladder_png_has_the_requested_size_and_colours() -> None:
    inputs = Inputs("BTC", 86000.0, 0.5, 15.0)
    ladder = ladder_for(inputs)
    width, height, rows = decode_png(ladder_png(ladder.strikes, ladder.buckets, ladder.call_deltas, 86000.0,
                                                width=640, height=240))
    assert (width, height) == (640, 240)
    pixels = {rows[i:i + 3] for i in range(0, len(rows), 3)}
    assert {bytes((230, 110, 30)), bytes((40, 110, 210)), bytes((210, 20, 20))} <= pixels


def test_report_lists_strikes_distances_intervals_and_names() -> None:
    inputs = Inputs("BTC", 86000.0, 0.5, 15.0)
    report = render_report(inputs, ladder_for(inputs), "20AUG25")
    assert "atm 2,000 / outer 5,000 / wings 10,000" in report
    assert "75,000       -11,000   -12.79%  outer" in report
    assert "BTC_USDC-20AUG25-86000-C" in report and "Distribution" in report and "#" in report
    table = markdown_table(inputs, ladder_for(inputs))
    assert "| 100,000 | +14,000 | +16.28% | wings | 0.075 |" in table


def test_arb_report_uses_three_decimal_names() -> None:
    inputs = Inputs("ARB", 0.4, 0.8, 15.0)
    assert "ARB_USDC-20AUG25-0d400-C" in render_report(inputs, ladder_for(inputs), "20AUG25")


def test_interactive_menu_keeps_values_on_enter_and_saves_a_png(tmp_path: Path) -> None:
    target = tmp_path / "eth.png"
    answers = iter(["e", "eth", "", "0.7", "", "p", str(target), "q"])
    printed: list[str] = []
    interactive(Inputs(), dt.date(2025, 8, 5), read=lambda prompt: next(answers), write=printed.append)
    text = "\n".join(printed)
    assert "Strike ladder  ETH  spot 3,200  vol 70.0% (flat)  15 days" in text
    assert decode_png(target.read_bytes())[:2] == (900, 360)


def test_tester_runs_as_a_subprocess(tmp_path: Path) -> None:
    target = tmp_path / "btc.png"
    done = subprocess.run(
        [sys.executable, "-m", "actors.instruments.tester", "--market", "BTC", "--spot", "86000", "--vol", "0.5",
         "--days", "15", "--png", str(target), "--today", "2025-08-05"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "BTC_USDC-20AUG25-86000-C" in done.stdout
    for strike in ("75,000", "84,000", "86,000", "88,000", "100,000"):
        assert strike in done.stdout
    assert decode_png(target.read_bytes())[:2] == (900, 360)


def test_tester_refuses_bad_values() -> None:
    done = subprocess.run([sys.executable, "-m", "actors.instruments.tester", "--spot", "-5"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "spot must be > 0" in done.stderr
