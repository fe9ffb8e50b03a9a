"""The strike tester: see the ladder the engine would list for a market, spot, vol and tenor.

    python -m actors.instruments.tester                      # interactive menu
    python -m actors.instruments.tester --market BTC --spot 86000 --vol 0.5 --days 15 [--png out.png]

The vol is flat (one number, as an operator thinks of it) and the forward is the spot
(r = 0, no basis). ``render_report`` is pure; the shell below does the prompting, the
file writing and the one clock read that dates the sample names.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from typing import Callable, Sequence

import attrs

from actors.instruments.maturities import maturity_code
from actors.instruments.names import STRIKE_DECIMALS, names_for
from actors.instruments.png import ladder_png
from actors.instruments.strikes import StrikeLadder, build_ladder, default_interval_table, time_bucket, vol_regime
from actors.instruments.svi import flat_vol

DEFAULT_SPOTS = {"BTC": 86000.0, "ETH": 3200.0, "ARB": 0.40}
BANDS = 8


@attrs.frozen
class Inputs:
    market: str = "BTC"
    spot: float = 86000.0
    vol: float = 0.5
    days: float = 15.0

    def check(self) -> None:
        if self.market not in STRIKE_DECIMALS:
            raise ValueError(f"market must be one of {', '.join(STRIKE_DECIMALS)}")
        for name in ("spot", "vol", "days"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0")


def ladder_for(inputs: Inputs) -> StrikeLadder:
    inputs.check()
    table = default_interval_table(inputs.market)
    intervals = table.lookup(inputs.days, inputs.vol)
    return build_ladder(inputs.spot, inputs.days / 365.0, flat_vol(inputs.vol), intervals)


def _fmt(market: str, value: float) -> str:
    return f"{value:,.{STRIKE_DECIMALS.get(market, 3)}f}"


def distribution(ladder: StrikeLadder, market: str, bands: int = BANDS) -> list[str]:
    """A text histogram: strikes per equal price band, ``#`` per strike, bucket letters."""
    lo, hi = ladder.strikes[0], ladder.strikes[-1]
    width = (hi - lo) / bands or 1.0
    counts: list[list[str]] = [[] for _ in range(bands)]
    for strike, bucket in zip(ladder.strikes, ladder.buckets):
        counts[min(int((strike - lo) / width), bands - 1)].append(bucket)
    lines = []
    for i, found in enumerate(counts):
        start, end = lo + i * width, lo + (i + 1) * width
        spot_mark = " <- forward" if start <= ladder.forward < end or (i == bands - 1 and ladder.forward == end) else ""
        bar = "".join({"atm": "#", "outer": "+", "wings": "."}[b] for b in found)
        lines.append(f"  {_fmt(market, start):>12} .. {_fmt(market, end):<12} |{bar:<24} {len(found):>3}{spot_mark}")
    per_bucket = {b: ladder.buckets.count(b) for b in ("atm", "outer", "wings")}
    lines.append("  legend: # atm  + outer  . wings   per bucket: "
                 + "  ".join(f"{b} {n}" for b, n in per_bucket.items()))
    return lines


def render_report(inputs: Inputs, ladder: StrikeLadder, code: str) -> str:
    """Everything the tester prints for one ladder (pure, so tests can read it)."""
    m, iv, e = inputs.market, ladder.intervals, ladder.edges
    bucket = time_bucket(inputs.days)
    table = default_interval_table(m)
    regime = vol_regime(inputs.vol, table.vol_threshold)
    plain = (iv.atm, iv.outer, iv.wings)
    steps = "" if ladder.steps_up == plain == ladder.steps_down else (
        f"  (widened: above {' / '.join(_fmt(m, s) for s in ladder.steps_up)},"
        f" below {' / '.join(_fmt(m, s) for s in ladder.steps_down)})")
    out = [
        f"Strike ladder  {m}  spot {_fmt(m, inputs.spot)}  vol {inputs.vol:.1%} (flat)  "
        f"{inputs.days:g} days (T = {ladder.expiry_years:.4f} y)  maturity {code}",
        f"Intervals: {bucket} / {regime} (ATM IV {inputs.vol:.1%} vs threshold {table.vol_threshold:.0%}): "
        f"atm {_fmt(m, iv.atm)} / outer {_fmt(m, iv.outer)} / wings {_fmt(m, iv.wings)}{steps}",
        "Delta edges: " + "  ".join(f"K({d})={_fmt(m, k)}" for d, k in (
            ("0.9", e.k90), ("0.8", e.k80), ("0.6", e.k60), ("0.4", e.k40), ("0.2", e.k20), ("0.1", e.k10))),
        "",
        f"  {'#':>3}  {'strike':>12}  {'from spot':>12}  {'%':>8}  {'bucket':<6}  {'call delta':>10}",
    ]
    for n, (strike, label, delta) in enumerate(ladder.rows(), 1):
        gap = strike - inputs.spot
        out.append(f"  {n:>3}  {_fmt(m, strike):>12}  {('+' if gap > 0 else '') + _fmt(m, gap):>12}  "
                   f"{gap / inputs.spot:>+8.2%}  {label:<6}  {delta:>10.3f}")
    out += ["", f"{len(ladder.strikes)} strikes, {2 * len(ladder.strikes)} instruments", "",
            "Distribution (strikes per price band):"] + distribution(ladder, m)
    nearest = min(ladder.strikes, key=lambda k: (abs(k - inputs.spot), k))
    sample = dict.fromkeys((ladder.strikes[0], nearest, ladder.strikes[-1]))
    out += ["", "Sample names:"] + [f"  {name}" for name in names_for(m, code, sample)]
    return "\n".join(out)


