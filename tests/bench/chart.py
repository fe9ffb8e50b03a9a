"""The benchmark report's picture: one bar per figure, its ratio to the baseline on a log scale.

A bar right of the centre line is better than its baseline, left of it worse (the
direction each figure counts as better is taken into account), green or red accordingly;
the number in front of a bar is the figure's line in report.txt, the one after it its
ratio. Drawn with the engine's own PNG writer: no plotting library is a dependency.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from actors.instruments.png import GRID, INK, Canvas

BETTER, WORSE = (40, 150, 70), (200, 50, 40)
ROW_PX, LEFT_PX, WIDTH_PX, SCALE = 22, 60, 900, 2
DECADES = 3.0  # the bars span 10^-3 .. 10^3 of "better by"


def better_by(result: Any) -> float:
    """How many times better than its baseline a figure is (> 1 better, < 1 worse)."""
    ratio = result["ratio"]
    if not ratio or ratio != ratio or ratio <= 0:
        return 1.0
    return ratio if result.get("higher_is_better", True) else 1.0 / ratio


def report_png(results: Sequence[Any]) -> bytes:
    height = ROW_PX * (len(results) + 2)
    canvas = Canvas(WIDTH_PX, height)
    centre, half = LEFT_PX + (WIDTH_PX - LEFT_PX - 120) // 2, (WIDTH_PX - LEFT_PX - 120) // 2
    for decade in range(-int(DECADES), int(DECADES) + 1):  # grid at every power of ten
        x = centre + int(half * decade / DECADES)
        canvas.rect(x, 0, x, height - 1, GRID)
    canvas.rect(centre, 0, centre, height - 1, INK)
    for i, result in enumerate(results):
        y = ROW_PX * (i + 1)
        factor = better_by(result)
        span = max(-DECADES, min(DECADES, math.log10(factor)))
        end = centre + int(half * span / DECADES)
        canvas.rect(min(centre, end), y, max(centre, end), y + ROW_PX - 8, BETTER if factor >= 1 else WORSE)
        canvas.text(8, y + 2, str(i + 1), scale=SCALE)
        canvas.text(max(centre, end) + 8, y + 2, f"{result['ratio']:.3g}", scale=SCALE)
    return canvas.png()
