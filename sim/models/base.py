"""Shared machinery for every scheduler model.

``Engine`` owns the SimPy environment, the task set (as plain lists, fast to index), the
arrival processes and the drain guard; a model only decides who runs when. ``Cores`` is
the machine's CPUs shared by OS threads in time slices: the reference disciplines run
each task as a thread on it, the runtime models run their loops, Ms or workers on it.
SimPy is used lean (DESIGN section 6): callbacks on timeouts, no process per task.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import deque
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import simpy
from simpy.events import Timeout

from ..phases import DONE, SPAWN
from ..schema import StrictModel

if TYPE_CHECKING:
    from ..config import Config
    from ..recorder import Recorder
    from ..workload import Workload

FOREVER = 1 << 62


class SchedulerOptions(StrictModel):
    """A model's options; subclasses add fields with the real runtime's defaults."""

    model: str

    def check(self, cfg: Config, path: str) -> None:
        """Cross-checks against the whole config; raise ``ValueError('path: why')``."""


class Engine:
    """One run of one scheduler over one workload."""

    def __init__(self, workload: Workload, recorder: Recorder, cfg: Config,
                 model_cls: type[Model], options: Any, rng: np.random.Generator):
        self.env = simpy.Environment()
        self.workload = workload
        self.rec = recorder
        self.cfg = cfg
        self.rng = rng
        self.horizon = workload.horizon
        kinds = [t.kinds for t in workload.templates]
        self.kinds = [kinds[c] for c in workload.task_class.tolist()]
        self.offset = workload.offset.tolist()
        self.args = workload.args.tolist()
        self.pc = [0] * workload.n
        self.think = workload.think.tolist()
        self.next_in_client = workload.next_in_client.tolist()
        self.outstanding = 0
        self.pending_arrivals = 0
        self.stop = self.env.event()
        self.model = model_cls(self, options)

    # --- phases ---------------------------------------------------------------------------

    def next_phase(self, task: int) -> tuple[int, int]:
        """Advance the task to its next phase: (kind, argument), or (DONE, 0)."""
        i = self.pc[task]
        kinds = self.kinds[task]
        if i == len(kinds):
            return DONE, 0
        self.pc[task] = i + 1
        kind = kinds[i]
        arg = self.args[self.offset[task] + i]
        if kind == SPAWN:
            self.rec.arrive(arg, self.env.now)
            self.outstanding += 1
            self.model.spawn(task, arg)
        return kind, arg

    # --- time -----------------------------------------------------------------------------

    def after(self, delay: int, callback) -> Timeout:
        """Call ``callback(event)`` ``delay`` ns from now."""
        event = Timeout(self.env, delay)
        event.callbacks.append(callback)
        return event

    # --- arrivals and completions ----------------------------------------------------------

    def arrive(self, task: int) -> None:
        """``task`` enters the system now (an open arrival, a closed issue or a spawn)."""
        self.rec.arrive(task, self.env.now)
        self.outstanding += 1
        self.model.arrive(task)

    def finish(self, task: int) -> None:
        self.rec.done(task, self.env.now)
        self.outstanding -= 1
        nxt = self.next_in_client[task]
        if nxt >= 0:
            self._issue_closed(nxt, self.env.now + self.think[nxt])
        self._maybe_done()

    def _issue_closed(self, task: int, at: int) -> None:
        if at >= self.horizon:
            return
        self.pending_arrivals += 1

        def issue(_event):
            self.pending_arrivals -= 1
            self.arrive(task)

        self.after(at - self.env.now, issue)

    def _open_arrivals(self, order: list[int], times: list[int]) -> None:
        index = 0

        def next_batch(_event):
            nonlocal index
            now = self.env.now
            while index < len(order) and times[index] == now:
                task = order[index]
                index += 1
                self.arrive(task)
            if index < len(order):
                self.after(times[index] - now, next_batch)
            else:
                self.pending_arrivals -= 1
                self._maybe_done()

        if order:
            self.pending_arrivals += 1
            self.after(times[0], next_batch)

    def _maybe_done(self) -> None:
        if self.outstanding == 0 and self.pending_arrivals == 0 and not self.stop.triggered:
            self.stop.succeed()

    def run(self) -> None:
        """Simulate until every task is done or the drain limit is reached."""
        order = self.workload.open_order
        self._open_arrivals(order.tolist(), self.workload.arrival[order].tolist())
        for task in self.workload.client_first.tolist():
            self._issue_closed(task, self.think[task])
        self._maybe_done()
        cap = self.env.timeout(self.horizon + self.cfg.drain_limit)
        self.env.run(until=self.stop | cap)


class Model(ABC):
    """A scheduler model: a few hooks over ``Engine`` and ``Cores``.

    Subclasses set ``Options`` and implement ``arrive``; docstrings cite the runtime source.
    """

    Options: ClassVar[type[SchedulerOptions]]
    name: ClassVar[str]

    def __init__(self, engine: Engine, options: Any):
        self.engine = engine
        self.options = options

    @abstractmethod
    def arrive(self, task: int) -> None:
        """A task has arrived (``engine.env.now``): start it the way the runtime does."""

    def spawn(self, parent: int, child: int) -> None:
        """``parent`` has just spawned ``child``; by default it arrives like any task."""
        self.arrive(child)


class Thread:
    """An OS thread as the cores see it: it computes for a task, or it is off-core."""

    __slots__ = ("on_core", "queued", "task", "remaining", "done", "slice_start", "seg_start",
                 "gen")

    def __init__(self):
        self.on_core = False
        self.queued = False
        self.task = -1
        self.remaining = 0
        self.done = None
        self.slice_start = 0
        self.seg_start = 0
        self.gen = 0


class Cores:
    """``count`` CPUs shared round-robin by time slice among the threads that want one.

    With no more threads than cores nobody is ever descheduled; beyond that, a thread whose
    slice has expired while another waits goes to the back of the run queue. The same
    mechanism is the ``round_robin`` discipline (slice = quantum) and ``fcfs`` (no slice).
    """

    __slots__ = ("engine", "env", "rec", "free", "slice", "queue")

    def __init__(self, engine: Engine, count: int, slice_ns: int = FOREVER):
        self.engine = engine
        self.env = engine.env
        self.rec = engine.rec
        self.free = count
        self.slice = slice_ns
        self.queue: deque[Thread] = deque()

    def compute(self, thread: Thread, task: int, work: int, done) -> None:
        """Run ``work`` ns of CPU for ``task`` on ``thread``, then call ``done(thread)``."""
        thread.task, thread.remaining, thread.done = task, work, done
        if not thread.on_core:
            if not self.free:
                thread.queued = True
                self.queue.append(thread)
                self.rec.ready(task, self.env.now, False)
                return
            self.free -= 1
            thread.on_core = True
            thread.slice_start = self.env.now
        self.rec.running(task, self.env.now)
        self._segment(thread)

    def release(self, thread: Thread) -> None:
        """The thread blocks (I/O, a lock, a sleep): its core goes to the next in line."""
        if thread.on_core:
            thread.on_core = False
            thread.gen += 1
            self._dispatch()

    def interrupt(self, thread: Thread) -> int:
        """Stop the thread's computation now (it keeps its core); return the work left."""
        if thread.queued or not thread.on_core:
            return thread.remaining
        now = self.env.now
        if thread.seg_start < now:
            self.rec.busy(thread.task, thread.seg_start, now)
        thread.remaining -= now - thread.seg_start
        thread.seg_start = now
        thread.gen += 1
        return thread.remaining

    def yield_core(self, thread: Thread, task: int, done) -> None:
        """The thread offers its core to a waiting thread and continues after it."""
        if self.queue and thread.on_core:
            self.release(thread)
            self.compute(thread, task, 0, done)
        else:
            done(thread)

    # --- internals --------------------------------------------------------------------------

    def _segment(self, thread: Thread) -> None:
        if thread.remaining == 0:
            thread.done(thread)
            return
        now = self.env.now
        if now >= thread.slice_start + self.slice:
            if self.queue:
                self._preempt(thread)
                return
            thread.slice_start = now
        thread.seg_start = now
        thread.gen += 1
        gen = thread.gen
        end = min(now + thread.remaining, thread.slice_start + self.slice)

        def on_end(_event):
            if thread.gen == gen:
                self._segment_end(thread)

        self.engine.after(end - now, on_end)

    def _segment_end(self, thread: Thread) -> None:
        now = self.env.now
        self.rec.busy(thread.task, thread.seg_start, now)
        thread.remaining -= now - thread.seg_start
        thread.seg_start = now
        thread.gen += 1
        self._segment(thread)

    def _preempt(self, thread: Thread) -> None:
        self.rec.preempt(thread.task, self.env.now)
        thread.on_core = False
        thread.gen += 1
        thread.queued = True
        self.queue.append(thread)
        self._dispatch()

    def _dispatch(self) -> None:
        self.free += 1
        if not self.queue:
            return
        nxt = self.queue.popleft()
        nxt.queued = False
        self.free -= 1
        nxt.on_core = True
        nxt.slice_start = self.env.now
        self.rec.switches[nxt.task] += 1
        self.rec.running(nxt.task, self.env.now)
        self._segment(nxt)
