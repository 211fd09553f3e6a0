"""The asyncio event loop, after CPython 3.11's ``Lib/asyncio/base_events.py``
(docs/runtime-notes/asyncio.md).

One iteration of ``BaseEventLoop._run_once`` (``Loop.run_once``, step by step in CPython's
order):

1. The loop's own work (``iteration_cost``), before the timeout is computed: with the
   rounding below, it makes a timer late.
2. The timeout: 0 if anything is ready, else until the first timer.
3. ``select(timeout)``: an idle epoll wait is rounded *up* to whole milliseconds
   (``selectors.EpollSelector.select``, ``math.ceil(timeout * 1e3) * 1e-3``), so an idle
   loop can fire a timer up to 1 ms late, and for some whole-millisecond timeouts 2 ms
   late (``epoll_wait_ns``). On the machine (``sim/machine.py``), a wait that ends by its
   timeout ends ``timer_lateness`` late; one ended by an event wakes the parked thread
   after it, ``net_wake_latency`` for readiness on a socket (an ``io`` completion, an
   arrival) and ``wake_latency`` for an executor's result (the self-pipe, written by a
   thread of the same process), and its first work costs ``wake_cost`` more (cold caches).
   A loop that is running when the event comes pays neither: its next select finds it.
   ``run_in_executor`` waking an idle executor thread costs the loop ``signal_cost`` (for
   the time the thread was parked), paid with its next step (``Executor.submit``).
4. ``_process_events``: readiness callbacks of ready fds join the ready deque.
5. Timers whose ``when < now + clock_resolution`` join it.
6. Exactly the ``ntodo = len(self._ready)`` handles present at that moment run; what they
   make ready runs in the next iteration.

Handles here are a readiness/timer callback (it resolves a future, whose done-callback
schedules the task's ``__step`` with ``call_soon``: two passes) or a task step (it runs the
task's phases up to its next suspending await, holding the loop). ``create_task`` and
``sleep(0)`` (``tasks.__sleep0``) schedule the step directly: one pass. Executor results
arrive through ``call_soon_threadsafe`` (``futures.wrap_future``): straight onto the ready
deque, and the self-pipe wakes a sleeping select. A callback costs the loop
``handle_cost``, a step ``step_overhead`` (the task's overhead).
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from typing import Literal

from pydantic import Field

from ..machine import ASYNCIO_COSTS
from ..phases import BLOCK, CPU, DONE, IO, NATIVE, SLEEP, SPAWN, YIELD
from ..schema import MAX_CORES, MAX_THREADS, Count, Duration
from .base import FOREVER, Cores, Engine, MessageCost, Model, Thread, given_or
from .gil_threads import Gil, GilLoopThread, PyThread
from .offload import offload_flags, offloads_kinds, offloads_next

EPOLL_RESOLUTION = 1_000_000  # epoll_wait's timeout is in whole milliseconds
# docs/runtime-notes/process_pool_cost.py on the development machine (2 vCPU VM, CPython
# 3.11.7): a no-op call's round trip through ProcessPoolExecutor(1) less ThreadPoolExecutor(1)
PROCESS_CALL_COST = 83_000


class AsyncioOptions(MessageCost):
    model: Literal["asyncio"]
    loops: Count(MAX_CORES) = Field(
        default=1, description="event loops, each in a process of its own (its own GIL, at "
        "most one core); arrivals are dealt to them round-robin")
    executor_threads: Count(MAX_THREADS) | None = Field(
        default=None, description="None: min(32, cores + 4), ThreadPoolExecutor's default")
    offload: list[Literal["block", "native", "cpu"]] = Field(
        default_factory=list, description="phase kinds every step runs with run_in_executor "
        "(a phase that says offload: true is run there too)")
    executor: Literal["thread", "process"] = Field(
        default="thread", description="the loop's default executor: thread, a "
        "ThreadPoolExecutor (its threads share the process's GIL for cpu work); process, a "
        "ProcessPoolExecutor (worker processes, each with its own GIL, each call paying "
        "process_call_cost)")
    process_workers: Count(MAX_CORES) | None = Field(
        default=None, description="the process pool's size; None: machine.cores, "
        "ProcessPoolExecutor's default os.cpu_count() (Lib/concurrent/futures/process.py, "
        "ProcessPoolExecutor.__init__)")
    process_call_cost: Duration = Field(
        default=PROCESS_CALL_COST, description="what one call through the process pool "
        "costs more than through a thread pool (pickling the call and its result, the "
        "pipes, the manager thread), as cpu time on the worker's core charged to the task "
        "as overhead: 83 us measured by docs/runtime-notes/process_pool_cost.py")
    # asyncio's own costs are the machine's (machine.asyncio_*: a profile, or a YAML profile
    # file, sets them; linux's were measured on the development machine, a 2 vCPU VM, with
    # CPython 3.11.7: docs/runtime-notes/asyncio.md, "Costs"; ideal's are 0). An option
    # given here overrides the machine's for this scheduler.
    iteration_cost: Duration | None = Field(
        default=None, description="one BaseEventLoop._run_once before its select's timeout "
        "is computed (so epoll's rounding turns it into lateness, as in CPython): None is "
        "the machine's asyncio_iteration_cost (linux: 1.35 us, the intercept of time per "
        "iteration against tasks: k tasks awaiting sleep(0) 2,000 times, k = 1, 2, 4, 8, "
        "16, best of 4: 2.45-19.9 us)")
    handle_cost: Duration | None = Field(
        default=None, description="one callback handle (a due timer's, an fd's readiness "
        "callback, an executor result's call_soon_threadsafe): None is the machine's "
        "asyncio_handle_cost (linux: 0.8 us, a due TimerHandle run by _run_once: heap pop, "
        "Handle._run, the future's set_result scheduling the task's wake-up, 1,100 against "
        "100 in one iteration)")
    step_overhead: Duration | None = Field(
        default=None, description="one task step's handle (Task.__wakeup or __step, the "
        "coroutine's resumption up to its next await), besides the task's own phases: None "
        "is the machine's asyncio_step_overhead (linux: 1.15 us, the slope of the same fit "
        "as iteration_cost, a sleep(0) step)")
    wake_cost: Duration | None = Field(
        default=None, description="what the loop's work costs more after its thread slept "
        "in epoll_wait (cold caches), charged as select returns: None is the machine's "
        "asyncio_wake_cost (linux: 15 us, an idle loop's sleep(1 ms) wake-up: loop work to "
        "select 6-7 us, epoll's return to the coroutine 12.5-14 us, medians of 600, less the "
        "same handles on a hot loop, 4.6-4.9 us; 20-24 us after 2 ms sleeps)")
    busy_message_cost: Duration | None = Field(
        default=None, description="what a socket message costs a loop that did not park "
        "before reading it (a message after another, or read by an iteration whose select "
        "did not sleep: a loop draining a queue), where message_cost is the first after a "
        "select that slept: None is message_cost if given here, else the machine's "
        "asyncio_busy_message_cost")
    slow_callback: Duration = Field(
        default=100_000_000, description="a step at least this long counts in slow_callbacks: "
        "what CPython logs only in debug mode (BaseEventLoop.slow_callback_duration, 0.1 s); "
        "counting changes no timing")
    select_resolution: Duration = Field(
        default=EPOLL_RESOLUTION, description="epoll_wait's unit: timeouts round up to it (1 ms, "
        "epoll: with CPython's float arithmetic, see epoll_wait_ns)")
    clock_resolution: Duration = Field(  # time.get_clock_info('monotonic').resolution on Linux
        default=1, description="the loop's clock_resolution: timers due before now + it "
        "join the ready queue (base_events.py _run_once)")

    def check(self, cfg, path):
        if self.slow_callback <= 0:
            raise ValueError(f"{path}.slow_callback: must be positive")

    def threads(self, cores: int) -> int:
        """The executor's size: its threads, or with ``executor: process`` its processes."""
        if self.executor == "process":
            return self.process_workers or cores
        return self.executor_threads or min(32, cores + 4)

    def message_burst(self, machine) -> int:
        """0: the loop reads a message as its own work, in the readiness callback's handle
        (``data_received``, the transport's read: ``Loop.message_cost``)."""
        return 0

    def costs(self, machine) -> tuple[int, int, int, int]:
        """(iteration_cost, handle_cost, step_overhead, wake_cost) in ns: the machine's
        (``machine.asyncio_*``), where not given here."""
        given = (self.iteration_cost, self.handle_cost, self.step_overhead, self.wake_cost)
        return tuple(given_or(machine, key, value)
                     for value, key in zip(given, ASYNCIO_COSTS, strict=True))

    def busy_message_cost_on(self, machine) -> int:
        """The option; else ``message_cost`` if given (one cost for every message); else
        the machine's ``asyncio_busy_message_cost``."""
        return given_or(machine, "asyncio_busy_message_cost", self.busy_message_cost,
                        self.message_cost)


