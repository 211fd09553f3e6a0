"""Duration distributions, written ``exp(3ms)`` in configs.

Each distribution knows its mean and variance (in nanoseconds) so that results can be
checked against queueing theory, and draws integer nanoseconds from a numpy Generator
(never a global seed: every run owns its stream).

Every parameter is checked where it is read: numbers are finite, durations (means, bounds,
empirical values) are at most ``MAX_DURATION`` (10,000 s) and a lognormal's cv at most
``MAX_CV``. A draw is clipped to [0, ``MAX_DURATION``]: the unbounded laws (exp,
lognormal, pareto without ``max``) can reach past it only in tails that no sensible
parameter visits, and the clip keeps every task's demand inside int64 with room to spare
(``sim.units``). ``mean`` and ``variance`` are the unclipped law's.
"""

from __future__ import annotations

import csv
import math
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .units import (
    MAX_DURATION,
    NS_PER,
    UNITS,
    UnitError,
    format_duration,
    format_number,
    parse_duration,
    parse_number,
    quote,
)

_CALL = re.compile(r"^\s*([a-z_]+)\s*\((.*)\)\s*$", re.S)
MAX_CV = 100.0  # lognormal: sigma = sqrt(log(1 + cv^2)) <= 3.04, a tail that stays in range
MAX_ALPHA = 1000.0  # pareto: past it the law is a constant, and its moments lose precision


