"""The instrument master parser on hand-written rows shaped like the real file (extra
columns, ``75.0`` lots, options carrying UNDERLYING_SECURITY_ID 26000 for NIFTY): only
option rows of wanted underlyings count, bad rows are skipped, a bad header is an error,
and no junk makes it raise anything but ``DhanMasterError``."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.dhan.codec import SEGMENT_CODES
from adapters.dhan.master import (
    FEED_SEGMENTS,
    REQUIRED_COLUMNS,
    DhanMasterError,
    MasterParser,
    UnderlyingMeta,
    parse_master,
)

HEADER = ("EXCH_ID,SEGMENT,SECURITY_ID,ISIN,INSTRUMENT,UNDERLYING_SECURITY_ID,UNDERLYING_SYMBOL,SYMBOL_NAME,"
          "DISPLAY_NAME,INSTRUMENT_TYPE,SERIES,LOT_SIZE,SM_EXPIRY_DATE,STRIKE_PRICE,OPTION_TYPE,TICK_SIZE,"
          "EXPIRY_FLAG,BRACKET_FLAG")
ROWS = [
    "NSE,I,13,NA,INDEX,13,NIFTY,NIFTY,Nifty 50,INDEX,X,1.0,0001-01-01,,,0.0500,N,N",
    "NSE,D,35001,NA,FUTIDX,26000,NIFTY,NIFTY-Apr2026-FUT,NIFTY APR FUT,FUT,NA,75.0,2026-04-28 14:30:00,"
    "-0.01000,XX,0.1000,M,N",
    "NSE,D,40001,NA,OPTIDX,26000,NIFTY,NIFTY-Apr2026-24000-CE,NIFTY 28 APR 24000 CALL,OP,NA,75.0,"
    "2026-04-28 14:30:00,24000.00000,CE,0.0500,M,N",
    'NSE,D,40002,NA,OPTIDX,26000,NIFTY,NIFTY-Apr2026-24000-PE,"NIFTY 28 APR 24000, PUT",OP,NA,75.0,'
    "2026-04-28 14:30:00,24000.00000,PE,0.0500,M,N",
    "NSE,D,40101,NA,OPTIDX,26000,NIFTY,NIFTY-May2026-24000-CE,NIFTY 26 MAY 24000 CALL,OP,NA,65,"
    "2026-05-26 14:30:00,24000.00000,CE,0.0500,M,N",
    "NSE,D,40102,NA,OPTIDX,26000,NIFTY,NIFTY-May2026-24000-PE,NIFTY 26 MAY 24000 PUT,OP,NA,65,"
    "2026-05-26 14:30:00,24000.00000,PE,0.0500,M,N",
    # BANKNIFTY contains NIFTY: it must not be counted as NIFTY
    "NSE,D,50001,NA,OPTIDX,26009,BANKNIFTY,BANKNIFTY-Apr2026-55000-CE,BANKNIFTY 28 APR 55000 CALL,OP,NA,35.0,"
    "2026-04-28 14:30:00,55000.00000,CE,0.0500,M,N",
    "BSE,D,60001,NA,OPTIDX,1,SENSEX,SENSEX-Apr2026-81000-CE,SENSEX 30 APR 81000 CALL,OP,NA,20.0,"
    "2026-04-30 14:30:00,81000.00000,CE,0.0500,W,N",
    "MCX,M,70001,NA,OPTFUT,464926,CRUDEOIL,CRUDEOIL-Apr2026-5800-CE,CRUDEOIL 15 APR 5800 CALL,OP,NA,100.0,"
    "2026-04-15 23:30:00,5800.00000,CE,0.1000,M,N",
    # malformed NIFTY options: a lot that is not a number, a date that does not exist
    "NSE,D,40003,NA,OPTIDX,26000,NIFTY,NIFTY-Apr2026-24050-CE,NIFTY 28 APR 24050 CALL,OP,NA,lots,"
    "2026-04-28 14:30:00,24050.00000,CE,0.0500,M,N",
    "NSE,D,40004,NA,OPTIDX,26000,NIFTY,NIFTY-Apr2026-24050-PE,NIFTY 28 APR 24050 PUT,OP,NA,75.0,"
    "2026-02-30 14:30:00,24050.00000,PE,0.0500,M,N",
    "NSE,E,2885,INE002A01018,EQUITY,,RELIANCE,RELIANCE,Reliance Industries,ES,EQ,1.0,,,,0.0500,N,N",
]
WANTED = ("nifty", "SENSEX", "CRUDEOIL", "RELIANCE", "NOPE")


def test_only_option_rows_of_wanted_underlyings_count() -> None:
    parsed = parse_master([HEADER, *ROWS], WANTED)
    assert set(parsed) == {"NIFTY", "SENSEX", "CRUDEOIL"}  # RELIANCE has no options, NOPE no rows
    nifty = parsed["NIFTY"]
    assert nifty == UnderlyingMeta("NIFTY", "NSE_FNO", {"2026-04-28": 75, "2026-05-26": 65}, 0.05, 4)
    assert list(nifty.lot_sizes) == ["2026-04-28", "2026-05-26"]
    assert (parsed["SENSEX"].option_segment, parsed["SENSEX"].lot_sizes) == ("BSE_FNO", {"2026-04-30": 20})
    crude = parsed["CRUDEOIL"]
    assert (crude.option_segment, crude.lot_size("2026-04-15"), crude.tick_size) == ("MCX_COMM", 100, 0.1)
    assert parsed.rows_read == len(ROWS) and parsed.skipped == 2


def test_the_streaming_parser_gives_the_same_answer_and_names_the_missing() -> None:
    parser = MasterParser(WANTED)
    for line in ["", HEADER, "", *ROWS, ""]:
        parser.feed(line)
    result = parser.result()
    assert dict(result.metas) == dict(parse_master([HEADER, *ROWS], WANTED))
    assert (result.rows_read, result.skipped) == (len(ROWS), 2)
    assert result.missing(WANTED) == ["NOPE", "RELIANCE"]


def test_lot_size_of_an_unlisted_expiry_is_the_next_listed_then_the_latest() -> None:
    meta = parse_master([HEADER, *ROWS], ["NIFTY"])["NIFTY"]
    assert meta.lot_size("2026-04-28") == 75 and meta.lot_size(date(2026, 5, 26)) == 65
    assert meta.lot_size("2026-01-01") == 75  # before the first: the first
    assert meta.lot_size("2026-05-01") == 65  # between: the next one on or after it
    assert meta.lot_size("2027-01-01") == 65  # after the last: the latest
    assert UnderlyingMeta("X", "NSE_FNO", {}, 0.05, 0).lot_size("2026-04-28") is None
    with pytest.raises(ValueError):
        meta.lot_size("28APR26")


def test_the_most_common_lot_of_an_expiry_wins() -> None:
    odd = ROWS[2].replace("40001", "40009").replace(",75.0,", ",1800,")
    meta = parse_master([HEADER, ROWS[2], ROWS[3], odd], ["NIFTY"])["NIFTY"]
    assert meta.lot_sizes == {"2026-04-28": 75} and meta.option_count == 3


def test_columns_are_found_by_name_whatever_their_order() -> None:
    columns = HEADER.split(",")
    order = list(reversed(range(len(columns))))
    rows = [",".join(row.split(",")[i] for i in order) for row in [ROWS[2], ROWS[4]]]
    header = "\ufeff" + ",".join(columns[i] for i in order)
    meta = parse_master([header, *rows], ["NIFTY"])["NIFTY"]
    assert meta.lot_sizes == {"2026-04-28": 75, "2026-05-26": 65}


@pytest.mark.parametrize("column", REQUIRED_COLUMNS)
def test_a_missing_required_column_is_a_clear_error(column: str) -> None:
    header = ",".join(name for name in HEADER.split(",") if name != column)
    with pytest.raises(DhanMasterError, match=f"lacks required column {column}"):
        parse_master([header, *ROWS], ["NIFTY"])


def test_no_header_is_an_error_and_the_error_is_a_value_error() -> None:
    with pytest.raises(DhanMasterError, match="no header"):
        parse_master(["", "  "], ["NIFTY"])
    assert issubclass(DhanMasterError, ValueError)


def test_every_feed_segment_is_one_the_feed_knows() -> None:
    assert set(FEED_SEGMENTS.values()) <= set(SEGMENT_CODES)


def test_unknown_segments_and_unusable_ticks_are_skipped() -> None:
    rows = [ROWS[2].replace("NSE,D,", "NSE,X,", 1), ROWS[3].replace(",0.0500,M,N", ",0,M,N"),
            ROWS[4].replace(",65,", ",-65,"), ROWS[5].replace(",65,", ",6.5,")]
    parsed = parse_master([HEADER, *rows, ROWS[2][:60]], ["NIFTY"])
    assert dict(parsed) == {} and parsed.skipped == 5 and parsed.rows_read == 5


FIELD = st.sampled_from(["NIFTY", "nifty", "OPTIDX", "OPTSTK", "NSE", "BSE", "MCX", "D", "M", "75", "75.0", "-1",
                         "nan", "1e400", "2026-04-28 14:30:00", "2026-13-01", "0.05", "", '"', '""', "\x00",
                         "\r", "\n", "a\nb"])
JUNK_LINE = st.one_of(st.text(max_size=120), st.lists(st.one_of(FIELD, st.text(max_size=8)), max_size=20).map(",".join))


@settings(max_examples=300, deadline=None)
@given(st.lists(JUNK_LINE, max_size=30), st.booleans())
def test_junk_never_raises_anything_but_dhan_master_error(lines: list[str], with_header: bool) -> None:
    try:
        parsed = parse_master([HEADER, *lines] if with_header else lines, ["NIFTY", "SENSEX"])
    except DhanMasterError:
        assert not with_header
        return
    assert parsed.skipped <= parsed.rows_read <= len(lines)
    for meta in parsed.values():
        assert meta.option_count >= 1 and meta.tick_size > 0 and meta.option_segment in FEED_SEGMENTS.values()
        assert all(lot >= 1 for lot in meta.lot_sizes.values())
        assert meta.lot_size("2026-04-28") in meta.lot_sizes.values()
