"""Which phases a runtime with a pool (asyncio's executor, tokio's ``spawn_blocking``) hands
to it: every phase of a kind the scheduler's ``offload`` option names, and any phase that
says ``offload: true`` in the workload (docs/config.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..workload import Template
    from .base import Engine


def offload_flags(engine: Engine) -> list[tuple[bool, ...]] | None:
    """Per task, its class's ``offload: true`` flags by phase; None when no phase has one
    (the models' hot paths then test nothing more)."""
    templates = engine.workload.templates
    if not any(t.offloaded for t in templates):
        return None
    flags = [t.offloaded or (False,) * len(t.kinds) for t in templates]
    return [flags[c] for c in engine.workload.task_class.tolist()]


def offloads_kinds(templates: list[Template], kinds: tuple[int, ...]) -> bool:
    """Some phase of one of ``kinds`` says ``offload: true``: (CPU, NATIVE), a pool thread
    will compute; (CPU,), Python code runs on an executor thread."""
    return any(flag and kind in kinds
               for t in templates for kind, flag in zip(t.kinds, t.offloaded, strict=False))


def offloads_next(engine: Engine, task: int, kinds: set[int],
                  flagged: list[tuple[bool, ...]] | None) -> bool:
    """The task's next phase (not yet taken) is handed to the pool: a kind in ``kinds``
    or a phase flagged ``offload: true``, and not of zero length."""
    i = engine.pc[task]
    phases = engine.kinds[task]
    if i == len(phases) or not engine.args[engine.offset[task] + i]:
        return False
    return phases[i] in kinds or (flagged is not None and flagged[task][i])
