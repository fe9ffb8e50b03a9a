"""Chaos: fuzzed TOML config files (and pair files) to ``load_config`` and ``run.py --check``:
valid, or one line naming the file, exit code ``EXIT_CONFIG``, never a traceback.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import tomllib
import types
import typing
from datetime import date
from pathlib import Path
from typing import Any
from unittest import mock

import attrs
from hypothesis import example, given
from hypothesis import strategies as st

import run
from actors.marketmaker.params import example_pair_json
from engine.config import EngineConfig, load_config
from engine.runtime import EXIT_CONFIG, supervisor_policy
from tests.chaos.fuzz_support import DEEP_JSON, HUGE_INT, JSON_VALUES, fuzz, mutated
from tests.chaos.process_support import ROOT


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
