"""Writing samples and alerts where other services read them, and reading the samples back;
shared by the actors and the API."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from actors.oi.alerts import Alert
from actors.oi.payloads import ALERT_TYPE, Sample, alert_to_json, sample_from_stream_fields, sample_to_stream_fields
from actors.oi.topics import ALERT_TOPIC
from engine import keys

DEFAULT_SAMPLES_MAXLEN = 5000
DEFAULT_ALERTS_MAXLEN = 10_000


def record_samples(store: Any, samples: Iterable[Sample], maxlen: int = DEFAULT_SAMPLES_MAXLEN) -> int:
    """Append each sample to its symbol's capped stream (queued on the writer: one flush for a batch)."""
    count = 0
    for sample in samples:
        store.xadd(keys.oi_samples(sample.symbol), sample_to_stream_fields(sample), maxlen=maxlen)
        count += 1
    return count


def alert_text(alert: Alert) -> str:
    return json.dumps(alert_to_json(alert), separators=(",", ":"), allow_nan=False)


def record_alert(store: Any, bus: Any, alert: Alert, maxlen: int = DEFAULT_ALERTS_MAXLEN) -> str:
    """The alert to the ``oi:alerts`` stream, the ``oi:alerts`` channel and the bus (for /ws)."""
    text = alert_text(alert)
    store.xadd(keys.OI_ALERTS, {"symbol": alert.symbol, "direction": alert.direction, "type": ALERT_TYPE,
                                "ts": str(alert.ts_ms), "payload": text}, maxlen=maxlen)
    store.publish(keys.OI_ALERTS, text)
    bus.publish_nowait(ALERT_TOPIC, alert)
    return text


def stream_samples(symbol: str, entries: Sequence[tuple[str, Mapping[str, str]]], log: Any) -> list[Sample]:
    """``oi:samples:{symbol}`` entries back to samples, in their order; a malformed entry is logged and skipped."""
    samples = []
    for entry_id, fields in entries:
        try:
            samples.append(sample_from_stream_fields(symbol, fields))
        except ValueError as error:
            log.warning("oi_sample_entry_malformed", symbol=symbol, entry_id=entry_id, error=str(error))
    return samples
