"""Shared machinery for every scheduler model.

``Engine`` owns the SimPy environment, the task set (as plain lists, fast to index), the
arrivals and the drain guard; a model only decides who runs when. ``Cores`` is
the machine's CPUs shared by OS threads in time slices: the reference disciplines run
each task as a thread on it, the runtime models run their loops, Ms or workers on it.
The engine owns time: ``now``, ``after`` and ``at`` (a callback later), ``last_at`` (one
after everything else at its instant), ``cancel``, and
for a model that handles its own next event at once (running ahead of the queue, as the
go model does for bursts), ``reserve``, ``next_due`` and ``run_ahead``. No model touches
SimPy's internals. SimPy stays the event queue, used lean: no process per task, and the
engine steps SimPy's environment itself, with timed callbacks as bare ``[callback, value]``
entries in SimPy's event queue (any SimPy event there still runs its callbacks as
``env.step`` would). Open arrivals, sorted in advance, are merged into that loop rather than
queued as events. Both matter: a queue push and pop cost more than the rest of a typical
burst's handling (docs/speed.md).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import deque
from heapq import heappop, heappush
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import simpy
from pydantic import Field
from simpy.events import NORMAL

from ..machine import OS
from ..messages import charge_messages
from ..phases import DONE, SPAWN
from ..schema import Duration, StrictModel
from .policies import RunQueue

if TYPE_CHECKING:
    from ..config import Config
    from ..recorder import Recorder
    from ..workload import Workload

FOREVER = 1 << 62
LAST = NORMAL + 1  # queue priority of ``last_at`` entries: after SimPy's normal ones


def given_or(machine: Any, key: str, *given: int | None) -> int:
    """The first of ``given`` that the config set (not None), else the machine's ``key``:
    a model option that overrides a machine cost."""
    for value in given:
        if value is not None:
            return value
    return getattr(machine, key)


class SchedulerOptions(StrictModel):
    """A model's options; subclasses add fields with the real runtime's defaults."""

    model: str

    def check(self, cfg: Config, path: str) -> None:
        """Cross-checks against the whole config; raise ``ValueError('path: why')``."""

    def message_burst(self, machine: Any) -> int:
        """ns of the task's own CPU that each socket message costs it (``sim.messages``):
        0 for a textbook discipline, or where the model charges messages itself."""
        return 0


class MessageCost(SchedulerOptions):
    """A runtime's ``message_cost``: None is the machine's ``<model>_message_cost``."""

    message_cost: Duration | None = Field(
        default=None, description="CPU time the runtime spends on each socket message "
        "(an arriving request, an io's reply): reading and parsing it, waking the task, "
        "and the write that goes with it; run on the task's thread before it goes on. None "
        "is the machine's <model>_message_cost (linux: measured on the development machine "
        "by python -m sim.validate --calibrate; ideal: 0)")

    def message_cost_on(self, machine: Any) -> int:
        """The option, or the machine's ``<model>_message_cost``."""
        return given_or(machine, f"{self.model}_message_cost", self.message_cost)

    def message_burst(self, machine: Any) -> int:
        return self.message_cost_on(machine)


