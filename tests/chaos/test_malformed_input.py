"""Chaos: malformed input to a running engine. No crash, and clear errors.

The whole engine on the simulated venues (in a thread of this process, a private embedded
Redis): the simulators corrupt feed frames (Dhan's binary feed, Binance's depth stream) and
REST bodies (Deribit, Binance, Dhan); hypothesis sends garbage bodies and query strings to
every POST and GET endpoint of the API. The engine skips and counts what it cannot read,
answers bad requests with a 4xx naming the field (never a 5xx), and keeps running: no actor
restarted, ``/health`` ok. Parsers and config files are fuzzed in test_malformed_venue_parsers
and test_malformed_config.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import quote

import attrs
import httpx
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from structlog.testing import capture_logs

from engine.config import load_config
from tests.chaos.fuzz_support import DEEP_JSON, HUGE_INT, JSON_VALUES, Named, fuzz, json_bytes, mutated
from tests.chaos.process_support import SimPorts, ThreadedEngine, wait_for


# --------------------------------------------------------------------------- the engine under fuzz

PAPER_PAIR = """{"symbol": "BTCUSDT", "venue": "paper", "book_source": "stream", "near_interval_s": 0.5,
 "far_interval_s": 5.0, "near": {"levels": 3, "first_spread_bps": 5, "step_bps": 3, "size": 0.002},
 "far": {"levels": 2, "range_pct": [1.0, 5.0], "size": 0.002}, "max_position": 0.05}"""


def _engine_config(tmp_path: Path, ports: SimPorts) -> Path:
    (tmp_path / "btcusdt.json").write_text(PAPER_PAIR)
    path = tmp_path / "engine.toml"
    path.write_text(f"""
[engine]
name = "chaos-malformed"
[log]
format = "json"
[redis]
url = "embedded"
[api]
port = 0
{ports.sim_section(enabled=True)}
{ports.venue_sections()}
[index_prices]
enabled = true
interval_s = 1.0
sources = [{{market = "BTC", venue = "deribit", index = "btc_usdc"}},
           {{market = "ARB", venue = "binance", index = "ARBUSDT"}}]
