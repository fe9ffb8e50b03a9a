"""Chaos: malformed input from every side. No crash, and clear errors.

- The whole engine on the simulated venues (in a thread of this process, a private embedded
  Redis): the simulators corrupt feed frames (Dhan's binary feed, Binance's depth stream) and
  REST bodies (Deribit, Binance, Dhan); hypothesis sends garbage bodies and query strings to
  every POST and GET endpoint of the API. The engine skips and counts what it cannot read,
  answers bad requests with a 4xx naming the field (never a 5xx), and keeps running: no actor
  restarted, ``/health`` ok.
- Fuzzed TOML config files (and pair files) to ``load_config`` and ``run.py --check``: valid,
  or one line naming the file, exit code ``EXIT_CONFIG``, never a traceback.
- Fuzzed bytes and JSON to the Dhan feed codec and the Binance, Deribit and Dhan answer
  parsers: they raise nothing but their adapter's declared errors.

Hypothesis runs derandomized with modest example counts, so the suite stays fast and repeatable.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import subprocess
import sys
import tomllib
import types
import typing
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import quote

import attrs
import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

import run
from actors.marketmaker.params import example_pair_json
from adapters.binance import bodies as binance_bodies
from adapters.binance import orders as binance_orders
from adapters.binance.public import BinanceError, premium_index_from
from adapters.binance.public import decode_answer as binance_answer
from adapters.binance.streams import depth_from_text
from adapters.deribit.rest import DeribitError, index_quote
from adapters.deribit.rest import decode_answer as deribit_answer
from adapters.dhan import bodies as dhan_bodies
from adapters.dhan.codec import HEADER, PACKET_SIZES, DecodeStats, decode_frame, decode_prices
from adapters.dhan.errors import DhanError
from adapters.http import VenueHttpError, VenueProtocolError
from engine.config import EngineConfig, load_config
from engine.runtime import EXIT_CONFIG, supervisor_policy
from tests.chaos.process_support import ROOT, SimPorts, ThreadedEngine, wait_for

_FUZZ = settings(max_examples=40, derandomize=True, database=None, deadline=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])


def fuzz(max_examples: int = 40) -> settings:
    """Deterministic (derandomized, no example database), modest, no deadline (the machine may be busy)."""
    return settings(_FUZZ, max_examples=max_examples)


class Named(bytes):
    """A payload that shows its name, not its 100 kB, in hypothesis's reports."""

    def __new__(cls, name: str, content: bytes) -> Named:
        payload = super().__new__(cls, content)
        payload.name = name
        return payload

    def __repr__(self) -> str:
        return self.name


DEEP_JSON = Named("DEEP_JSON", b"[" * 100_000)  # deeper than any parser's recursion
HUGE_INT = 10 ** 400  # a JSON/TOML integer no float can hold

# --------------------------------------------------------------------------- strategies

# Values that break parsers: beyond any float, not finite, digits int() cannot read, control characters.
NASTY_VALUES = (HUGE_INT, -HUGE_INT, 2 ** 63, 1e308, -0.0, float("inf"), float("nan"), "", "0", "-1", "1e999",
                "NaN", "Infinity", "²", "١٢٣", "\x00", "a\nb", "BTCUSDT", "2026-11-24", "2026-02-30")
NASTY_KEYS = ("", " ", "²", "١٢٣", "\x00", "a\nb", "13", "-1", "__proto__")
NASTY_BYTES = (DEEP_JSON, Named("NESTED_3000", b"[" * 3000 + b"]" * 3000), Named("OBJECTS_3000", b'{"a":' * 3000),
               Named("DIGITS_5000", b"1" * 5000), b"\xff\xfe", b"\x00", b"{}", b"[]", b"null", b'"\\ud800"')
JSON_LEAVES = (st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
               | st.sampled_from(NASTY_VALUES))