class Engine:
    """One run of one scheduler over one workload."""

    def __init__(self, workload: Workload, recorder: Recorder, cfg: Config,
                 model_cls: type[Model], options: Any, rng: np.random.Generator):
        self.env = simpy.Environment()
        self.now = 0  # the simulated time in ns: run() and run_ahead() move it
        cost = options.message_burst(cfg.machine)
        if cost:  # the model runs each socket message as a burst of the task's
            arrives = [cfg.workload[c].arrival != "spawned" for c in workload.classes]
            workload, overhead = charge_messages(workload, arrives, cost)
            recorder.overhead = overhead.tolist()
        self.workload = workload
        self.rec = recorder
        self.cfg = cfg
        self.rng = rng
        # The OS's delays come from a child stream: the model's own draws stay the same
        # under every machine profile.
        self.os = OS(cfg.machine, rng.spawn(1)[0])
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
        self.deadline = self.horizon + cfg.drain_limit
        order = workload.open_order
        self.open_tasks = order.tolist()
        self.open_times = workload.arrival[order].tolist()
        self.open_next = 0  # cursor into the open arrivals, for models that pull them
        self.stopped = False  # every task is done and no arrival is pending
        self.model = model_cls(self, options)

    # --- phases ---------------------------------------------------------------------------

    def next_phase(self, task: int, now: int | None = None) -> tuple[int, int]:
        """Advance the task to its next phase: (kind, argument), or (DONE, 0).

        ``now`` is the model's own clock when it runs ahead of SimPy's (a spawn's time)."""
        i = self.pc[task]
        kinds = self.kinds[task]
        if i == len(kinds):
            return DONE, 0
        self.pc[task] = i + 1
        kind = kinds[i]
        arg = self.args[self.offset[task] + i]
        if kind == SPAWN:
            self.spawn(task, arg, self.now if now is None else now)
        return kind, arg

    def spawn(self, parent: int, child: int, now: int) -> None:
        """``parent`` runs a spawn phase at ``now``: the child arrives."""
        self.rec.arrive(child, now)
        self.outstanding += 1
        self.model.spawn(parent, child)

    # --- time -----------------------------------------------------------------------------

    def after(self, delay: int, callback, value: Any = None) -> list:
        """Call ``callback(value)`` ``delay`` ns from now. The returned entry is unique: a
        model can tell a superseded call from the live one by identity, or ``cancel`` it."""
        env = self.env
        entry = [callback, value]
        heappush(env._queue, (self.now + delay, NORMAL, next(env._eid), entry))
        return entry

    def at(self, time: int, callback, value: Any = None, order: int | None = None) -> list:
        """Call ``callback(value)`` at ``time`` (not before now), in the queue's order at
        that time, or at the place ``order`` that ``reserve`` gave."""
        env = self.env
        entry = [callback, value]
        heappush(env._queue, (time, NORMAL, next(env._eid) if order is None else order, entry))
        return entry

    def last_at(self, time: int, callback, value: Any = None) -> list:
        """Call ``callback(value)`` at ``time``, after every ``after`` or ``at`` entry due
        then, even one queued later: a thread that looks at the state an instant leaves
        (Go's sysmon round) sees everything that happened at that instant."""
        env = self.env
        entry = [callback, value]
        heappush(env._queue, (time, LAST, next(env._eid), entry))
        return entry

    @staticmethod
    def cancel(entry: list) -> None:
        """The entry's call will not happen (it stays queued, as a no-op)."""
        entry[0] = _cancelled

    def reserve(self) -> int:
        """A place in the queue's order, taken now, for an entry queued later with ``at``:
        a model that runs ahead keeps the order its event would have had."""
        return next(self.env._eid)

    def next_due(self) -> int:
        """When the queue's next entry is due (the drain limit's entry is always queued)."""
        return self.env._queue[0][0]

    def run_ahead(self, time: int) -> None:
        """Move the clock to ``time``, which the caller has checked is before ``next_due()``
        (and no earlier than now): a model handles what happens then at once instead of
        queueing it (same result, one push and pop less)."""
        self.now = self.env._now = time

    # --- arrivals and completions ----------------------------------------------------------

    def arrive(self, task: int) -> None:
        """``task`` enters the system now (an open arrival, a closed issue or a spawn)."""
        self.rec.arrive(task, self.now)
        self.outstanding += 1
        self.model.arrive(task)

    def finish(self, task: int, now: int | None = None) -> None:
        """The task's phases are done (at ``now``, default SimPy's clock)."""
        now = self.now if now is None else now
        self.rec.finish[task] = now  # (Recorder.done, inlined: once per task)
        self.outstanding -= 1
        nxt = self.next_in_client[task]
        if nxt >= 0:
            self._issue_closed(nxt, now + self.think[nxt])
        if not self.outstanding and not self.pending_arrivals:
            self.stopped = True

    def take_arrivals(self, until: int) -> list[int]:
        """For a model that pulls open arrivals: the tasks due by ``until``, in arrival
        order, recorded as arrived at their own times (``rec.arrival``; no SimPy event per
        arrival)."""
        times, tasks, i = self.open_times, self.open_tasks, self.open_next
        rec = self.rec
        arrival, ready_since, woken = rec.arrival, rec.ready_since, rec.woken
        taken = []
        end, n = i, len(times)
        while end < n and times[end] <= until:
            task, t = tasks[end], times[end]
            arrival[task] = ready_since[task] = woken[task] = t  # (Recorder.arrive, inlined)
            taken.append(task)
            end += 1
        self.outstanding += end - i
        self.open_next = end
        if end == n and taken:
            self.pending_arrivals -= 1
        return taken

    def next_arrival(self) -> int | None:
        """When the next open arrival is due, for a model that pulls them."""
        i = self.open_next
        return self.open_times[i] if i < len(self.open_times) else None

    def _issue_closed(self, task: int, at: int) -> None:
        if at >= self.horizon:
            return
        self.pending_arrivals += 1

        def issue(_value):
            self.pending_arrivals -= 1
            self.arrive(task)

        self.after(at - self.now, issue)

    def _deliver(self) -> int:
        """Hand the open arrivals due now to the model; when the next one is due."""
        times, tasks, i, now = self.open_times, self.open_tasks, self.open_next, self.now
        rec, model = self.rec, self.model
        while i < len(times) and times[i] == now:
            task = tasks[i]
            i += 1
            rec.arrive(task, now)  # (self.arrive, inlined: once per task)
            self.outstanding += 1
            model.arrive(task)
        self.open_next = i
        if i < len(times):
            return times[i]
        self.pending_arrivals -= 1
        self._maybe_done()
        return FOREVER

    def _maybe_done(self) -> None:
        if self.outstanding == 0 and self.pending_arrivals == 0:
            self.stopped = True

    def run(self) -> None:
        """Simulate until every task is done or the drain limit is reached.

        What ``env.run(until=...)`` does, without its calls per event; and open arrivals,
        already sorted, are not events: unless the model pulls them, each instant's are
        handed to it before that instant's events."""
        self.pending_arrivals += bool(self.open_tasks)
        for task in self.workload.client_first.tolist():
            self._issue_closed(task, self.think[task])
        self._maybe_done()
        env = self.env
        queue = env._queue
        heappush(queue, (self.deadline, NORMAL, next(env._eid), None))  # the drain limit
        due = FOREVER if self.model.pulls_arrivals or not self.open_times else self.open_times[0]
        while not self.stopped:
            if due <= queue[0][0]:
                self.now = env._now = due
                due = self._deliver()
                continue
            self.now, _, _, entry = heappop(queue)
            env._now = self.now
            if entry.__class__ is list:
                entry[0](entry[1])
            elif entry is None:  # the drain limit: bursts in progress count up to now
                self.model.cut(self.now)
                break
            else:  # a SimPy event
                callbacks, entry.callbacks = entry.callbacks, None
                for callback in callbacks:
                    callback(entry)
                if not entry._ok and not hasattr(entry, "_defused"):
                    raise entry._value
        self.model.end(self.now)


