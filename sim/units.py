"""Durations and rates as they are written in configs, and the bounds every time obeys.

Time inside the simulator is integer nanoseconds: event order stays exact and tests can
assert exact timings. Durations are written with a unit (``ns``, ``us``, ``ms``, ``s``,
``min``; decimals and exponents allowed) and rounded to the nearest nanosecond, halves up; a
nonzero duration below 0.5 ns is refused rather than silently read as 0, and ``-0s`` is 0.
A bare ``0`` is the only unit-less duration. Rates are ``N/s`` (or per min, ms, us, ns).
``m`` is no unit: it would be read as minutes by some and as milli- by others, so a
message lists the units instead.

Bounds (all checked where a config is read, so a run never overflows int64 or meets the
models' "never"):

- ``TIME_LIMIT`` = 2^62 ns is ``FOREVER`` in ``sim.models.base``: simulated times must
  stay below it.
- ``MAX_TIME`` = 2e9 s (about 63 years) bounds ``horizon + drain_limit`` and every clock
  time in a config (arrival offsets, periods).
- ``MAX_DURATION`` = 10,000 s (about 2.8 hours) bounds one phase or think time (each draw
  is clipped to it), a distribution's parameters and a model option.
- ``MAX_PHASES`` = 100,000 phases per task once ``repeat`` is flattened, so a task's
  demand is at most 10^18 ns and ``horizon + drain_limit + demand`` < 3e18 < ``TIME_LIMIT``.
- ``MAX_RATE`` = 10^9/s: one arrival per nanosecond, the clock's resolution.
"""

from __future__ import annotations

import math
import re
from decimal import ROUND_HALF_UP, Decimal

NS_PER = {"ns": 1, "us": 1_000, "ms": 1_000_000, "s": 1_000_000_000, "min": 60_000_000_000}
UNITS = ", ".join(NS_PER)
TIME_LIMIT = 1 << 62
MAX_TIME = 2 * 10**18
MAX_DURATION = 10**13
MAX_PHASES = 100_000
MAX_RATE = 1e9
assert MAX_TIME + MAX_PHASES * MAX_DURATION < TIME_LIMIT

_NUMBER = r"([+-]?)([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)"
_DURATION = re.compile(rf"^\s*{_NUMBER}\s*(ns|us|ms|s|min)\s*$")
_RATE = re.compile(rf"^\s*{_NUMBER}\s*/\s*(ns|us|ms|s|min)\s*$")
_PLAIN = re.compile(rf"^\s*{_NUMBER}\s*$")
_OTHER_UNIT = re.compile(rf"^\s*{_NUMBER}\s*(/?)\s*([^\W\d_]+)\s*$")  # 1m, 5 sec, 3/hour


class UnitError(ValueError):
    """A duration or rate that cannot be read; the message says what was expected."""


def quote(text: object) -> str:
    """``repr`` of a user's value, cut short: a message never echoes a whole file."""
    shown = repr(text)
    return shown if len(shown) <= 40 else shown[:37] + "..."


def _is_zero(digits: str) -> bool:
    """Whether the written number is zero (its mantissa has no nonzero digit)."""
    return not any(c in "123456789" for c in re.split("[eE]", digits)[0])


def _unit_problem(text: str, rate: bool = False) -> str:
    """What is wrong with a number and a word that is not a unit: the units there are."""
    example = "'400/s'" if rate else "'5ms'"
    match = _OTHER_UNIT.match(text)
    if not match or bool(match.group(3)) != rate:
        return f"expected a number and a unit, e.g. {example}"
    unit = match.group(4)
    if unit == "m":
        meaning = ("/min is per minute, /ms per millisecond" if rate
                   else "1min is a minute, 1ms a millisecond")
        return f"'m' is not a unit (minutes or milli-?); units: {UNITS} ({meaning})"
    return f"unknown unit {quote(unit)}; units: {UNITS}, e.g. {example}"


