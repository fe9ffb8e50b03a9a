"""Recent fills and the market maker's in-memory view: bounded, counted, as the venue reports
them (a real PaperVenue filling a quote), and the live page rendered from the view."""

from __future__ import annotations

import re
from decimal import Decimal
from types import SimpleNamespace

import pytest
import trio

from actors.marketmaker.actor import MarketMakerActor
from actors.marketmaker.fills import FillRecord, RecentFills, fill_record, view_topic
from actors.marketmaker.ladders import Book
from actors.marketmaker.page import render_pair_live, render_pairs_live
from actors.marketmaker.params import example_pair_json, parse_pair_params
from actors.marketmaker.refresh import LiveOrder
from adapters.binance.orders import NewOrder
from adapters.paper import PaperVenue
from engine.clock import Clock

D = Decimal


def _fill(n: int, side: str = "BUY", qty: str = "0.002") -> FillRecord:
    return FillRecord(ts_ms=1_717_000_000_000 + n, side=side, price=D("65000.1"), qty=D(qty), fee=D("0.026"),
                      client_id=f"mm-BTCUSDT-r-{n}", ladder="near")


def test_recent_fills_are_bounded_newest_first_and_counted_in_full() -> None:
    fills = RecentFills(maxlen=3)
    fills.add([_fill(1), _fill(2, "SELL", "0.003")])
    fills.add(_fill(n) for n in range(3, 6))
    assert [f.ts_ms % 1000 for f in fills.newest_first()] == [5, 4, 3]
    assert fills.count == 5 and fills.bought_qty == D("0.008") and fills.sold_qty == D("0.003")
    assert _fill(1, "SELL").signed_qty == D("-0.002")
    with pytest.raises(ValueError):
        RecentFills(maxlen=0)


async def test_the_actor_records_the_paper_venues_fills_and_answers_its_view() -> None:
    clock = Clock()
    ctx = SimpleNamespace(clock=clock)
    actor = MarketMakerActor(parse_pair_params(example_pair_json()))
    venue = PaperVenue(clock, owner="paper-test")
    venue.add_symbol("BTCUSDT", D("0.1"), D("0.001"), D("0.001"), D("50"))
    venue.on_book("BTCUSDT", D("65000.0"), D("65000.2"), clock.time_ms())
    (placed,) = await venue.place_batch([NewOrder("BTCUSDT", "SELL", D("0.002"), D("65010.0"), "mm-BTCUSDT-r-1")])
    assert placed.ok
    actor.live["mm-BTCUSDT-r-1"] = LiveOrder("mm-BTCUSDT-r-1", "SELL", D("65010.0"), D("0.002"), "near",
                                             placed.order_id)
    send, receive = trio.open_memory_channel(4)
    now_ms = clock.time_ms()
    await send.send(Book(bids=((D("65005.0"), D("1")),), asks=((D("65005.2"), D("1")),), ts_ms=now_ms))  # not through
    await send.send(Book(bids=((D("65020.0"), D("1")),), asks=((D("65020.2"), D("1")),), ts_ms=now_ms + 1))
    await send.aclose()
    await actor._take_books(receive, venue)  # noqa: SLF001 - the book loop, fed by hand

    (fill,) = actor.fills.newest_first()
    assert fill == FillRecord(ts_ms=now_ms + 1, side="SELL", price=D("65010.0"), qty=D("0.002"),
                              fee=D("65010.0") * D("0.002") * D("0.0002"), client_id="mm-BTCUSDT-r-1", ladder="near")
    actor.position = await venue.position("BTCUSDT")
    view = actor.view(ctx, venue)
    assert view.pair == "BTCUSDT" and view.fills == (fill,) and view.fills_total == 1 and view.fills_reported
    assert view.position == D("-0.002") and view.sold_qty == D("0.002") and view.book.best_bid == D("65020.0")
    assert view.realised_pnl is not None and view.unrealised_pnl is not None and not view.book_stale
    assert dict(view.counters)["rounds"] == 0 and view_topic("BTCUSDT") == "mm.view.BTCUSDT"


def test_a_fill_record_from_a_venue_fill() -> None:
    fill = SimpleNamespace(client_order_id="c1", side="BUY", price=D("1.5"), qty=D("2"), fee=D("0.0006"), ts_ms=7)
    assert fill_record(fill, None) == FillRecord(7, "BUY", D("1.5"), D("2"), D("0.0006"), "c1", None)


def _view(**changes: object) -> SimpleNamespace:
    quotes = (LiveOrder("a1", "SELL", D("65010.2"), D("0.002"), "near", 11),
              LiveOrder("a2", "SELL", D("65030.0"), D("0.003"), "near", 12),
              LiveOrder("b1", "BUY", D("64990.0"), D("0.002"), "near", 13),
              LiveOrder("f1", "SELL", D("65650.0"), D("0.01"), "far", 14))
    view = dict(pair="BTCUSDT", venue="paper", ts_ms=1_717_000_001_000,
                book=Book(bids=((D("65000.0"), D("1")),), asks=((D("65000.2"), D("1")),), ts_ms=1_717_000_000_500),
                book_stale=False, quotes=quotes, position=D("-0.002"), max_position=D("0.1"), realised_pnl="-0.02",
                unrealised_pnl="0.01", fills=(_fill(1, "SELL"),), fills_total=1, bought_qty=D(0), sold_qty=D("0.002"),
                fills_reported=True, counters=(("rounds", 12), ("placed", 40)))
    view.update(changes)
    return SimpleNamespace(**view)


def test_the_live_pair_page_shows_both_ladders_position_and_fills() -> None:
    html = render_pair_live(_view(), now_ms=1_717_000_001_000)  # type: ignore[arg-type]
    near = html[html.index('id="near-ladder"'):html.index('id="far-ladder"')]
    assert re.findall(r'data-client-id="(\w+)"', near) == ["a2", "a1", "b1"]  # asks high to low, then bids
    assert near.index("a1") < near.index("bid 65000.0 / ask 65000.2, mid 65000.1") < near.index("b1")
    assert "<td>+1.6</td>" in near  # 65010.2 is 1.6 bps over the mid
    assert "near ladder: 2 asks, 1 bids" in html and "far ladder: 1 asks, 0 bids" in html
    assert 'id="position">-0.002</b> (limit ±0.1)' in html and 'id="fills-total">1<' in html
    assert "0.5 s old" in html and "<th>rounds</th>" in html
    assert re.search(r'<table id="fills">.*SELL.*65000\.1.*mm-BTCUSDT-r-1', html)


def test_the_live_pages_escape_and_say_what_is_missing() -> None:
    hostile = "<img src=x>"
    html = render_pair_live(_view(venue=hostile, quotes=(LiveOrder(hostile, "BUY", D("1"), D("1"), "near", None),),
                                  fills=(), fills_reported=False, book=None, book_stale=True, position=None),
                            now_ms=0)  # type: ignore[arg-type]
    assert "<img" not in html and html.count("&lt;img src=x&gt;") == 3
    assert "does not report fills" in html and "stale: near quotes pulled" in html and "unknown" in html
    listing = render_pairs_live([("BTCUSDT", None, f"market maker not answering: {hostile}")], now_ms=0)
    assert "<img" not in listing and 'href="/pages/mm/BTCUSDT"' in listing
