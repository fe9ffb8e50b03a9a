"""actors.optionchain.page: the strikes around the ATM, calls and puts, escaping (pure)."""

from __future__ import annotations

import re
from typing import Any

from actors.optionchain.page import (
    LEG_COLUMNS, atm_index, chain_page, fmt_strike, render_chain, render_chain_list, rows_around,
)


def _leg(ltp: float, **changes: Any) -> dict[str, Any]:
    return {"security_id": 1, "ltp": ltp, "bid": ltp - 0.05, "ask": ltp + 0.05, "bid_qty": 75, "ask_qty": 150,
            "oi": 1_234_500, "previous_oi": 1_000_000, "volume": 10, "iv_pct": 12.345, "delta": 0.51234,
            "gamma": 0.001234, "theta": -12.3456, "vega": 7.891, "updated_ms": 1, **changes}


def _doc(strikes: range, atm: float, **changes: Any) -> dict[str, Any]:
    rows = [{"strike": float(k), "ce": _leg(100.0 + i), "pe": _leg(50.0 + i)} for i, k in enumerate(strikes)]
    return {"version": 1, "underlying": "NIFTY", "expiry": "2026-04-30", "underlying_ltp": atm + 12.5,
            "atm_strike": atm, "strike_interval": 50.0, "lot_size": 75, "built_ms": 1_717_000_000_000,
            "updated_ms": 1_717_000_001_000, "stale": False, "rows": rows, **changes}


def test_rows_around_the_atm_and_at_the_edges() -> None:
    rows = [{"strike": float(k)} for k in range(100, 200, 10)]
    assert [r["strike"] for r in rows_around(rows, 150.0, 2)] == [130.0, 140.0, 150.0, 160.0, 170.0]
    assert [r["strike"] for r in rows_around(rows, 100.0, 2)] == [100.0, 110.0, 120.0]  # no padding
    assert [r["strike"] for r in rows_around(rows, 194.0, 1)] == [180.0, 190.0]  # nearest when not listed
    assert rows_around(rows, None, 1) == rows and atm_index([], 150.0) is None


def test_the_chain_marks_the_atm_row_and_mirrors_calls_and_puts() -> None:
    html = render_chain(_doc(range(24000, 26000, 50), 24950.0), around=3)
    assert html.count("<tr data-strike=") + html.count('<tr class="atm"') == 7
    assert re.findall(r'<tr class="atm" data-strike="([0-9.]+)">', html) == ["24950.0"]
    assert '<td class="strike">24,950 <span class="atm-mark">ATM</span></td>' in html
    head = re.search(r"</tr><tr>(.*?)</tr></thead>", html).group(1)
    labels = [label for _, label, _ in LEG_COLUMNS]
    assert re.findall(r"<th>(.*?)</th>", head) == labels[::-1] + labels
    row = re.search(r'<tr class="atm".*?</tr>', html).group(0)
    assert '<td class="ce-ltp itm">119.00</td>' in row and '<td class="pe-ltp">69.00</td>' in row
    assert '<td class="pe-oi">1,234,500</td>' in row and '<td class="pe-iv_pct">12.35</td>' in row
    assert '<td class="pe-delta">0.5123</td>' in row and '<td class="pe-gamma">0.00123</td>' in row
    # LTP 24962.5: strikes below are calls in the money, above are puts in the money
    assert 'class="ce-ltp itm"' in html and 'class="pe-ltp itm"' in html
    assert "7 of 40 strikes" in html and 'id="atm-strike">24,950<' in html and "live" in html


def test_missing_legs_and_values_show_a_dash() -> None:
    doc = _doc(range(100, 130, 10), 110.0)
    doc["rows"][1]["pe"] = None
    doc["rows"][1]["ce"]["gamma"] = None
    html = render_chain(doc, around=5)
    row = re.search(r'<tr class="atm".*?</tr>', html).group(0)
    assert '<td class="ce-gamma itm">-</td>' in row  # strike 110 under the LTP 122.5: the call is in the money
    assert row.count('muted">-</td>') == len(LEG_COLUMNS)  # the whole put side


def test_every_document_string_is_escaped() -> None:
    hostile = "<img src=x onerror=alert(1)>"
    doc = _doc(range(100, 130, 10), 110.0, lot_size=hostile, strike_interval=hostile, stale=True)
    doc["rows"][0]["strike"] = hostile
    doc["rows"][2]["ce"]["ltp"] = hostile
    html = render_chain(doc, around=5)
    assert "<img" not in html and html.count("&lt;img src=x onerror=alert(1)&gt;") >= 4
    assert "stale copy" in html
    listing = render_chain_list([{"underlying": hostile, "expiry": '"><b>', "atm_strike": 1.0, "strikes": 3,
                                  "stale": False, "updated_ms": 0}])
    assert "<img" not in listing and "<b>" not in listing
    assert 'href="/pages/optionchain?underlying=%3Cimg+src%3Dx+onerror%3Dalert%281%29%3E&amp;expiry=%22%3E%3Cb%3E"' \
        in listing


def test_the_chain_page_pushes_from_its_own_chain_only() -> None:
    page = chain_page("NIFTY", "2026-04-30", 10, "<p>x</p>")
    assert 'data-live-ws="/ws/optionchain?underlying=NIFTY&amp;expiry=2026-04-30"' in page
    assert 'data-live-src="/pages/optionchain/live?underlying=NIFTY&amp;expiry=2026-04-30&amp;around=10"' in page
    assert fmt_strike(1422.5) == "1,422.50" and fmt_strike(25000.0) == "25,000"
    assert render_chain_list([]) == '<p class="muted">no chain in the cache yet</p>'