class Distribution(ABC):
    """A law of durations: ``mean`` and ``variance`` in ns, ``sample`` in integer ns."""

    spec: str
    mean: float
    variance: float

    @abstractmethod
    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` raw (float) draws in nanoseconds."""

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` draws as int64 nanoseconds in [0, ``MAX_DURATION``]: never negative, never
        wrapped (``fmax`` also turns a NaN into 0, where a cast would give -2^63)."""
        values = np.fmin(np.fmax(np.rint(self.draw(rng, n)), 0), MAX_DURATION)
        return values.astype(np.int64)

    def __str__(self) -> str:
        return self.spec


@dataclass(frozen=True)
class Const(Distribution):
    value: int

    @property
    def spec(self):  # type: ignore[override]
        return format_duration(self.value)

    @property
    def mean(self):  # type: ignore[override]
        return float(self.value)

    @property
    def variance(self):  # type: ignore[override]
        return 0.0

    def draw(self, rng, n):
        return np.full(n, self.value, dtype=np.int64)


@dataclass(frozen=True)
class Exp(Distribution):
    mean_ns: int

    @property
    def spec(self):  # type: ignore[override]
        return f"exp({format_duration(self.mean_ns)})"

    @property
    def mean(self):  # type: ignore[override]
        return float(self.mean_ns)

    @property
    def variance(self):  # type: ignore[override]
        return float(self.mean_ns) ** 2

    def draw(self, rng, n):
        return rng.exponential(self.mean_ns, n)


@dataclass(frozen=True)
class Uniform(Distribution):
    low: int
    high: int

    @property
    def spec(self):  # type: ignore[override]
        return f"uniform({format_duration(self.low)}, {format_duration(self.high)})"

    @property
    def mean(self):  # type: ignore[override]
        return (self.low + self.high) / 2

    @property
    def variance(self):  # type: ignore[override]
        return (self.high - self.low) ** 2 / 12

    def draw(self, rng, n):
        return rng.uniform(self.low, self.high, n)


@dataclass(frozen=True)
class Lognormal(Distribution):
    mean_ns: int
    cv: float

    @property
    def spec(self):  # type: ignore[override]
        return f"lognormal({format_duration(self.mean_ns)}, {format_number(self.cv)})"

    @property
    def mean(self):  # type: ignore[override]
        return float(self.mean_ns)

    @property
    def variance(self):  # type: ignore[override]
        return (self.cv * self.mean_ns) ** 2

    def draw(self, rng, n):
        sigma2 = math.log1p(self.cv**2)
        mu = math.log(self.mean_ns) - sigma2 / 2
        return rng.lognormal(mu, math.sqrt(sigma2), n)


@dataclass(frozen=True)
class Bimodal(Distribution):
    short: int
    long: int
    p_long: float

    @property
    def spec(self):  # type: ignore[override]
        s, lo = format_duration(self.short), format_duration(self.long)
        return f"bimodal({s}, {lo}, {format_number(self.p_long)})"

    @property
    def mean(self):  # type: ignore[override]
        return (1 - self.p_long) * self.short + self.p_long * self.long

    @property
    def variance(self):  # type: ignore[override]
        second = (1 - self.p_long) * self.short**2 + self.p_long * self.long**2
        return second - self.mean**2

    def draw(self, rng, n):
        return np.where(rng.random(n) < self.p_long, self.long, self.short)


def _bounded_pareto_moment(low: float, high: float, alpha: float, k: int) -> float:
    """E[X^k] of the Pareto law with shape ``alpha`` truncated to [low, high], written with
    r = low/high <= 1 so that no power overflows (``low**alpha`` would for a large alpha)."""
    r = low / high
    if math.isclose(alpha, k):
        return low**k * alpha * math.log(1 / r) / -math.expm1(alpha * math.log(r))
    return low**k * alpha / (alpha - k) * (1 - r ** (alpha - k)) / -math.expm1(alpha * math.log(r))


@dataclass(frozen=True)
class Pareto(Distribution):
    """Pareto with the given mean; with ``max`` it is the bounded Pareto on [L, max]
    whose scale L is solved so that the mean is still the one asked for."""

    mean_ns: int
    alpha: float
    max_ns: int | None = None
    low: float = field(init=False)

    def __post_init__(self):
        if self.max_ns is None:
            low = self.mean_ns * (self.alpha - 1) / self.alpha
        else:
            lo, hi = 1e-9 * self.mean_ns, float(self.mean_ns)
            for _ in range(200):  # the bounded mean grows with L: bisect
                mid = (lo + hi) / 2
                if _bounded_pareto_moment(mid, self.max_ns, self.alpha, 1) < self.mean_ns:
                    lo = mid
                else:
                    hi = mid
            low = (lo + hi) / 2
        object.__setattr__(self, "low", low)

    @property
    def spec(self):  # type: ignore[override]
        tail = f", max={format_duration(self.max_ns)}" if self.max_ns is not None else ""
        return f"pareto({format_duration(self.mean_ns)}, {format_number(self.alpha)}{tail})"

    @property
    def mean(self):  # type: ignore[override]
        return float(self.mean_ns)

    @property
    def variance(self):  # type: ignore[override]
        if self.max_ns is None:
            a = self.alpha
            return self.low * self.low * a / ((a - 1) * (a - 1) * (a - 2))  # no ** overflow
        second = _bounded_pareto_moment(self.low, self.max_ns, self.alpha, 2)
        return max(0.0, second - self.mean**2)  # max barely above the mean: cancellation

    def draw(self, rng, n):
        u = rng.random(n)
        a, low = self.alpha, self.low
        if self.max_ns is None:
            return low / (1 - u) ** (1 / a)
        ratio = (low / self.max_ns) ** a
        return low / (1 - u * (1 - ratio)) ** (1 / a)


@dataclass(frozen=True, eq=False)
class Empirical(Distribution):
    """Resampling of measured durations read from a CSV file."""

    path: str
    values: np.ndarray

    @property
    def spec(self):  # type: ignore[override]
        return f"empirical({self.path})"

    @property
    def mean(self):  # type: ignore[override]
        return float(self.values.mean())

    @property
    def variance(self):  # type: ignore[override]
        return float(self.values.var())

    def draw(self, rng, n):
        return rng.choice(self.values, n)


def _args(body: str) -> tuple[list[str], dict[str, str]]:
    positional, named = [], {}
    for part in (p.strip() for p in body.split(",")):
        if not part:
            raise UnitError("empty argument")
        if "=" in part:
            key, value = (s.strip() for s in part.split("=", 1))
            named[key] = value
        else:
            positional.append(part)
    return positional, named


def _read_empirical(path: str, base_dir: Path | None) -> np.ndarray:
    """The first column of a CSV file (UTF-8, a BOM allowed): durations with units, or
    numbers under a header naming the unit. A bad cell is reported with its line; only
    that cell is echoed, never the file."""
    file = Path(path) if base_dir is None else base_dir / path
    unit, values = None, []
    try:
        with file.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            for row in reader:
                cell = row[0].strip() if row else ""
                if not cell:
                    continue
                if not values and unit is None and cell in NS_PER:
                    unit = cell
                    continue
                try:
                    if unit:
                        parse_number(cell, f"a duration in {unit}")
                        cell += unit
                    values.append(parse_duration(cell, MAX_DURATION))
                except UnitError as exc:
                    raise UnitError(f"{file}, line {reader.line_num}: {exc} (first column: "
                                    "durations with units, or numbers under a header naming "
                                    f"the unit: {UNITS})") from None
    except OSError as exc:
        raise UnitError(f"cannot read {file}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise UnitError(f"{file}: not UTF-8 text ({exc.reason})") from None
    except csv.Error as exc:
        raise UnitError(f"{file}: not a CSV file ({exc})") from None
    if not values:
        raise UnitError(f"{file} must hold at least one duration")
    return np.asarray(values, dtype=float)


def _duration(text: object) -> int:
    """A phase's duration: at most ``MAX_DURATION``, so that a task's sum fits (``sim.units``)."""
    return parse_duration(text, MAX_DURATION)


def parse_distribution(text: object, base_dir: Path | None = None) -> Distribution:
    """Read ``exp(3ms)``, ``lognormal(3ms, 0.5)``, ... or a bare duration (constant)."""
    if not isinstance(text, str):
        return Const(_duration(text))
    if text.count("(") > text.count(")"):
        raise UnitError(f"{quote(text)}: a '(' is not closed (missing ')'?)")
    match = _CALL.match(text)
    if not match:
        return Const(_duration(text))
    name, body = match.groups()
    if name == "empirical":
        return Empirical(body.strip(), _read_empirical(body.strip(), base_dir))
    pos, named = _args(body)
    expected = {
        "const": 1, "exp": 1, "uniform": 2, "lognormal": 2, "bimodal": 3, "pareto": 2,
    }
    if name not in expected:
        hint = next((f" (did you mean {k}(...)?)" for k in expected
                     if name.startswith(k) or k.startswith(name)), "")
        raise UnitError(f"unknown distribution {quote(name)}{hint}; expected one of "
                        "const, exp, uniform, lognormal, bimodal, pareto, empirical")
    if len(pos) != expected[name] or (named and (name != "pareto" or set(named) != {"max"})):
        raise UnitError(f"{name}() takes {expected[name]} arguments, got {quote(text)}")
    if name == "const":
        return Const(_duration(pos[0]))
    if name == "exp":
        mean = _duration(pos[0])
        if mean <= 0:
            raise UnitError("exp() mean must be positive")
        return Exp(mean)
    if name == "uniform":
        low, high = _duration(pos[0]), _duration(pos[1])
        if high < low:
            raise UnitError(f"uniform({pos[0]}, {pos[1]}): the upper bound is below the lower")
        return Uniform(low, high)
    if name == "lognormal":
        mean, cv = _duration(pos[0]), parse_number(
            pos[1], "lognormal's cv", "standard deviation / mean, e.g. 0.5")
        if mean <= 0 or not 0 <= cv <= MAX_CV:
            raise UnitError(f"lognormal() needs a positive mean and a cv from 0 to {MAX_CV:g} "
                            "(a larger cv puts draws past any sensible range)")
        return Lognormal(mean, cv)
    if name == "bimodal":
        short, long_ = _duration(pos[0]), _duration(pos[1])
        p = parse_number(
            pos[2], "bimodal's p_long", "the chance of the long value, e.g. 0.1")
        if not 0 <= p <= 1:
            raise UnitError(f"bimodal p_long must be in [0, 1], got {p}")
        return Bimodal(short, long_, p)
    mean, alpha = _duration(pos[0]), parse_number(
        pos[1], "pareto's alpha", "the tail index, e.g. 2.5")
    cap = _duration(named["max"]) if "max" in named else None
    if mean <= 0 or not 1 < alpha <= MAX_ALPHA:
        raise UnitError(f"pareto() needs a positive mean and 1 < alpha <= {MAX_ALPHA:g}")
    if cap is None and alpha <= 2:
        raise UnitError("pareto() with alpha <= 2 has infinite variance: give max=..., "
                        "e.g. pareto(3ms, 1.5, max=1s)")
    if cap is not None and cap <= mean:
        raise UnitError("pareto() max must be above the mean")
    return Pareto(mean, alpha, cap)
