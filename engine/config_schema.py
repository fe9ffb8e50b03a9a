"""Typed config loading: plain mappings (TOML, JSON) into frozen attrs classes.

Every rejection names the dotted key and the reason, so start-up can print one line an
operator can act on. Unknown keys are errors: a typo must never be silently ignored.
"""

from __future__ import annotations

import math
import types
import typing
from typing import Any, Callable, Literal, Union

import attrs

SECRET_WORDS = ("token", "secret", "password", "api_key", "apikey", "passphrase")


class ConfigError(Exception):
    """An invalid config file: which file, which key, and why."""

    def __init__(self, file: str, key: str, reason: str) -> None:
        super().__init__(f"{file}: {key}: {reason}")
        self.file = file
        self.key = key
        self.reason = reason

    def one_line(self) -> str:
        """The message on one line: control characters (a key may hold a newline) are escaped."""
        text = f"config error: {self.file}: {self.key}: {self.reason}"
        return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)


@attrs.frozen
class FieldProblem(Exception):
    """Raised inside the loader; the file name is attached by the caller."""

    key: str
    reason: str


Check = Callable[[Any], "str | None"]


def setting(default: Any = attrs.NOTHING, *, check: Check | None = None, factory: Any = None) -> Any:
    """An attrs field with an optional check returning an error message or None."""
    metadata = {"check": check} if check else {}
    if factory is not None:
        return attrs.field(factory=factory, metadata=metadata)
    return attrs.field(default=default, metadata=metadata)


def positive(value: float) -> str | None:
    return None if value > 0 else f"must be > 0, got {value!r}"


def non_negative(value: float) -> str | None:
    return None if value >= 0 else f"must be >= 0, got {value!r}"


def in_range(low: float, high: float) -> Check:
    def check(value: float) -> str | None:
        return None if low <= value <= high else f"must be between {low} and {high}, got {value!r}"

    return check


def non_empty(value: str) -> str | None:
    return None if value.strip() else "must not be empty"


def _type_name(tp: Any) -> str:
    names = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}
    if tp in names:
        return names[tp]
    if typing.get_origin(tp) is Literal:
        return "one of " + ", ".join(repr(v) for v in typing.get_args(tp))
    if typing.get_origin(tp) is list:
        return "a list"
    if attrs.has(tp):
        return "a table"
    return str(tp)


def _convert(tp: Any, value: Any, key: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _convert(args[0], value, key)
    if origin is Literal:
        if value not in typing.get_args(tp):
            raise FieldProblem(key, f"must be {_type_name(tp)}, got {value!r}")
        return value
    if origin is list:
        if not isinstance(value, list):
            raise FieldProblem(key, f"must be a list, got {value!r}")
        (item_tp,) = typing.get_args(tp)
        return tuple(_convert(item_tp, item, f"{key}[{i}]") for i, item in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise FieldProblem(key, f"must be a table, got {value!r}")
        _, val_tp = typing.get_args(tp)
        return {k: _convert(val_tp, v, f"{key}.{k}") for k, v in value.items()}
    if attrs.has(tp):
        if not isinstance(value, dict):
            raise FieldProblem(key, f"must be a table, got {value!r}")
        return load_section(tp, value, key)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise FieldProblem(key, f"must be a number, got {value!r}")
        try:
            number = float(value)
        except OverflowError:  # an integer beyond any float
            number = math.inf
        if not math.isfinite(number):  # TOML has inf and nan; no setting means them
            raise FieldProblem(key, f"must be a finite number, got {'nan' if number != number else repr(value)[:40]}")
        return number
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise FieldProblem(key, f"must be an integer, got {value!r}")
        return value
    if tp in (str, bool):
        if not isinstance(value, tp):
            raise FieldProblem(key, f"must be {_type_name(tp)}, got {value!r}")
        return value
    raise TypeError(f"unsupported config type {tp!r} for {key}")


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def load_section(cls: type, data: dict[str, Any], prefix: str = "") -> Any:
    """Build ``cls`` from ``data``: types checked, unknown keys and failed checks rejected."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in attrs.fields(cls)}
    for name in data:
        if name not in fields:
            lowered = name.lower()
            if any(word in lowered for word in SECRET_WORDS):
                raise FieldProblem(
                    _join(prefix, name),
                    f"secrets never go in config files: put it in an environment variable and name that variable with '{name}_env'",
                )
            known = ", ".join(sorted(fields))
            raise FieldProblem(_join(prefix, name), f"unknown key (known keys: {known})")
    kwargs: dict[str, Any] = {}
    for name, field in fields.items():
        key = _join(prefix, name)
        if name not in data:
            if field.default is attrs.NOTHING:
                raise FieldProblem(key, "missing required key")
            continue
        value = _convert(hints[name], data[name], key)
        check = field.metadata.get("check")
        if check is not None and value is not None:
            problem = check(value)
            if problem:
                raise FieldProblem(key, problem)
        kwargs[name] = value
    instance = cls(**kwargs)
    validate = getattr(instance, "validate", None)
    if validate is not None:
        for name, reason in validate():
            raise FieldProblem(_join(prefix, name), reason)
    return instance
