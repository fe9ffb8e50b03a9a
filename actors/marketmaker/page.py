"""The market-making operator pages as HTML text (pure: functions of the data given).

``/pages/mm`` and ``/pages/mm/{pair}`` (at the end of this module) show what the market makers
hold in memory, live: both quote ladders, position and PnL, recent fills. ``/debug/mm`` shows
their state as ``GET /api/mm`` answers it (from memory, or as last written to Redis for a
market maker that does not answer, so it works while they are stopped): one self-contained
document, inline CSS, no scripts, no external assets (served with a Content-Security-Policy
that forbids them). Per pair: the quotes as a ladder (asks, then
the top of the book when known, then bids, highest price first), position and PnL when the
status carries them, the counters, and the ages of the state and of the book quoted from.
Every piece of text that comes from data is escaped: the Redis keys can be written by
anyone with access to the server.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

import attrs

from actors.marketmaker.fills import MarketMakerView
from actors.marketmaker.ladders import Book
from actors.marketmaker.refresh import LiveOrder
from engine.pages import esc, fmt_time, live_region, page_document

REFRESH_S = 5
STALE_AGE_MS = 5_000  # a book or a state older than this is shown as a warning
COUNTERS = ("rounds", "live_orders", "placed", "cancelled", "rejected", "pulls", "rollbacks", "errors",
            "remaining_after_stop")
POSITION_FIELDS = ("position", "realised_pnl", "unrealised_pnl")  # as MarketMakerActor writes them
SHOWN_ELSEWHERE = ("pair", "venue", "ts", "book_ts")

_STYLE = """
body{font:13px/1.4 system-ui,sans-serif;margin:1.2em;color:#222;background:#fafafa}
h1{font-size:18px;margin:0 0 .3em}h2{font-size:15px;margin:1.6em 0 .4em}h3{font-size:13px;margin:.8em 0 .3em}
table{border-collapse:collapse;background:#fff;margin-bottom:.4em}
th,td{border:1px solid #ddd;padding:2px 6px;text-align:right;white-space:nowrap}
th{background:#eee}td.l,th.l{text-align:left}
tr.sell td.side{color:#b3261e;font-weight:600}tr.buy td.side{color:#0a7d2c;font-weight:600}
tr.top td{background:#f3f3f3;font-style:italic}
.note{color:#b3261e}.muted{color:#888}
"""


@attrs.frozen
class PairView:
    """One pair as the API answers it (``GET /api/mm/{pair}``), and the top of its book if known."""

    document: Mapping[str, Any]
    top: Book | None = None


def _is_int(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, int)


def fmt_age(age_ms: Any) -> str:
    """``1.2 s ago`` with a warning colour past STALE_AGE_MS; ``unknown`` for None."""
    if age_ms is None:
        return '<span class="muted">unknown</span>'
    if not _is_int(age_ms):
        return esc(age_ms)
    text = f"{age_ms / 1000:,.1f} s" if abs(age_ms) < 600_000 else f"{age_ms / 60_000:,.0f} min"
    return f'<span class="note">{text}</span>' if age_ms > STALE_AGE_MS else text


def _decimal(value: Any) -> Decimal | None:
    try:
        out = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return out if out.is_finite() else None


def _from_mid_bps(price: Any, mid: Decimal | None) -> str:
    number = _decimal(price)
    if number is None or mid is None or mid == 0:
        return "-"
    return f"{float((number - mid) / mid * 10_000):+.1f}"


def _quote_rows(orders: Sequence[Mapping[str, Any]], top: Book | None) -> list[str]:
    mid = top.mid if top is not None else None
    rows: list[str] = []

    def row(order: Mapping[str, Any]) -> str:
        side = order.get("side")
        css = "sell" if side == "SELL" else "buy"
        return (f'<tr class="{css}"><td class="l side">{esc(side)}</td><td>{esc(order.get("price"))}</td>'
                f'<td>{esc(order.get("qty"))}</td><td>{_from_mid_bps(order.get("price"), mid)}</td>'
                f'<td class="l">{esc(order.get("ladder"))}</td><td class="l">{esc(order.get("client_id"))}</td>'
                f'<td class="l">{esc(order.get("order_id"))}</td></tr>')

    rows.extend(row(o) for o in orders if o.get("side") == "SELL")
    if top is not None:
        rows.append(f'<tr class="top"><td class="l">book</td><td>bid {esc(top.best_bid)} / ask {esc(top.best_ask)}'
                    f'</td><td></td><td>mid {esc(mid)}</td><td class="l" colspan="3">at {fmt_time(top.ts_ms)} UTC'
                    f'</td></tr>')
    rows.extend(row(o) for o in orders if o.get("side") != "SELL")
    return rows


def _kv_table(items: Sequence[tuple[str, Any]]) -> str:
    head = "".join(f"<th>{esc(name)}</th>" for name, _ in items)
    cells = "".join(f"<td>{'-' if value is None else esc(value)}</td>" for _, value in items)
    return f"<table><thead><tr>{head}</tr></thead><tbody><tr>{cells}</tr></tbody></table>"


def _pair_section(view: PairView, now_ms: int) -> list[str]:
    doc = view.document
    status = doc.get("status")
    status = status if isinstance(status, Mapping) else None
    orders = doc.get("orders")
    orders = [o for o in orders if isinstance(o, Mapping)] if isinstance(orders, Sequence) else []
    parts = [f"<h2>{esc(doc.get('pair'))}</h2>"]
    parts.extend(f'<p class="note">{esc(problem)}</p>' for problem in doc.get("problems") or ())
    if status is None:
        parts.append('<p class="muted">no status written yet (the market maker has not run a round)</p>')
    else:
        written = status.get("ts")
        state_age = now_ms - written if _is_int(written) else None
        parts.append(f'<p>venue <strong>{esc(status.get("venue"))}</strong>; state of {fmt_time(written)} UTC '
                     f'({fmt_age(state_age)} ago); book quoted from: {fmt_age(doc.get("book_age_ms"))} old</p>')
        position = [(name, status[name]) for name in POSITION_FIELDS if name in status]
        parts.append("<h3>Position</h3>")
        parts.append(_kv_table(position) if position
                     else '<p class="muted">not reported by the market maker (the status carries no position '
                          'or PnL fields)</p>')
        parts.append("<h3>Counters</h3>")
        parts.append(_kv_table([(name, status.get(name)) for name in COUNTERS if name in status]))
        others = [(str(name), value) for name, value in status.items()
                  if name not in COUNTERS and name not in POSITION_FIELDS and name not in SHOWN_ELSEWHERE]
        if others:
            parts.append("<h3>Other status fields</h3>")
            parts.append(_kv_table(others))
    asks = sum(1 for o in orders if o.get("side") == "SELL")
    parts.append(f"<h3>Quotes: {len(orders)} open ({asks} asks, {len(orders) - asks} bids)</h3>")
    if orders or view.top is not None:
        parts.append('<table><thead><tr><th class="l">side</th><th>price</th><th>qty</th><th>from mid (bps)</th>'
                     '<th class="l">ladder</th><th class="l">client id</th><th class="l">order id</th></tr></thead>'
                     '<tbody>')
        parts.extend(_quote_rows(orders, view.top))
        parts.append("</tbody></table>")
    else:
        parts.append('<p class="muted">none</p>')
    return parts


def render_page(pairs: Sequence[PairView], now_ms: int, notes: Sequence[str] = ()) -> str:
    """The whole page: one section per pair (in the order given), ``notes`` (problems) on top."""
    parts = ['<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
             f'<meta http-equiv="refresh" content="{REFRESH_S}">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             f"<title>Market making</title><style>{_STYLE}</style></head><body>",
             f"<h1>Market making: {len(pairs)} pairs</h1>",
             f'<p class="muted">rendered {fmt_time(now_ms)} UTC; refreshes every {REFRESH_S} s</p>']
    parts.extend(f'<p class="note">{esc(note)}</p>' for note in notes)
    for view in pairs:
        parts.extend(_pair_section(view, now_ms))
    if not pairs and not notes:
        parts.append('<p class="muted">no pair configured</p>')
    parts.append("</body></html>")
    return "\n".join(parts)


# --------------------------------------------------------------------------- live pages (/pages/mm)
# Rendered from the actors' own in-memory views (``actors.marketmaker.fills.MarketMakerView``),
# as live regions of ``engine.pages`` pages that re-fetch them every LIVE_INTERVAL_MS.

PAGES_PATH = "/pages/mm"
LIVE_INTERVAL_MS = 1000
LADDERS = ("near", "far")


def pair_url(pair: str) -> str:
    return f"{PAGES_PATH}/{quote_path(pair)}"


def quote_path(text: str) -> str:
    return urllib.parse.quote(text, safe="")


def _bps(price: Decimal, mid: Decimal | None) -> str:
    return "-" if mid is None or mid == 0 else f"{float((price - mid) / mid * 10_000):+.1f}"


def _ladder_table(ladder: str, quotes: Sequence[LiveOrder], book: Book | None) -> str:
    mid = book.mid if book is not None else None
    mine = [q for q in quotes if q.ladder == ladder]
    asks = sorted((q for q in mine if q.side == "SELL"), key=lambda q: (-q.price, q.client_id))
    bids = sorted((q for q in mine if q.side != "SELL"), key=lambda q: (-q.price, q.client_id))

    def row(order: LiveOrder) -> str:
        css = "sell" if order.side == "SELL" else "buy"
        return (f'<tr class="{css}" data-client-id="{esc(order.client_id)}"><td class="l side {css}">'
                f'{esc(order.side)}</td><td class="price">{esc(order.price)}</td><td>{esc(order.qty)}</td>'
                f'<td>{_bps(order.price, mid)}</td><td class="l">{esc(order.client_id)}</td>'
                f'<td class="l">{esc(order.order_id)}</td></tr>')

    middle = (f'<tr class="mid"><td class="l">book</td><td colspan="5" class="l">bid {esc(book.best_bid)} / ask '
              f'{esc(book.best_ask)}, mid {esc(mid)}</td></tr>' if book is not None else "")
    body = "".join(row(q) for q in asks) + middle + "".join(row(q) for q in bids)
    return (f'<div><h3>{esc(ladder)} ladder: {len(asks)} asks, {len(bids)} bids</h3>'
            f'<table id="{esc(ladder)}-ladder"><thead><tr><th class="l">side</th><th>price</th><th>qty</th>'
            f'<th>from mid (bps)</th><th class="l">client id</th><th class="l">order id</th></tr></thead>'
            f"<tbody>{body}</tbody></table></div>")


def _fills_table(view: MarketMakerView) -> str:
    if not view.fills_reported:
        return ('<p class="muted">this venue does not report fills to the market maker: they show in the '
                'position only</p>')
    if not view.fills:
        return '<p class="muted" id="no-fills">none since the market maker started</p>'
    rows = "".join(
        f'<tr class="{"sell" if f.side == "SELL" else "buy"}"><td class="l">{fmt_time(f.ts_ms)}</td>'
        f'<td class="l side {"sell" if f.side == "SELL" else "buy"}">{esc(f.side)}</td><td>{esc(f.price)}</td>'
        f'<td>{esc(f.qty)}</td><td>{"-" if f.fee is None else esc(f.fee)}</td><td class="l">{esc(f.ladder or "-")}</td>'
        f'<td class="l">{esc(f.client_id)}</td></tr>' for f in view.fills)
    return ('<table id="fills"><thead><tr><th class="l">time (UTC)</th><th class="l">side</th><th>price</th>'
            '<th>qty</th><th>fee</th><th class="l">ladder</th><th class="l">client id</th></tr></thead>'
            f"<tbody>{rows}</tbody></table>")


def render_pair_live(view: MarketMakerView, now_ms: int) -> str:
    """One pair's live region: book, position and PnL, counters, both quote ladders, recent fills."""
    book = view.book
    book_text = (f"bid {esc(book.best_bid)} / ask {esc(book.best_ask)}, {fmt_age(now_ms - book.ts_ms)} old"
                 if book is not None else "none yet")
    stale = ' <span class="stale">stale: near quotes pulled</span>' if view.book_stale else ""
    position = "unknown" if view.position is None else esc(view.position)
    parts = [
        '<div class="facts">',
        f"<span>venue <b>{esc(view.venue)}</b></span>",
        f'<span>book <b id="book">{book_text}</b>{stale}</span>',
        f'<span>position <b id="position">{position}</b> (limit ±{esc(view.max_position)})</span>',
        f'<span>realised PnL <b id="realised-pnl">{esc(view.realised_pnl) if view.realised_pnl else "-"}</b></span>',
        f'<span>unrealised PnL <b>{esc(view.unrealised_pnl) if view.unrealised_pnl else "-"}</b></span>',
        f'<span>fills <b id="fills-total">{view.fills_total}</b> (bought {esc(view.bought_qty)}, sold '
        f"{esc(view.sold_qty)})</span>",
        "</div>",
        _kv_table(list(view.counters)),
        f'<h2>Quotes: <span id="quote-count">{len(view.quotes)}</span> open</h2>',
        '<div class="ladders">', *(_ladder_table(ladder, view.quotes, book) for ladder in LADDERS), "</div>",
        f"<h2>Recent fills: {len(view.fills)} shown, newest first</h2>",
        _fills_table(view),
    ]
    return "\n".join(parts)


def render_pairs_live(pairs: Sequence[tuple[str, MarketMakerView | None, str | None]], now_ms: int) -> str:
    """Every pair in one table: (pair, its view or None, why there is none)."""
    if not pairs:
        return '<p class="muted">no pair configured</p>'
    rows = []
    for pair, view, problem in pairs:
        link = f'<a href="{esc(pair_url(pair))}">{esc(pair)}</a>'
        if view is None:
            rows.append(f'<tr data-pair="{esc(pair)}"><td class="l">{link}</td>'
                        f'<td class="l note" colspan="6">{esc(problem)}</td></tr>')
            continue
        near = sum(1 for q in view.quotes if q.ladder == "near")
        rows.append(f'<tr data-pair="{esc(pair)}"><td class="l">{link}</td><td class="l">{esc(view.venue)}</td>'
                    f'<td>{near} near, {len(view.quotes) - near} far</td>'
                    f'<td>{"unknown" if view.position is None else esc(view.position)}</td>'
                    f'<td>{esc(view.realised_pnl) if view.realised_pnl else "-"}</td><td>{view.fills_total}</td>'
                    f'<td class="l">{"stale" if view.book_stale else "fresh"}'
                    f'{", " + fmt_age(now_ms - view.book.ts_ms) + " old" if view.book is not None else ""}</td></tr>')
    return ('<table id="pairs"><thead><tr><th class="l">pair</th><th class="l">venue</th><th>quotes</th>'
            '<th>position</th><th>realised PnL</th><th>fills</th><th class="l">book</th></tr></thead><tbody>'
            + "".join(rows) + "</tbody></table>")


def pairs_page(inner: str) -> str:
    body = ('<p class="muted">from the market makers themselves; <a href="/debug/mm">/debug/mm</a> shows their '
            "state on one static page</p>"
            + live_region(f"{PAGES_PATH}/live", inner, interval_ms=LIVE_INTERVAL_MS, element_id="pairs-live"))
    return page_document("Market making", body)


def pair_page(pair: str, inner: str) -> str:
    body = (f'<p><a href="{PAGES_PATH}">all pairs</a></p>'
            + live_region(f"{pair_url(pair)}/live", inner, interval_ms=LIVE_INTERVAL_MS, element_id="pair-live"))
    return page_document(f"Market making: {pair}", body)