def parse_duration(text: object, limit: int = MAX_TIME) -> int:
    """Return the duration ``text`` (``"5ms"``, ``"0.4ms"``, ``0``) in integer nanoseconds;
    refuse one above ``limit`` ns (``MAX_TIME`` for clock times, ``MAX_DURATION`` for
    phases and options)."""
    if isinstance(text, bool):
        raise UnitError(f"expected a duration such as '5ms', got {quote(text)}")
    if isinstance(text, int | float) and text == 0:
        return 0
    if isinstance(text, float) and not math.isfinite(text):
        raise UnitError(f"{text!r} is not a duration: expected a number and a unit, e.g. '5ms'")
    if isinstance(text, int | float):
        raise UnitError(f"duration {quote(text)} needs a unit ({UNITS}), e.g. '{text}ms'")
    if not isinstance(text, str):
        raise UnitError(f"expected a duration such as '5ms', got {quote(text)}")
    if text.strip() == "0":
        return 0
    match = _DURATION.match(text)
    if not match:
        raise UnitError(f"cannot read duration {quote(text)}: "
                        f"{_unit_problem(text)}")
    sign, digits, unit = match.groups()
    if _is_zero(digits):
        return 0
    if sign == "-":
        raise UnitError(f"duration {quote(text)} is negative")
    ns = float(digits) * NS_PER[unit]
    if ns > limit:
        raise UnitError(f"duration {quote(text)} is too long: at most "
                        f"{format_duration(limit)}")
    if ns < 0.5:
        raise UnitError(f"duration {quote(text)} is below 1 ns, the simulator's resolution "
                        "(durations are rounded to the nearest ns)")
    exact = Decimal(digits) * NS_PER[unit]  # the float above is for the range checks only
    return max(1, int(exact.to_integral_value(ROUND_HALF_UP)))


def parse_number(text: str, what: str, about: str = "") -> float:
    """A plain finite number (``0.5``, ``1e-3``): no ``nan``, ``inf`` or ``1_0``. ``about``
    says what the number is, for the error."""
    match = _PLAIN.match(text)
    value = float(match.group(1) + match.group(2)) if match else math.nan
    if not math.isfinite(value):
        about = f" ({about})" if about else ""
        raise UnitError(f"{what} must be a finite number{about}, got {quote(text)}")
    return value


def parse_rate(text: object) -> float:
    """Return the rate ``text`` (``"400/s"``) in events per second, at most ``MAX_RATE``."""
    if not isinstance(text, str):
        raise UnitError(f"expected a rate such as '400/s', got {quote(text)}")
    match = _RATE.match(text)
    if not match:
        raise UnitError(f"cannot read rate {quote(text)}: {_unit_problem(text, rate=True)}")
    sign, digits, unit = match.groups()
    if _is_zero(digits):
        return 0.0
    if sign == "-":
        raise UnitError(f"rate {quote(text)} is negative")
    per_s = float(digits) * NS_PER["s"] / NS_PER[unit]
    if per_s > MAX_RATE:
        raise UnitError(f"rate {quote(text)} is too high: at most {format_rate(MAX_RATE)} "
                        "(one per ns, the simulator's resolution)")
    if per_s < 1e-9:
        raise UnitError(f"rate {quote(text)} is below 0.000000001/s: write 0/s for no "
                        "arrivals")
    return per_s


def format_number(value: float) -> str:
    """The shortest spelling that reads back exactly, positional (``1000000``, ``0.00001``:
    never ``1e+06``, which a reader takes for a typo and YAML 1.1 reads as a string)."""
    text = format(Decimal(repr(float(value))), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def format_duration(ns: int | float) -> str:
    """Write ``ns`` back in the largest unit that keeps it short; exact for integers, so
    a resolved config reads back to the same nanoseconds."""
    if ns == 0:
        return "0"
    if isinstance(ns, int):
        sign, ns = ("-" if ns < 0 else ""), abs(ns)
        for unit in ("s", "ms", "us"):
            per = NS_PER[unit]
            if ns >= per:
                whole, part = divmod(ns, per)
                frac = f"{part:0{len(str(per)) - 1}d}".rstrip("0")
                return f"{sign}{whole}{'.' + frac if frac else ''}{unit}"
        return f"{sign}{ns}ns"
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
    return f"{format_number(per_s)}/s"


def ns_to_ms(ns):
    """Nanoseconds to milliseconds (scalars or arrays)."""
    return ns / NS_PER["ms"]
