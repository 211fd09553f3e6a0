"""Pydantic field types shared by the config and every model's options.

Durations are read with units and kept as integer nanoseconds; distributions are read
from their ``exp(3ms)`` spelling. Both are written back the way a user would write them,
so a resolved config round-trips through validation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainSerializer, ValidationInfo

from .distributions import Distribution, parse_distribution
from .units import format_duration, format_rate, parse_duration, parse_rate


class StrictModel(BaseModel):
    """Unknown keys are errors: a misspelt option must never be silently ignored."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True, frozen=True)


def _duration(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value == 0 \
        else parse_duration(value)


def _distribution(value: Any, info: ValidationInfo) -> Distribution:
    if isinstance(value, Distribution):
        return value
    base = (info.context or {}).get("base_dir")
    return parse_distribution(value, Path(base) if base else None)


Duration = Annotated[
    int, BeforeValidator(_duration), PlainSerializer(format_duration, return_type=str)
]
Rate = Annotated[float, BeforeValidator(parse_rate), PlainSerializer(format_rate, return_type=str)]
Dist = Annotated[
    Distribution, BeforeValidator(_distribution), PlainSerializer(str, return_type=str)
]
