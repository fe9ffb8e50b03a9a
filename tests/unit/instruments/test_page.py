"""actors.instruments.page: a listing's maturities and ladder picture, redrawn from its own inputs (pure)."""

from __future__ import annotations

import re
import struct

from actors.instruments.actor import MarketListing, MarketResult, MarketState
from actors.instruments.maturities import live_maturities
from actors.instruments.names import names_for
from actors.instruments.page import (
    PNG_HEIGHT, PNG_WIDTH, default_maturity, ladder_picture, listed_ladder, picture_url, render_market, render_markets,
)
from actors.instruments.plan import plan_market
from actors.instruments.service import market_rules
from adapters.sim.svi_feed import sim_svi_params
from engine import keys
from engine.config import InstrumentMarketConfig

NOW_MS = 1_795_245_000_000  # 2026-11-21 07:10 UTC: the first maturity (08:00) is 50 minutes away


def _listing(market: str = "BTC", forward: float = 86_000.0, drop: tuple[str, ...] = ()) -> MarketListing:
    rules = market_rules(market, InstrumentMarketConfig())
    maturities = live_maturities(NOW_MS, rules.policy)
    params = sim_svi_params(NOW_MS / 1000)
    svi = {m.code: (None if m.code in drop else params[keys.svi(market, m.code)]) for m in maturities}
    return MarketListing(rules, NOW_MS, forward, plan_market(rules, maturities, forward, NOW_MS, svi), svi)


def test_the_redrawn_ladder_is_the_listed_one_for_every_market_and_maturity() -> None:
    for market, forward in (("BTC", 86_000.0), ("ETH", 3_200.0), ("ARB", 0.42)):
        listing = _listing(market, forward)
        assert listing.plan.maturities and all(m.ok for m in listing.plan.maturities)
        for outcome in listing.plan.maturities:
            ladder = listed_ladder(listing, outcome.code)
            assert ladder is not None and tuple(names_for(market, outcome.code, ladder.strikes)) == outcome.names
            assert len(ladder.buckets) == len(ladder.call_deltas) == outcome.strikes


def test_the_picture_is_a_png_of_the_page_size() -> None:
    listing = _listing()
    picture = ladder_picture(listing, listing.plan.maturities[3].code)
    assert picture is not None and picture.startswith(b"\x89PNG\r\n\x1a\n")
    assert struct.unpack(">II", picture[16:24]) == (PNG_WIDTH, PNG_HEIGHT)
    assert ladder_picture(listing, "1JAN20") is None


def test_the_default_maturity_is_a_day_away_at_least() -> None:
    listing = _listing()
    first, second = listing.plan.maturities[:2]
    assert first.expiry_ms - NOW_MS < 86_400_000 <= second.expiry_ms - NOW_MS
    assert default_maturity(listing) == second.code
    failed = _listing(drop=tuple(m.code for m in listing.plan.maturities[1:]))
    assert default_maturity(failed) == first.code  # only the near one listed: that one
    assert default_maturity(None) is None


def test_a_market_section_shows_maturities_the_picture_and_failures_escaped() -> None:
    codes = [m.code for m in _listing().plan.maturities]
    bad = codes[4]
    listing = _listing(drop=(bad,))
    third = listing.plan.maturities[2]
    result = MarketResult("BTC", ok=False, error='<img src=x> "boom"')
    html = render_market(MarketState("BTC", NOW_MS + 5, result, listing), third.code)
    assert "<img src" not in html.replace('<img class="ladder"', "") and "&lt;img src=x&gt; &quot;boom&quot;" in html
    assert html.count("<tr data-maturity=") == len(listing.plan.maturities)
    assert re.search(rf'<tr data-maturity="{third.code}" class="selected">', html)
    assert f'src="{picture_url("BTC", third.code, NOW_MS).replace("&", "&amp;")}"' in html
    assert "svi:" + bad in html and "missing" in html  # the failed maturity says why
    assert f"{len(listing.plan.maturities) - 1} of {len(listing.plan.maturities)}" in html
    assert "2026-11-21 07:10:00" in html  # the last update
    assert "not listed yet" in render_market(MarketState("ETH"), None)
    assert render_markets([], {}) == '<p class="muted">no market configured</p>'
