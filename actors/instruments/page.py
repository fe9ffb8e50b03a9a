"""The instruments operator page as HTML text, and its strike-ladder pictures (pure).

Per market: the last listing (when, around which index price, and the last attempt when
that one failed), every maturity (expiry, strikes, ATM IV, or why it was not listed) and
one maturity's strike ladder as a PNG (``actors.instruments.png``). The ladder is built
again from the listing's own inputs (forward, SVI parameters, interval table) with
``strikes.build_ladder``, the function the listed strikes came from, so the picture shows
exactly what was listed, with each strike's bucket and call delta.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from actors.instruments.actor import MarketListing, MarketState
from actors.instruments.names import STRIKE_DECIMALS, names_for
from actors.instruments.plan import MS_PER_YEAR, MaturityOutcome
from actors.instruments.png import ladder_png
from actors.instruments.strikes import StrikeLadder, build_ladder
from actors.instruments.svi import atm_iv, parse_svi, smile_vol
from engine.pages import esc, fmt_number, fmt_time, live_region, page_document, query_url

PAGE_PATH = "/pages/instruments"
LIVE_PATH = "/pages/instruments/live"
PNG_PATH = "/pages/instruments/ladder.png"
LIVE_INTERVAL_MS = 2000
PNG_WIDTH, PNG_HEIGHT = 900, 360
MS_PER_DAY = 86_400_000


def _listed(listing: MarketListing, code: str) -> MaturityOutcome | None:
    return next((m for m in listing.plan.maturities if m.code == code and m.ok), None)


def default_maturity(listing: MarketListing | None) -> str | None:
    """The nearest listed maturity at least a day away (a ladder worth looking at), else the nearest."""
    if listing is None:
        return None
    listed = [m for m in listing.plan.maturities if m.ok]
    later = [m for m in listed if m.expiry_ms - listing.updated_ms >= MS_PER_DAY]
    return (later or listed)[0].code if listed else None


def listed_ladder(listing: MarketListing, code: str) -> StrikeLadder | None:
    """The ladder of a listed maturity, built again from the listing's inputs (None if not listed)."""
    outcome = _listed(listing, code)
    if outcome is None:
        return None
    forward, expiry_years = listing.forward, (outcome.expiry_ms - listing.updated_ms) / MS_PER_YEAR
    params = parse_svi(listing.svi_by_code.get(code))
    intervals = listing.rules.table.lookup(expiry_years * 365.0, atm_iv(params, expiry_years),
                                           listing.rules.vol_threshold)
    return build_ladder(forward, expiry_years, lambda k: smile_vol(params, k, forward, expiry_years), intervals)


def ladder_picture(listing: MarketListing, code: str) -> bytes | None:
    """The PNG of a listed maturity's ladder (strike, bucket colour, call delta, the forward)."""
    ladder = listed_ladder(listing, code)
    if ladder is None:
        return None
    return ladder_png(ladder.strikes, ladder.buckets, ladder.call_deltas, listing.forward, PNG_WIDTH, PNG_HEIGHT)


def fmt_strike(market: str, strike: float) -> str:
    return f"{strike:,.{STRIKE_DECIMALS.get(market, 3)}f}"


def picture_url(market: str, code: str, updated_ms: int) -> str:
    """The picture of one listing: ``v`` changes with every listing, so a new one is fetched."""
    return query_url(PNG_PATH, market=market, maturity=code, v=updated_ms)


def _maturity_rows(state: MarketState, listing: MarketListing, selected: str | None) -> list[str]:
    rows = []
    for outcome in listing.plan.maturities:
        days = (outcome.expiry_ms - listing.updated_ms) / MS_PER_DAY
        link = query_url(PAGE_PATH, market=state.market, maturity=outcome.code)
        status = ('<td class="l ok">listed</td>' if outcome.ok
                  else f'<td class="wrap bad">{esc(outcome.error)}</td>')
        iv = f"{outcome.atm_iv * 100:.1f}" if outcome.atm_iv is not None and math.isfinite(outcome.atm_iv) else "-"
        marked = ' class="selected"' if outcome.code == selected else ""
        rows.append(f'<tr data-maturity="{esc(outcome.code)}"{marked}>'
                    f'<td class="l"><a href="{esc(link)}#market-{esc(state.market)}">{esc(outcome.code)}</a></td>'
                    f'<td class="l">{fmt_time(outcome.expiry_ms)}</td><td>{days:,.2f}</td>'
                    f'<td class="strikes">{outcome.strikes}</td><td>{len(outcome.names)}</td><td>{iv}</td>'
                    f"{status}</tr>")
    return rows


