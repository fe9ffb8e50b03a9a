"""JSON shapes of samples and alerts: round trips and strict, all-or-nothing ingest validation."""

from __future__ import annotations

import copy
import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from actors.oi.alerts import Alert
from actors.oi.payloads import (
    MAX_BATCH_ITEMS,
    IngestError,
    Sample,
    alert_from_json,
    alert_to_json,
    parse_alerts_batch,
    parse_samples_batch,
    sample_from_stream_fields,
    sample_to_json,
    sample_to_stream_fields,
)

TS = 1_717_000_000_123
ALERT = Alert("BTCUSDT", "UP", 110.0, 100.0, 10.0, 10.0, TS, 30, 60, mark_price=65_000.0, oi_usd=7_150_000.0)


def batch(*items: dict, source: str = "realtime") -> dict:
    return {"source": source, "items": list(items)}


def item(**overrides: object) -> dict:
    doc: dict = {"symbol": "BTCUSDT", "open_interest": 123.4, "ts": TS}
    doc.update(overrides)
    return {k: v for k, v in doc.items() if v is not ...}


def test_alert_json_shape() -> None:
    assert alert_to_json(ALERT) == {
        "type": "open_interest_alert", "symbol": "BTCUSDT", "direction": "UP", "open_interest": 110.0,
        "baseline_oi": 100.0, "pct_change": 10.0, "abs_change": 10.0, "oi_usd": 7_150_000.0, "mark_price": 65_000.0,
        "window_min": [30, 60], "ts": TS,
    }


def test_alert_round_trip_through_json_text() -> None:
    assert alert_from_json(json.loads(json.dumps(alert_to_json(ALERT)))) == ALERT
    bare = Alert("ETHUSDT", "DOWN", 90.0, 100.0, -10.0, -10.0, TS, 30, 60)
    assert alert_from_json(json.loads(json.dumps(alert_to_json(bare)))) == bare
    doc = alert_to_json(bare)
    del doc["oi_usd"], doc["mark_price"]  # optional
    assert alert_from_json(doc) == bare


@pytest.mark.parametrize("change, message", [
    ({"type": "alert"}, "type: must be 'open_interest_alert'"),
    ({"direction": "SIDEWAYS"}, "direction: must be 'UP' or 'DOWN'"),
    ({"symbol": "btcusdt"}, "symbol: must match"),
    ({"symbol": "BTCUSDT\n"}, "symbol: must match"),
    ({"open_interest": -1}, "open_interest: must be a finite number >= 0"),
    ({"open_interest": "110"}, "open_interest: must be a finite number"),
    ({"baseline_oi": 0}, "baseline_oi: must be a finite number > 0"),
    ({"pct_change": math.nan}, "pct_change: must be a finite number"),
    ({"abs_change": True}, "abs_change: must be a finite number"),
    ({"mark_price": 0}, "mark_price: must be a finite number > 0 or null"),
    ({"oi_usd": -1}, "oi_usd: must be a finite number >= 0 or null"),
    ({"window_min": [60, 30]}, "window_min: must be [low, high]"),
    ({"window_min": [30]}, "window_min: must be [low, high]"),
    ({"ts": 1_717_000_000}, "ts: must be Unix milliseconds"),  # seconds
    ({"ts": float(TS)}, "ts: must be Unix milliseconds"),
    ({"extra": 1}, "extra: unexpected field"),
])
def test_alert_from_json_names_the_field(change: dict, message: str) -> None:
    doc = {**alert_to_json(ALERT), **change}
    with pytest.raises(IngestError, match=message.replace("[", r"\[")):
        alert_from_json(doc)


def test_alert_missing_field_and_not_an_object() -> None:
    doc = alert_to_json(ALERT)
    del doc["baseline_oi"]
    with pytest.raises(ValueError, match="^baseline_oi: required$"):
        alert_from_json(doc)
    with pytest.raises(ValueError, match="payload: must be a JSON object"):
        alert_from_json([1, 2])


def test_samples_batch() -> None:
    samples = parse_samples_batch(batch(item(), item(symbol="ETHUSDT", mark_price=3_500.0, oi_usd=None),
                                        item(symbol="1000PEPEUSDT", oi_usd=12.5), source="snapshot"))
    assert samples == (
        Sample("BTCUSDT", 123.4, TS, source="snapshot"),
        Sample("ETHUSDT", 123.4, TS, mark_price=3_500.0, source="snapshot"),
        Sample("1000PEPEUSDT", 123.4, TS, oi_usd=12.5, source="snapshot"),
    )
    assert parse_samples_batch(batch()) == ()


