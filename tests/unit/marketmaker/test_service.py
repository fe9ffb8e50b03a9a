"""The market-making service from the config: pair files become specs (or one clear error line),
Binance pairs need their credentials at start but not for --check, and the plan lines."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import run
from actors.marketmaker.actor import MarketMakerActor
from actors.marketmaker.book_feed import BookFeedActor
from actors.marketmaker.params import example_pair_json, parse_pair_params
from actors.marketmaker.service import (
    check_pairs,
    mm_plan_lines,
    mm_specs,
    pair_plan_lines,
    worst_case_orders,
)
from engine.actor import Restart
from engine.config import LoadedConfig, load_config
from engine.config_schema import ConfigError

ROOT = Path(__file__).resolve().parents[3]
BINANCE = ('[venues.binance]\nrest_url = "http://127.0.0.1:8093"\nws_url = "ws://127.0.0.1:8093"\n'
           'api_key_env = "MM_TEST_KEY"\napi_secret_env = "MM_TEST_SECRET"\n')
CREDENTIALS = {"MM_TEST_KEY": "k", "MM_TEST_SECRET": "s"}


def pair_doc(symbol: str = "BTCUSDT", **changes: Any) -> dict[str, Any]:
    return {**example_pair_json(), "symbol": symbol, **changes}


def write_config(tmp_path: Path, pairs: list[dict[str, Any]], venues: str = BINANCE) -> Path:
    (tmp_path / "pairs").mkdir(exist_ok=True)
    names = []
    for doc in pairs:
        name = f"pairs/{doc['symbol'].lower()}.json"
        (tmp_path / name).write_text(json.dumps(doc))
        names.append(name)
    path = tmp_path / "engine.toml"
    path.write_text(venues + "[marketmaker]\npairs = [" + ", ".join(f'"{n}"' for n in names) + "]\n")
    return path


def loaded_with(tmp_path: Path, pairs: list[dict[str, Any]], venues: str = BINANCE) -> LoadedConfig:
    return load_config(write_config(tmp_path, pairs, venues), environ={})


# ---- pair files -> one clear error line -----------------------------------------------------


@pytest.mark.parametrize(("change", "key", "reason"), [
    ({"near": {**example_pair_json()["near"], "levels": 0}}, "near.levels",
     "must be an integer between 1 and 50, got 0"),
    ({"far": {"levels": 2, "range_pct": [5.0, 1.0], "size": 0.01}}, "far.range_pct",
     "must satisfy 0 < low < high < 100, got [5.0, 1.0]"),
    ({"near_interval_s": "fast"}, "near_interval_s", "must be a number >= 0.1 and <= 3600, got 'fast'"),
    ({"max_position": None}, "max_position", "must be a number > 0, got None"),
    ({"nearr": {}}, "nearr", "unknown key (expected one of symbol, venue, enabled, near_interval_s, "
                             "far_interval_s, force_refresh_num, near_diff_rate_per_round, near, far, max_position, "
                             "stale_book_ms, order_rate, book_source)"),
])
def test_a_broken_pair_file_is_one_line_naming_the_file_and_the_key(tmp_path: Path, change: dict[str, Any],
                                                                     key: str, reason: str) -> None:
    loaded = loaded_with(tmp_path, [pair_doc("ETHUSDT"), pair_doc(**change)])
    with pytest.raises(ConfigError) as info:
        mm_specs(loaded, environ={})
    assert info.value.one_line() == f"config error: {tmp_path / 'pairs' / 'btcusdt.json'}: {key}: {reason}"
    with pytest.raises(ConfigError):  # --check refuses it too: the plan needs valid parameters
        mm_specs(loaded, require_credentials=False)


def test_run_py_exits_2_with_the_pair_files_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_config(tmp_path, [pair_doc(near={**example_pair_json()["near"], "levels": 0})])
    assert run.main([str(path), "--check"]) == 2
    out = capsys.readouterr()
    assert out.out == ""
    assert out.err.splitlines() == [f"config error: {tmp_path / 'pairs' / 'btcusdt.json'}: near.levels: "
                                    "must be an integer between 1 and 50, got 0"]


def test_a_disabled_pair_is_not_validated_beyond_its_identity_nor_run(tmp_path: Path) -> None:
    broken_but_off = pair_doc("ETHUSDT", enabled=False, near={"levels": 0})
    loaded = loaded_with(tmp_path, [pair_doc(), broken_but_off])
    assert [s.name for s in mm_specs(loaded, environ={})] == ["mm_books", "mm_BTCUSDT"]


# ---- specs ------------------------------------------------------------------------------------


def test_paper_pairs_get_one_book_stream_and_one_market_maker_each(tmp_path: Path) -> None:
    loaded = loaded_with(tmp_path, [pair_doc("BTCUSDT"), pair_doc("ETHUSDT", near_interval_s=2.0),
                                    pair_doc("SOLUSDT", book_source="redis")])
    specs = mm_specs(loaded, environ={})  # paper pairs need no credentials
    assert [s.name for s in specs] == ["mm_books", "mm_books_redis", "mm_BTCUSDT", "mm_ETHUSDT", "mm_SOLUSDT"]
    assert all(s.restart is Restart.PERMANENT for s in specs)
    stream, redis, *makers = [s.factory() for s in specs]
    assert isinstance(stream, BookFeedActor) and stream.mode == "stream"
    assert stream.symbols == ("BTCUSDT", "ETHUSDT") and stream.ws_url == "ws://127.0.0.1:8093"
    assert isinstance(redis, BookFeedActor) and redis.mode == "redis" and redis.symbols == ("SOLUSDT",)
    assert all(isinstance(m, MarketMakerActor) for m in makers)
    assert [(m.symbol, m.params.venue, m.params.near_interval_s) for m in makers] == [
        ("BTCUSDT", "paper", 1.0), ("ETHUSDT", "paper", 2.0), ("SOLUSDT", "paper", 1.0)]
    assert makers[0].venue is None  # a paper pair builds its own PaperVenue when it runs
    again = specs[2].factory()
    assert again is not makers[0] and again.live == {}  # a fresh actor for every (re)start


def test_no_pairs_no_specs(tmp_path: Path) -> None:
    path = tmp_path / "engine.toml"
    path.write_text(BINANCE)
    loaded = load_config(path, environ={})
    assert mm_specs(loaded, environ={}) == [] and mm_plan_lines(loaded) == []


def test_pairs_need_the_binance_venue_section(tmp_path: Path) -> None:
    loaded = loaded_with(tmp_path, [pair_doc()], venues="")
    with pytest.raises(ConfigError) as info:
        mm_specs(loaded, environ={})
    assert info.value.one_line().startswith(f"config error: {tmp_path / 'engine.toml'}: venues.binance: "
                                            "not configured, but pair BTCUSDT")


def test_a_binance_pair_needs_its_credentials_at_start_but_not_for_check(tmp_path: Path) -> None:
    loaded = loaded_with(tmp_path, [pair_doc(venue="binance")])
    with pytest.raises(ConfigError) as info:
        mm_specs(loaded, environ={"MM_TEST_SECRET": "s"})
    assert info.value.one_line() == (f"config error: {tmp_path / 'engine.toml'}: venues.binance: pair BTCUSDT "
                                     "trades on Binance: set the environment variable MM_TEST_KEY (the API key and "
                                     "secret)")
    with pytest.raises(ConfigError) as info:
        mm_specs(loaded, environ={"MM_TEST_KEY": "k"})
    assert "set the environment variable MM_TEST_SECRET" in info.value.one_line()
    checked = mm_specs(loaded, require_credentials=False, environ={})
    assert [s.name for s in checked] == ["mm_books", "mm_BTCUSDT"]
    started = mm_specs(loaded, environ=CREDENTIALS)
    maker = started[1].factory()
    assert maker.params.venue == "binance" and maker.venue_key == "binance_orders" and maker.venue is None


def test_run_py_check_accepts_a_binance_pair_without_credentials(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("MM_TEST_KEY", raising=False)
    monkeypatch.delenv("MM_TEST_SECRET", raising=False)
    path = write_config(tmp_path, [pair_doc(venue="binance")])
    assert run.main([str(path), "--check"]) == 0
    out = capsys.readouterr().out
    assert "  mm_BTCUSDT   permanent" in out
    assert "mm credentials: MM_TEST_KEY, MM_TEST_SECRET unset, the engine will refuse to start" in out


# ---- plan ---------------------------------------------------------------------------------------


def test_worst_case_counts_full_ladders_every_round() -> None:
    params = parse_pair_params(pair_doc(near_interval_s=1.0, far_interval_s=30.0))
    # near 5 levels x2 = 10 orders a round, 60 rounds a minute; far 10 orders, 2 rounds a minute
    assert worst_case_orders(params, 60.0) == (620, 60 * 2 * 5 + 2 * 2 * 5)
    # 10 s: 10 near rounds of 2 batch calls (5 each) + 1 far round of 2 calls
    assert worst_case_orders(params, 10.0) == (110, 10 * 2 * 5 + 1 * 2 * 5)
    uneven = parse_pair_params(pair_doc(near_interval_s=3.0, far={"levels": 0, "range_pct": [1, 5], "size": 0.01}))
    assert worst_case_orders(uneven, 10.0) == (4 * 10, 4 * 2 * 5)  # rounds at 0, 3, 6, 9 s


def test_plan_lines_per_pair_and_over_budget(tmp_path: Path) -> None:
    fast = pair_doc("ETHUSDT", near_interval_s=0.2, near={**example_pair_json()["near"], "levels": 10})
    loaded = loaded_with(tmp_path, [pair_doc(), fast])
    lines = mm_plan_lines(loaded)
    assert lines[0].startswith("mm BTCUSDT: venue paper, book stream; near 5 levels x2 every 1 s")
    assert "far 5 levels x2 every 30 s" in lines[0]
    assert lines[1] == ("mm BTCUSDT: worst case 620 orders/min (budget 1080 = 1200 x 0.9), 10 s order count 110 "
                        "(5 per batch call; budget 270) -> within the budget")
    assert lines[3].startswith("mm ETHUSDT: worst case 6020 orders/min") and lines[3].endswith(
        "over the budget: the rest of each round is deferred")
    assert lines[4] == "mm books: one depth stream (BTCUSDT, ETHUSDT) from ws://127.0.0.1:8093"
    assert not any("credentials" in line for line in lines)  # paper pairs only
    no_far = parse_pair_params(pair_doc(far={"levels": 0, "range_pct": [1, 5], "size": 0.01}))
    assert "no far ladder" in pair_plan_lines(no_far)[0]


def test_plan_lines_sum_binance_pairs_on_one_account(tmp_path: Path) -> None:
    loaded = loaded_with(tmp_path, [pair_doc(venue="binance"), pair_doc("ETHUSDT", venue="binance")])
    lines = mm_plan_lines(loaded)
    account = next(line for line in lines if line.startswith("mm binance account"))
    assert "2 pair(s), worst case 1240 orders/min together" in account
    assert account.endswith("-> over: split it between the pair files")
    assert check_pairs(loaded, environ=CREDENTIALS)  # valid all the same: the budget defers, never overspends


def test_dev_config_check_prints_the_market_making_plan() -> None:
    """``run.py configs/dev.toml --check`` in its own process (it sets the simulator's credentials)."""
    proc = subprocess.run([sys.executable, "run.py", "configs/dev.toml", "--check"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for line in ("  mm_books     permanent", "  mm_BTCUSDT   permanent", "  mm_ETHUSDT   permanent",
                 "pair BTCUSDT: venue paper", "pair ETHUSDT: venue paper"):
        assert line in out.splitlines(), line
    assert "mm BTCUSDT: venue paper, book stream; near 5 levels x2 every 1 s" in out
    assert "mm ETHUSDT: worst case" in out and "within the budget" in out
    assert "mm books: one depth stream (BTCUSDT, ETHUSDT) from ws://127.0.0.1:8093" in out