def _cancelled(_value: Any) -> None:
    """What a cancelled entry calls."""


class Model(ABC):
    """A scheduler model: a few hooks over ``Engine`` and ``Cores``.

    Subclasses set ``Options`` and implement ``arrive``; docstrings cite the runtime source.
    """

    __slots__ = ("engine", "options")  # (a subclass without __slots__ has a __dict__)
    Options: ClassVar[type[SchedulerOptions]]
    name: ClassVar[str]
    pulls_arrivals = False  # True: the model takes open arrivals with engine.take_arrivals

    def __init__(self, engine: Engine, options: Any):
        self.engine = engine
        self.options = options

    @abstractmethod
    def arrive(self, task: int) -> None:
        """A task has arrived (``engine.now``): start it the way the runtime does."""

    def spawn(self, parent: int, child: int) -> None:
        """``parent`` has just spawned ``child``; by default it arrives like any task."""
        self.arrive(child)

    def end(self, now: int) -> None:  # noqa: B027 (a hook: most models have nothing to close)
        """The run is over at ``now`` (every task done, or the drain limit): a model that
        accounts for something over the whole run closes it here."""

    def cut(self, now: int) -> None:
        """The drain limit stops the run at ``now``: record the bursts still running as busy
        up to now (utilisation counts core time, whether or not the task finished). This
        covers the bursts on the model's ``cores``; a model that runs bursts elsewhere
        overrides it."""
        cores = getattr(self, "cores", None)
        if cores is not None:
            cores.cut(now)


