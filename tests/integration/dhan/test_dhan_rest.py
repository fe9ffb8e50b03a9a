"""DhanRest against the simulated Dhan over real HTTP: shapes, the shared 3 s lane, retries
of 805 and transient failures, and the errors that must stop at once."""

from __future__ import annotations

from itertools import pairwise

import pytest

from adapters.dhan.errors import DhanConfigError, DhanTokenExpired
from tests.integration.dhan.dhan_support import NIFTY, SendLog, dhan_bed, dhan_rest


async def test_expiries_chain_and_ltp_shapes_with_the_3s_lane() -> None:
    async with dhan_bed() as bed:
        sends = SendLog()
        async with dhan_rest(bed, sends) as rest:
            expiries = await rest.expiry_list(*NIFTY)
            assert expiries == bed.expiries() and expiries == sorted(expiries)
            chain = await rest.option_chain(*NIFTY, expiries[0])
            again = await rest.option_chain(*NIFTY, expiries[1])
            ids = [leg.security_id for legs in chain.strikes.values() for leg in (legs.ce, legs.pe) if leg]
            prices = await rest.ltp({"NSE_FNO": ids[:5], "IDX_I": [13]})
    assert chain.last_price > 0 and len(chain.strikes) > 50 and again.expiry == expiries[1]
    leg = chain.strikes[min(chain.strikes, key=lambda k: abs(k - chain.last_price))].ce
    assert leg is not None and leg.security_id > 0 and 1 < leg.implied_volatility_pct < 100
    assert 0 < leg.greeks.delta < 1 and leg.top_ask_price >= leg.top_bid_price
    assert set(prices) == {("NSE_FNO", sid) for sid in ids[:5]} | {("IDX_I", 13)}
    chain_sends = [t for path, t in sends.sent_s if path.startswith("/v2/optionchain")]
    assert len(chain_sends) == 3
    assert all(b - a >= 3.0 for a, b in pairwise(chain_sends))
    stats = bed.stats()
    assert stats.throttled == 0 and stats.rejected == 0


async def test_an_805_burst_is_retried_within_the_limit() -> None:
    async with dhan_bed() as bed:
        bed.faults().burst("805", 1)
        async with dhan_rest(bed) as rest:
            assert await rest.expiry_list(*NIFTY) == bed.expiries()
            bed.faults().burst("805", 2)
            assert ("IDX_I", 13) in await rest.ltp({"IDX_I": [13]})
        stats = bed.stats()
    assert stats.endpoints["optionchain/expirylist"] == 2 and stats.endpoints["marketfeed/ltp"] == 3
    assert stats.throttled == 0  # every retry respected the venue's own budget
    assert rest.chain_lane.bucket.stats().pauses == 1 and rest.quote_lane.bucket.stats().pauses == 2


async def test_transient_failures_are_retried() -> None:
    async with dhan_bed() as bed:
        bed.faults().burst("5xx", 1)
        bed.faults().burst("malformed", 1)
        async with dhan_rest(bed) as rest:
            assert ("IDX_I", 13) in await rest.ltp({"IDX_I": [13]})
            bed.venues.action("dhan", "fail_option_chain", {"count": 1})
            chain = await rest.option_chain(*NIFTY, bed.expiries()[0])
        stats = bed.stats()
    assert chain.strikes and stats.endpoints["marketfeed/ltp"] == 3 and stats.endpoints["optionchain"] == 2
    assert stats.throttled == 0


async def test_expired_token_raises_at_once_without_retries() -> None:
    async with dhan_bed() as bed:
        bed.venues.action("dhan", "expire_token")
        async with dhan_rest(bed) as rest:
            with pytest.raises(DhanTokenExpired) as raised:
                await rest.option_chain(*NIFTY, bed.expiries()[0])
        assert raised.value.code == 807
        assert bed.stats().endpoints["optionchain"] == 1


async def test_unknown_expiry_is_a_config_error_without_retries() -> None:
    async with dhan_bed() as bed:
        async with dhan_rest(bed) as rest:
            with pytest.raises(DhanConfigError) as raised:
                await rest.option_chain(*NIFTY, "2030-01-01")
        assert raised.value.code == 811 and bed.stats().endpoints["optionchain"] == 1


async def test_holiday_chain_has_last_price_zero() -> None:
    async with dhan_bed() as bed:
        bed.venues.action("dhan", "holiday_mode", {"on": True})
        async with dhan_rest(bed) as rest:
            chain = await rest.option_chain(*NIFTY, bed.expiries()[0])
    assert chain.last_price == 0 and chain.strikes
