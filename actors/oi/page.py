"""The operator page ``/debug/open-interest`` as HTML text (pure: a function of the data given).

One document: inline CSS and inline SVG sparklines, no inline code and no external assets
(the API serves it with a Content-Security-Policy that allows scripts and connections to
the engine only). It stays live through the engine's ``/static/live.js``: the universe
section is a live region re-fetched from ``UNIVERSE_PATH`` every ``REFRESH_S``, and each
alert ``/ws`` pushes becomes the first row of the alerts table as it arrives (built with
textContent, in the formats ``ALERT_COLUMNS`` names, the same as the rows rendered here).
Every piece of text that comes from data is escaped, including the fields of alerts read
back from Redis, which another writer could have filled with anything.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from actors.oi.payloads import Sample
from actors.oi.topics import UniverseView
from engine.pages import esc, fmt_number, fmt_time
from engine.pages import is_number as _is_number

SPARK_W, SPARK_H, SPARK_PAD = 160, 32, 2
REFRESH_S = 30
UNIVERSE_PATH = "/debug/open-interest/universe"
ALERTS_WS = "/ws"
ALERTS_ID = "oi-alerts"
MAX_ALERT_ROWS = 200
# The alert table's columns as live.js builds pushed rows: the same fields and formats as _alert_rows.
ALERT_COLUMNS = (
    {"field": "ts", "format": "time", "class": "l"},
    {"field": "symbol", "class": "l"},
    {"field": "direction", "class": "l", "classes": {"UP": "up", "DOWN": "down"}},
    {"field": "open_interest", "format": "number", "digits": 3},
    {"field": "baseline_oi", "format": "number", "digits": 3},
    {"field": "pct_change", "format": "pct"},
    {"field": "abs_change", "format": "number", "digits": 3},
    {"field": "oi_usd", "format": "compact"},
    {"field": "mark_price", "format": "number", "digits": 4},
    {"field": "window_min", "format": "range", "suffix": " min"},
)

_STYLE = """
body{font:13px/1.4 system-ui,sans-serif;margin:1.2em;color:#222;background:#fafafa}
h1{font-size:18px;margin:0 0 .3em}h2{font-size:15px;margin:1.4em 0 .4em}
table{border-collapse:collapse;background:#fff}
th,td{border:1px solid #ddd;padding:2px 6px;text-align:right;white-space:nowrap}
th{background:#eee}td.l,th.l{text-align:left}
.up{color:#0a7d2c;font-weight:600}.down{color:#b3261e;font-weight:600}
.note{color:#b3261e}.muted{color:#888}
svg{display:block}polyline{fill:none;stroke:#1f5fbf;stroke-width:1.2}circle{fill:#1f5fbf}
nav{margin-bottom:.8em;color:#555}nav a{margin-right:1em}
[data-live-status]{font-size:12px;color:#0a7d2c}[data-live-status].bad{color:#b3261e}
tr.live-new td{background:#fffbe0}
#oi-universe{max-height:65vh;overflow-y:auto;display:inline-block}
"""


def fmt_compact(value: Any) -> str:
    """12_345_678 -> ``12.35M`` (volumes)."""
    if not _is_number(value):
        return fmt_number(value)
    for scale, unit in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:,.2f}{unit}"
    return f"{value:,.2f}"


def sparkline(samples: Sequence[Sample], width: int = SPARK_W, height: int = SPARK_H) -> str:
    """An inline SVG polyline of open interest against time (any order in, sorted by ts)."""
    points = sorted((s.ts_ms, s.open_interest) for s in samples
                    if _is_number(s.open_interest) and _is_number(s.ts_ms))
    if not points:
        return '<span class="muted">no samples</span>'
    label = f"open interest, {len(points)} samples"
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img" aria-label="{esc(label)}">')
    t0, t1 = points[0][0], points[-1][0]
    lo, hi = min(v for _, v in points), max(v for _, v in points)
    inner_w, inner_h = width - 2 * SPARK_PAD, height - 2 * SPARK_PAD

    def xy(ts: float, value: float) -> tuple[float, float]:
        x = SPARK_PAD + (inner_w * (ts - t0) / (t1 - t0) if t1 > t0 else inner_w)
        y = SPARK_PAD + (inner_h / 2 if hi == lo else inner_h * (hi - value) / (hi - lo))
        return x, y

    if len(points) == 1:
        x, y = xy(*points[0])
        return f'{head}<circle cx="{x:.1f}" cy="{y:.1f}" r="2"/></svg>'
    coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in (xy(t, v) for t, v in points))
    return f'{head}<polyline points="{coords}"/></svg>'


def _change(samples: Sequence[Sample]) -> str:
    """Per cent change of OI from the oldest to the newest sample shown."""
    ordered = sorted(samples, key=lambda s: s.ts_ms)
    if len(ordered) < 2 or not ordered[0].open_interest:
        return "-"
    pct = 100.0 * (ordered[-1].open_interest - ordered[0].open_interest) / ordered[0].open_interest
    css = "up" if pct > 0 else "down" if pct < 0 else ""
    return f'<span class="{css}">{pct:+.2f}%</span>'


def _universe_rows(universe: UniverseView, series: Mapping[str, Sequence[Sample]]) -> list[str]:
    def volume(symbol: str) -> float:
        meta = universe.meta.get(symbol)
        return meta.quote_volume_24h if meta is not None else 0.0

    rows = []
    for symbol in sorted(universe.symbols, key=lambda s: (-volume(s), s)):
        meta = universe.meta.get(symbol)
        samples = series.get(symbol)
        newest = max(samples, key=lambda s: s.ts_ms) if samples else None
        chart = sparkline(samples) if samples is not None else '<span class="muted">not charted</span>'
        rows.append(
            f'<tr><td class="l">{esc(symbol)}</td>'
            f'<td>{fmt_compact(meta.quote_volume_24h) if meta else "-"}</td>'
            f'<td>{fmt_time(meta.entered_at_ms) if meta else "-"}</td>'
            f'<td>{fmt_number(newest.open_interest, 3) if newest else "-"}</td>'
            f'<td>{fmt_compact(newest.oi_usd) if newest and newest.oi_usd is not None else "-"}</td>'
            f'<td>{_change(samples) if samples else "-"}</td>'
            f'<td>{fmt_time(newest.ts_ms) if newest else "-"}</td>'
            f'<td class="l">{chart}</td></tr>')
    return rows


def _window(value: Any) -> str:
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return f"{fmt_number(value[0], 0)}-{fmt_number(value[1], 0)} min"
    return esc(value)


def _alert_rows(alerts: Sequence[Mapping[str, Any]]) -> list[str]:
    rows = []
    for alert in alerts:
        direction = alert.get("direction")
        css = {"UP": "up", "DOWN": "down"}.get(direction if isinstance(direction, str) else "", "")
        pct = alert.get("pct_change")
        rows.append(
            f'<tr><td class="l">{fmt_time(alert.get("ts"))}</td>'
            f'<td class="l">{esc(alert.get("symbol"))}</td>'
            f'<td class="l {css}">{esc(direction)}</td>'
            f'<td>{fmt_number(alert.get("open_interest"), 3)}</td>'
            f'<td>{fmt_number(alert.get("baseline_oi"), 3)}</td>'
            f'<td>{f"{pct:+.2f}%" if _is_number(pct) else esc(pct)}</td>'
            f'<td>{fmt_number(alert.get("abs_change"), 3)}</td>'
            f'<td>{fmt_compact(alert.get("oi_usd")) if alert.get("oi_usd") is not None else "-"}</td>'
            f'<td>{fmt_number(alert.get("mark_price"), 4)}</td>'
            f'<td>{_window(alert.get("window_min"))}</td></tr>')
    return rows


def render_universe(universe: UniverseView | None, series: Mapping[str, Sequence[Sample]],
                    notes: Sequence[str] = ()) -> str:
    """The universe section (the live region re-fetched from ``UNIVERSE_PATH``): problems first
    (a service or Redis unavailable), then the table with a sparkline per charted symbol."""
    parts = [f'<p class="note">{esc(note)}</p>' for note in notes]
    if universe is None:
        parts.append("<h2>Liquid universe</h2><p class=\"note\">unknown (liquidity service unavailable)</p>")
        return "\n".join(parts)
    updated = fmt_time(universe.updated_ms) if universe.updated_ms is not None else "never"
    parts.append(f"<h2>Liquid universe: {len(universe.symbols)} symbols</h2>"
                 f'<p class="muted">updated {updated}; charts: newest samples of the '
                 f"{len(series)} most liquid; refreshed every {REFRESH_S} s</p>")
    if universe.symbols:
        parts.append('<table id="oi-universe-table"><thead><tr><th class="l">symbol</th><th>24 h volume (USDT)</th>'
                     '<th>entered at</th><th>open interest</th><th>OI (USDT)</th><th>change</th><th>last sample</th>'
                     '<th class="l">recent OI</th></tr></thead><tbody>')
        parts.extend(_universe_rows(universe, series))
        parts.append("</tbody></table>")
    else:
        parts.append('<p class="muted">empty</p>')
    return "\n".join(parts)


def _alerts_section(alerts: Sequence[Mapping[str, Any]]) -> list[str]:
    """The alerts table, always present: live.js puts each pushed alert on top of it."""
    columns = esc(json.dumps(ALERT_COLUMNS, separators=(",", ":")))
    label = "Recent alerts: "
    parts = [f'<h2 data-live-count-of="{ALERTS_ID}" data-live-count-label="{label}">{label}{len(alerts)}</h2>',
             '<table><thead><tr><th class="l">time (UTC)</th><th class="l">symbol</th>'
             '<th class="l">direction</th><th>open interest</th><th>baseline</th><th>change</th>'
             '<th>abs change</th><th>OI (USDT)</th><th>mark price</th><th>window</th></tr></thead>',
             f'<tbody id="{ALERTS_ID}" data-live-rows="{ALERTS_WS}" data-live-type="open_interest_alert" '
             f'data-live-max="{MAX_ALERT_ROWS}" data-live-columns="{columns}">']
    parts.extend(_alert_rows(alerts))
    if not alerts:
        parts.append(f'<tr data-live-placeholder><td class="l muted" colspan="{len(ALERT_COLUMNS)}">none yet</td></tr>')
    parts.append("</tbody></table>")
    return parts


def render_page(universe: UniverseView | None, series: Mapping[str, Sequence[Sample]],
                alerts: Sequence[Mapping[str, Any]], now_ms: int, notes: Sequence[str] = ()) -> str:
    """The whole page.

    - ``universe``: the liquid universe (None when the liquidity service did not answer);
    - ``series``: recent samples per charted symbol (any order); symbols of the universe
      missing here are listed without a chart;
    - ``alerts``: recent alert documents (``alert_to_json`` shape), newest first;
    - ``notes``: problems to show at the top (a service or Redis unavailable).
    """
    universe_html = render_universe(universe, series, notes)
    parts = ['<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             f"<title>Open interest surveillance</title><style>{_STYLE}</style>",
             '<script src="/static/live.js" defer></script></head><body>',
             '<nav><a href="/">Engine home</a><span data-live-status>live updates starting</span></nav>',
             "<h1>Open interest surveillance</h1>",
             f'<p class="muted">rendered {fmt_time(now_ms)} UTC; alerts appear as they are raised</p>',
             f'<div id="oi-universe" data-live-src="{UNIVERSE_PATH}" data-live-interval-ms="{REFRESH_S * 1000}">'
             f"{universe_html}</div>"]
    parts.extend(_alerts_section(alerts))
    parts.append("</body></html>")
    return "\n".join(parts)
