"""Pydantic field types shared by the config and every model's options.

Durations are read with units and kept as integer nanoseconds; distributions are read
from their ``exp(3ms)`` spelling. Both are written back the way a user would write them,
so a resolved config round-trips through validation.

Every number is bounded where it is read (``sim.units`` explains the time bounds): a
``Duration`` (a model option, a phase) is at most 10,000 s, a ``Time`` (horizon, an
arrival offset) at most 2e9 s, and a ``Count`` is a whole number in the range its field
declares. Counts are strict: YAML's ``true``/``yes`` is not 1, nor ``2.0`` or ``"2"`` 2.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainSerializer, ValidationInfo

from .distributions import Distribution, parse_distribution
from .units import (
    MAX_DURATION,
    MAX_TIME,
    format_duration,
    format_rate,
    parse_duration,
    parse_rate,
    quote,
)

# Upper bounds of the counts: generous, yet each keeps a run's memory and time in reach.
MAX_CORES = 1024  # machine.cores, and per-core runtimes (Go's own _MaxGomaxprocs is 1024)
MAX_THREADS = 10_000  # OS thread pools (gil_threads.threads, executor and blocking pools)
MAX_TASKS = 20_000_000  # max_tasks, batch.count: ~600 bytes a task, ~12 GB at the bound
MAX_CLIENTS = 100_000  # closed.clients: each client's tasks are drawn in a Python loop
MAX_REPLICATIONS = 10_000  # sweep.replications
MAX_TICKS = 1_000_000  # a model's tick counts (intervals, budgets, tries)
MAX_QUEUE = 1 << 20  # a run queue's capacity
MAX_SEED = (1 << 63) - 1  # seeds are stored in int64 columns


class At(ValueError):
    """An error that names its own key path (a check across keys, or a file read for one)."""

    def __init__(self, path: str, message: str):
        super().__init__(f"{path}: {message}")
        self.path, self.message = path, message


class StrictModel(BaseModel):
    """Unknown keys are errors: a misspelt option must never be silently ignored."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True, frozen=True)


def _reader(limit: int):
    def read(value: Any) -> int:
        if isinstance(value, int) and not isinstance(value, bool) and value == 0:
            return 0
        return parse_duration(value, limit)
    return read


def _distribution(value: Any, info: ValidationInfo) -> Distribution:
    if isinstance(value, Distribution):
        return value
    base = (info.context or {}).get("base_dir")
    return parse_distribution(value, Path(base) if base else None)


Duration = Annotated[
    int, BeforeValidator(_reader(MAX_DURATION)), PlainSerializer(format_duration, return_type=str)
]
Time = Annotated[
    int, BeforeValidator(_reader(MAX_TIME)), PlainSerializer(format_duration, return_type=str)
]
Rate = Annotated[float, BeforeValidator(parse_rate), PlainSerializer(format_rate, return_type=str)]
Dist = Annotated[
    Distribution, BeforeValidator(_distribution), PlainSerializer(str, return_type=str)
]


def Count(high: int, low: int = 1, words: tuple[str, ...] = ()) -> Any:  # noqa: N802
    """A whole number from ``low`` to ``high`` (or one of ``words``, e.g. ``"auto"``).

    Strict, because pydantic would read ``true`` as 1; bounded, so that a typo such as
    ``threads: 1000000000`` is an error naming the key rather than gigabytes allocated."""

    def check(value: Any) -> Any:
        if isinstance(value, str) and value in words:
            return value
        if isinstance(value, bool) or not isinstance(value, int):
            also = "".join(f" or {w!r}" for w in words)
            raise ValueError(f"expected a whole number from {low:,} to {high:,}{also}, "
                             f"got {quote(value)}")
        if not low <= value <= high:
            raise ValueError(f"must be from {low:,} to {high:,}, got {value:,}")
        return value

    kind = Literal[words] | int if words else int  # type: ignore[valid-type]
    return Annotated[kind, BeforeValidator(check)]


MAX_LOAD = 100.0


def _load(value: Any) -> float:
    """``load`` is a finite fraction of the cores' capacity (0.9, not '90%', not true)."""
    if isinstance(value, str) and value.strip().endswith("%"):
        raise ValueError(f"a fraction of the cores' capacity, not a percentage: write 0.9 for "
                         f"90 %, got {quote(value)}")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"expected a number such as 0.9 (a fraction of the cores' "
                         f"capacity), got {quote(value)}")
    if not (math.isfinite(value) and 0 < value <= MAX_LOAD):
        raise ValueError(f"must be above 0 and at most {MAX_LOAD:g}, got {quote(value)}")
    return float(value)


Load = Annotated[float, BeforeValidator(_load)]
