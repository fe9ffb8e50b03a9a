"""Shared reporting for benchmarks: every figure is printed beside its baseline from the same run."""

from __future__ import annotations

import json
import os

import attrs


@attrs.frozen
class BenchResult:
    name: str
    value: float
    unit: str
    baseline_name: str
    baseline_value: float
    higher_is_better: bool = True

    @property
    def ratio(self) -> float:
        return self.value / self.baseline_value if self.baseline_value else float("nan")

    def line(self) -> str:
        better = "higher" if self.higher_is_better else "lower"
        return (
            f"{self.name}: {self.value:,.1f} {self.unit} | baseline {self.baseline_name}: "
            f"{self.baseline_value:,.1f} {self.unit} | ratio {ratio_text(self.ratio)} ({better} is better)"
        )


def ratio_text(ratio: float) -> str:
    """Two decimals, or two significant digits for ratios below 0.1 (0.0012 must not print as 0.00)."""
    return f"{ratio:.2f}" if abs(ratio) >= 0.1 or ratio != ratio else f"{ratio:.2g}"


def emit(results: list[BenchResult]) -> None:
    """Print each result; append JSON lines to $BENCH_RESULTS when the report runner asks."""
    sink = os.environ.get("BENCH_RESULTS")
    for result in results:
        print(result.line(), flush=True)
        if sink:
            with open(sink, "a", encoding="utf-8") as fh:
                fh.write(json.dumps({**attrs.asdict(result), "ratio": result.ratio}) + "\n")
