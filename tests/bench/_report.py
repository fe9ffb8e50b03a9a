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
            f"{self.baseline_value:,.1f} {self.unit} | ratio {self.ratio:.2f} ({better} is better)"
        )


def emit(results: list[BenchResult]) -> None:
    """Print each result; append JSON lines to $BENCH_RESULTS when the report runner asks."""
    sink = os.environ.get("BENCH_RESULTS")
    for result in results:
        print(result.line(), flush=True)
        if sink:
            with open(sink, "a", encoding="utf-8") as fh:
                fh.write(json.dumps({**attrs.asdict(result), "ratio": result.ratio}) + "\n")