@pytest.mark.parametrize("bad_item, message", [
    (item(open_interest=-0.5), "items[1].open_interest: must be a finite number >= 0"),
    (item(open_interest=None), "items[1].open_interest: must be a finite number >= 0"),
    (item(open_interest="1.5"), "items[1].open_interest: must be a finite number >= 0"),
    (item(open_interest=...), "items[1].open_interest: required"),
    (item(symbol="BTC-USDT"), "items[1].symbol: must match"),
    (item(symbol="B"), "items[1].symbol: must match"),
    (item(symbol="A" * 31), "items[1].symbol: must match"),
    (item(ts=1_717_000_000), "items[1].ts: must be Unix milliseconds"),
    (item(ts="1717000000123"), "items[1].ts: must be Unix milliseconds"),
    (item(mark_price=-1.0), "items[1].mark_price: must be a finite number > 0 or null"),
    (item(oi_usd=math.inf), "items[1].oi_usd: must be a finite number >= 0 or null"),
    (item(oiUsd=1.0), "items[1].oiUsd: unexpected field"),
    ("BTCUSDT", "items[1]: must be a JSON object"),
])
def test_bad_sample_item_is_named_and_nothing_is_returned(bad_item: object, message: str) -> None:
    doc = batch(item(), bad_item, item())  # type: ignore[arg-type]
    with pytest.raises(IngestError) as caught:
        parse_samples_batch(doc)
    assert str(caught.value).startswith(message)
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize("doc, message", [
    ({"source": "live", "items": []}, "source: must be 'snapshot' or 'realtime'"),
    ({"items": []}, "source: required"),
    ({"source": "realtime"}, "items: required"),
    ({"source": "realtime", "items": {}}, "items: must be a list"),
    ({"source": "realtime", "items": [], "extra": 1}, "extra: unexpected field"),
    ([], "payload: must be a JSON object"),
    ({"source": "realtime", "items": [item()] * (MAX_BATCH_ITEMS + 1)}, "items: at most"),
])
def test_bad_samples_batch(doc: object, message: str) -> None:
    with pytest.raises(IngestError, match=message.replace("[", r"\[")):
        parse_samples_batch(doc)


def test_alerts_batch() -> None:
    second = {**alert_to_json(ALERT), "symbol": "ETHUSDT", "direction": "DOWN"}
    alerts = parse_alerts_batch({"items": [alert_to_json(ALERT), second]})
    assert [a.symbol for a in alerts] == ["BTCUSDT", "ETHUSDT"] and alerts[1].direction == "DOWN"
    bad = copy.deepcopy(second)
    bad["pct_change"] = "10%"
    with pytest.raises(IngestError, match=r"^items\[2\]\.pct_change: must be a finite number"):
        parse_alerts_batch({"items": [alert_to_json(ALERT), second, bad]})
    with pytest.raises(IngestError, match="source: unexpected field"):
        parse_alerts_batch({"source": "realtime", "items": []})


def test_sample_json_and_stream_fields() -> None:
    sample = Sample("BTCUSDT", 84213.527, TS, mark_price=65_000.5, source="snapshot")
    assert sample_to_json(sample) == {"symbol": "BTCUSDT", "open_interest": 84213.527, "ts": TS,
                                      "mark_price": 65_000.5, "oi_usd": None, "source": "snapshot"}
    fields = sample_to_stream_fields(sample)
    assert fields == {"open_interest": "84213.527", "ts": str(TS), "source": "snapshot", "mark_price": "65000.5"}
    assert sample_from_stream_fields("BTCUSDT", {k.encode(): v.encode() for k, v in fields.items()}) == sample
    with pytest.raises(ValueError, match="malformed oi sample stream entry for BTCUSDT"):
        sample_from_stream_fields("BTCUSDT", {"open_interest": "1", "ts": "x", "source": "realtime"})
    with pytest.raises(ValueError, match="malformed"):
        sample_from_stream_fields("BTCUSDT", {"open_interest": "1", "ts": "1", "source": "live"})


finite = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12)
positive = st.floats(min_value=1e-9, max_value=1e12)


@given(symbol=st.from_regex(r"[A-Z0-9]{2,30}", fullmatch=True), up=st.booleans(), oi=st.floats(0, 1e12),
       baseline_oi=positive, pct=finite, delta=finite, ts=st.integers(10**12, 10**13 - 1),
       window=st.tuples(st.integers(0, 100), st.integers(1, 100)).filter(lambda w: w[0] < w[1]),
       mark=st.none() | positive, usd=st.none() | st.floats(0, 1e15))
def test_alert_round_trip_property(symbol: str, up: bool, oi: float, baseline_oi: float, pct: float, delta: float,
                                   ts: int, window: tuple[int, int], mark: float | None, usd: float | None) -> None:
    alert = Alert(symbol, "UP" if up else "DOWN", oi, baseline_oi, pct, delta, ts, window[0], window[1], mark, usd)
    assert alert_from_json(json.loads(json.dumps(alert_to_json(alert)))) == alert
