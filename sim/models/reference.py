"""Textbook disciplines on ``machine.cores`` servers: the baselines theory can check.

``io``, ``sleep`` and ``block`` leave the server, ``cpu`` and ``native`` are service,
``yield`` goes to the back of the queue. On a machine with OS delays a task back from
``io`` runs ``machine.net_wake_latency`` after the completion (its thread, blocked on the
socket, is woken by the readiness), one back from ``block`` ``machine.wake_latency`` after
the return, and one back from ``sleep`` ``machine.timer_lateness`` after it is due; each
counts as waiting, from the completion or the due time.

``fcfs``, ``round_robin`` and ``shortest_remaining`` run every task as a thread on
``Cores`` (a FIFO run queue with no slice or a slice of ``quantum``; a
shortest-remaining-first run queue); ``processor_sharing`` shares the cores equally among
the tasks in service (M/G/1-PS: E[T | x] = x / (1 - rho)).
"""

from __future__ import annotations

import heapq
import math
from typing import Literal

from pydantic import Field

from ..phases import BLOCK, CPU, DONE, IO, NATIVE, SLEEP, YIELD
from ..schema import Duration
from ..units import quote
from .base import (
    FOREVER,
    Cores,
    Engine,
    Model,
    SchedulerOptions,
    Thread,
)
from .policies import ClassPriorityQueue, RunQueue, ShortestRemainingQueue


def os_delay(engine: Engine, kind: int, length: int) -> int:
    """How long after its wait of ``length`` ns ends a task's thread runs: a sleep ends by
    a timer (timer lateness), io by readiness on its socket (net wake latency), block by
    the call's return (wake latency), the two for a thread parked that long."""
    os = engine.os
    if kind == SLEEP:
        return os.timer_late(length)
    return (os.net_wake if kind == IO else os.wake)(length)


class FcfsOptions(SchedulerOptions):
    model: Literal["fcfs"]


class RoundRobinOptions(SchedulerOptions):
    model: Literal["round_robin"]
    quantum: Duration = Field(
        default=10_000_000, description="how long a task computes before it goes to the "
        "back of the queue")

    def check(self, cfg, path):
        if self.quantum <= 0:
            raise ValueError(f"{path}.quantum: must be positive")


class ProcessorSharingOptions(SchedulerOptions):
    model: Literal["processor_sharing"]


class ShortestRemainingOptions(SchedulerOptions):
    model: Literal["shortest_remaining"]


class ClassPriorityOptions(SchedulerOptions):
    model: Literal["class_priority"]
    order: list[str] | None = Field(
        default=None, description="the workload's classes, highest priority first; None: "
                                  "in the order the workload lists them")

    def check(self, cfg, path):
        for i, name in enumerate(self.order or []):
            if name not in cfg.workload:
                raise ValueError(f"{path}.order.{i}: no class {quote(name)} in the workload "
                                 f"(classes: {', '.join(cfg.workload)})")
            if name in self.order[:i]:
                raise ValueError(f"{path}.order.{i}: {quote(name)} is listed twice")


class Fcfs(Model):
    """First come, first served on ``machine.cores`` servers; a burst is never cut."""

    Options = FcfsOptions
    slice_ns = FOREVER
    run_queue = RunQueue

    def __init__(self, engine: Engine, options):
        super().__init__(engine, options)
        self.cores = Cores(engine, engine.cfg.machine.cores, self.slice_ns, self.run_queue())

    def arrive(self, task: int) -> None:
        self._advance(Thread(), task)

    def _advance(self, thread: Thread, task: int) -> None:
        engine, rec = self.engine, self.engine.rec
        while True:
            kind, arg = engine.next_phase(task)
            if kind in (CPU, NATIVE):
                if arg:
                    self.cores.compute(thread, task, arg, self._burst_done)
                    return
            elif kind in (IO, SLEEP, BLOCK):
                if arg:
                    self.cores.release(thread)
                    rec.running(task, engine.now)
                    late = os_delay(engine, kind, arg)
                    engine.after(arg + late, lambda _, th=thread, t=task, d=late:
                                 self._back(th, t, d))
                    return
            elif kind == YIELD:
                self.cores.yield_core(thread, task, self._burst_done)
                return
            elif kind == DONE:
                self.cores.release(thread)
                rec.running(task, engine.now)
                engine.finish(task)
                return

    def _burst_done(self, thread: Thread) -> None:
        self._advance(thread, thread.task)

    def _back(self, thread: Thread, task: int, late: int) -> None:
        """The thread runs again, ``late`` after its wait ended (it could run from then)."""
        self.engine.rec.ready(task, self.engine.now - late, True)
        self._advance(thread, task)