JSON_VALUES = st.recursive(JSON_LEAVES, lambda children: st.lists(children, max_size=4)
                           | st.dictionaries(st.text(max_size=8) | st.sampled_from(NASTY_KEYS), children, max_size=4),
                           max_leaves=10)


def _paths(doc: Any) -> list[tuple[Any, Any]]:
    """Every (container, key or index) inside ``doc``: the places a mutation may hit."""
    found: list[tuple[Any, Any]] = []
    keys = list(doc) if isinstance(doc, dict) else range(len(doc)) if isinstance(doc, list) else []
    for key in keys:
        found.append((doc, key))
        found.extend(_paths(doc[key]))
    return found


@st.composite
def mutated(draw: Any, valid: Any, values: st.SearchStrategy[Any] = JSON_VALUES) -> Any:
    """``valid`` with one to three of its values replaced (by ``values``), removed or renamed:
    what breaks parsers is near-valid input, which random noise seldom is."""
    doc = copy.deepcopy(valid)
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(doc)
        if not paths:
            return draw(values)
        container, key = draw(st.sampled_from(paths))
        action = draw(st.sampled_from(("replace", "replace", "delete", "rename")) if isinstance(container, dict)
                      else st.just("replace"))
        if action == "replace":
            container[key] = draw(values)
        elif action == "delete":
            del container[key]
        else:
            container[draw(st.sampled_from(NASTY_KEYS) | st.text(max_size=6))] = container.pop(key)
    return doc


