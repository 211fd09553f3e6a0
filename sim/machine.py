"""The machine under the runtimes: what the operating system does, under ``machine:``.

Every model runs on these cores and this OS. A profile sets what the OS adds to the
runtimes' own mechanisms: ``linux`` (the default) is a typical Linux server, ``ideal`` adds
nothing, for queueing-theory checks and exact micro-scenarios. A key given beside the
profile overrides it.

What the OS layer models today:
- ``cores`` and ``os_time_slice``: threads beyond the cores share them by time slice
  (``Cores`` in ``sim/models/base.py``).
- ``tick_origin``: where tick-based timers' grid starts. Tokio's timer wheel counts whole
  milliseconds from the runtime's start (``runtime/time/source.rs``: ``TimeSource`` keeps
  ``start_time`` and ticks are ms since it), and a real program starts at no particular
  phase of the work it then serves. ``random`` draws the phase once per run, uniform over a
  tick, from the model's own random stream; a duration fixes it (``0``: the grid starts
  with the run, as under ``ideal``).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import field_serializer, field_validator, model_validator

from .schema import MAX_CORES, Count, Duration, StrictModel, _reader
from .units import MAX_DURATION, format_duration

PROFILES: dict[str, dict[str, Any]] = {
    "linux": {"tick_origin": "random"},
    "ideal": {"tick_origin": 0},
}


class Machine(StrictModel):
    profile: Literal["linux", "ideal"] = "linux"
    cores: Count(MAX_CORES) = 1
    # Linux CFS gives each runnable thread a slice of sched_latency / nr_running, at least
    # sched_min_granularity (3 ms on an 8-core box: kernel/sched/fair.c); we use 3 ms.
    os_time_slice: Duration = 3_000_000
    tick_origin: Literal["random"] | int = "random"

    @model_validator(mode="before")
    @classmethod
    def _from_profile(cls, data: Any) -> Any:
        """Keys not given come from the profile (an unknown profile is the field's error)."""
        profile = data.get("profile", "linux") if isinstance(data, dict) else None
        return {**PROFILES[profile], **data} if profile in PROFILES else data

    @field_validator("os_time_slice")
    @classmethod
    def _positive(cls, value: int) -> int:
        if value <= 0:
            raise ValueError("must be positive")
        return value

    @field_validator("tick_origin", mode="before")
    @classmethod
    def _origin(cls, value: Any) -> Any:
        return value if value == "random" else _reader(MAX_DURATION)(value)

    @field_serializer("tick_origin")
    def _show_origin(self, value: str | int) -> str:
        return value if isinstance(value, str) else format_duration(value)


def tick_origin(machine: Machine, tick: int, rng: np.random.Generator) -> int:
    """Where a grid of ``tick`` ns starts, in [0, tick): drawn from ``rng`` (once, at the
    model's start) when ``random``, so that ``ideal`` runs draw nothing."""
    if machine.tick_origin == "random":
        return int(rng.integers(tick))
    return machine.tick_origin % tick