class RoundRobin(Fcfs):
    """Round robin with ``quantum``: a burst longer than it goes to the back of the queue."""

    Options = RoundRobinOptions

    def __init__(self, engine: Engine, options):
        self.slice_ns = options.quantum
        super().__init__(engine, options)


class ShortestRemaining(Fcfs):
    """Preemptive shortest remaining processing time first (SRPT) on ``machine.cores`` servers.

    The burst with the least work left runs, and a shorter one arriving takes the core of
    the running burst with the most left (on one server, the discipline with the least mean
    latency)."""

    Options = ShortestRemainingOptions
    run_queue = ShortestRemainingQueue


class ClassPriority(Fcfs):
    """Strict, preemptive priority by class on ``machine.cores`` servers (``order``).

    A waiting task of a class earlier in ``order`` runs before any of a later class (FIFO
    within a class), and takes the core of a running task of a later class at once. Classes
    not in ``order`` come after those in it, equal among themselves; without ``order``, the
    workload's classes rank in the order the config lists them."""

    Options = ClassPriorityOptions

    def __init__(self, engine: Engine, options):
        order = engine.workload.classes if options.order is None else options.order
        listed = {name: i for i, name in enumerate(order)}
        class_rank = [listed.get(name, len(listed)) for name in engine.workload.classes]
        rank = [class_rank[c] for c in engine.workload.task_class.tolist()]
        self.run_queue = lambda: ClassPriorityQueue(rank)
        super().__init__(engine, options)


class ProcessorSharing(Model):
    """Egalitarian processor sharing: n tasks in service each get min(1, cores / n) of a core.

    Service is tracked in virtual time (the service each task in service has received), so
    an arrival or departure costs O(log n); departure times are rounded up to whole ns.
    """

    Options = ProcessorSharingOptions

    def __init__(self, engine: Engine, options):
        super().__init__(engine, options)
        self.cores = engine.cfg.machine.cores
        self.virtual = 0.0  # service per task in service since the start
        self.last = 0
        self.heap: list[tuple[float, int]] = []  # (virtual finish, task)
        self.entered: dict[int, int] = {}
        self.work: dict[int, int] = {}
        self.per_class: dict[int, int] = {}
        self.gen = 0

    def cut(self, now: int) -> None:
        self._advance_clock()

    def _rate(self) -> float:
        n = len(self.heap)
        return min(1.0, self.cores / n) if n else 0.0

    def _advance_clock(self) -> None:
        now = self.engine.now
        if self.heap and now > self.last:
            rate = self._rate()
            self.virtual += (now - self.last) * rate
            rec = self.engine.rec
            for cls, count in self.per_class.items():
                if count:
                    rec.busy_share(cls, self.last, now, rate * count)
        self.last = now

    def arrive(self, task: int) -> None:
        self._advance(task)

    def _advance(self, task: int) -> None:
        engine, rec = self.engine, self.engine.rec
        while True:
            kind, arg = engine.next_phase(task)
            rec.running(task, engine.now)
            if (kind in (CPU, NATIVE)) and arg:
                self._enter(task, arg)
                return
            if (kind in (IO, SLEEP, BLOCK)) and arg:
                late = os_delay(engine, kind, arg)
                engine.after(arg + late, lambda _, t=task, d=late: self._back(t, d))
                return
            if kind == DONE:
                engine.finish(task)
                return

    def _back(self, task: int, late: int) -> None:
        self.engine.rec.ready(task, self.engine.now - late, True)
        self._advance(task)

    def _enter(self, task: int, work: int) -> None:
        self._advance_clock()
        cls = self.engine.rec.task_class[task]
        self.per_class[cls] = self.per_class.get(cls, 0) + 1
        self.entered[task] = self.engine.now
        self.work[task] = work
        heapq.heappush(self.heap, (self.virtual + work, task))
        self._schedule()

    def _schedule(self) -> None:
        self.gen += 1
        if not self.heap:
            return
        gen = self.gen
        delay = max(0, math.ceil((self.heap[0][0] - self.virtual) / self._rate()))

        def depart(_):
            if gen == self.gen:
                self._depart()

        self.engine.after(delay, depart)

    def _depart(self) -> None:
        self._advance_clock()
        now, rec = self.engine.now, self.engine.rec
        leaving = []
        while self.heap and self.heap[0][0] <= self.virtual + 1e-6:
            leaving.append(heapq.heappop(self.heap)[1])
        for task in leaving:
            self.per_class[rec.task_class[task]] -= 1
            # in service the whole time, but served at less than a full core: that is wait
            rec.wait[task] += now - self.entered.pop(task) - self.work.pop(task)
        self._schedule()
        for task in leaving:
            self._advance(task)
