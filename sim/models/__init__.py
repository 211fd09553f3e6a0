"""The scheduler models, keyed by the config's ``model`` name (one explicit registry)."""

from __future__ import annotations

from .asyncio_loop import AsyncioModel
from .base import Model
from .reference import Fcfs, ProcessorSharing, RoundRobin

MODELS: dict[str, type[Model]] = {
    "asyncio": AsyncioModel,
    "fcfs": Fcfs,
    "round_robin": RoundRobin,
    "processor_sharing": ProcessorSharing,
}

__all__ = ["MODELS", "Model"]
