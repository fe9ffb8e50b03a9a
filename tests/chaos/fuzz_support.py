"""Hypothesis settings and strategies the malformed-input scenarios share.

Runs are derandomized with modest example counts, so the suite stays fast and repeatable.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

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
