"""The asyncio event loop, after CPython's ``Lib/asyncio/base_events.py``.

One iteration of ``BaseEventLoop._run_once``:

1. ``select(timeout)``: 0 if anything is ready, else until the first timer; an idle epoll
   wait is rounded *up* to whole milliseconds (``selectors.EpollSelector.select``,
   ``math.ceil(timeout * 1e3) * 1e-3``), so an idle loop can fire a timer up to 1 ms late.
2. ``_process_events``: readiness callbacks of ready fds join the ready deque; then timers
   whose ``when < now + clock_resolution`` join it.
3. Exactly the ``ntodo = len(self._ready)`` handles present at that moment run; what they
   make ready runs in the next iteration.

Handles here are a readiness/timer callback (it resolves a future, whose done-callback
schedules the task's ``__step`` with ``call_soon``: two passes) or a task step (it runs the
task's phases up to its next suspending await, holding the loop). ``create_task`` and
``sleep(0)`` (``tasks.__sleep0``) schedule the step directly: one pass. Executor results
arrive through ``call_soon_threadsafe`` (``futures.wrap_future``): straight onto the ready
deque, and the self-pipe wakes a sleeping select.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from typing import Literal

from pydantic import Field, PositiveInt

from ..phases import BLOCK, CPU, DONE, IO, NATIVE, SLEEP, SPAWN, YIELD
from ..schema import Duration
from .base import Cores, Engine, Model, SchedulerOptions, Thread

OFFLOADABLE = ("block", "native")


class AsyncioOptions(SchedulerOptions):
    model: Literal["asyncio"]
    loops: PositiveInt = 1
    executor_threads: PositiveInt | None = Field(
        default=None, description="None: min(32, cores + 4), ThreadPoolExecutor's default")
    offload: list[Literal["block", "native", "cpu"]] = Field(default_factory=list)
    step_overhead: Duration = 0
    slow_callback: Duration = 100_000_000  # BaseEventLoop.slow_callback_duration = 0.1
    select_resolution: Duration = 1_000_000  # EpollSelector rounds timeouts up to 1 ms
    clock_resolution: Duration = 1  # time.get_clock_info('monotonic').resolution on Linux

    def check(self, cfg, path):
        if "cpu" in self.offload:
            raise ValueError(
                f"{path}.offload: offloading cpu phases to the executor needs the GIL "
                "model (executor threads running Python code share the loop's GIL); "
                "offload block or native phases")
        if self.slow_callback <= 0:
            raise ValueError(f"{path}.slow_callback: must be positive")

    def threads(self, cores: int) -> int:
        return self.executor_threads or min(32, cores + 4)


class Executor:
    """``concurrent.futures.ThreadPoolExecutor``: a FIFO work queue served by its threads."""

    def __init__(self, model: AsyncioModel, size: int):
        self.model = model
        self.idle = [Thread() for _ in range(size)]
        self.queue: deque[tuple[int, int, int, Loop]] = deque()

    def submit(self, task: int, kind: int, work: int, loop: Loop) -> None:
        rec = self.model.engine.rec
        rec.ready(task, self.model.engine.env.now, False)  # waiting for a worker thread
        self.queue.append((task, kind, work, loop))
        self._start()

    def _start(self) -> None:
        while self.idle and self.queue:
            thread = self.idle.pop()
            task, kind, work, loop = self.queue.popleft()
            engine = self.model.engine
            if kind == NATIVE:
                self.model.cores.compute(thread, task, work,
                                         lambda th, lp=loop: self._done(th, lp))
            else:
                engine.rec.running(task, engine.env.now)
                thread.task = task
                engine.after(work, lambda _e, th=thread, lp=loop: self._done(th, lp))

    def _done(self, thread: Thread, loop: Loop) -> None:
        self.model.cores.release(thread)
        self.idle.append(thread)
        loop.call_soon_threadsafe(thread.task)
        self._start()


class Loop:
    """One event loop: its thread, ready deque, timer heap and pending I/O readiness."""

    SELECTING, RUNNING = 0, 1

    def __init__(self, model: AsyncioModel, executor: Executor):
        self.model = model
        self.engine = model.engine
        self.rec = model.engine.rec
        self.cores = model.cores
        self.options = model.options
        self.executor = executor
        self.thread = Thread()
        self.ready: deque[int] = deque()  # task: its step; ~task: a callback that wakes it
        self.io_ready: list[int] = []  # fds that became ready since the last select
        self.timers: list[tuple[int, int, int]] = []  # (when, sequence, task)
        self.sequence = 0
        self.todo = 0
        self.state = Loop.SELECTING
        self.wake_gen = 0
        self.step_task = -1
        self.step_start = 0

    # --- the outside world ------------------------------------------------------------------

    def io_event(self, task: int) -> None:
        """An fd the task waits on became ready (or a connection arrived) now."""
        self.rec.ready(task, self.engine.env.now, True)
        self.io_ready.append(task)
        self._wake()

    def call_soon_threadsafe(self, task: int) -> None:
        """An executor job finished: its callback is appended to ready at once."""
        self.rec.ready(task, self.engine.env.now, True)
        self.ready.append(~task)
        self._wake()

    def _wake(self) -> None:
        if self.state == Loop.SELECTING:
            self._sleep(0)

    # --- the loop ---------------------------------------------------------------------------

    def _sleep(self, timeout: int | None) -> None:
        """Block in select for ``timeout`` ns (None: until an fd is ready)."""
        self.state = Loop.SELECTING
        self.wake_gen += 1
        if timeout is None:
            return
        gen = self.wake_gen

        def wake(_event):
            if gen == self.wake_gen:
                self.state = Loop.RUNNING
                self._poll()
                self._drive()

        self.engine.after(timeout, wake)

    def _poll(self) -> None:
        """What ``select`` returns: ready fds' callbacks, then due timers, join ready."""
        ready = self.ready
        for task in self.io_ready:
            ready.append(~task)
        self.io_ready.clear()
        now = self.engine.env.now
        end = now + self.options.clock_resolution
        timers = self.timers
        while timers and timers[0][0] < end:
            when, _, task = heapq.heappop(timers)
            self.rec.ready(task, when, True)
            ready.append(~task)
        self.todo = len(ready)

    def _drive(self) -> None:
        """Run handles until one waits for simulated time; between iterations, poll."""
        ready = self.ready
        while True:
            while self.todo:
                self.todo -= 1
                handle = ready.popleft()
                if handle < 0:
                    ready.append(~handle)  # future resolved: call_soon(task.__step)
                elif not self._start_step(handle):
                    return
            if not (ready or self.io_ready):
                timeout = self._select_timeout()
                if timeout != 0:
                    self.cores.release(self.thread)
                    self._sleep(timeout)
                    return
            self._poll()

    def _select_timeout(self) -> int | None:
        if not self.timers:
            return None
        timeout = max(0, self.timers[0][0] - self.engine.env.now)
        res = self.options.select_resolution
        return math.ceil(timeout / res) * res if res else timeout

    # --- a task step ------------------------------------------------------------------------

    def _start_step(self, task: int) -> bool:
        self.step_task = task
        self.step_start = self.engine.env.now
        overhead = self.options.step_overhead
        if overhead:
            self.rec.charge(task, overhead)
            self.cores.compute(self.thread, task, overhead, self._resume)
            return False
        return self._walk(task)

    def _resume(self, _thread_or_event=None) -> None:
        if self._walk(self.step_task):
            self._drive()

    def _walk(self, task: int) -> bool:
        """Run the step's phases; True if it ended now, False if it waits for time."""
        engine, rec, offload = self.engine, self.rec, self.model.offload
        while True:
            kind, arg = engine.next_phase(task)
            if kind in offload and arg:
                rec.running(task, engine.env.now)
                self._end_step(task)
                self.executor.submit(task, kind, arg, self)
                return True
            if kind in (CPU, NATIVE):
                if arg:
                    self.cores.compute(self.thread, task, arg, self._resume)
                    return False
            elif kind == IO:
                if arg:  # else the result is already there: the await does not yield
                    rec.running(task, engine.env.now)
                    self._end_step(task)
                    engine.after(arg, lambda _e, t=task: self.io_event(t))
                    return True
            elif kind in (SLEEP, YIELD):
                rec.running(task, engine.env.now)
                self._end_step(task)
                if arg:
                    self.sequence += 1
                    heapq.heappush(self.timers, (engine.env.now + arg, self.sequence, task))
                else:  # sleep(0) / bare yield: __step is re-scheduled with call_soon
                    rec.ready(task, engine.env.now, False)
                    self.ready.append(task)
                return True
            elif kind == BLOCK:
                if arg:  # a blocking call: the loop thread sleeps in the kernel, holding all
                    rec.running(task, engine.env.now)
                    self.cores.release(self.thread)
                    engine.after(arg, self._resume)
                    return False
            elif kind == DONE:
                rec.running(task, engine.env.now)
                self._end_step(task)
                engine.finish(task)
                return True
            elif kind == SPAWN:
                pass  # the engine has already scheduled the child on this loop

    def _end_step(self, task: int) -> None:
        if self.engine.env.now - self.step_start >= self.options.slow_callback:
            self.rec.slow[task] += 1


class AsyncioModel(Model):
    """``loops`` event loops (one process, one core at most each); arrivals are dealt to
    them round-robin and come in as readiness callbacks (``start_server``'s accept)."""

    Options = AsyncioOptions

    def __init__(self, engine: Engine, options: AsyncioOptions):
        super().__init__(engine, options)
        cores = engine.cfg.machine.cores
        self.cores = Cores(engine, cores, engine.cfg.machine.os_time_slice)
        kinds = {"block": BLOCK, "native": NATIVE, "cpu": CPU}
        self.offload = {kinds[k] for k in options.offload}
        size = options.threads(cores)
        self.loops = [Loop(self, Executor(self, size)) for _ in range(options.loops)]
        self.loop_of = [None] * engine.workload.n
        self.next_loop = 0

    def arrive(self, task: int) -> None:
        loop = self.loops[self.next_loop]
        self.next_loop = (self.next_loop + 1) % len(self.loops)
        self.loop_of[task] = loop
        loop.io_event(task)

    def spawn(self, parent: int, child: int) -> None:
        loop = self.loop_of[parent]
        self.loop_of[child] = loop
        loop.ready.append(child)  # create_task: call_soon(task.__step)
