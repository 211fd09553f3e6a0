"""The one recorder every model reports to.

Models say what happens to a task (it arrived, became ready, started running, was
preempted, burned CPU from t0 to t1, finished); the recorder keeps flat per-task lists and
a wake-up log. Wait is accumulated independently of the phase durations, so the invariant
``wait == latency - demand - overhead`` checks the models rather than restating a formula.

Lanes (a loop, a worker, a P, a thread: who ran the work) name where time went. A lane
that serves tasks one at a time (an asyncio loop, a Tokio worker, a Go P) is declared with
``server``, and the GIL reports its holds with ``occupy``: the recorder sums, per such lane,
the time inside the window it was occupied (its busy time, its ``blocked`` spans, a GIL's
holds), which the summary reports as ``occupancy`` (the busiest one's share of the window).
"""

from __future__ import annotations

import numpy as np


class Recorder:
    __slots__ = (
        "task_class", "lo", "hi", "arrival", "start", "finish", "wait", "overhead",
        "preemptions", "switches", "handoffs", "slow", "ready_since", "woken",
        "wake_task", "wake_ready", "wake_run", "busy_by_class", "busy_total", "tracing",
        "trace_rows", "occupied",
    )

    def __init__(self, task_class: list[int], n_classes: int, warmup: int, horizon: int):
        n = len(task_class)
        self.task_class = task_class
        self.lo, self.hi = warmup, horizon  # the measured window
        self.arrival = [-1] * n
        self.start = [-1] * n
        self.finish = [-1] * n
        self.wait = [0] * n
        self.overhead = [0] * n
        self.preemptions = [0] * n
        self.switches = [0] * n
        self.handoffs = [0] * n
        self.slow = [0] * n
        self.ready_since = [-1] * n  # when the task became runnable, -1 while not waiting
        self.woken = [-1] * n  # the real moment of a pending wake-up, -1 if none
        self.wake_task: list[int] = []
        self.wake_ready: list[int] = []
        self.wake_run: list[int] = []
        self.busy_by_class = [0] * n_classes  # cpu/native/overhead time inside the window
        self.busy_total = 0
        self.tracing = False  # --trace: keep who ran where and when (lane spans)
        self.trace_rows: list[tuple[str, int, str, int, int]] = []
        self.occupied: dict[str, int] = {}  # a server lane: its occupied ns in the window

    def arrive(self, task: int, t: int) -> None:
        """The task exists from ``t``; its arrival is its first wake-up."""
        self.arrival[task] = t
        self.ready_since[task] = t
        self.woken[task] = t

    def ready(self, task: int, t: int, wake: bool) -> None:
        """The task could run from ``t``: after a real event (``wake``) or a re-queue."""
        if self.ready_since[task] < 0:
            self.ready_since[task] = t
        if wake:
            self.woken[task] = t

    def running(self, task: int, t: int) -> None:
        """The task runs (again) from ``t``; a no-op if it was not waiting."""
        since = self.ready_since[task]
        if since < 0:
            return
        self.wait[task] += t - since
        self.ready_since[task] = -1
        woken = self.woken[task]
        if woken >= 0:
            self.wake_task.append(task)
            self.wake_ready.append(woken)
            self.wake_run.append(t)
            self.woken[task] = -1
        if self.start[task] < 0:
            self.start[task] = t

    def hand_off(self, task: int) -> int:
        """The task's step runs only to hand its next phase to another thread (an executor,
        a blocking pool): that is not its own work yet, so the step does not end its
        pending wake-up. It is taken off here (returned: its moment, or -1) and ``carry``
        puts it back as the phase is handed over: it ends when that thread runs the phase."""
        woken = self.woken[task]
        self.woken[task] = -1
        return woken

    def carry(self, task: int, woken: int) -> None:
        """Put back a wake-up ``hand_off`` took off (-1: there was none)."""
        if woken >= 0:
            self.woken[task] = woken

    def busy(self, task: int, t0: int, t1: int, lane: str | None = None) -> None:
        """The task used a core from ``t0`` to ``t1`` (cpu, native or charged overhead),
        on ``lane`` (the thread, loop, P or worker that ran it) when tracing."""
        used = t1 - t0
        self.busy_total += used
        if self.tracing and lane is not None:
            self.trace_rows.append((lane, task, "running", t0, t1))
        if self.lo <= t0 and t1 <= self.hi:  # the common case, inside the window
            self.busy_by_class[self.task_class[task]] += used
            if lane in self.occupied:
                self.occupied[lane] += used
            return
        a, b = max(t0, self.lo), min(t1, self.hi)
        if b > a:
            self.busy_by_class[self.task_class[task]] += b - a
            if lane in self.occupied:
                self.occupied[lane] += b - a

    def busy_share(self, cls: int, t0: int, t1: int, cores: float) -> None:
        """Tasks of class ``cls`` used ``cores`` cores in total from ``t0`` to ``t1`` (PS)."""
        self.busy_total += (t1 - t0) * cores
        a, b = max(t0, self.lo), min(t1, self.hi)
        if b > a:
            self.busy_by_class[cls] += (b - a) * cores

    def span(self, lane: str, task: int, state: str, t0: int, t1: int) -> None:
        """For the timeline: ``lane`` was in ``state`` (gil_wait, io, blocked, runnable).
        A server ``blocked`` in a call is occupied, though no core is busy."""
        if self.tracing and t1 > t0:
            self.trace_rows.append((lane, task, state, t0, t1))
        if state == "blocked" and lane in self.occupied:
            self.occupy(lane, t0, t1)

    def server(self, lane: str) -> None:
        """``lane`` serves tasks one at a time (a loop, a worker, a P): its occupancy counts."""
        self.occupied.setdefault(lane, 0)

    def in_window(self, t0: int, t1: int) -> int:
        """How much of ``t0``-``t1`` lies in the measured window."""
        return max(0, min(t1, self.hi) - max(t0, self.lo))

    def occupy(self, lane: str, t0: int, t1: int) -> None:
        """The server ``lane`` (a GIL held, a loop blocked) was occupied from ``t0`` to ``t1``
        (``in_window`` inlined with ``if``s: a GIL's every drop comes here)."""
        if t0 < self.lo:
            t0 = self.lo
        if t1 > self.hi:
            t1 = self.hi
        occupied = self.occupied
        occupied[lane] = occupied.get(lane, 0) + (t1 - t0 if t1 > t0 else 0)

    def charge(self, task: int, ns: int) -> None:
        """An overhead (a step's cost) spent on the task's behalf, outside its demand."""
        self.overhead[task] += ns

    def preempt(self, task: int, t: int) -> None:
        self.preemptions[task] += 1
        self.ready(task, t, False)

    def trace(self) -> dict[str, list]:
        lane, task, state, start, end = (list(c) for c in zip(*self.trace_rows, strict=True)) \
            if self.trace_rows else ([], [], [], [], [])
        return {"lane": lane, "task": task, "state": state, "start": start, "end": end}

    def wakeups(self) -> dict[str, np.ndarray]:
        return {"task_id": int64s(self.wake_task), "ready": int64s(self.wake_ready),
                "run": int64s(self.wake_run)}


def int64s(values: list[int]) -> np.ndarray:
    """A recorder list as int64 (``fromiter``: a quarter cheaper than ``asarray`` here)."""
    return np.fromiter(values, np.int64, len(values))
