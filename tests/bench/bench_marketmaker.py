"""Market maker: decision latency per book update, and venue requests beside a naive strategy.

Run: ``python -m tests.bench.bench_marketmaker``. One recorded book sequence, the same for
both strategies: 10 minutes of BTCUSDT-like books every 100 ms (a seeded random walk of the
mid on a 0.1 tick, 20 levels a side; recorded once in memory, so every run and both
strategies see the same books). Every book goes through the whole decision the actor makes
(near ladder on the grid, crossing filter, position limit, refresh plan, order-rate plan);
a round acts on the book of its second (``near_interval_s`` = 1 s).

* decision latency per book update, p50 / p99, beside the book interval (100 ms): the share
  of the interval the strategy's thinking takes;
* requests per minute to the venue (batch place calls + batch cancel calls) of the seed's
  refresh rule (keep orders within ``near_diff_rate_per_round``, replace all every
  ``force_refresh_num`` rounds) beside a naive cancel-all/replace-all every round, and the
  orders placed per minute of each (what the venue's order-rate limits count).
"""

from __future__ import annotations

import random
import statistics
import time
from decimal import Decimal

import attrs

from actors.marketmaker.batches import OrderRateBudget, plan_within
from actors.marketmaker.client_ids import ClientIdFactory
from actors.marketmaker.ladders import Book, SymbolRules, apply_position_limit, filter_crossing, near_ladder
from actors.marketmaker.params import example_pair_json, parse_pair_params
from actors.marketmaker.refresh import LiveOrder, plan_refresh, rounds_after
from tests.bench._report import BenchResult, emit

BOOK_INTERVAL_MS = 100
MINUTES = 10
TICK = Decimal("0.1")
RULES = SymbolRules(tick_size=TICK, step_size=Decimal("0.001"), min_qty=Decimal("0.001"), min_notional=Decimal("100"))


def recorded_books(seed: int = 7) -> list[Book]:
    """The sequence: mid random walk (about 2 bps per step), spread 1-3 ticks, 20 levels."""
    rng, mid = random.Random(seed), Decimal("86000.0")
    books = []
    for i in range(MINUTES * 60_000 // BOOK_INTERVAL_MS):
        mid = (mid * (1 + Decimal(rng.gauss(0, 0.0002)))).quantize(TICK)
        bid = mid - TICK * rng.randint(0, 1)
        ask = bid + TICK * rng.randint(1, 3)
        bids = tuple((bid - TICK * k, Decimal(rng.randint(1, 2000)) / 1000) for k in range(20))
        asks = tuple((ask + TICK * k, Decimal(rng.randint(1, 2000)) / 1000) for k in range(20))
        books.append(Book(bids, asks, i * BOOK_INTERVAL_MS))
    return books


@attrs.define
class Run:
    """One strategy over the sequence: venue calls and orders placed, and each decision's time."""

    diff_rate: float
    force_refresh_num: int
    live: dict[str, LiveOrder] = attrs.field(factory=dict)
    calls: int = 0
    placed: int = 0
    decisions_s: list[float] = attrs.field(factory=list)

    def play(self, books: list[Book], params: object) -> None:
        ids, budget, rounds_since = ClientIdFactory("BTCUSDT", "bench"), OrderRateBudget.from_limits(
            params.order_rate), self.force_refresh_num  # type: ignore[attr-defined]
        per_round = 1000 // BOOK_INTERVAL_MS
        for i, book in enumerate(books):
            started = time.perf_counter()
            wanted = filter_crossing(near_ladder(book, params.near, RULES), book)  # type: ignore[attr-defined]
            wanted = apply_position_limit(wanted, Decimal(0), params.max_position, RULES)  # type: ignore[attr-defined]
            plan = plan_refresh(list(self.live.values()), wanted, self.diff_rate, rounds_since, self.force_refresh_num)
            spent, batches = plan_within(plan, budget, book.ts_ms)
            self.decisions_s.append(time.perf_counter() - started)
            if i % per_round:
                continue  # a round acts on the book of its second; the other books are only decided on
            budget = spent
            for batch in batches.place:
                ids, new_ids = ids.issue(len(batch))
                for quote, cid in zip(batch, new_ids):
                    self.live[cid] = LiveOrder(cid, quote.side, quote.price, quote.qty, quote.ladder)
                self.calls += 1
                self.placed += len(batch)
            for batch in batches.cancel:
                for order in batch:
                    self.live.pop(order.client_id, None)
                self.calls += 1
            rounds_since = rounds_after(plan, rounds_since)


def main() -> None:
    books = recorded_books()
    params = parse_pair_params({**example_pair_json(), "near_interval_s": 1.0})
    seed_rule = Run(params.near_diff_rate_per_round, params.force_refresh_num)
    naive = Run(0.0, 1)
    seed_rule.play(books, params)
    naive.play(books, params)
    decisions_us = sorted(s * 1e6 for s in seed_rule.decisions_s)
    p99_us = decisions_us[int(len(decisions_us) * 0.99)]
    emit([
        BenchResult(f"MM decision per book update, p50 ({len(books):,} books, {params.near.levels} levels a side)",
                    statistics.median(decisions_us), "us", f"book interval ({BOOK_INTERVAL_MS} ms)",
                    BOOK_INTERVAL_MS * 1000.0, higher_is_better=False),
        BenchResult("MM decision per book update, p99", p99_us, "us", f"book interval ({BOOK_INTERVAL_MS} ms)",
                    BOOK_INTERVAL_MS * 1000.0, higher_is_better=False),
        BenchResult(f"MM venue requests/min, seed refresh rule (diff {params.near_diff_rate_per_round}, "
                    f"force every {params.force_refresh_num})", seed_rule.calls / MINUTES, "req/min",
                    "naive cancel-all/replace-all every round", naive.calls / MINUTES, higher_is_better=False),
        BenchResult("MM orders placed/min, seed refresh rule", seed_rule.placed / MINUTES, "orders/min",
                    "naive cancel-all/replace-all", naive.placed / MINUTES, higher_is_better=False),
    ])


if __name__ == "__main__":
    main()