def epoll_wait_ns(timeout: int) -> int:
    """How long ``EpollSelector.select(timeout)`` waits on an idle loop, by CPython 3.11's
    own arithmetic: ``Lib/selectors.py`` rounds the seconds up to ms as a float,
    ``math.ceil(timeout * 1e3) * 1e-3``; ``epoll.poll`` (``Modules/selectmodule.c``) turns
    those seconds into ns rounding up (``_PyTime_FromSecondsObject``, ROUND_TIMEOUT) and
    the ns into whole ms rounding up (``_PyTime_AsMilliseconds``, ROUND_CEILING). Where
    ``k * 1e-3 * 1e9`` lands above ``k`` ms (k = 9, 13, 18, 26, 36, ... 135 of the first
    1000) the wait is a millisecond longer."""
    if timeout <= 0:
        return 0
    seconds = math.ceil(timeout / 1e9 * 1e3) * 1e-3
    ns = math.ceil(seconds * 1e9)
    return -(-ns // EPOLL_RESOLUTION) * EPOLL_RESOLUTION


class Executor:
    """``concurrent.futures.ThreadPoolExecutor``: a FIFO work queue served by its threads.

    With ``cpu`` offloaded its threads run Python code, so they and the loop thread share the
    process's GIL (``gil_threads.Gil``, default switch interval): a job takes the GIL to
    start, keeps it for ``cpu`` work and drops it around ``native`` and ``block`` calls.

    ``executor: process`` is a ``ProcessPoolExecutor``: the same FIFO queue, served by
    worker processes that share no GIL with anything (each runs one call at a time: its
    ``cpu`` and ``native`` work compute on the cores like any thread's), and each call
    costs ``process_call_cost`` more, computed by the worker before the call and charged
    to the task as overhead."""

    def __init__(self, model: AsyncioModel, size: int):
        self.model = model
        self.processes = model.options.executor == "process"
        self.call_cost = model.options.process_call_cost if self.processes else 0
        self.gil = Gil(model.engine, model.cores) if model.python_offloaded else None
        self.idle = [PyThread() if self.gil else Thread() for _ in range(size)]
        self.queue: deque[tuple[int, int, int, Loop]] = deque()

    def submit(self, task: int, kind: int, work: int, loop: Loop) -> int:
        """``run_in_executor``: the job joins the queue; what waking an idle thread for it
        cost the loop (OS: ``signal_cost``)."""
        rec = self.model.engine.rec
        rec.ready(task, self.model.engine.now, False)  # waiting for a worker thread
        self.queue.append((task, kind, work, loop))
        return self._start()

    def _start(self, running: Thread | None = None) -> int:
        """Idle threads take queued jobs. A thread parked in ``work_queue.get`` is woken by
        the queue's condition (``queue.SimpleQueue``): it starts ``wake_latency`` (for the
        time it has been parked) later, and waking it costs the waker ``signal_cost`` (the
        total is returned); ``running``, the thread that has just finished a job, takes the
        next one at once."""
        engine = self.model.engine
        cost = 0
        while self.idle and self.queue:
            thread = self.idle.pop()
            item = self.queue.popleft()
            delay = 0
            if thread is not running:
                parked = engine.now - thread.parked_at
                delay = engine.os.wake(parked)
                cost += engine.os.signal(parked)
            if delay:
                self.model.engine.after(delay, self._begin, (thread, item))
            else:
                self._begin((thread, item))
        return cost

    def _begin(self, job: tuple[Thread, tuple[int, int, int, Loop]]) -> None:
        """The thread returns from ``work_queue.get`` with its job and runs it."""
        thread, item = job
        task, kind, work, loop = item
        engine = self.model.engine
        if self.gil is not None:  # the worker returns from work_queue.get: take the GIL
            self.gil.run(thread, task, 0, lambda th, it=item: self._job(th, it))
        elif self.processes:
            self._process_call(thread, item)
        elif kind == NATIVE:
            self.model.cores.compute(thread, task, work,
                                     lambda th, lp=loop: self._done(th, lp))
        else:
            engine.rec.running(task, engine.now)
            thread.task = task
            engine.after(work, lambda _, th=thread, lp=loop: self._done(th, lp))

    def _process_call(self, process: Thread, item: tuple[int, int, int, Loop]) -> None:
        """A worker process runs a call: the call's cost, then its ``cpu`` or ``native``
        work on a core (its own GIL), or a blocking call off the cores."""
        task, kind, work, loop = item
        cores, engine = self.model.cores, self.model.engine
        if self.call_cost:
            engine.rec.charge(task, self.call_cost)

        def done(th: Thread) -> None:
            self._done(th, loop)

        if kind != BLOCK:
            cores.compute(process, task, self.call_cost + work, done)
            return

        def block(th: Thread) -> None:
            cores.release(th)
            now = engine.now
            engine.rec.running(task, now)
            engine.rec.span(th.lane, task, "blocked", now, now + work)
            engine.after(work, lambda _: done(th))

        cores.compute(process, task, self.call_cost, block)

    def _done(self, thread: Thread, loop: Loop) -> None:
        self.model.cores.release(thread)
        thread.parked_at = self.model.engine.now  # (back in work_queue.get)
        self.idle.append(thread)
        loop.call_soon_threadsafe(thread.task)
        self._start(thread)

    def _job(self, thread: PyThread, item: tuple[int, int, int, Loop]) -> None:
        """Run a job on a thread holding the GIL (the GIL path)."""
        task, kind, work, loop = item

        def then(th: PyThread) -> None:
            self._job_done(th, loop)

        if kind == CPU:
            self.gil.run(thread, task, work, then)
        else:
            self.gil.call(thread, task, kind, work, then)

    def _job_done(self, thread: PyThread, loop: Loop) -> None:
        """The result is set holding the GIL; a queued job is taken without releasing it."""
        loop.call_soon_threadsafe(thread.task)
        if self.queue:  # (Gil.call keeps ``thread.task``: the new job's must be set here)
            item = self.queue.popleft()
            thread.task = item[0]
            self.model.engine.rec.running(item[0], self.model.engine.now)
            self._job(thread, item)
        else:
            thread.parked_at = self.model.engine.now  # (back in work_queue.get)
            self.idle.append(thread)
            self.model.cores.release(thread)
            self.gil.release(thread)


# Where Loop.run_once resumes an iteration that waited for simulated time: at its start,
# at its select, after its select, among its ready handles.
BEGIN, POLL, SELECTED, HANDLES = 0, 1, 2, 3
BURSTS = (CPU, NATIVE)


class Loop:
    """One event loop: its thread, ready deque, timer heap and pending I/O readiness.

    Where its time passes is set once (``own_core``):

    - On a core of its own (no more loops than cores, no executor sharing them): the loop
      keeps its own clock, which each thing it does moves (its own work, a step's overhead
      and bursts, a blocking call), and it waits for the engine to reach that clock before
      its next action (``_keep_up``): every step goes through the engine's queue.
    - Otherwise every burst and step overhead goes through the shared ``Cores`` (or the
      GIL's ``GilLoopThread``), and so does the loop's own work: a callback's handle and
      the socket message it reads (``message_cost``, ``busy_message_cost``) are added to
      that task's next step's overhead, as the other models charge a message
      (``sim.messages``: after the wake-up, the task's overhead); an iteration's cost and
      a cold wake-up's to the next step's, whichever task's it is. (An iteration's cost
      just before the loop sleeps in select is so paid after the sleep: up to
      ``iteration_cost`` late once per sleep.)

    ``RunAheadLoop`` is the fast path of the first case.
    """

    SELECTING, RUNNING = 0, 1
    # (past 30 attributes CPython 3.11 keeps an instance's __dict__ and stops specialising
    # its attribute and method lookups: slots keep the hot path fast)
    __slots__ = ("model", "engine", "rec", "cores", "options", "executor", "own_core", "pulls",
                 "thread", "ready", "io_ready", "timers", "sequence", "todo", "state",
                 "wake_gen", "wake_at", "os", "clock", "step_task", "step_start", "owed",
                 "iteration_cost", "handle_cost", "step_overhead", "wake_cost", "paid",
                 "takes_gil", "selected_at", "last", "slow_callback", "select_resolution",
                 "clock_resolution", "open_count", "run_step", "keep_up_from", "then_walk",
                 "then_handles", "carried", "message_cost", "busy_message_cost", "reads",
                 "woken", "inbox", "parked", "unpaid", "unread")

    def __init__(self, model: AsyncioModel, executor: Executor, own_core: bool, pulls: bool):
        self.model = model
        self.engine = model.engine
        self.rec = model.engine.rec
        self.cores = model.cores
        self.options = model.options
        self.executor = executor
        self.own_core = own_core
        self.pulls = pulls  # takes open arrivals from the engine at each poll
        self.thread = Thread()
        self.ready: deque[int] = deque()  # task: its step; ~task: a callback that wakes it
        self.io_ready: list[tuple[int, int]] = []  # (time, task): fds ready since last select
        self.timers: list[tuple[int, int, int]] = []  # (when, sequence, task)
        self.sequence = 0
        self.todo = 0  # ntodo: this iteration's handles not yet run
        self.state = Loop.SELECTING
        self.wake_gen = 0
        self.wake_at = FOREVER  # when a sleeping select returns, as far as is known
        self.os = model.engine.os
        self.clock = 0  # the loop's time: the engine's, or ahead of it on its own core
        self.step_task = -1
        self.step_start = 0
        self.owed = 0  # a step's overhead not yet recorded as busy, while the step waits
        self.carried = -1  # the step's task's wake-up, while the step only hands a phase over
        self.iteration_cost, self.handle_cost, self.step_overhead, self.wake_cost = \
            model.options.costs(model.engine.cfg.machine)
        self.message_cost = model.options.message_cost_on(model.engine.cfg.machine)
        self.busy_message_cost = model.options.busy_message_cost_on(model.engine.cfg.machine)
        self.reads = bool(self.message_cost or self.busy_message_cost)  # messages cost it
        # a loop on shared cores: its own work and the messages it read, computed with the
        # next step (``_start_step``): its own work so far, and per task its callbacks'
        self.unpaid = 0
        self.unread: dict[int, int] = {}
        self.woken = False  # its select slept, and it has read no message since
        self.inbox: set[int] = set()  # tasks whose pending callback reads a socket message
        self.parked = 0  # ns of the window its thread has spent in select (``occupied``)
        self.paid = False  # this iteration's own cost is paid (before its select)
        self.takes_gil = False  # its thread shares a GIL (its cores are a GilLoopThread)
        self.selected_at = 0  # when its select last returned (and it began to take the GIL)
        self.last = -1  # the task of the last handle run (the trace names loop work after it)
        self.slow_callback = model.options.slow_callback
        self.select_resolution = model.options.select_resolution
        self.clock_resolution = model.options.clock_resolution
        self.open_count = len(model.engine.open_times)  # open arrivals (the loop may pull)
        # a task's __step: on the loop's own core (_walk begins it) or on the shared cores
        self.run_step = self._walk if own_core else self._start_step
        # from which clock the loop calls _keep_up after its clock moved (the plain loop:
        # always; the run-ahead loop: at the drain limit); what goes on after (bound once)
        self.keep_up_from = 0
        self.then_walk, self.then_handles = self._resume, self._handles

    # --- the outside world ------------------------------------------------------------------

    def io_event(self, task: int) -> None:
        """An fd the task waits on became ready (or a connection arrived) now."""
        now = self.engine.now
        self.rec.ready(task, now, True)
        self.io_ready.append((now, task))
        self._wake(through_socket=True)

    def call_soon_threadsafe(self, task: int) -> None:
        """An executor job finished: its callback is appended to ready at once."""
        self.rec.ready(task, self.engine.now, True)
        self.ready.append(~task)
        self._wake(through_socket=False)

    def _wake(self, through_socket: bool) -> None:
        """An event ends a sleeping select: the loop thread, parked in ``epoll_wait``, runs
        a wake-up latency later (unless its wait already ends sooner): through a socket,
        ``net_wake_latency`` for the time it has been parked; through the self-pipe,
        ``wake_latency``. A loop that is running handles pays nothing."""
        if self.state == Loop.SELECTING:
            now = self.engine.now
            parked = now - self.thread.parked_at
            delay = (self.os.net_wake if through_socket else self.os.wake)(parked)
            if now + delay < self.wake_at or not delay:
                self.wake_gen += 1
                self.wake_at = self.engine.now + delay
                self.engine.after(delay, self._wakeup, self.wake_gen)

    # --- the loop's clock and the engine's ---------------------------------------------------

    def _keep_up(self, then) -> bool:
        """The loop's clock has moved: if it is ahead of the engine's, wait for the engine
        to reach it (False: ``then()`` goes on), so that the world's events up to then
        happen first. True: it is not ahead."""
        wait = self.clock - self.engine.now
        if wait > 0:
            self.engine.after(wait, then)
            return False
        return True

    def _run_ahead(self, clock: int) -> bool:
        """At an iteration's start, with the loop's clock ahead of the engine's: the plain
        loop waits for the engine (False)."""
        return False

    # --- the loop: BaseEventLoop.run_forever and _run_once (base_events.py, 3.11) ----------

    def run_once(self, resume: int = BEGIN) -> None:
        """``BaseEventLoop._run_once`` (CPython 3.11.7 ``Lib/asyncio/base_events.py:1845``;
        a ``:line`` below is a line of that file), its steps in CPython's order and numbered
        as in docs/runtime-notes/asyncio.md, iteration after iteration as ``run_forever``
        calls it (:607), until one waits for simulated time: in select, for a burst or a
        blocking call, or for the engine to reach the loop's clock. That wait's callback
        resumes the iteration where it stands: at BEGIN (``_caught_up``: the loop's own
        work is done), POLL (``_polled``: what was due at the same instant has happened),
        SELECTED (``_wakeup``: select has returned) or HANDLES (``_handles``, ``_resume``:
        the rest of ntodo follows). (The passes share one call: a call per iteration costs
        a few per cent of a run.)"""
        engine, ready, rec = self.engine, self.ready, self.rec
        handle_cost, run_step, keep_up_from = self.handle_cost, self.run_step, self.keep_up_from
        while True:  # run_forever: one _run_once per pass
            if resume == BEGIN:
                # 1. _run_once begins (CPython drops cancelled timers from the heap's head:
                # the model cancels none). The loop's own work (iteration_cost, once after an
                # iteration that ran handles) comes before the timeout is computed: epoll's
                # rounding turns it into lateness.
                if not self.paid and self.iteration_cost:
                    self.paid = True
                    if not self.own_core:  # computed with the next step
                        self.unpaid += self.iteration_cost
                    else:
                        if rec.tracing:
                            self._trace_loop_work(self.iteration_cost)
                        self.clock += self.iteration_cost
                # ``self.time()`` is read next: the engine must have reached the loop's
                # clock (``_caught_up`` comes back here; the fast path may run ahead), and
                # what is queued for that very instant happens first, so that select finds
                # it (one wait behind it: ``_polled`` goes on at POLL)
                clock = self.clock
                if clock > engine.now:
                    if not self._run_ahead(clock):
                        if clock < engine.deadline:
                            engine.after(clock - engine.now, self._caught_up)
                        return
                elif engine.next_due() <= clock:
                    engine.after(0, self._polled)
                    return
            # 2. timeout = 0 if self._ready, else until the first timer (:1876)
            # 3. event_list = self._selector.select(timeout) (:1884)
            if resume <= POLL and not (ready or self.io_ready):
                timeout, arrival = self._select_timeout()
                if timeout != 0 and arrival != 0:
                    # select releases the GIL: an executor thread that takes it may set a
                    # result now (call_soon_threadsafe), whose self-pipe write ends select
                    self.cores.release(self.thread)
                    if not ready:
                        self._select(timeout, arrival)  # _wakeup resumes at SELECTED
                        return
            if resume != HANDLES:
                # 4. self._process_events(event_list) (:1885): ready fds' callbacks join
                # ready (and the open arrivals a loop pulls: start_server's accept)
                now = engine.now
                io_ready = self.io_ready
                if self.pulls and engine.open_next < self.open_count \
                        and engine.open_times[engine.open_next] <= now:
                    arrived = engine.take_arrivals(now)
                    loop_of = self.model.loop_of
                    if io_ready:  # one readiness order (an arrival is ready when it arrives)
                        arrival = rec.arrival
                        io_ready = sorted(io_ready + [(arrival[task], task) for task in arrived])
                        for task in arrived:
                            loop_of[task] = self
                    else:
                        for task in arrived:
                            loop_of[task] = self
                            ready.append(~task)
                        if self.reads:
                            self.inbox.update(arrived)
                if io_ready:
                    for _, task in io_ready:
                        ready.append(~task)
                    if self.reads:
                        self.inbox.update(task for _, task in io_ready)
                    self.io_ready = []
                # 5. end_time = self.time() + self._clock_resolution (:1890): the timers
                # due before it join ready
                timers = self.timers
                if timers and timers[0][0] < now + self.clock_resolution:
                    end = now + self.clock_resolution
                    while timers and timers[0][0] < end:
                        when, _, task = heapq.heappop(timers)
                        rec.ready(task, when, True)
                        ready.append(~task)
                # 6. ntodo = len(self._ready) (:1905); a select that slept returns cold
                # (wake_cost): the handles run once the engine has reached that
                self.todo = len(ready)
                if self.todo and self.clock >= keep_up_from \
                        and not self._keep_up(self.then_handles):
                    return
            # 6. for i in range(ntodo): self._ready.popleft()._run(): what these handles
            # make ready runs in the next iteration
            if self.todo:
                self.paid = False
                while self.todo:
                    self.todo -= 1
                    handle = ready.popleft()
                    if handle >= 0:  # a task's __step
                        if not run_step(handle):
                            return  # _resume resumes at HANDLES
                    else:  # a callback: the future is resolved, call_soon(task.__step)
                        task = ~handle
                        ready.append(task)
                        cost = handle_cost
                        if self.inbox and task in self.inbox:  # data_received reads it
                            self.inbox.discard(task)
                            if self.woken:  # the first since its select slept
                                self.woken = False
                                cost += self.message_cost
                            else:
                                cost += self.busy_message_cost
                        if cost and not self.own_core:  # computed as its step begins
                            self.unread[task] = self.unread.get(task, 0) + cost
                        elif cost:  # (_trace_loop_work and the clock, inlined)
                            self.last = task
                            if rec.tracing:
                                self._trace_loop_work(cost)
                            self.clock += cost
                            if self.clock >= keep_up_from \
                                    and not self._keep_up(self.then_handles):
                                return
            self.woken = False  # (only the iteration after the park)
            resume = BEGIN

    def _select_timeout(self) -> tuple[int | None, int | None]:
        """How long select waits for its timeout (None: no timer), and for the next open
        arrival (None: none, or not pulled), which ends the wait as a readable fd. The
        timeout is ``when - self.time()`` for the first timer (base_events.py:1882), as
        ``EpollSelector.select`` and epoll_wait round it (``epoll_wait_ns``)."""
        now = self.engine.now
        timeout = arrival = None
        if self.timers:
            timeout = max(0, self.timers[0][0] - now)
            res = self.select_resolution
            if res == EPOLL_RESOLUTION:
                timeout = epoll_wait_ns(timeout)
            elif res:
                timeout = math.ceil(timeout / res) * res
        if self.pulls:
            arrival = self.engine.next_arrival()
            if arrival is not None:
                arrival = max(0, arrival - now)
        return timeout, arrival

    def _select(self, timeout: int | None, arrival: int | None = None) -> None:
        """``select`` on an idle loop: the thread blocks in ``epoll_wait`` for ``timeout``
        ns (None: until an fd is ready). A wait that ends by its timeout ends
        ``timer_lateness`` late; one that ends because an arrival (``arrival`` ns from now,
        a readable fd) wakes the thread, ``net_wake_latency`` after it."""
        self.state = Loop.SELECTING
        self.thread.parked_at = self.engine.now
        self.wake_gen += 1
        os = self.os
        if timeout is not None and not os.timer_late.zero:
            timeout += os.timer_late(timeout)
        if arrival is not None:
            arrival += os.net_wake(arrival)  # (parked until the arrival)
            if timeout is None or arrival < timeout:
                timeout = arrival
        if timeout is None:
            self.wake_at = FOREVER
        else:
            self.wake_at = self.engine.now + timeout
            self.engine.after(timeout, self._wakeup, self.wake_gen)

    def _wakeup(self, gen: int) -> None:
        """``epoll_wait`` returns (unless a later wake-up superseded this one): the thread
        slept, so its first work runs from cold caches (``wake_cost``); the iteration goes
        on with the events select found."""
        if gen == self.wake_gen:
            self.state = Loop.RUNNING
            self.clock = now = self.engine.now
            self.parked += self.rec.in_window(self.thread.parked_at, now)
            self.woken = True
            if self.wake_cost and not self.own_core:  # computed with the next step
                self.unpaid += self.wake_cost
            elif self.wake_cost:
                if self.rec.tracing:
                    self._trace_loop_work(self.wake_cost)
                self.clock += self.wake_cost
            if self.takes_gil:  # epoll_wait ran with the GIL released: take it back first
                self.selected_at = self.engine.now
                self.cores.take(self.thread, self._selected)
            else:
                self.run_once(SELECTED)

    def _selected(self) -> None:
        """The loop's thread, back from select, holds the GIL again: the iteration goes on
        with the events select found (and those ready meanwhile: see the runtime note). The
        trace shows the wait as ``gil_wait``, after the task whose handle ran last."""
        self.clock = now = self.engine.now
        if self.last >= 0:
            self.rec.span(self.thread.lane, self.last, "gil_wait", self.selected_at, now)
        self.run_once(SELECTED)

    def _caught_up(self, _=None) -> None:
        """The engine has reached the loop's clock after its own work: the iteration goes
        on to its select."""
        self.run_once(BEGIN)

    def _polled(self, _=None) -> None:
        """What was queued for the instant of the loop's select has happened: it polls."""
        self.run_once(POLL)

    def _handles(self, _=None) -> None:
        """The engine has reached the loop's clock among its handles: the next ones run."""
        self.run_once(HANDLES)

    def occupied(self, over: int) -> int:
        """The loop's occupied time in the window, the run's work over at ``over``: all of
        it but its time in ``select`` (a loop with a core to itself: its steps, its
        blocking calls and its own work, the machine's ``asyncio_*`` costs, which no task's
        busy time holds). From ``over`` on it is taken to be in select to the window's end
        (what an iteration still does after the last task's end is left out: the fast
        path may have run it ahead, the plain loop not yet)."""
        rec = self.rec
        idle_from = min(self.thread.parked_at, over) if self.state == Loop.SELECTING else over
        return rec.hi - rec.lo - self.parked - rec.in_window(idle_from, rec.hi)

    def _trace_loop_work(self, cost: int) -> None:
        """The loop's own work (an iteration, a callback handle, a cold wake-up) is ``cost``
        ns on the loop's clock from now (a loop with a core to itself). It is the runtime's
        time, not a task's: not in busy time or a task's overhead; the trace shows it as
        ``loop``, after the task whose handle ran last."""
        if self.last >= 0:
            self.rec.span(self.thread.lane, self.last, "loop", self.clock, self.clock + cost)

    # --- a task step ------------------------------------------------------------------------

    def _start_step(self, task: int) -> bool:
        """A task's ``__step`` begins on the shared cores: its overhead, with what the loop
        did of its own since the last step (iterations, a cold wake-up) and the handles of
        the task's callbacks (with the socket messages they read: as the other models
        charge a message, after the wake-up), all the task's overhead; then its phases. A
        step that only hands the task's next phase to the executor does not end the task's
        wake-up (``Recorder.hand_off``): the executor's thread starting the phase does."""
        self.step_task = self.last = task
        self.step_start = self.clock
        self.carried = self._hand_off(task)
        overhead = self.step_overhead + self.unpaid + \
            (self.unread.pop(task, 0) if self.unread else 0)
        self.unpaid = 0
        if overhead:
            self.rec.charge(task, overhead)
            self.cores.compute(self.thread, task, overhead, self._resume)
            return False
        return self._walk(task, False)

    def _resume(self, _thread=None) -> None:
        """The step's burst, overhead or blocking call has ended: the step goes on, then
        the iteration's other handles."""
        self.clock = self.engine.now
        if self._walk(self.step_task, False):
            self.run_once(HANDLES)

    def _returned(self, returned: int) -> None:
        """A blocking call returned at ``returned`` and the kernel has woken the loop's
        thread: a wake-up of the step's task, whose step goes on (up to the executor
        starting its next phase, if that is all the step does next)."""
        task = self.step_task
        self.rec.ready(task, returned, True)
        self.carried = self._hand_off(task)
        self._resume()

    def _hand_off(self, task: int) -> int:
        """The task's wake-up, carried on when the step's next phase only goes to the
        executor (``Recorder.hand_off``: the executor's thread starting it ends the
        wake-up); -1 otherwise."""
        model = self.model
        if model.hands_off and offloads_next(self.engine, task, model.offload, model.flagged):
            return self.rec.hand_off(task)
        return -1

    def _walk(self, task: int, begins: bool = True) -> bool:
        """Run the step's phases from the task's next one: True when the step has ended (at
        an await that suspends it, or the task's end), False when it waits for simulated time
        (``_resume`` goes on). A step that ``begins`` here is on the loop's own core: its
        overhead moves the loop's clock first (and is recorded as busy with its first burst,
        one span)."""
        engine, rec, offload = self.engine, self.rec, self.model.offload
        own_core, keep_up_from, flagged = self.own_core, self.keep_up_from, self.model.flagged
        if begins:  # (what _start_step does through the shared cores)
            self.step_task = self.last = task
            self.step_start = start = self.clock
            owed = self.step_overhead
            if owed:
                rec.overhead[task] += owed  # (Recorder.charge, inlined: once per step)
                rec.running(task, start)
                self.clock = start + owed
                if self.clock >= keep_up_from and not self._keep_up(self.then_walk):
                    self.owed = owed  # (recorded as busy when the step goes on)
                    return False
        else:
            owed, self.owed = self.owed, 0
        pc, args, kinds, base = engine.pc, engine.args, engine.kinds[task], engine.offset[task]
        while True:
            i = pc[task]  # engine.next_phase, inlined: this is the hot path
            if i == len(kinds):
                kind, arg = DONE, 0
            else:
                pc[task] = i + 1
                kind, arg = kinds[i], args[base + i]
                if kind == SPAWN:  # create_task: the child's step is call_soon'ed
                    engine.spawn(task, arg, self.clock)
                    continue
            if owed and (not arg or kind not in BURSTS):  # the overhead on its own
                rec.busy(task, self.clock - owed, self.clock, self.thread.lane)
                owed = 0
            if arg and (kind in offload or flagged is not None and flagged[task][i]):
                rec.running(task, self.clock)  # run_in_executor: the step awaits the result
                rec.carry(task, self.carried)
                self.carried = -1
                self._end_step(task)
                # OS: waking an idle worker for it costs the loop (with the next step)
                self.unpaid += self.executor.submit(task, kind, arg, self)
                return True
            if kind in BURSTS:  # Python code, or native code holding the loop's thread
                if arg:
                    if not own_core:  # through the shared cores (or the GIL)
                        if kind == NATIVE and self.takes_gil:  # the GIL released around it
                            self.cores.native(self.thread, task, arg, self._resume)
                        else:
                            self.cores.compute(self.thread, task, arg, self._resume)
                        return False
                    # on the loop's own core: busy (from the step's overhead if not yet
                    # recorded) to its end, on the loop's clock; the drain limit cuts it
                    start, deadline = self.clock, engine.deadline
                    end = start + arg
                    if end >= deadline:
                        if start - owed < deadline:
                            rec.busy(task, start - owed, deadline, self.thread.lane)
                        self.clock = deadline
                        return False
                    if rec.ready_since[task] >= 0:
                        rec.running(task, start)
                    rec.busy(task, start - owed, end, self.thread.lane)
                    owed = 0
                    self.clock = end
                    if end >= keep_up_from and not self._keep_up(self.then_walk):
                        return False
            elif kind == IO:
                if arg:  # else the result is already there: the await does not yield
                    rec.running(task, self.clock)
                    self._end_step(task)
                    engine.after(self.clock + arg - engine.now, self.io_event, task)
                    return True
            elif kind in (SLEEP, YIELD):
                rec.running(task, self.clock)
                self._end_step(task)
                if arg:
                    self.sequence += 1
                    heapq.heappush(self.timers, (self.clock + arg, self.sequence, task))
                else:  # sleep(0) / bare yield: __step is re-scheduled with call_soon
                    rec.ready(task, self.clock, False)
                    self.ready.append(task)
                return True
            elif kind == BLOCK:
                if arg:  # a blocking call: the loop's thread sleeps in the kernel, holding
                    rec.running(task, self.clock)  # the loop; as it returns the kernel wakes
                    returned = self.clock + arg  # the thread, which runs wake latency later:
                    woken = returned + self.os.wake(arg)  # the task ready from the return
                    rec.span(self.thread.lane, task, "blocked", self.clock, woken)
                    if not own_core:  # off the shared cores (and the GIL)
                        self.cores.release(self.thread)
                        engine.after(woken - engine.now, self._returned, returned)
                        return False
                    rec.ready(task, returned, True)
                    self.clock = woken
                    if woken >= keep_up_from and not self._keep_up(self.then_walk):
                        return False
            else:  # DONE
                if rec.ready_since[task] >= 0:
                    rec.running(task, self.clock)
                if self.clock - self.step_start >= self.slow_callback:  # (_end_step)
                    rec.slow[task] += 1
                engine.finish(task, self.clock)
                return True

    def _end_step(self, task: int) -> None:
        """A step that ran at least ``slow_callback`` is counted (debug mode's warning)."""
        if self.clock - self.step_start >= self.slow_callback:
            self.rec.slow[task] += 1


class SkipQueueLoop(Loop):
    """A fast path of a loop on a core of its own: a wait for the engine that would be the
    queue's next entry (nothing queued and no open arrival due up to the loop's clock, that
    instant included) is skipped: the engine's clock moves to the loop's at once
    (``Engine.run_ahead``), one push and pop less, the same result. A property test
    (tests/test_asyncio.py) checks that it gives the plain loop's tables and trace."""

    __slots__ = ("next_due", "move_to")

    def __init__(self, *args):
        super().__init__(*args)
        self.next_due, self.move_to = self.engine.next_due, self.engine.run_ahead

    def _nothing_due_by(self, clock: int) -> bool:
        """Nothing is queued, and no open arrival the loop does not pull is due, up to
        ``clock`` (the engine hands an instant's arrivals over before its events)."""
        engine = self.engine
        i = engine.open_next
        return (self.pulls or i == self.open_count or clock < engine.open_times[i]) \
            and clock < self.next_due()

    def _keep_up(self, then) -> bool:
        if self.clock > self.engine.now and self._nothing_due_by(self.clock):
            self.move_to(self.clock)
        return super()._keep_up(then)

    def _run_ahead(self, clock: int) -> bool:
        if self._nothing_due_by(clock):
            self.move_to(clock)
            return True
        return False


class RunAheadLoop(SkipQueueLoop):
    """The fast path of a loop on a core of its own whose queued events no other loop
    sees: nothing outside can touch a running loop before its next select, so inside an
    iteration it does not wait for the engine at all: it meets the world once per
    iteration, as its select's timeout is computed. There, if nothing is due up to its
    clock, the engine's clock moves to the loop's at once; else the loop waits for the
    engine, behind everything queued for that instant, as the plain loop does at its
    select. The events it queues while ahead (the readiness of an fd its task awaits) are
    its own, in the order the plain loop makes them: the same events come before each
    select. A property test (tests/test_asyncio.py) checks that it gives the plain loop's
    tables and trace.

    Not so with closed clients and more loops: a task's end queues its client's next
    request, dealt round-robin to the loops, and a loop running ahead would queue it before
    another loop's earlier ones (at the same instant, the deal would differ): those loops
    are ``SkipQueueLoop`` s."""

    __slots__ = ()

    def __init__(self, *args):
        super().__init__(*args)
        self.keep_up_from = self.engine.deadline  # (_keep_up is called from then on)

    def _keep_up(self, then) -> bool:
        """Inside an iteration the loop goes on, up to the drain limit: there it stops."""
        return False


class AsyncioModel(Model):
    """``loops`` event loops (one process, one core at most each); arrivals are dealt to
    them round-robin and come in as readiness callbacks (``start_server``'s accept)."""

    Options = AsyncioOptions
    runs_ahead = True  # loops on cores of their own take a fast path (False: the plain Loop)

    def __init__(self, engine: Engine, options: AsyncioOptions):
        super().__init__(engine, options)
        cores = engine.cfg.machine.cores
        self.cores = Cores(engine, cores, engine.cfg.machine.os_time_slice)
        kinds = {"block": BLOCK, "native": NATIVE, "cpu": CPU}
        self.offload = {kinds[k] for k in options.offload}
        self.flagged = offload_flags(engine)  # per task: its phases said offload: true
        self.hands_off = bool(self.offload) or self.flagged is not None
        # Python code on the executor's threads (not processes): they share the loop's GIL
        self.python_offloaded = options.executor == "thread" and (
            CPU in self.offload or offloads_kinds(engine.workload.templates, (CPU,)))
        size = options.threads(cores)
        # each loop has a core to itself and nothing else computes
        own_core = options.loops <= cores and not self.hands_off
        self.pulls_arrivals = own_core and options.loops == 1
        closed = len(engine.workload.client_first) > 0  # closed clients' requests
        kind = Loop if not (own_core and self.runs_ahead) else \
            SkipQueueLoop if closed and options.loops > 1 else RunAheadLoop
        self.loops = [kind(self, Executor(self, size), own_core, self.pulls_arrivals)
                      for _ in range(options.loops)]
        for loop in self.loops:  # Python code on executor threads: the loop shares the GIL
            if loop.executor.gil is not None:
                loop.cores = GilLoopThread(loop.executor.gil)
                loop.takes_gil = True
        for i, loop in enumerate(self.loops):  # names on the timeline (--trace)
            loop.thread.lane = f"loop {i}"
            engine.rec.server(loop.thread.lane)  # its occupancy counts (busy or blocked)
            if loop.executor.gil is not None:  # one process per loop, one GIL each
                loop.executor.gil.lane = f"loop {i} GIL"
            for j, thread in enumerate(reversed(loop.executor.idle)):
                thread.lane = f"loop {i} executor {j}"
        self.loop_of = [None] * engine.workload.n
        self.next_loop = 0
        if self.pulls_arrivals:  # the idle loop's first select ends at the first arrival
            self.loops[0]._select(*self.loops[0]._select_timeout())

    def end(self, now: int) -> None:
        """A loop with a core to itself is occupied whenever it is not in select: its own
        work counts (``Loop.occupied``), not only the tasks' bursts and blocking calls. The
        run's work is over at the last task's end (every task done) or at ``now`` (the
        drain limit)."""
        rec = self.engine.rec
        over = max(rec.finish, default=now) if self.engine.stopped else now
        for loop in self.loops:
            if loop.own_core:
                rec.occupied[loop.thread.lane] = loop.occupied(over)

    def arrive(self, task: int) -> None:
        """A closed client's request or an open arrival: dealt round-robin to the loops."""
        loop = self.loops[self.next_loop]
        self.next_loop = (self.next_loop + 1) % len(self.loops)
        self.loop_of[task] = loop
        loop.io_event(task)

    def spawn(self, parent: int, child: int) -> None:
        loop = self.loop_of[parent]
        self.loop_of[child] = loop
        loop.ready.append(child)  # create_task: call_soon(task.__step)