def _picture(market: str, listing: MarketListing, code: str | None) -> list[str]:
    if code is None or _listed(listing, code) is None:
        return ['<p class="muted">no listed maturity to draw</p>']
    try:
        ladder = listed_ladder(listing, code)
    except ValueError as error:  # inputs that listed once always build again; said plainly if not
        return [f'<p class="note">the {esc(code)} ladder cannot be drawn: {esc(error)}</p>']
    assert ladder is not None
    outcome = _listed(listing, code)
    same = outcome is not None and tuple(names_for(market, code, ladder.strikes)) == outcome.names
    strikes = " · ".join(fmt_strike(market, k) for k in ladder.strikes)
    return [f"<h3>Strike ladder of {esc(market)} {esc(code)}: {len(ladder.strikes)} strikes around the index "
            f"{fmt_number(listing.forward, 2)}</h3>",
            f'<img class="ladder" src="{esc(picture_url(market, code, listing.updated_ms))}" width="{PNG_WIDTH}" '
            f'height="{PNG_HEIGHT}" alt="{esc(market)} {esc(code)} strike ladder: bars at each strike, height the '
            f'call delta, colour the interval bucket; the dashed line is the index">',
            f'<p class="strike-list">{esc(strikes)}</p>',
            "" if same else '<p class="note">the redrawn ladder differs from the listed names</p>']


def render_market(state: MarketState, selected: str | None) -> str:
    """One market's section: last update, maturities, the selected maturity's ladder picture."""
    listing = state.listing
    market = state.market
    parts = [f'<section class="market" id="market-{esc(market)}" data-market="{esc(market)}">',
             f"<h2>{esc(market)}</h2>"]
    result = state.result
    if result is not None and not result.ok:
        parts.append(f'<p class="note">last attempt at {fmt_time(state.attempt_ms)} UTC failed: '
                     f"{esc(result.error)}</p>")
    if listing is None:
        parts.append('<p class="muted">not listed yet</p></section>')
        return "\n".join(parts)
    listed = sum(1 for m in listing.plan.maturities if m.ok)
    code = selected if selected is not None and _listed(listing, selected) is not None else default_maturity(listing)
    parts += [
        '<div class="facts">',
        f'<span>last update <b class="updated">{fmt_time(listing.updated_ms)}</b> UTC</span>',
        f"<span>index price <b>{fmt_number(listing.forward, 4 if listing.forward < 10 else 2)}</b></span>",
        f"<span>maturities listed <b>{listed} of {len(listing.plan.maturities)}</b></span>",
        f"<span>instruments <b>{len(listing.plan.names)}</b> this listing"
        f'{", " + fmt_number(result.live, 0) + " live in Redis" if result is not None and result.live else ""}</span>',
        "</div>",
        '<table class="maturities"><thead><tr><th class="l">maturity</th><th class="l">expiry (UTC)</th><th>days</th>'
        '<th>strikes</th><th>instruments</th><th>ATM IV %</th><th class="l">status</th></tr></thead><tbody>',
        *_maturity_rows(state, listing, code),
        "</tbody></table>",
        *_picture(market, listing, code),
        "</section>",
    ]
    return "\n".join(parts)


def render_markets(states: Sequence[MarketState], selected: Mapping[str, str]) -> str:
    """Every market (the live region): ``selected`` maps a market to the maturity to draw."""
    if not states:
        return '<p class="muted">no market configured</p>'
    return "\n".join(render_market(state, selected.get(state.market)) for state in states)


def instruments_page(inner: str, market: str | None, maturity: str | None) -> str:
    src = query_url(LIVE_PATH, market=market, maturity=maturity)
    body = ('<p class="muted">listed daily at the configured time, at start and on POST /instruments; a maturity '
            "link draws its ladder</p>"
            + live_region(src, inner, interval_ms=LIVE_INTERVAL_MS, element_id="markets"))
    return page_document("Instruments", body)
