"""Skeleton building, security ids and the JSON document round trip."""

from __future__ import annotations

import json

import attrs
import pytest

from actors.optionchain.chain import build_skeleton, from_json, security_ids, to_json
from actors.optionchain.inputs import ChainRow, LegQuote
from tests.unit.optionchain.helpers import snapshot

NOW_MS = 1_767_000_000_000


def test_skeleton_of_an_index_major_chain() -> None:
    chain, window = build_skeleton("NIFTY", "2026-04-30", snapshot(), 24_964.25, "index_major", 75, NOW_MS)
    assert (chain.strike_interval, chain.atm_strike, chain.lot_size) == (50, 24_950, 75)
    assert len(chain.rows) == 100 and window.complete
    strikes = [r.strike for r in chain.rows]
    assert strikes == sorted(strikes) and strikes[50] == 24_950 and strikes[0] == 24_950 - 50 * 50
    assert all(r.ce and r.pe and r.ce.updated_ms == NOW_MS for r in chain.rows)
    assert len(security_ids(chain)) == 200 == len(set(security_ids(chain)))
    assert not chain.stale and chain.built_ms == chain.updated_ms == NOW_MS


def test_skeleton_reports_what_the_venue_cannot_fill() -> None:
    chain, window = build_skeleton("NIFTY", "2026-04-30", snapshot(24_500, 26_000), 25_010, "index_major", 75, NOW_MS)
    assert (window.missing_below, window.missing_above) == (40, 29)
    assert len(chain.rows) == 10 + 21  # only listed strikes, nothing invented


def test_one_sided_and_empty_rows() -> None:
    rows = snapshot(24_800, 25_200)
    rows[0] = attrs.evolve(rows[0], pe=None)
    rows.append(ChainRow(25_250.0))  # no legs at all: not a listed strike
    chain, window = build_skeleton("X", "2026-04-30", rows, 25_000, "stock", 1, NOW_MS)
    assert chain.rows[0].pe is None and chain.rows[-1].strike == 25_200
    assert window.missing_above == 13 - 5
    assert len(security_ids(chain)) == 2 * len(chain.rows) - 1


@pytest.mark.parametrize("ltp", [0, -5, float("nan")])
def test_no_ltp_no_chain(ltp: float) -> None:
    with pytest.raises(ValueError, match="underlying_ltp"):
        build_skeleton("NIFTY", "2026-04-30", snapshot(), ltp, "index_major", 75, NOW_MS)


@pytest.mark.parametrize("expiry", ["30APR26", "2026-4-30", "2026-02-30", None])
def test_expiry_format(expiry: str) -> None:
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        build_skeleton("NIFTY", expiry, snapshot(), 25_000, "index_major", 75, NOW_MS)


def test_duplicate_strikes_refused() -> None:
    rows = snapshot(24_900, 25_100)
    with pytest.raises(ValueError, match="twice"):
        build_skeleton("NIFTY", "2026-04-30", rows + rows[:1], 25_000, "stock", 75, NOW_MS)


def test_json_round_trip_is_served_stale() -> None:
    rows = snapshot(24_800, 25_200)
    rows[2] = attrs.evolve(rows[2], ce=None)
    chain, _ = build_skeleton("NIFTY", "2026-04-30", rows, 24_964.25, "stock", 75, NOW_MS)
    doc = json.loads(json.dumps(to_json(chain), allow_nan=False))
    assert doc["rows"][2]["ce"] is None and isinstance(doc["rows"][0]["ce"]["oi"], int)
    assert doc["underlying_ltp"] == 24_964.25 and doc["stale"] is False and doc["version"] == 1
    back = from_json(doc)
    assert back == attrs.evolve(chain, stale=True)
    assert to_json(back) == {**doc, "stale": True}


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d.pop("rows"), "rows must be a list"),
    (lambda d: d.update(lot_size="75"), "lot_size"),
    (lambda d: d["rows"][0]["ce"].update(oi=None), r"rows\[0\].ce.oi"),
    (lambda d: d.update(expiry="30APR26"), "YYYY-MM-DD"),
    (lambda d: d["rows"].reverse(), "ascending"),
    (lambda d: d.update(version=9), "version"),
])
def test_from_json_names_the_bad_field(mutate, message: str) -> None:
    chain, _ = build_skeleton("NIFTY", "2026-04-30", snapshot(24_800, 25_200), 25_000, "stock", 75, NOW_MS)
    doc = to_json(chain)
    mutate(doc)
    with pytest.raises(ValueError, match=message):
        from_json(doc)


def test_leg_quote_defaults_are_numbers() -> None:
    chain, _ = build_skeleton("M", "2026-04-30", [ChainRow(100, LegQuote(1)), ChainRow(110, LegQuote(2))],
                              104, "mcx", 1, NOW_MS)
    assert [r.strike for r in chain.rows] == [100, 110] and chain.atm_strike == 100
