"""The scheduler models, keyed by the config's ``model`` name (one explicit registry)."""

from __future__ import annotations

from .asyncio_loop import AsyncioModel
from .base import Model
from .gil_threads import GilThreads
from .go import GoModel
from .reference import ClassPriority, Fcfs, ProcessorSharing, RoundRobin, ShortestRemaining
from .tokio import TokioModel

MODELS: dict[str, type[Model]] = {
    "asyncio": AsyncioModel,
    "gil_threads": GilThreads,
    "go": GoModel,
    "fcfs": Fcfs,
    "round_robin": RoundRobin,
    "processor_sharing": ProcessorSharing,
    "shortest_remaining": ShortestRemaining,
    "class_priority": ClassPriority,
    "tokio": TokioModel,
}

__all__ = ["MODELS", "Model"]
