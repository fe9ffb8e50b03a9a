"""Pure rules of the simulated Dhan feed: request parsing, subscription caps, frame splitting."""

from __future__ import annotations

import json

from adapters.sim.dhan_feed import over_limit, parse_request, split_frames


def test_parse_request_reads_string_and_int_security_ids() -> None:
    text = json.dumps({"RequestCode": 21, "InstrumentCount": 2, "InstrumentList": [
        {"ExchangeSegment": "NSE_FNO", "SecurityId": "42510"}, {"ExchangeSegment": "IDX_I", "SecurityId": 13}]})
    assert parse_request(text) == (21, [("NSE_FNO", 42510), ("IDX_I", 13)])
    assert parse_request(json.dumps({"RequestCode": 12})) == (12, [])


def test_parse_request_refuses_what_is_not_a_request() -> None:
    for text in ("not json", "[]", json.dumps({"InstrumentList": []}),
                 json.dumps({"RequestCode": 15, "InstrumentList": [{"SecurityId": "1"}]}),
                 json.dumps({"RequestCode": 15, "InstrumentList": [{"ExchangeSegment": "X", "SecurityId": "a"}]})):
        assert parse_request(text) is None, text


def test_caps_count_the_message_and_the_connection() -> None:
    hundred = [("NSE_FNO", i) for i in range(100)]
    assert not over_limit({}, hundred, hundred, 100, 5000)
    assert over_limit({}, hundred + [("NSE_FNO", 100)], [], 100, 5000)  # every entry sent counts
    subs = {("NSE_FNO", i): {15} for i in range(4950)}
    assert not over_limit(subs, hundred, hundred, 100, 5000)  # 50 of them are already subscribed
    more = [("NSE_FNO", 10_000 + i) for i in range(51)]
    assert over_limit(subs, more, more, 100, 5000)


def test_split_frames_never_splits_a_packet() -> None:
    packets = [bytes([i]) * 10 for i in range(7)]
    frames = split_frames(packets, 25)
    assert [len(f) for f in frames] == [20, 20, 20, 10]
    assert b"".join(frames) == b"".join(packets)
    assert split_frames([b"x" * 40], 25) == [b"x" * 40]