def json_bytes(documents: st.SearchStrategy[Any]) -> st.SearchStrategy[bytes]:
    """Bytes a peer might send: garbage, any JSON, a near-valid document (whole or cut short)."""
    return st.one_of(st.binary(max_size=200), st.sampled_from(NASTY_BYTES),
                     JSON_VALUES.map(lambda v: json.dumps(v).encode()),
                     documents.map(lambda v: json.dumps(v).encode()),
                     documents.map(lambda v: json.dumps(v).encode()[: len(json.dumps(v)) // 2]))


# --------------------------------------------------------------------------- venue parsers

FEED_CODES = (1, 2, 4, 5, 6, 7, 8, 50, 0, 3, 99, 255)


@st.composite
def feed_frames(draw: Any) -> bytes:
    """Frames of packets with plausible headers whose lengths, codes and bodies disagree, cut anywhere."""
    parts = []
    for _ in range(draw(st.integers(0, 5))):
        code = draw(st.sampled_from(FEED_CODES) | st.integers(0, 255))
        size = PACKET_SIZES.get(code, 16)
        length = draw(st.sampled_from([size, size - 1, size + 1, 0, 7, 8, 65535]) | st.integers(0, 200))
        body = draw(st.binary(max_size=max(0, min(length, 200) - HEADER.size) + 4))  # may disagree with length
        parts.append(HEADER.pack(code, length, draw(st.integers(0, 255)), draw(st.integers(0, 2 ** 32 - 1))) + body)
    frame = b"".join(parts)
    return frame[:draw(st.integers(0, len(frame)))] if draw(st.booleans()) else frame


@fuzz(200)
@given(frame=st.binary(max_size=400) | feed_frames())
@example(frame=None)
@example(frame="not bytes")
@example(frame=memoryview(b"\x02\x10\x00"))
def test_dhan_feed_codec_never_raises(frame: Any) -> None:
    packets_stats, prices_stats, rows = DecodeStats(), DecodeStats(), []
    packets = decode_frame(frame, packets_stats)
    reason = decode_prices(frame, prices_stats, rows)
    assert isinstance(packets, list) and (reason is None or isinstance(reason, int))
    assert packets_stats.frames == prices_stats.frames == 1
    assert len(rows) <= len(packets)


def _only(errors: tuple[type[BaseException], ...], parse: Callable[[], Any]) -> None:
    """``parse()`` returns, or raises one of ``errors`` (anything else fails the test)."""
    try:
        parse()
    except errors:
        pass


DEPTH = {"stream": "btcusdt@depth20@100ms", "data": {
    "e": "depthUpdate", "E": 1_790_000_000_000, "T": 1_790_000_000_000, "s": "BTCUSDT", "U": 10, "u": 12, "pu": 9,
    "b": [["65000.1", "1.5"], ["64999.9", "2"]], "a": [["65000.2", "1"], ["65000.5", "3"]]}}
BINANCE_BODIES: dict[str, tuple[Any, Callable[[Any], Any]]] = {
    "premiumIndex": ({"symbol": "ARBUSDT", "markPrice": "1.01", "indexPrice": "1.0", "time": 1_790_000_000_000},
                     premium_index_from),
    "exchangeInfo": ({"symbols": [{"symbol": "BTCUSDT", "pair": "BTCUSDT", "contractType": "PERPETUAL",
                                   "status": "TRADING", "baseAsset": "BTC", "quoteAsset": "USDT", "filters": [
                                       {"filterType": "PRICE_FILTER", "tickSize": "0.10"},
                                       {"filterType": "LOT_SIZE", "stepSize": "0.001", "minQty": "0.001"},
                                       {"filterType": "MIN_NOTIONAL", "notional": "50"}]}]},
                     binance_bodies.exchange_info_from),
    "ticker24h": ([{"symbol": "BTCUSDT", "quoteVolume": "1e9", "lastPrice": "65000"}], binance_bodies.tickers_24h_from),
    "openInterest": ({"symbol": "BTCUSDT", "openInterest": "100.5", "time": 1_790_000_000_000},
                     binance_bodies.open_interest_from),
    "openInterestHist": ([{"timestamp": 1_790_000_000_000, "sumOpenInterest": "1.5", "sumOpenInterestValue": "2"}],
                         binance_bodies.open_interest_hist_from),
    "openOrders": ([{"symbol": "BTCUSDT", "orderId": 1, "clientOrderId": "mm-BTCUSDT-a-0", "side": "BUY",
                     "status": "NEW", "type": "LIMIT", "timeInForce": "GTX", "price": "65000", "origQty": "0.002",
                     "executedQty": "0", "time": 1, "updateTime": 1}],
                   lambda body: binance_orders.open_orders_from(body, "GET /fapi/v1/openOrders")),
    "batchOrders": ([{"orderId": 1, "clientOrderId": "c1", "status": "NEW", "price": "1", "origQty": "1",
                      "executedQty": "0"}, {"code": -2010, "msg": "would immediately match"}],
                    lambda body: binance_orders.batch_results_from(body, "POST /fapi/v1/batchOrders", ["c1", "c2"])),
    "positionRisk": ([{"symbol": "BTCUSDT", "positionAmt": "0.001", "positionSide": "BOTH"}],
                     lambda body: binance_orders.position_from(body, "BTCUSDT")),
    "serverTime": ({"serverTime": 1_790_000_000_000}, binance_orders.server_time_from),
    "cancelAll": ({"code": 200, "msg": "done"}, lambda body: binance_orders.cancel_all_from(body, "DELETE")),
}
STATUSES = st.sampled_from([200, 400, 401, 404, 418, 429, 500, 502, 503]) | st.integers(100, 599)


@fuzz(120)
@given(text=st.text(max_size=200) | json_bytes(mutated(DEPTH)).map(lambda b: b.decode("utf-8", "replace")))
@example(text=DEEP_JSON)
@example(text=json.dumps({**DEPTH, "data": {**DEPTH["data"], "b": [[[1], "2"]]}}))
def test_binance_depth_stream_messages_raise_only_protocol_errors(text: str) -> None:
    _only((VenueProtocolError,), lambda: depth_from_text(text))


@fuzz(150)
@given(data=st.data(), name=st.sampled_from(sorted(BINANCE_BODIES)), status=STATUSES)
def test_binance_answers_raise_only_declared_errors(data: Any, name: str, status: int) -> None:
    valid, parse = BINANCE_BODIES[name]
    body = data.draw(json_bytes(mutated(valid)))
    _only((BinanceError, VenueHttpError, VenueProtocolError), lambda: binance_answer(status, body, name))
    _only((VenueProtocolError,), lambda: parse(data.draw(mutated(valid) | JSON_VALUES)))


@fuzz(120)
@given(body=json_bytes(mutated({"jsonrpc": "2.0", "result": {"index_price": 86000.5}, "usIn": 1, "usOut": 2})),
       status=STATUSES)
@example(body=DEEP_JSON, status=200)
@example(body=b'{"result": {"index_price": ' + str(HUGE_INT).encode() + b"}}", status=200)
def test_deribit_answers_raise_only_declared_errors(body: bytes, status: int) -> None:
    declared = (DeribitError, VenueHttpError, VenueProtocolError)
    _only(declared, lambda: index_quote("btc_usdc", deribit_answer(status, body, "public/get_index_price"), 1))


LEG = {"security_id": 41000, "last_price": 120.5, "previous_close_price": 110, "oi": 1000, "previous_oi": 900,
       "volume": 50, "implied_volatility": 12.5, "top_bid_price": 120, "top_bid_quantity": 75,
       "top_ask_price": 121, "top_ask_quantity": 75, "greeks": {"delta": 0.5, "theta": -2, "gamma": 0.01, "vega": 3}}
DHAN_ANSWERS = {
    "optionchain": {"status": "success",
                    "data": {"last_price": 24950.5, "oc": {"24950.000000": {"ce": LEG, "pe": LEG}}}},
    "expirylist": {"status": "success", "data": ["2026-11-24", "2026-12-01"]},
    "ltp": {"status": "success", "data": {"IDX_I": {"13": {"last_price": 24950.5}}}},
    "failed": {"status": "failed", "data": {"805": "Too many requests"}},
    "error": {"errorType": "Rate_Limit", "errorCode": "DH-904", "errorMessage": "Too many requests"},
}


@fuzz(150)
@given(data=st.data(), name=st.sampled_from(sorted(DHAN_ANSWERS)), status=STATUSES)
@example(data=None, name="ltp", status=200)
def test_dhan_answers_raise_only_declared_errors(data: Any, name: str, status: int) -> None:
    if data is None:  # the cases fuzzing found first, kept: digits int() cannot read
        bodies = [b'{"status": "success", "data": {"IDX_I": {"\\u00b2": {"last_price": 1}}}}',
                  b'{"status": "failed", "data": {"\\u00b2": "x"}}']
    else:
        bodies = [data.draw(json_bytes(mutated(DHAN_ANSWERS[name])))]
    for body in bodies:
        try:
            answer = dhan_bodies.decode_answer(status, body, name)
        except (DhanError, VenueHttpError, VenueProtocolError):
            continue
        _only((VenueProtocolError,), lambda: dhan_bodies.expiry_dates(answer))
        _only((VenueProtocolError,), lambda: dhan_bodies.option_chain(answer, 13, "IDX_I", "2026-11-24", 1))
        _only((VenueProtocolError,), lambda: dhan_bodies.last_prices(answer))


# --------------------------------------------------------------------------- config files

def _toml_string(text: str) -> str:
    escaped = {'"': '\\"', "\\": "\\\\"}
    return '"' + "".join(escaped.get(ch) or (f"\\u{ord(ch):04X}" if ord(ch) < 0x20 or ord(ch) == 0x7F else ch)
                         for ch in text) + '"'


def toml_value(value: Any) -> str:
    """TOML for a value (tables inline), so any generated document is well-formed TOML."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "nan" if value != value else ("inf" if value > 0 else "-inf") if value in (float("inf"), float("-inf")) \
            else repr(value)
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return "{" + ", ".join(f"{_toml_string(str(k))} = {toml_value(v)}" for k, v in value.items()) + "}"


TOML_NASTY = (HUGE_INT, 2 ** 63, -1, 0, 65536, 1e308, -0.0, float("inf"), float("-inf"), float("nan"), "", "\x00",
              "a\nb", "²", "embedded", date(2026, 2, 28))
TOML_LEAVES = (st.booleans() | st.integers() | st.floats() | st.text(max_size=10) | st.dates()
               | st.sampled_from(TOML_NASTY))
TOML_ANY = st.recursive(TOML_LEAVES, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=6), c,
                                                                                          max_size=3), max_leaves=6)
PLAUSIBLE_TEXT = st.sampled_from([
    "embedded", "redis://127.0.0.1:1/0", "unix:///nowhere.sock", "http://127.0.0.1:1", "ws://127.0.0.1:1",
    "CHAOS_FUZZ_ENV", "BTC", "ARB", "NIFTY", "08:00", "24:00", "IDX_I", "deribit", "binance", "index_major",
    "full", "json", "debug", "0.0.0.0", "localhost", "pair.json", "pairs/btcusdt.json", "\x00", "a\nb",
])
DEV_CONFIG = tomllib.loads((ROOT / "configs" / "dev.toml").read_text())
PAIR_FILES = ("pair.json", "pairs/btcusdt.json", "pairs/ethusdt.json")


def _typed(tp: Any, depth: int = 0) -> st.SearchStrategy[Any]:
    """Values of a config field's type (mostly in range, sometimes not), or anything at all."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        return _typed(next(a for a in args if a is not type(None)), depth)
    if origin is typing.Literal:
        typed: st.SearchStrategy[Any] = st.sampled_from(args)
    elif origin is list:
        typed = st.lists(_typed(args[0], depth + 1), max_size=2)
    elif origin is dict:
        typed = st.dictionaries(st.sampled_from(["BTC", "ETH", "XRPUSDT", "btc", "a.b"]) | st.text(max_size=5),
                                _typed(args[1], depth + 1), max_size=2)
    elif attrs.has(tp):
        hints = typing.get_type_hints(tp)
        fields = {f.name: hints[f.name] for f in attrs.fields(tp)}
        typed = st.fixed_dictionaries({}, optional={name: _typed(t, depth + 1) for name, t in fields.items()}) \
            if depth < 4 else st.just({})
    elif tp is bool:
        typed = st.booleans()
    elif tp is int:
        typed = st.integers(-2, 70_000)
    elif tp is float:
        typed = st.floats(-1, 1e6) | st.sampled_from(TOML_NASTY)
    else:
        typed = PLAUSIBLE_TEXT | st.text(max_size=10)
    return st.one_of(typed, typed, typed, TOML_ANY)


def toml_document(sections: Any) -> str:
    sections = sections if isinstance(sections, dict) else {"engine": sections}
    return "".join(f"{_toml_string(str(name))} = {toml_value(value)}\n" for name, value in sections.items())


# Config files: the dev config with a few values changed, removed or renamed (near-valid, so the
# checks past the first one run), or documents built from the schema's own types.
CONFIG_FILES = st.one_of(mutated(DEV_CONFIG, TOML_ANY | st.sampled_from(TOML_NASTY)),
                         _typed(EngineConfig)).map(toml_document)


def _check_in_process(path: Path) -> tuple[int, str, str]:
    """``run.py --check path`` in this process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with mock.patch.dict(os.environ), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = run.main(["--check", str(path)])
    return code, out.getvalue(), err.getvalue()


def _assert_valid_or_one_line(path: Path) -> None:
    code, out, err = _check_in_process(path)
    if code == EXIT_CONFIG:
        assert out == "" and len(err.splitlines()) == 1 and err.endswith("\n"), err
        assert err.startswith(f"config error: {path}: ") or err.startswith("config error: " + str(path.parent)), err
        return
    assert code == 0 and err == "", (code, err)
    assert out.startswith(f"config: {path} (valid)\n")
    with mock.patch.dict(os.environ):
        supervisor_policy(load_config(path))  # what start-up builds from it builds


def test_fuzzed_config_files_are_valid_or_refused_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "pairs").mkdir()
    config = tmp_path / "fuzz.toml"

    @fuzz(60)
    @given(document=CONFIG_FILES, pairs=st.lists(mutated(example_pair_json()) | JSON_VALUES, min_size=3, max_size=3))
    # found by fuzzing, kept: an infinite or too large number, a NUL in a pair path, a newline in a key
    @example(document="[supervisor]\nwindow_s = inf\n", pairs=[{}] * 3)
    @example(document=f"[engine]\nheartbeat_interval_s = {HUGE_INT}\n", pairs=[{}] * 3)
    @example(document='[marketmaker]\npairs = ["a\\u0000b"]\n', pairs=[{}] * 3)
    @example(document='["a\\nb"]\nk = 1\n', pairs=[{}] * 3)
    @example(document='[marketmaker]\npairs = ["pair.json"]\n',
             pairs=[{**example_pair_json(), "far_interval_s": HUGE_INT}, {}, {}])
    def check(document: str, pairs: list[Any]) -> None:
        config.write_text(document)
        for name, pair in zip(PAIR_FILES, pairs):
            (tmp_path / name).write_text(json.dumps(pair))
        _assert_valid_or_one_line(config)

    check()


def test_mutated_dev_config_is_valid_or_refused_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "pairs").mkdir()
    for pair in (ROOT / "configs" / "pairs").glob("*.json"):
        (tmp_path / "pairs" / pair.name).write_bytes(pair.read_bytes())
    original, config = (ROOT / "configs" / "dev.toml").read_bytes(), tmp_path / "dev.toml"

    @fuzz()
    @given(edits=st.lists(st.tuples(st.integers(0, len(original)), st.integers(0, 40), st.binary(max_size=12)),
                          min_size=1, max_size=4))
    def check(edits: list[tuple[int, int, bytes]]) -> None:
        text = original
        for at, cut, insert in edits:
            text = text[:at] + insert + text[at + cut:]
        config.write_bytes(text)
        _assert_valid_or_one_line(config)

    check()


NASTY_CONFIGS: dict[str, tuple[bytes, bool]] = {  # file -> (content, with --check)
    "nul_pair_path.toml": (b'[marketmaker]\npairs = ["a\\u0000b"]\n', True),
    "infinite_window.toml": (b"[api]\nport = 0\n[supervisor]\nwindow_s = inf\n", False),
    "deep_array.toml": (b"x = " + b"[" * 5000, False),
    "huge_integer.toml": (b"[engine]\nheartbeat_interval_s = " + str(HUGE_INT).encode() + b"\n", True),
    "newline_key.toml": (b'["a\\nb"]\nk = 1\n', False),
    "deep_pair.toml": (b'[marketmaker]\npairs = ["deep.json"]\n', True),
    "not_utf8.toml": (b"\xff\xfe[api]\n", False),
}


def test_run_py_refuses_broken_configs_with_one_line_and_exit_2(tmp_path: Path) -> None:
    (tmp_path / "deep.json").write_bytes(b'{"symbol": "BTCUSDT", "venue": "paper", "near": ' + DEEP_JSON)
    procs = {}
    for name, (content, check) in NASTY_CONFIGS.items():
        (tmp_path / name).write_bytes(content)
        args = [sys.executable, "run.py", *(["--check"] if check else []), str(tmp_path / name)]
        procs[name] = subprocess.Popen(args, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, text=True)
    results = {}
    try:
        for name, proc in procs.items():
            out, err = proc.communicate(timeout=60)
            results[name] = (proc.returncode, out, err)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    for name, (code, out, err) in results.items():
        assert code == EXIT_CONFIG, (name, code, err)
        assert out == "" and "Traceback" not in err, (name, err)
        assert err.startswith(f"config error: {tmp_path}/") and len(err.splitlines()) == 1, (name, err)


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
