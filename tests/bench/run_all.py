"""`make bench`: run every tests/bench/bench_*.py and write one report, text and PNG chart.

Each figure is printed beside its baseline measured in the same run, as a ratio, because
the machines are shared and noisy: the ratio is what to compare between runs.

``--docs`` also copies the report to docs/bench/ (the copy the README links, which is
committed; bench-report/ is not), and only when every benchmark passed, so a broken run
never replaces it. ``--only bench_a,bench_b`` runs some modules (the report holds theirs;
not with ``--docs``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

from tests.bench._report import ratio_text
from tests.bench.chart import report_png

ROOT = Path(__file__).resolve().parents[2]
REPORT_DIR = ROOT / "bench-report"
DOCS_DIR = ROOT / "docs" / "bench"
REPORT_FILES = ("report.txt", "report.png")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.run_all", description=__doc__.splitlines()[0])
    parser.add_argument("--docs", action="store_true", help="copy the report to docs/bench/ when every bench passed")
    parser.add_argument("--only", default="", help="comma-separated module names (default: every bench_*.py)")
    args = parser.parse_args(argv)
    if args.docs and args.only:
        parser.error("--docs needs every benchmark: the committed report must stay complete")
    REPORT_DIR.mkdir(exist_ok=True)
    sink = REPORT_DIR / "results.jsonl"
    sink.unlink(missing_ok=True)
    modules = sorted(p.stem for p in (ROOT / "tests" / "bench").glob("bench_*.py"))
    if args.only:
        wanted = [name.strip() for name in args.only.split(",") if name.strip()]
        unknown = sorted(set(wanted) - set(modules))
        if unknown:
            parser.error(f"unknown modules {', '.join(unknown)}; known: {', '.join(modules)}")
        modules = [m for m in modules if m in wanted]
    failed = []
    for module in modules:
        print(f"== {module}", flush=True)
        env = {**os.environ, "BENCH_RESULTS": str(sink)}
        proc = subprocess.run([sys.executable, "-m", f"tests.bench.{module}"], cwd=ROOT, env=env)
        if proc.returncode != 0:
            failed.append(module)
    results = [json.loads(line) for line in sink.read_text().splitlines()] if sink.exists() else []
    lines = [
        f"benchmark report {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}",
        f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cores",
        "",
    ]
    for number, r in enumerate(results, start=1):
        better = "higher" if r.get("higher_is_better", True) else "lower"
        lines.append(
            f"{number}. {r['name']}: {r['value']:,.1f} {r['unit']} | baseline {r['baseline_name']}: "
            f"{r['baseline_value']:,.1f} {r['unit']} | ratio {ratio_text(r['ratio'])} ({better} is better)"
        )
    if failed:
        lines.append(f"FAILED: {', '.join(failed)}")
    (REPORT_DIR / "report.txt").write_text("\n".join(lines) + "\n")
    if results:
        (REPORT_DIR / "report.png").write_bytes(report_png(results))
    print(f"\nreport written to {REPORT_DIR.relative_to(ROOT)}/report.txt and report.png (bar n = line n)")
    if args.docs and not failed and results:
        DOCS_DIR.mkdir(parents=True, exist_ok=True)
        for name in REPORT_FILES:
            shutil.copyfile(REPORT_DIR / name, DOCS_DIR / name)
        print(f"copied to {DOCS_DIR.relative_to(ROOT)}/")
    elif args.docs:
        print(f"{DOCS_DIR.relative_to(ROOT)}/ left as it was: a benchmark failed or reported nothing")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
