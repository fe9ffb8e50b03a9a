"""The operator page ``/debug/mm`` as HTML text (pure: a function of the data given).

One self-contained document: inline CSS, no scripts, no external assets (served with a
Content-Security-Policy that forbids them). Per pair: the quotes as a ladder (asks, then
the top of the book when known, then bids, highest price first), position and PnL when the
status carries them, the counters, and the ages of the state and of the book quoted from.
Every piece of text that comes from data is escaped: the Redis keys can be written by
anyone with access to the server.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

import attrs

from actors.marketmaker.ladders import Book

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


def esc(value: Any) -> str:
    """Any value as escaped HTML text (quotes too, so it is safe in attributes)."""
    return html.escape("" if value is None else str(value), quote=True)


def _is_int(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, int)


def fmt_time(ms: Any) -> str:
    """Unix milliseconds as ``YYYY-MM-DD HH:MM:SS`` UTC; anything else escaped as it is."""
    if not _is_int(ms) and not (isinstance(ms, float) and math.isfinite(ms)):
        return esc(ms)
    try:
        return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    except (OverflowError, OSError, ValueError):
        return esc(ms)


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
        parts.append(f'<p>venue <strong>{esc(status.get("venue"))}</strong>; state written {fmt_time(written)} UTC '
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
