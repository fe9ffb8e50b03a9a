"""The option-chain operator pages as HTML text (pure: functions of the chain documents given).

``/pages/optionchain`` lists the chains in the cache; ``/pages/optionchain?underlying=&expiry=``
shows one chain: the strikes around the ATM, calls on the left and puts on the right (LTP,
bid, ask, OI, IV and the greeks where the venue sent them), the ATM row marked. The tables
are live regions (``engine.pages``): the page re-fetches them whenever ``/ws/optionchain``
pushes a new version of the chain, and on a timer as a fallback. Every value that comes
from a document is escaped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from engine.pages import esc, fmt_number, fmt_time, is_number, live_region, page_document, query_url

PAGE_PATH = "/pages/optionchain"
LIVE_PATH = "/pages/optionchain/live"
WS_PATH = "/ws/optionchain"
DEFAULT_AROUND = 10  # strikes shown either side of the ATM
MAX_AROUND = 200
LIST_INTERVAL_MS = 5000
CHAIN_INTERVAL_MS = 5000  # the fallback: the websocket push triggers every other refresh

# (field, label, digits) per leg column, from the strike outwards (puts read left to right).
LEG_COLUMNS = (("ltp", "LTP", 2), ("bid", "bid", 2), ("ask", "ask", 2), ("iv_pct", "IV %", 2),
               ("delta", "delta", 4), ("gamma", "gamma", 5), ("theta", "theta", 3), ("vega", "vega", 3),
               ("oi", "OI", 0))


def fmt_strike(value: Any) -> str:
    """``24,950`` for whole strikes, ``1,422.50`` otherwise."""
    if not is_number(value):
        return esc(value)
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def chain_url(underlying: str, expiry: str, around: int | None = None) -> str:
    return query_url(PAGE_PATH, underlying=underlying, expiry=expiry, around=around)


def atm_index(rows: Sequence[Mapping[str, Any]], atm_strike: Any) -> int | None:
    """The row of the ATM strike, else the row nearest to it; None without rows or ATM."""
    strikes = [(i, row.get("strike")) for i, row in enumerate(rows) if is_number(row.get("strike"))]
    if not strikes or not is_number(atm_strike):
        return None
    return min(strikes, key=lambda item: (abs(item[1] - atm_strike), item[0]))[0]


def rows_around(rows: Sequence[Mapping[str, Any]], atm_strike: Any, around: int) -> list[Mapping[str, Any]]:
    """``around`` rows either side of the ATM row (all rows when the ATM is unknown)."""
    centre = atm_index(rows, atm_strike)
    if centre is None:
        return list(rows)
    return list(rows[max(0, centre - around):centre + around + 1])


def _leg_cells(side: str, leg: Any, itm: bool, columns: Sequence[tuple[str, str, int]]) -> list[str]:
    css = " itm" if itm else ""
    if not isinstance(leg, Mapping):
        return [f'<td class="{side}-{field}{css} muted">-</td>' for field, _, _ in columns]
    return [f'<td class="{side}-{field}{css}">{fmt_number(leg.get(field), digits)}</td>'
            for field, _, digits in columns]


def _row(row: Mapping[str, Any], atm_strike: Any, ltp: Any) -> str:
    strike = row.get("strike")
    known = is_number(strike) and is_number(ltp)
    call_itm, put_itm = known and strike < ltp, known and strike > ltp
    is_atm = is_number(strike) and is_number(atm_strike) and strike == atm_strike
    calls = _leg_cells("ce", row.get("ce"), call_itm, LEG_COLUMNS[::-1])
    puts = _leg_cells("pe", row.get("pe"), put_itm, LEG_COLUMNS)
    mark = ' <span class="atm-mark">ATM</span>' if is_atm else ""
    row_class = ' class="atm"' if is_atm else ""
    return (f'<tr{row_class} data-strike="{esc(strike)}">'
            f'{"".join(calls)}<td class="strike">{fmt_strike(strike)}{mark}</td>{"".join(puts)}</tr>')


def render_chain(document: Mapping[str, Any], around: int = DEFAULT_AROUND) -> str:
    """One chain's facts and its table of strikes around the ATM (the live region's content)."""
    rows = [r for r in document.get("rows") or () if isinstance(r, Mapping)] \
        if isinstance(document.get("rows"), Sequence) else []
    atm, ltp = document.get("atm_strike"), document.get("underlying_ltp")
    shown = rows_around(rows, atm, around)
    stale = document.get("stale") is True
    parts = [
        '<div class="facts">',
        f'<span>underlying LTP <b id="underlying-ltp">{fmt_number(ltp, 2)}</b></span>',
        f'<span>ATM strike <b id="atm-strike">{fmt_strike(atm)}</b></span>',
        f'<span>strike interval <b>{fmt_strike(document.get("strike_interval"))}</b></span>',
        f'<span>lot size <b>{fmt_number(document.get("lot_size"), 0)}</b></span>',
        f'<span>built <b>{fmt_time(document.get("built_ms"))}</b></span>',
        f'<span>updated <b id="chain-updated">{fmt_time(document.get("updated_ms"))}</b> UTC</span>',
        '<span class="stale">stale copy (from Redis, not live yet)</span>' if stale else '<span class="ok">live</span>',
        "</div>",
        f'<p class="muted">{len(shown)} of {len(rows)} strikes, {around} either side of the ATM; calls in the money '
        f"and puts in the money are shaded</p>",
    ]
    if not shown:
        parts.append('<p class="muted">the chain has no strikes</p>')
        return "\n".join(parts)
    head_calls = "".join(f'<th>{esc(label)}</th>' for _, label, _ in LEG_COLUMNS[::-1])
    head_puts = "".join(f'<th>{esc(label)}</th>' for _, label, _ in LEG_COLUMNS)
    parts += [
        f'<table id="chain"><thead><tr><th colspan="{len(LEG_COLUMNS)}">Calls</th><th rowspan="2">strike</th>'
        f'<th colspan="{len(LEG_COLUMNS)}">Puts</th></tr><tr>{head_calls}{head_puts}</tr></thead><tbody>',
        *(_row(row, atm, ltp) for row in shown),
        "</tbody></table>",
    ]
    return "\n".join(parts)


def render_chain_list(listing: Sequence[Mapping[str, Any]]) -> str:
    """The chains in the cache, each a link to its page (the list page's live region)."""
    if not listing:
        return '<p class="muted">no chain in the cache yet</p>'
    rows = []
    for chain in sorted(listing, key=lambda c: (str(c.get("underlying")), str(c.get("expiry")))):
        underlying, expiry = str(chain.get("underlying")), str(chain.get("expiry"))
        stale = chain.get("stale") is True
        rows.append(f'<tr data-chain="{esc(underlying)} {esc(expiry)}"><td class="l"><a href="'
                    f'{esc(chain_url(underlying, expiry))}">{esc(underlying)}</a></td><td class="l">{esc(expiry)}</td>'
                    f'<td>{fmt_strike(chain.get("atm_strike"))}</td><td>{fmt_number(chain.get("strikes"), 0)}</td>'
                    f'<td class="l {"stale" if stale else "ok"}">{"stale" if stale else "live"}</td>'
                    f'<td class="l">{fmt_time(chain.get("updated_ms"))}</td></tr>')
    return ('<table id="chains"><thead><tr><th class="l">underlying</th><th class="l">expiry</th><th>ATM strike</th>'
            '<th>strikes</th><th class="l">state</th><th class="l">updated (UTC)</th></tr></thead><tbody>'
            + "".join(rows) + "</tbody></table>")


def notes_html(notes: Sequence[str]) -> str:
    return "".join(f'<p class="note">{esc(note)}</p>' for note in notes)


def list_page(inner: str) -> str:
    body = live_region(LIVE_PATH, inner, interval_ms=LIST_INTERVAL_MS, element_id="chain-list")
    return page_document("Option chains", body)


def chain_page(underlying: str, expiry: str, around: int, inner: str) -> str:
    """One chain: the table refreshed whenever the websocket pushes a new version of it."""
    src = query_url(LIVE_PATH, underlying=underlying, expiry=expiry, around=around)
    ws = query_url(WS_PATH, underlying=underlying, expiry=expiry)
    wider = chain_url(underlying, expiry, min(MAX_AROUND, around * 2))
    body = (f'<p><a href="{PAGE_PATH}">all chains</a> · <a href="{esc(wider)}">show more strikes</a></p>'
            + live_region(src, inner, interval_ms=CHAIN_INTERVAL_MS, ws=ws, element_id="chain-live"))
    return page_document(f"{underlying} {expiry} option chain", body)