class Thread:
    """An OS thread as the cores see it: it computes for a task, or it is off-core.
    ``parked_at``: when it last blocked in the kernel (a wake-up's latency depends on how
    long it has been parked: ``machine.wake_latency``, ``net_wake_latency``)."""

    __slots__ = ("on_core", "queued", "pending", "task", "remaining", "done", "slice_start",
                 "seg_start", "gen", "lane", "queued_at", "parked_at")

    def __init__(self, lane: str | None = None):
        self.lane = lane  # its name on the timeline (--trace); None: not traced
        self.queued_at = 0
        self.parked_at = 0
        self.on_core = False
        self.queued = False
        self.pending = False  # a segment-end event is scheduled
        self.task = -1
        self.remaining = 0
        self.done = None
        self.slice_start = 0
        self.seg_start = 0
        self.gen = 0


class Cores:
    """``count`` CPUs shared among the threads that want one, by a run-queue policy.

    With the default FIFO ``RunQueue`` a thread that got a core at ``t0`` is descheduled at
    the first slice boundary ``t0 + k * slice`` at which another thread is waiting, and goes
    to the back of the run queue; with no more threads than cores nobody is ever
    descheduled (and no slice events are scheduled). The same mechanism is the
    ``round_robin`` discipline (slice = quantum) and ``fcfs`` (no slice); with
    ``ShortestRemainingQueue`` and no slice it is ``shortest_remaining``.
    """

    __slots__ = ("engine", "rec", "free", "slice", "queue", "holders", "finished",
                 "finishing")

    def __init__(self, engine: Engine, count: int, slice_ns: int = FOREVER,
                 queue: Any = None):
        self.engine = engine
        self.rec = engine.rec
        self.free = count
        self.slice = slice_ns
        self.queue = RunQueue() if queue is None else queue
        self.holders: dict[Thread, None] = {}  # a set in insertion order (deterministic)
        self.finished: deque[Thread] = deque()  # computations done, continuations not yet run
        self.finishing = False

    def compute(self, thread: Thread, task: int, work: int, done) -> None:
        """Run ``work`` ns of CPU for ``task`` on ``thread``, then call ``done(thread)``."""
        thread.task, thread.remaining, thread.done = task, work, done
        now = self.engine.now
        if not thread.on_core:
            if not self.free:
                thread.queued = True
                thread.queued_at = now
                self.queue.push(thread)
                self.rec.ready(task, now, False)
                victim = self.queue.preempts and self.queue.victim(thread, self.holders, now)
                if victim:
                    self.interrupt(victim)
                    self._preempt(victim)
                elif len(self.queue) == 1:
                    self._contended()
                return
            self.free -= 1
            thread.on_core = True
            thread.slice_start = now
            self.holders[thread] = None
        elif self.queue.preempts and work and self.queue.outranks(thread):
            self._preempt(thread)  # a waiting thread comes first
            return
        self.rec.running(task, now)
        self._segment(thread)

    def release(self, thread: Thread) -> None:
        """The thread blocks (I/O, a lock, a sleep): its core goes to the next in line."""
        if thread.on_core:
            thread.on_core = False
            thread.pending = False
            thread.gen += 1
            self.holders.pop(thread, None)
            self._dispatch()

    def interrupt(self, thread: Thread) -> int:
        """Stop the thread's computation now (it keeps its core); return the work left."""
        if not thread.pending:
            return thread.remaining
        now = self.engine.now
        if thread.seg_start < now:
            self.rec.busy(thread.task, thread.seg_start, now, thread.lane)
        thread.remaining -= now - thread.seg_start
        thread.seg_start = now
        thread.pending = False
        thread.gen += 1
        return thread.remaining

    def cut(self, now: int) -> None:
        """The run stops at ``now``: the busy time of every computation in progress."""
        for holder in list(self.holders):
            self.interrupt(holder)

    def yield_core(self, thread: Thread, task: int, done) -> None:
        """The thread offers its core to a waiting thread and continues after it."""
        thread.task = task
        if self.queue and thread.on_core:
            self.release(thread)
            self.compute(thread, task, 0, done)
        else:
            done(thread)

    # --- internals --------------------------------------------------------------------------

    def _segment(self, thread: Thread) -> None:
        if thread.remaining == 0:
            self._finish(thread)
            return
        now = self.engine.now
        end = now + thread.remaining
        if self.queue:
            boundary = self._boundary(thread, now)
            if boundary <= now:
                self._preempt(thread)
                return
            end = min(end, boundary)
        thread.seg_start = now
        thread.pending = True
        thread.gen += 1
        self.engine.after(end - now, self._segment_end, (thread, thread.gen))

    def _finish(self, thread: Thread) -> None:
        """Run the thread's continuation. One that finishes inside another's continuation
        (a core handed over to a thread with nothing left to compute, as on a yield) runs
        once that one returns: a long chain of such hand-offs is a loop, not a recursion as
        deep as the run queue."""
        self.finished.append(thread)
        if self.finishing:
            return
        self.finishing = True
        try:
            while self.finished:
                nxt = self.finished.popleft()
                nxt.done(nxt)
        finally:
            self.finishing = False

    def _boundary(self, thread: Thread, now: int) -> int:
        """The thread's first slice boundary at or after ``now`` (never its start)."""
        slices = -(-(now - thread.slice_start) // self.slice)
        return thread.slice_start + max(slices, 1) * self.slice

    def _contended(self) -> None:
        """A thread now waits: cut the holders' current segments at their slice boundary."""
        for holder in list(self.holders):
            if holder.pending:
                self.interrupt(holder)
                self._segment(holder)

    def _segment_end(self, due: tuple[Thread, int]) -> None:
        thread, gen = due
        if thread.gen != gen:
            return
        now = self.engine.now
        self.rec.busy(thread.task, thread.seg_start, now, thread.lane)
        thread.remaining -= now - thread.seg_start
        thread.seg_start = now
        thread.pending = False
        if thread.remaining and self.queue:
            self._preempt(thread)
        else:
            self._segment(thread)

    def _preempt(self, thread: Thread) -> None:
        self.rec.preempt(thread.task, self.engine.now)
        thread.on_core = False
        thread.pending = False
        thread.gen += 1
        thread.queued = True
        thread.queued_at = self.engine.now
        self.holders.pop(thread, None)
        self.queue.push(thread)
        self._dispatch()

    def _dispatch(self) -> None:
        self.free += 1
        if not self.queue:
            return
        nxt = self.queue.take()
        nxt.queued = False
        self.free -= 1
        nxt.on_core = True
        nxt.slice_start = self.engine.now
        if nxt.lane:
            self.rec.span(nxt.lane, nxt.task, "runnable", nxt.queued_at, nxt.slice_start)
        self.holders[nxt] = None
        self.rec.switches[nxt.task] += 1
        self.rec.running(nxt.task, self.engine.now)
        self._segment(nxt)
