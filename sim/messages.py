"""What a socket message costs a runtime: CPU time on the thread that reads it.

A request that arrives, or the reply an ``io`` phase waits for, is read by the runtime
before the task can go on: the read syscall, parsing it, waking the task, and the write that
goes with it (the response, the ``io``'s request). That work is on the runtime's thread:
asyncio's loop (a readiness callback, ``data_received``), a Python thread under the GIL, a
goroutine on its P, a Tokio task on its worker. The machine's ``<model>_message_cost``
says how long it takes (measured by ``python -m sim.validate --calibrate``); the models'
``message_cost`` option overrides it.

asyncio charges it as the loop's work in the callback's handle (``sim.models.asyncio_loop``);
the other models run it as a burst of the task's own: ``charge_messages`` puts that much
``cpu`` before the task's first phase (a task that arrives: open, closed or batch; not a
spawned one) and after each ``io``, added to the ``cpu`` phase there when there is one on
the task's thread (one burst on the CPU, as in reality; one fewer to simulate), else as a
phase of its own. It is overhead, not demand: the recorder charges it to the task, so
``wait == latency - demand - overhead`` still holds and every model's demand stays the
workload's.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from .phases import CPU, IO

if TYPE_CHECKING:  # (sim.workload imports the config, which imports the models)
    from .workload import Template, Workload


def message_positions(template: Template, arrives: bool) -> list[int]:
    """Where a message's burst goes, as indices into the class's phases: before phase 0
    when the task arrives from outside, and after every ``io``."""
    return ([0] if arrives else []) + [i + 1 for i, kind in enumerate(template.kinds)
                                       if kind == IO]


def _joins(template: Template, i: int) -> bool:
    """The burst at ``i`` joins the phase there: a ``cpu`` phase on the task's own thread
    (the same run on the CPU, one burst fewer to simulate)."""
    flags = template.offloaded
    return i < len(template.kinds) and template.kinds[i] == CPU and not (flags and flags[i])


def _with_bursts(template: Template, where: list[int]) -> Template:
    """``template`` with a ``cpu`` phase inserted before each index in ``where``."""
    kinds, laws, targets = list(template.kinds), list(template.laws), list(template.targets)
    flags = list(template.offloaded) if template.offloaded else []
    for i in reversed(where):
        kinds.insert(i, CPU), laws.insert(i, None), targets.insert(i, -1)
        if flags:
            flags.insert(i, False)  # the runtime's own thread reads the message
    return replace(template, kinds=tuple(kinds), laws=tuple(laws), targets=tuple(targets),
                   offloaded=tuple(flags))


def charge_messages(workload: Workload, arrives: list[bool], cost: int
                    ) -> tuple[Workload, np.ndarray]:
    """The workload a model runs when every message costs ``cost`` ns of the task's CPU,
    and each task's total of those costs (its overhead). ``arrives`` says per class
    whether its tasks come from outside (not spawned). Demand and cpu stay the
    workload's: the bursts are the runtime's, not the task's."""
    n = workload.n
    templates, joined, inserted = [], [], []  # per class: indices in the new phases
    for template, outside in zip(workload.templates, arrives, strict=True):
        where = message_positions(template, outside) if cost else []
        own = [i for i in where if not _joins(template, i)]
        templates.append(_with_bursts(template, own))
        # where each lands among the new phases: after the bursts inserted before it
        joined.append([i + sum(j < i for j in own) for i in where if i not in own])
        inserted.append([i + sum(j < i for j in own) for i in own])
    lengths = np.array([len(t.kinds) for t in templates], np.int64)[workload.task_class]
    offset = np.zeros(n, np.int64)
    np.cumsum(lengths[:-1], out=offset[1:])
    args = np.empty(int(lengths.sum()), np.int64)
    overhead = np.zeros(n, np.int64)
    for cls, template in enumerate(workload.templates):
        tasks = np.flatnonzero(workload.task_class == cls)
        if not len(tasks):
            continue
        old = workload.offset[tasks][:, None] + np.arange(len(template.kinds))
        kept = np.setdiff1d(np.arange(len(templates[cls].kinds)), inserted[cls])
        columns = offset[tasks][:, None]
        args[columns + kept] = workload.args[old]
        for i in joined[cls]:
            args[columns[:, 0] + i] += cost
        for i in inserted[cls]:
            args[columns[:, 0] + i] = cost
        overhead[tasks] = cost * (len(joined[cls]) + len(inserted[cls]))
    return replace(workload, templates=templates, offset=offset, args=args), overhead
