"""The simulators' load options (benchmarks): made-up Dhan indices and the stand-alone flags."""

from __future__ import annotations

import argparse
import csv
import io
from datetime import date

import pytest

from adapters.sim.__main__ import load_options, main, venue_list
from adapters.sim.control import VenueControl
from adapters.sim.dhan import DhanSim
from adapters.sim.dhan_bodies import instrument_master_csv
from adapters.sim.dhan_universe import DEFAULT_UNDERLYINGS, synthetic_indices
from engine.clock import Clock


def test_synthetic_indices_are_distinct_nse_indices_clear_of_the_real_ones() -> None:
    specs = synthetic_indices(3, weeklies=12)
    assert [s.symbol for s in specs] == ["SIMIDX01", "SIMIDX02", "SIMIDX03"]
    assert all(s.segment == "IDX_I" and s.option_segment == "NSE_FNO" and s.rule.weeklies == 12 for s in specs)
    real = {(s.segment, s.security_id) for s in DEFAULT_UNDERLYINGS} | {s.symbol for s in DEFAULT_UNDERLYINGS}
    assert len({s.security_id for s in specs}) == 3
    assert not real & ({(s.segment, s.security_id) for s in specs} | {s.symbol for s in specs})
    assert synthetic_indices(0) == ()
    with pytest.raises(ValueError, match="weeklies >= 1"):
        synthetic_indices(1, weeklies=0)


async def test_dhan_lists_the_made_up_indices_with_their_weeklies_in_every_api() -> None:
    sim = DhanSim(seed=1, clock=Clock(), control=VenueControl.new("dhan"), today=date(2025, 10, 14),
                  underlyings=("NIFTY",), synthetic_indices=2, synthetic_weeklies=12, strikes_each_side=60)
    assert list(sim.market.underlyings) == ["NIFTY", "SIMIDX01", "SIMIDX02"]
    expiries = sim.market.expiries("SIMIDX02")
    assert len(expiries) == 12 and all(e.weekday() in (0, 1) for e in expiries)  # Tuesdays, or Monday before a holiday
    assert len(sim.market.chain("SIMIDX02", expiries[-1])) == 121
    assert sim.market.quote("IDX_I", synthetic_indices(2)[1].security_id) is not None
    rows = list(csv.DictReader(io.StringIO(instrument_master_csv(sim.market))))
    options = [r for r in rows if r["UNDERLYING_SYMBOL"] == "SIMIDX01" and r["INSTRUMENT"] == "OPTIDX"]
    assert len(options) == 12 * 121 * 2


def test_load_flags_set_only_the_options_given() -> None:
    class Args:
        binance_symbols, dhan_synthetic_indices, dhan_synthetic_weeklies, dhan_step_interval_s = 650, 10, None, 2.0

    assert load_options(Args()) == {"binance": {"symbols": 650},
                                    "dhan": {"synthetic_indices": 10, "step_interval_s": 2.0}}


def test_venues_flag_takes_a_subset_of_the_simulators() -> None:
    assert venue_list("dhan") == ("dhan",)
    assert venue_list(" binance, dhan ,binance") == ("binance", "dhan")
    for bad in ("", "dhan,kraken"):
        with pytest.raises(argparse.ArgumentTypeError, match="expected some of deribit, dhan, binance"):
            venue_list(bad)


def test_a_bad_config_exits_2_with_one_line(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    broken = tmp_path / "sim.toml"
    broken.write_text("[sim]\nseed = \"seven\"\n")
    assert main([str(broken), "--binance-symbols", "650"]) == 2
    assert capsys.readouterr().err.strip() == f"config error: {broken}: sim.seed: must be an integer, got 'seven'"
