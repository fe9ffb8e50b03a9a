"""The seeded Dhan market model: determinism, listing windows, quotes, controls, day roll."""

from __future__ import annotations

from datetime import date

import pytest

from adapters.sim.dhan_bodies import option_chain_body
from adapters.sim.dhan_market import DhanMarket, start_of_day_s
from adapters.sim.dhan_universe import select_underlyings

DAY = date(2025, 10, 14)


def _market(seed: int = 11, symbols: tuple[str, ...] = ("NIFTY", "SENSEX"), **kw: object) -> DhanMarket:
    return DhanMarket(seed=seed, time_s=start_of_day_s(DAY), specs=select_underlyings(symbols), **kw)  # type: ignore[arg-type]


def _run(market: DhanMarket, steps: list[float]) -> dict:
    for dt_s in steps:
        market.step(dt_s)
    return {symbol: [option_chain_body(market, symbol, e) for e in market.expiries(symbol)[:2]]
            for symbol in market.underlyings}


STEPS = [0.5] * 30 + [7.0, 0.1, 60.0]


def test_same_seed_and_steps_give_the_same_market() -> None:
    assert _run(_market(), STEPS) == _run(_market(), STEPS)


def test_other_seed_gives_another_market() -> None:
    a, b = _market(1), _market(2)
    _run(a, STEPS), _run(b, STEPS)
    assert a.underlying("NIFTY").price != b.underlying("NIFTY").price


def test_adding_an_underlying_does_not_shift_another() -> None:
    alone, together = _market(symbols=("NIFTY",)), _market(symbols=("NIFTY", "SENSEX"))
    assert _run(alone, STEPS)["NIFTY"] == _run(together, STEPS)["NIFTY"]


def test_security_ids_are_unique_and_stable() -> None:
    a, b = _market(), _market(seed=99)
    assert len(a.contracts) == len(set(a.contracts))
    expiry = a.expiries("NIFTY")[1]
    assert a.chain("NIFTY", expiry)[10][1] == b.chain("NIFTY", expiry)[10][1]  # ids do not depend on the seed
    reserved = {state.spec.security_id for state in a.underlyings.values()}
    assert not reserved & set(a.contracts)


@pytest.mark.parametrize("jump_pct", [0.0, 8.0, -8.0])
def test_every_expiry_lists_enough_strikes_around_the_atm(jump_pct: float) -> None:
    market = _market()
    market.jump("NIFTY", jump_pct)
    state = market.underlying("NIFTY")
    atm = round(state.price / 50) * 50
    for expiry in market.expiries("NIFTY"):
        strikes = [strike for strike, legs in market.chain("NIFTY", expiry) if len(legs) == 2]
        assert sum(s < atm for s in strikes) >= 50 and sum(s > atm for s in strikes) >= 49
        assert atm in strikes


def test_quotes_are_consistent() -> None:
    market = _market()
    market.step(1.0)
    zero_legs = 0
    for expiry in market.expiries("NIFTY")[:3]:
        for strike, legs in market.chain("NIFTY", expiry):
            for is_call, sid in legs.items():
                q = market.option_quote(sid)
                if q.ltp == 0:
                    zero_legs += 1
                    continue
                top = q.depth[0]
                assert top.bid_price < q.ltp < top.ask_price
                assert q.low <= q.ltp <= q.high and q.low <= q.open <= q.high
                assert 1.0 < q.iv_pct < 300.0
                assert (0 <= q.delta <= 1) if is_call else (-1 <= q.delta <= 0)
                assert q.oi % 75 == 0 and q.volume % 75 == 0 and q.ltq % 75 == 0
    assert zero_legs > 0  # untraded far legs exist, as on the venue


def test_put_call_parity_holds_at_the_money() -> None:
    market = _market()
    expiry = market.expiries("NIFTY")[3]
    forward = market.underlying("NIFTY").price
    strike, legs = min(market.chain("NIFTY", expiry), key=lambda item: abs(item[0] - forward))
    call, put = market.option_quote(legs[True]), market.option_quote(legs[False])
    assert call.ltp - put.ltp == pytest.approx(forward - strike, abs=0.2)


def test_remove_strikes_leaves_a_gap_that_stays() -> None:
    market = _market()
    expiry = market.expiries("NIFTY")[0]
    assert market.remove_strikes("NIFTY", expiry, [24900, 24950], None) == 4
    assert market.remove_strikes("NIFTY", expiry, [25000], "pe") == 1
    market.jump("NIFTY", 3.0)
    chain = dict(market.chain("NIFTY", expiry))
    assert 24900 not in chain and 24950 not in chain
    assert set(chain[25000]) == {True}
    with pytest.raises(ValueError):
        market.remove_strikes("NIFTY", date(2030, 1, 1), [1], None)


def test_set_expiries_overrides_and_restores_the_calendar() -> None:
    market = _market()
    calendar = market.expiries("NIFTY")
    market.set_expiries("NIFTY", [date(2025, 10, 16)])
    assert market.expiries("NIFTY") == [date(2025, 10, 16)]
    assert len(market.chain("NIFTY", date(2025, 10, 16))) == 121
    market.set_expiries("NIFTY", None)
    assert market.expiries("NIFTY") == calendar


def test_holiday_mode_freezes_the_market() -> None:
    market = _market(holiday_mode=True)
    price = market.underlying("NIFTY").price
    market.step(30.0)
    assert market.underlying("NIFTY").price == price


def test_day_roll_moves_today_to_yesterday_and_drops_expired() -> None:
    market = _market(symbols=("NIFTY",))
    first = market.expiries("NIFTY")[0]
    assert first == DAY
    sid = market.chain("NIFTY", market.expiries("NIFTY")[1])[60][1][True]
    market.step(60.0)
    before = market.option_quote(sid)
    market.step(24 * 3600.0)
    after = market.option_quote(sid)
    assert market.today() == date(2025, 10, 15)
    assert DAY not in market.expiries("NIFTY") and all(c.expiry > DAY for c in market.contracts.values())
    assert after.volume == 0 and after.prev_volume >= before.volume  # volume only grows within a day
    assert after.prev_oi == after.oi
    assert market.underlying("NIFTY").prev_close == market.underlying("NIFTY").open


def test_unknown_underlying_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown underlying"):
        _market().jump("DOGE", 1.0)
