"""SVI parameters from Redis: every way they can be wrong gives a reason, good ones a smile."""

from __future__ import annotations

import json
import math

import pytest

from actors.instruments.svi import SviError, atm_iv, flat_vol, parse_svi, smile_of, smile_vol, svi_problems
from engine.quant import SviParams

GOOD = {"a": 0.01, "b": 0.1, "rho": -0.3, "m": 0.0, "sigma": 0.1}


def doc(**changes: object) -> str:
    return json.dumps({**GOOD, **changes})


def test_good_parameters_parse_from_str_and_bytes() -> None:
    assert parse_svi(doc()) == SviParams(**GOOD)
    assert parse_svi(doc().encode()) == SviParams(**GOOD)
    assert parse_svi('{"a": 1, "b": 0, "rho": 0, "m": 0, "sigma": 1, "extra": "ignored"}').a == 1.0


@pytest.mark.parametrize("raw, reason", [
    (None, "missing"),
    ("", "missing"),
    (b"  ", "missing"),
    ("{not json", "invalid JSON"),
    (b"\xff\xfe", "invalid JSON"),
    ("[1, 2]", "invalid JSON"),
    (json.dumps({k: v for k, v in GOOD.items() if k != "rho"}), "missing field 'rho'"),
    (doc(b="0.1"), "field 'b' is not a number"),
    (doc(m=None), "field 'm' is not a number"),
    (doc(sigma=True), "field 'sigma' is not a number"),
    ('{"a": NaN, "b": 0.1, "rho": 0, "m": 0, "sigma": 0.1}', "field 'a' is not finite"),
    ('{"a": 1e999, "b": 0.1, "rho": 0, "m": 0, "sigma": 0.1}', "field 'a' is not finite"),
    (doc(b=-0.1), "b must be >= 0"),
    (doc(rho=1.0), "|rho| must be < 1"),
    (doc(rho=-1.5), "|rho| must be < 1"),
    (doc(sigma=0), "sigma must be > 0"),
    (doc(a=-0.5), "a + b*sigma*sqrt(1-rho^2) must be >= 0"),
    (doc(b=1.8, rho=0.2), "b*(1+rho)"),
    (doc(b=1.8, rho=-0.2), "b*(1-rho)"),
])
def test_bad_parameters_say_why(raw: str | bytes | None, reason: str) -> None:
    with pytest.raises(SviError) as caught:
        parse_svi(raw)
    assert reason in str(caught.value)


def test_lee_bound_is_inclusive_at_two() -> None:
    assert svi_problems(SviParams(a=0.1, b=2.0, rho=0.0, m=0.0, sigma=0.1)) == []
    assert len(svi_problems(SviParams(a=0.1, b=2.0, rho=0.5, m=0.0, sigma=0.1))) == 1


def test_atm_iv_is_the_vol_at_the_forward() -> None:
    params = SviParams(**GOOD)
    expiry_years = 0.25
    assert atm_iv(params, expiry_years) == pytest.approx(math.sqrt(params.total_variance(0.0) / expiry_years))
    assert smile_vol(params, 100.0, 100.0, expiry_years) == pytest.approx(atm_iv(params, expiry_years))
    # the negative rho makes the downside richer
    assert smile_vol(params, 80.0, 100.0, expiry_years) > smile_vol(params, 120.0, 100.0, expiry_years)
    assert smile_of(params, 100.0, expiry_years)(80.0) == smile_vol(params, 80.0, 100.0, expiry_years)


@pytest.mark.parametrize("call", [
    lambda p: atm_iv(p, 0.0), lambda p: smile_vol(p, -1.0, 100.0, 0.1), lambda p: smile_vol(p, 1.0, 0.0, 0.1),
    lambda p: flat_vol(0.0),
])
def test_nonsense_inputs_raise(call) -> None:
    with pytest.raises(ValueError):
        call(SviParams(**GOOD))
