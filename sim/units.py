"""Durations and rates as they are written in configs.

Time inside the simulator is integer nanoseconds: event order stays exact and tests can
assert exact timings. Durations are written with a unit (``ns``, ``us``, ``ms``, ``s``,
decimals allowed); a bare ``0`` is the only unit-less duration. Rates are ``N/s``.
"""

from __future__ import annotations

import re

NS_PER = {"ns": 1, "us": 1_000, "ms": 1_000_000, "s": 1_000_000_000}
_DURATION = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*(ns|us|ms|s)\s*$")
_RATE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*/\s*(ns|us|ms|s)\s*$")


class UnitError(ValueError):
    """A duration or rate that cannot be read; the message says what was expected."""


def parse_duration(text: object) -> int:
    """Return the duration ``text`` (``"5ms"``, ``"0.4ms"``, ``0``) in integer nanoseconds."""
    if isinstance(text, bool):
        raise UnitError(f"expected a duration such as '5ms', got {text!r}")
    if isinstance(text, int | float) and text == 0:
        return 0
    if isinstance(text, int | float):
        raise UnitError(f"duration {text!r} needs a unit (ns, us, ms, s), e.g. '{text}ms'")
    if not isinstance(text, str):
        raise UnitError(f"expected a duration such as '5ms', got {text!r}")
    if text.strip() == "0":
        return 0
    if text.strip().startswith("-"):
        raise UnitError(f"duration {text!r} is negative")
    match = _DURATION.match(text)
    if not match:
        raise UnitError(f"cannot read duration {text!r}: expected a number and a unit, e.g. '5ms'")
    value, unit = match.groups()
    return round(float(value) * NS_PER[unit])


def parse_rate(text: object) -> float:
    """Return the rate ``text`` (``"400/s"``) in events per second."""
    if not isinstance(text, str):
        raise UnitError(f"expected a rate such as '400/s', got {text!r}")
    if text.strip().startswith("-"):
        raise UnitError(f"rate {text!r} is negative")
    match = _RATE.match(text)
    if not match:
        raise UnitError(f"cannot read rate {text!r}: expected e.g. '400/s'")
    value, unit = match.groups()
    return float(value) * NS_PER["s"] / NS_PER[unit]


def format_duration(ns: int | float) -> str:
    """Write ``ns`` back in the largest unit that keeps it short and exact."""
    if ns == 0:
        return "0"
    for unit in ("s", "ms", "us"):
        value = ns / NS_PER[unit]
        if abs(value) >= 1 and float(value).is_integer():
            return f"{int(value)}{unit}"
    for unit in ("s", "ms", "us"):
        value = ns / NS_PER[unit]
        if abs(value) >= 1:
            return f"{value:.12g}{unit}"
    return f"{ns:.12g}ns"


def format_rate(per_s: float) -> str:
    return f"{per_s:.12g}/s"


def ns_to_ms(ns):
    """Nanoseconds to milliseconds (scalars or arrays)."""
    return ns / NS_PER["ms"]
