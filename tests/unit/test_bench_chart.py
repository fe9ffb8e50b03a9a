"""The benchmark report's chart: a valid PNG, one row per figure, bars on the better/worse side."""

from __future__ import annotations

import struct
import zlib

from tests.bench.chart import BETTER, WORSE, better_by, report_png


def pixels(png: bytes) -> tuple[int, int, bytes]:
    width, height = struct.unpack(">II", png[16:24])
    idat = png[png.index(b"IDAT") + 4:png.index(b"IEND") - 8]
    raw = zlib.decompress(idat)
    rows = [raw[y * (width * 3 + 1) + 1:(y + 1) * (width * 3 + 1)] for y in range(height)]
    return width, height, b"".join(rows)


def test_better_by_follows_the_direction_of_each_figure() -> None:
    assert better_by({"ratio": 2.0, "higher_is_better": True}) == 2.0
    assert better_by({"ratio": 0.5, "higher_is_better": False}) == 2.0
    assert better_by({"ratio": float("nan")}) == 1.0 and better_by({"ratio": 0}) == 1.0


def test_chart_draws_one_coloured_bar_per_figure() -> None:
    results = [{"ratio": 2.21, "higher_is_better": True}, {"ratio": 1.3, "higher_is_better": False}]
    png = report_png(results)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    width, height, rgb = pixels(png)
    assert (width, height) == (900, 22 * 4)
    colours = {bytes(rgb[i:i + 3]) for i in range(0, len(rgb), 3)}
    assert bytes(BETTER) in colours and bytes(WORSE) in colours