def markdown_table(inputs: Inputs, ladder: StrikeLadder) -> str:
    """The README table of a ladder: strike, distance from spot, bucket, call delta."""
    m = inputs.market
    rows = ["| strike | from spot | from spot % | bucket | call delta |", "|---:|---:|---:|:---|---:|"]
    for strike, label, delta in ladder.rows():
        gap = strike - inputs.spot
        rows.append(f"| {_fmt(m, strike)} | {('+' if gap > 0 else '') + _fmt(m, gap)} | "
                    f"{gap / inputs.spot:+.2%} | {label} | {delta:.3f} |")
    return "\n".join(rows)


def _code_for(days: float, today: dt.date) -> str:
    return maturity_code(today + dt.timedelta(days=round(days)))


def _parse_value(current: Inputs, field: str, text: str) -> Inputs:
    if field == "market":
        market = text.strip().upper()
        spot = DEFAULT_SPOTS.get(market, current.spot) if market != current.market else current.spot
        return attrs.evolve(current, market=market, spot=spot)
    return attrs.evolve(current, **{field: float(text)})


def interactive(inputs: Inputs, today: dt.date, read: Callable[[str], str] = input,
                write: Callable[[str], None] = print) -> None:
    """The menu: edit values (Enter keeps each), generate, save a PNG, quit."""
    ladder = None
    while True:
        write(f"\n[{inputs.market}  spot {inputs.spot:g}  vol {inputs.vol:g}  days {inputs.days:g}]"
              "  e) edit values  g) generate  p) save PNG  q) quit")
        try:
            choice = read("> ").strip().lower()
        except EOFError:
            return
        if choice in ("q", "quit", "exit"):
            return
        if choice in ("e", "edit"):
            for field, prompt in (("market", "market (BTC/ETH/ARB)"), ("spot", "spot"),
                                  ("vol", "volatility (0.5 = 50%)"), ("days", "days to expiry")):
                try:
                    text = read(f"{prompt} [{getattr(inputs, field)}]: ")
                except EOFError:
                    return
                if text.strip():
                    try:
                        candidate = _parse_value(inputs, field, text)
                        candidate.check()
                        inputs = candidate
                    except ValueError as error:
                        write(f"  kept {getattr(inputs, field)}: {error}")
            choice = "g"
        if choice in ("g", "generate", ""):
            try:
                ladder = ladder_for(inputs)
            except ValueError as error:
                write(f"cannot generate: {error}")
                continue
            write(render_report(inputs, ladder, _code_for(inputs.days, today)))
        elif choice in ("p", "png"):
            ladder = ladder or ladder_for(inputs)
            try:
                path = read(f"PNG file [strikes_{inputs.market}.png]: ").strip() or f"strikes_{inputs.market}.png"
            except EOFError:
                return
            _save_png(path, inputs, ladder)
            write(f"saved {path}")


def _save_png(path: str, inputs: Inputs, ladder: StrikeLadder) -> None:
    with open(path, "wb") as out:
        out.write(ladder_png(ladder.strikes, ladder.buckets, ladder.call_deltas, inputs.spot))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m actors.instruments.tester", description=__doc__.splitlines()[0])
    parser.add_argument("--market", type=str.upper, choices=sorted(STRIKE_DECIMALS))
    parser.add_argument("--spot", type=float)
    parser.add_argument("--vol", type=float, help="flat implied vol, 0.5 = 50%%")
    parser.add_argument("--days", type=float, help="days to expiry")
    parser.add_argument("--png", help="also save the ladder as a PNG picture here")
    parser.add_argument("--markdown", action="store_true", help="print the ladder as a Markdown table")
    parser.add_argument("--today", type=dt.date.fromisoformat, help="date the sample names (default: today, UTC)")
    args = parser.parse_args(argv)
    market = args.market or "BTC"
    inputs = Inputs(market, args.spot or DEFAULT_SPOTS[market], args.vol or 0.5, args.days or 15.0)
    today = args.today or dt.datetime.now(dt.timezone.utc).date()
    if not any((args.market, args.spot, args.vol, args.days, args.png, args.markdown)):
        interactive(inputs, today)
        return 0
    try:
        ladder = ladder_for(inputs)
    except ValueError as error:
        print(f"cannot generate: {error}", file=sys.stderr)
        return 2
    print(markdown_table(inputs, ladder) if args.markdown else render_report(inputs, ladder, _code_for(inputs.days, today)))
    if args.png:
        _save_png(args.png, inputs, ladder)
        print(f"saved {args.png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
