"""Partial-depth stream messages from hand-written bodies following Binance's stream docs."""

from __future__ import annotations

from decimal import Decimal

import pytest

from adapters.binance.streams import combined_url, depth_from
from adapters.http import VenueProtocolError

MESSAGE = {"e": "depthUpdate", "E": 1717000000123, "T": 1717000000120, "s": "BTCUSDT", "U": 10, "u": 12, "pu": 9,
           "b": [["86000.10", "1.500"], ["86000.00", "0.002"]], "a": [["86000.20", "0.700"], ["86001.00", "3"]]}


def test_raw_and_combined_messages_decode_to_the_same_book() -> None:
    book = depth_from(MESSAGE)
    assert book == depth_from({"stream": "btcusdt@depth20@100ms", "data": MESSAGE})
    assert book.bids[0] == (Decimal("86000.10"), Decimal("1.500")) and book.asks[-1][1] == Decimal("3")
    assert (book.symbol, book.event_ms, book.update_id) == ("BTCUSDT", 1717000000123, 12)
    assert book.to_json(5)["bids"][0] == ["86000.10", "1.500"]


@pytest.mark.parametrize("change", [
    {"e": "bookTicker"}, {"s": ""}, {"E": "1"}, {"u": -1}, {"b": "x"}, {"b": [["abc", "1"]]}, {"a": [["0", "1"]]},
    {"b": [["1", "1"], ["2", "1"]]}, {"a": [["2", "1"], ["1", "1"]]}, {"b": [["NaN", "1"]]},
])
def test_malformed_messages_are_protocol_errors(change: dict) -> None:
    with pytest.raises(VenueProtocolError):
        depth_from({**MESSAGE, **change})


def test_combined_url() -> None:
    assert combined_url("wss://fstream.binance.com/", ["ETHUSDT", "BTCUSDT", "BTCUSDT"]) == (
        "wss://fstream.binance.com/stream?streams=btcusdt@depth20@100ms/ethusdt@depth20@100ms")
    with pytest.raises(ValueError):
        combined_url("wss://x", ["BTCUSDT"], levels=7)