[instruments]
enabled = true
startup_wait_s = 10.0
[instruments.markets.BTC]
[instruments.markets.ARB]
[optionchain]
enabled = true
[[optionchain.underlyings]]
name = "NIFTY"
security_id = 13
segment = "IDX_I"
kind = "index_major"
expiries = 1
[oi]
enabled = true
min_interval_s = 2.0
max_interval_s = 5.0
[marketmaker]
pairs = ["btcusdt.json"]
""")
    return path


@pytest.fixture(scope="module")
def fuzzed_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedEngine]:
    """The whole engine, warm: Dhan feed and Binance books streaming, index prices in, OI polled."""
    tmp_path = tmp_path_factory.mktemp("malformed")
    with mock.patch.dict(os.environ):  # the simulator's credentials go into variables of our own, then away
        loaded = load_config(_engine_config(tmp_path, SimPorts.free()))
        running = ThreadedEngine(loaded).start()
        try:
            wait_for(lambda: _components_ok(running, "dhan_feed:0", "book:binance", "index_price:BTC", "oi_poller")
                     and running.dhan_stats.frames > 0, 60, "the engine to warm up", interval_s=0.2)
            yield running
        finally:
            exit_code = running.stop()
    assert exit_code == 0


def _health(engine: ThreadedEngine) -> dict[str, Any]:
    answer = httpx.get(f"{engine.api_url}/health", timeout=10)
    assert answer.status_code == 200
    return answer.json()


def _components_ok(engine: ThreadedEngine, *names: str) -> bool:
    components = {c["name"]: c["ok"] for c in _health(engine)["components"]}
    return all(components.get(name) for name in names)


def _restarts(engine: ThreadedEngine) -> dict[str, tuple[str, int]]:
    return {a["name"]: (a["state"], a["restarts"]) for a in _health(engine)["actors"]}


def _faults(engine: ThreadedEngine, venue: str, body: dict[str, Any]) -> None:
    answer = httpx.post(f"{engine.control_url}/control/{venue}/faults", json=body, timeout=5)
    assert answer.status_code == 200, answer.text


def _armed(engine: ThreadedEngine) -> dict[str, dict[str, Any]]:
    state = httpx.get(f"{engine.control_url}/control", timeout=5).json()
    return {venue: v["faults"] for venue, v in state["venues"].items()}


def test_malformed_frames_and_bodies_from_every_venue_are_skipped(fuzzed_engine: ThreadedEngine) -> None:
    engine = fuzzed_engine
    before = _restarts(engine)
    assert all(state == "running" and restarts == 0 for state, restarts in before.values()), before
    dhan, books = engine.dhan_stats, engine.actors["mm_books"][-1]
    dhan_skipped, book_skipped, book_reconnects = dhan.skipped, books.skipped, books.reconnects
    shards = engine.actors["optionchain"][-1].shards
    shard_connections = [shard.connections for shard in shards]

    with capture_logs() as logs:
        _faults(engine, "dhan", {"malformed_frames": 6, "burst": {"kind": "malformed", "count": 1}})
        _faults(engine, "binance", {"malformed_frames": 6, "burst": {"kind": "malformed", "count": 3}})
        _faults(engine, "deribit", {"burst": {"kind": "malformed", "count": 3}})
        refresh = httpx.post(f"{engine.api_url}/admin/optionchain/refresh", timeout=10)  # Dhan REST calls now
        assert refresh.status_code == 202, refresh.text

        def consumed() -> bool:
            armed = _armed(engine)
            return all(f["malformed_frames"] == 0 and not f["errors"].get("malformed") for f in armed.values())

        wait_for(consumed, 30, "every malformed frame and body to be sent", interval_s=0.2)
        # the engine read each corrupted frame and skipped it (counted)
        wait_for(lambda: dhan.skipped >= dhan_skipped + 6 and books.skipped >= book_skipped + 6, 10,
                 "the engine to skip the corrupted frames")
        frames, books_seen = dhan.frames, books.books
        wait_for(lambda: dhan.frames > frames and books.books > books_seen, 10, "data to flow on after them")
        wait_for(lambda: _health(engine)["status"] == "ok", 20, "/health ok again", interval_s=0.2)

    assert _restarts(engine) == before
    # skipped on the same connections: neither feed reconnected for them
    assert books.reconnects == book_reconnects and [shard.connections for shard in shards] == shard_connections
    # a clear error per bad body: the venue, the call and what was wrong, then a retry
    retried = {e["venue"] for e in logs if e["event"] == "venue_retry" and "VenueProtocolError" in e["error"]
               and "malformed JSON" in e["error"]}
    assert retried == {"deribit", "binance", "dhan"}, [e for e in logs if e["event"] == "venue_retry"]


# --------------------------------------------------------------------------- the API under fuzz

SAMPLE = {"symbol": "BTCUSDT", "open_interest": 1234.5, "ts": 1_790_000_000_000, "mark_price": 65000.0}
ALERT = {"type": "open_interest_alert", "symbol": "BTCUSDT", "direction": "UP", "open_interest": 1100.0,
         "baseline_oi": 1000.0, "pct_change": 10.0, "abs_change": 100.0, "ts": 1_790_000_000_000,
         "window_min": [30, 60]}
HUGE_SAMPLE = Named("HUGE_SAMPLE", b'{"source": "snapshot", "items": [{"symbol": "BTCUSDT", "ts": 1790000000000, '
                    b'"open_interest": ' + str(HUGE_INT).encode() + b"}]}")
# POST endpoint -> (near-valid bodies, the words one of which a 400's message must contain: the field)
POSTS: dict[str, tuple[st.SearchStrategy[Any], tuple[str, ...]]] = {
    "/instruments": (JSON_VALUES, ("body",)),
    "/admin/optionchain/refresh": (mutated({"underlying": "NIFTY"}), ("body", "underlying")),
    "/api/market/open-interest/ingest": (mutated({"source": "snapshot", "items": [SAMPLE, SAMPLE]}),
                                         ("body", "payload", "items", "source")),
    "/api/open-interest-alerts/ingest": (mutated({"items": [ALERT]}), ("body", "payload", "items")),
}
CONTENT_TYPES = (None, "application/json", "text/plain", "application/x-www-form-urlencoded",
                 "multipart/form-data; boundary=x")
QUERY_VALUES = ("NIFTY", "nifty", "BTCUSDT", "btcusdt", "2026-11-24", "2026-02-30", "24-11-2026", "0", "1", "5000",
                "5001", "-1", "1e3", "٣", "", " ", "\x00", "%", "A" * 300)
PATH_VALUES = st.sampled_from(["BTCUSDT", "btcusdt", " BTCUSDT ", "NIFTY", "..", "%"]) | st.text(min_size=1,
                                                                                              max_size=30)
QUERY_JUNK = ("", "&", "&&=&", "=x", "%zz", "%ff%fe", "limit=%00", "symbol=%F0%9F", "a[]=1&a[]=2")


@attrs.frozen
class Operation:
    """One GET or POST of the API, as its OpenAPI document lists it."""

    method: str
    path: str
    query: tuple[str, ...]  # query parameter names
    path_params: tuple[str, ...]


def _operations(engine: ThreadedEngine) -> list[Operation]:
    """Every GET and POST the running API documents (the capabilities' routers included)."""
    document = httpx.get(f"{engine.api_url}/openapi.json", timeout=10).json()
    found = []
    for path, item in sorted(document["paths"].items()):
        for method in ("get", "post"):
            if method in item:
                params = item[method].get("parameters", [])
                found.append(Operation(method.upper(), path, tuple(p["name"] for p in params if p["in"] == "query"),
                                       tuple(p["name"] for p in params if p["in"] == "path")))
    return found


@st.composite
def query_strings(draw: Any, names: tuple[str, ...]) -> str:
    pairs = draw(st.lists(st.tuples(st.sampled_from(names) if names else st.text(max_size=6),
                                    st.sampled_from(QUERY_VALUES) | st.text(max_size=20)), max_size=4))
    encoded = "&".join(f"{quote(key, safe='')}={quote(value, safe='')}" for key, value in pairs)
    return encoded + draw(st.sampled_from(QUERY_JUNK))


def _message(answer: httpx.Response) -> str:
    """The error message of a 4xx: ``error`` or ``detail`` of a JSON body, else the text (a page)."""
    if answer.headers.get("content-type", "").startswith("application/json"):
        body = answer.json()
        message = (body.get("error") or body.get("detail")) if isinstance(body, dict) else None
    else:
        message = answer.text
    assert isinstance(message, str) and message.strip(), answer.text
    return message


def _assert_clear_answer(answer: httpx.Response, fields: tuple[str, ...]) -> None:
    """Never a 5xx (but the documented 503 of an unavailable service); a 400 names the field."""
    where = f"{answer.request.method} {answer.request.url} -> {answer.status_code} {answer.text[:300]!r}"
    if answer.status_code == 503:
        assert "unavailable" in _message(answer), where
        return
    assert answer.status_code < 500, where
    if answer.status_code == 400:
        assert any(field in _message(answer) for field in fields), where
    elif answer.status_code >= 400:
        _message(answer)


@contextlib.contextmanager
def _engine_unharmed(engine: ThreadedEngine) -> Iterator[None]:
    """Around a burst of fuzzing: afterwards no actor restarted or stopped, and /health is ok."""
    before = _restarts(engine)
    yield
    wait_for(lambda: _health(engine)["status"] == "ok", 20, "/health ok after the fuzzing", interval_s=0.2)
    assert _restarts(engine) == before


def test_fuzzed_bodies_to_every_post_endpoint(fuzzed_engine: ThreadedEngine) -> None:
    posts = [op for op in _operations(fuzzed_engine) if op.method == "POST"]
    assert set(POSTS) <= {op.path for op in posts}
    with httpx.Client(base_url=fuzzed_engine.api_url, timeout=30) as client, _engine_unharmed(fuzzed_engine):
        for op in posts:
            documents, fields = POSTS.get(op.path, (JSON_VALUES, ("body",)))

            @fuzz()
            @given(body=json_bytes(documents).filter(bytes.strip), content_type=st.sampled_from(CONTENT_TYPES))
            @example(body=DEEP_JSON, content_type="application/json")
            @example(body=HUGE_SAMPLE, content_type=None)
            @example(body=b"\xff\xfe\x00{", content_type="application/json")
            def post(body: bytes, content_type: str | None) -> None:
                headers = {"Content-Type": content_type} if content_type else {}
                _assert_clear_answer(client.post(op.path, content=body, headers=headers), fields + op.query)

            post()


def test_fuzzed_queries_to_every_get_endpoint(fuzzed_engine: ThreadedEngine) -> None:
    gets = [op for op in _operations(fuzzed_engine) if op.method == "GET"]
    assert {"/health", "/optionchain/live", "/api/market/open-interest/samples", "/api/mm/{pair}"} <= {
        op.path for op in gets}
    with httpx.Client(base_url=fuzzed_engine.api_url, timeout=30) as client, _engine_unharmed(fuzzed_engine):
        @fuzz(120)
        @given(op=st.sampled_from(gets), data=st.data())
        def get(op: Operation, data: Any) -> None:
            path = op.path
            for name in op.path_params:
                value = data.draw(PATH_VALUES)
                path = path.replace(f"{{{name}}}", quote(value, safe=""))
            answer = client.get(f"{path}?{data.draw(query_strings(op.query))}")
            _assert_clear_answer(answer, op.query + op.path_params)

        get()
