"""Tokio's multi-thread runtime, after tokio 1.53.1 (``tokio/src/``, HEAD ``ea91b33c``).

``MT/`` below is ``runtime/scheduler/multi_thread/``. Each worker runs ``Context::run``
(``MT/worker.rs``): per tick, maintenance every ``event_interval`` ticks (a zero-timeout
driver poll), then ``next_task`` (the inject queue first every ``global_queue_interval``
ticks, self-tuned from the mean poll time, ``MT/stats.rs``; else the LIFO slot, the local
queue, a batch from the inject queue), else steal half of a random victim's queue
(``MT/queue.rs``; at most half the workers search, ``MT/idle.rs``), else park.
``run_task`` gives the task a coop budget of 128 (``task/coop/mod.rs``) and then polls the
LIFO slot, at most 3 times, while budget remains. No preemption: a burst holds its worker.

Tasks woken or spawned by a worker go to its LIFO slot (the occupant moves to the local
queue's tail and another worker is notified; an empty slot notifies nobody, and the slot is
never stolen). Timers and I/O are only seen when a worker polls the driver: one idle worker
parks on it (it takes the driver's ``TryLock``), the other idle workers wait on their
condition variables (``MT/park.rs``), and busy workers poll it at maintenance. Wakes found
in a driver poll are scheduled on the polling worker; a worker woken by the driver is not
"searching", so it does not wake a sibling (``transition_from_parked``). ``yield_now`` and
a forced coop yield defer the waker until the worker next parks (``scheduler/defer.rs``).
Timer deadlines round up to 1 ms ticks and the parked driver sleeps whole ticks counted
from the current (floored) tick (``runtime/time/source.rs``, ``time/mod.rs``), so an idle
runtime fires a sleep up to 1 ms after its tick. A sleep's deadline is fixed when
``sleep()`` is called (``time/sleep.rs``) and rounded to its tick when the entry is
registered, at its first poll with budget.

The code follows the source's pieces: ``Idle`` (``MT/idle.rs``), ``TimeDriver`` (the wheel
and its clock, ``runtime/time/``), ``Driver`` (its ``TryLock`` holder and the I/O events
for the next turn), and on the model ``Context::run`` (``_loop``), ``run_task``
(``_run_task`` and the LIFO chain), ``schedule_local``/``schedule_task``, ``park``,
``park_internal`` and the driver's turn. A poll returns RETURNED (the task is pending or
done) or HELD (a burst or a blocking call holds the worker: a callback carries on); a park
returns AWAKE or ASLEEP.

Arrivals are connections on a listener, taken by driver polls (pulled from the engine, no
event each). By default (``accept: block_on``) the accept loop is ``#[tokio::main]``'s
``block_on`` thread, woken by whichever worker polls the driver, so accepted tasks are
spawned from outside the runtime: inject queue + ``notify_parked_remote``. ``accept:
worker`` models an accept loop spawned on the runtime: the accepted task lands in the
polling worker's LIFO slot (the accept task's own poll is not modelled).

``spawn_blocking`` (``runtime/blocking/pool.rs``): a FIFO queue served by up to 512
threads; completion wakes the task from a non-worker thread, hence through the inject queue.

The machine (``sim/machine.py``): the worker parked on the driver until the next timer's
tick wakes ``timer_lateness`` late when that timeout ends the park; a worker unparked by
another (``Unparker::unpark``: its condvar or the driver's waker) and an idle
``spawn_blocking`` thread signalled by ``notify_one`` run ``wake_latency`` after the
wake-up; the worker parked in epoll runs ``net_wake_latency`` after readiness on a socket
(an ``io`` completion, a connection) wakes it. A spawn that unparks a worker, and the last
searching worker that found work unparking another (``notify_parked``), cost the waking
worker ``signal_cost`` (the task's overhead) before its task goes on. A zero-timeout
driver poll (maintenance, ``park_yield``) never sleeps, so it is never late, and readiness
that comes while the driver's holder runs waits for its next poll at no extra cost.

Not modelled: thread creation and scheduler CPU costs (all zero), ``block_in_place``, the
unstable eager driver hand-off, the ``#[tokio::main]`` thread's own wake-up before it
spawns an accepted task.

Tokio 1.24 (Debian bookworm, the validated version; ``docs/runtime-notes/tokio.md`` §4):
``global_queue_interval: 61`` (fixed before 1.29), a large ``lifo_polls`` (no LIFO cap
before 1.29: the budget bounds the chain), ``coop_exhausted: wake`` (``wake_by_ref`` before
1.44) and ``inject_batch: false`` (one task per pop before 1.29). Other 1.24 differences
(deferred wakers drained in push order, the oldest half of a full queue overflowing, the
notify after a park only for a stealable queue) are not options.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Sequence
from typing import Literal

from pydantic import Field

from ..machine import tick_origin
from ..phases import BLOCK, CPU, DONE, IO, NATIVE, SLEEP, SPAWN, YIELD
from ..schema import MAX_CORES, MAX_QUEUE, MAX_THREADS, MAX_TICKS, Count, Duration
from .base import Cores, Engine, MessageCost, Model, Thread
from .offload import offload_flags, offloads_kinds, offloads_next

LOCAL_QUEUE_CAPACITY = 256  # MT/queue.rs LOCAL_QUEUE_CAPACITY
MAX_LIFO_POLLS_PER_TICK = 3  # MT/worker.rs
EVENT_INTERVAL = 61  # runtime/builder.rs Builder::new_multi_thread
COOP_BUDGET = 128  # task/coop/mod.rs Budget::initial
MAX_BLOCKING_THREADS = 512  # runtime/builder.rs max_blocking_threads
TIMER_TICK = 1_000_000  # runtime/time/source.rs: 1 ms ticks, deadlines rounded up
TARGET_GLOBAL_QUEUE_INTERVAL = 200_000.0  # MT/stats.rs, ns of polling between inject checks
TARGET_TASKS_POLLED = 61  # MT/stats.rs, seeds the EWMA (so the first interval is 61)
MAX_TASKS_POLLED = 127  # MT/stats.rs MAX_TASKS_POLLED_PER_GLOBAL_QUEUE_INTERVAL
EWMA_ALPHA = 0.1  # MT/stats.rs TASK_POLL_TIME_EWMA_ALPHA

EMPTY, PARKED_CONDVAR, PARKED_DRIVER, NOTIFIED = range(4)  # MT/park.rs

# What a poll (and run_task, the LIFO chain) leaves the worker doing: the task returned
# (pending or done) and the worker goes on, or a burst or a blocking call holds the worker
# until a callback (_resume, _burst_end) carries on
RETURNED, HELD = True, False
# What a park leaves the worker doing: awake with work to look at, or asleep until _wake
AWAKE, ASLEEP = True, False
NO_TIMER = -1  # TimeDriver.park_timeout: no timer (the driver sleeps until an event)
# TimeDriver.register: the entry's tick has elapsed (it fires at once), or it waits, or it
# waits and is due before the parked driver wakes (which must be unparked)
ELAPSED, WAITS, WAITS_FIRST = range(3)


def _time(event: tuple[int, int]) -> int:
    return event[0]


class TokioOptions(MessageCost):
    model: Literal["tokio"]
    workers: Count(MAX_CORES) | None = Field(  # builder.rs: worker_threads defaults to num CPUs
        default=None, description="worker threads; None: machine.cores")
    lifo_slot: bool = Field(  # false: the unstable Builder::disable_lifo_slot
        default=True, description="spawned/woken tasks go to the worker's LIFO slot")
    global_queue_interval: Count(MAX_TICKS, words=("auto",)) = Field(  # builder.rs: None
        default="auto", description="ticks between inject-queue checks; auto: self-tuned "
        "(tokio >= 1.29), 61 in older releases")
    event_interval: Count(MAX_TICKS) = Field(
        default=EVENT_INTERVAL, description="ticks between driver polls of a busy worker")
    coop_budget: Count(MAX_TICKS) = Field(
        default=COOP_BUDGET, description="ready resource polls per task poll before a "
        "forced yield")
    blocking_threads: Count(MAX_THREADS) = Field(
        default=MAX_BLOCKING_THREADS, description="spawn_blocking pool size")
    offload: list[Literal["block", "native"]] = Field(
        default_factory=list, description="phase kinds run through spawn_blocking")
    lifo_polls: Count(MAX_TICKS) = Field(  # no cap before 1.29: the budget bounded the chain
        default=MAX_LIFO_POLLS_PER_TICK, description="LIFO-slot polls per tick")
    local_queue: Count(MAX_QUEUE) = Field(
        default=LOCAL_QUEUE_CAPACITY, description="local run queue capacity (even)")
    timer_resolution: Duration = Field(
        default=TIMER_TICK, description="timer wheel tick; deadlines round up to it")
    # coop::poll_proceed at 0 budget: tokio >= 1.44 defers the waker to the next park
    # (task/coop/mod.rs, register_waker -> context::defer); 1.24 calls
    # cx.waker().wake_by_ref() (runtime/coop.rs poll_proceed): the task, woken while
    # running, is re-queued by the harness with yield_now (task/harness.rs poll,
    # PollFuture::Notified) -> schedule_task(is_yield) -> the run queue's tail + notify
    coop_exhausted: Literal["defer", "wake"] = Field(
        default="defer", description="a task out of coop budget: defer (its waker waits "
        "for the next park, tokio >= 1.44) or wake (wake_by_ref: the run queue's tail "
        "with a notify, older releases)")
    # next_task with an empty local queue: a batch of len/workers + 1 (MT/worker.rs
    # next_task, tokio >= 1.29); 1.24 pops one (scheduler/multi_thread/worker.rs
    # Core::next_task: worker.inject().pop())
    inject_batch: bool = Field(
        default=True, description="an empty local queue takes a batch from the inject "
        "queue (tokio >= 1.29); false: one task (older releases)")
    # Builder::enable_eager_driver_handoff (tokio 1.52, unstable, PR #8010; MT/worker.rs
    # run_task): a worker back from parking on the I/O/time driver wakes a parked sibling
    # before it polls a task, so that a long poll does not leave the driver unpolled while
    # the others sleep on their condvars (tokio issue #4730)
    eager_driver_handoff: bool = Field(
        default=False, description="a worker back from the driver notifies a parked "
        "sibling before it polls a task (tokio >= 1.52, unstable builder option; off by "
        "default, as in Tokio)")
    accept: Literal["block_on", "worker"] = Field(
        default="block_on", description="where the accept loop runs: block_on (accepted "
        "tasks via the inject queue) or a worker (into its LIFO slot)")

    def check(self, cfg, path):
        if self.local_queue < 2 or self.local_queue % 2:
            raise ValueError(f"{path}.local_queue: must be an even number >= 2 (overflow "
                             "moves half of the queue)")
        if self.timer_resolution <= 0:
            raise ValueError(f"{path}.timer_resolution: must be positive")


class Worker:
    """A worker thread and its ``Core`` (MT/worker.rs): queues, tick, idle and park state."""

    __slots__ = ("index", "thread", "tick", "lifo", "runq", "lifo_enabled", "searching",
                 "defer", "state", "in_park", "blocked", "wake_at", "gen", "budget",
                 "lifo_polls", "current", "gqi", "tuned", "ewma", "started", "polled", "resume",
                 "drove")

    def __init__(self, index: int, gqi: int):
        self.index = index
        self.thread = Thread(f"worker {index}")
        self.tick = 0
        self.lifo = -1  # the LIFO slot: a task id or -1
        self.runq: deque[int] = deque()
        self.lifo_enabled = True
        self.searching = False
        self.defer: list[int] = []  # deferred wakers: yield_now and forced coop yields
        self.state = EMPTY  # the Parker's state
        self.in_park = False  # core.park taken out: local schedules notify nobody
        self.blocked = False  # asleep on the driver or on its condvar
        self.wake_at = -1  # when the blocked thread's earliest wake-up runs, -1: none
        self.gen = 0
        self.budget = 0
        self.lifo_polls = 0
        self.current = -1
        self.gqi = self.tuned = gqi
        self.ewma = TARGET_GLOBAL_QUEUE_INTERVAL / TARGET_TASKS_POLLED
        self.started = 0
        self.polled = 0
        self.drove = False  # its last park polled the driver (eager_driver_handoff)


class Idle:
    """``MT/idle.rs``: the workers searching for work and unparked, and the parked ones
    (``sleepers``, a stack: the last to park is the first woken)."""

    __slots__ = ("n", "num_searching", "num_unparked", "sleepers")

    def __init__(self, n: int):
        self.n = n
        self.num_searching = 0
        self.num_unparked = n
        self.sleepers: list[int] = []

    def worker_to_notify(self) -> int:
        """A parked worker to wake, or -1: none unless nobody searches and someone sleeps
        (``notify_should_wakeup``); it counts as unparked and searching from now."""
        if self.num_searching or self.num_unparked == self.n:
            return -1
        self.num_searching += 1
        self.num_unparked += 1
        return self.sleepers.pop()

    def transition_worker_to_searching(self) -> bool:
        """At most half the workers search at once."""
        if 2 * self.num_searching >= self.n:
            return False
        self.num_searching += 1
        return True

    def transition_worker_from_searching(self) -> bool:
        """True if it was the last searcher (it must then wake another worker)."""
        self.num_searching -= 1
        return self.num_searching == 0

    def transition_worker_to_parked(self, index: int, searching: bool) -> bool:
        """True if it was the last searcher (it must then re-check for work)."""
        self.num_unparked -= 1
        self.sleepers.append(index)
        if searching:
            self.num_searching -= 1
            return self.num_searching == 0
        return False

    def unpark_worker_by_id(self, index: int) -> bool:
        """Take a parked worker out of ``sleepers`` (``swap_remove``); False if absent."""
        sleepers = self.sleepers
        if index not in sleepers:
            return False
        i = sleepers.index(index)
        sleepers[i] = sleepers[-1]
        sleepers.pop()
        self.num_unparked += 1
        return True


class TimeDriver:
    """The timer wheel and its clock (``runtime/time/``): ticks of ``resolution`` counted
    from the runtime's start, which falls at ``origin`` within a tick (``source.rs``
    ``TimeSource``); entries keep their deadline and fire when the driver processes a tick
    at or past theirs. The wheel's levels are not modelled: a heap orders the entries."""

    __slots__ = ("resolution", "origin", "timers", "seq", "elapsed", "next_wake")

    def __init__(self, resolution: int, origin: int):
        self.resolution = resolution
        self.origin = origin
        self.timers: list[tuple[int, int, int, int]] = []  # (tick, seq, task, deadline)
        self.seq = 0
        self.elapsed = -origin // resolution  # the last tick processed
        self.next_wake = -1  # the tick the parked driver wakes at (-1: none)

    def now_tick(self, now: int) -> int:
        """``TimeSource::now``: whole ticks since the start (floored)."""
        return (now - self.origin) // self.resolution

    def register(self, task: int, deadline: int, now: int) -> int:
        """``Handle::reregister``: the deadline rounded up to a tick
        (``TimeSource::deadline_to_tick``); ELAPSED if the wheel is past it
        (``InsertError::Elapsed``: it fires at once), else the entry waits: WAITS_FIRST if
        before the parked driver's wake-up. A deadline already past is ready, for the
        records, from now on."""
        res = self.resolution
        tick = (deadline - self.origin + res - 1) // res
        if tick <= self.elapsed:
            return ELAPSED
        self.seq += 1
        heapq.heappush(self.timers, (tick, self.seq, task, deadline if deadline > now else now))
        return WAITS_FIRST if self.next_wake < 0 or tick < self.next_wake else WAITS

    def park_timeout(self, now: int) -> int:
        """``Driver::park_internal``: how long the driver sleeps for the next timer (whole
        ticks from now's tick, so it wakes within the timer's tick), or NO_TIMER."""
        if not self.timers:
            return NO_TIMER
        self.next_wake = tick = self.timers[0][0]
        return (tick - (now - self.origin) // self.resolution) * self.resolution

    def process(self, now: int) -> Sequence[tuple[int, int, int, int]]:
        """``Handle::process_at_time``: the entries due by now's tick, removed."""
        now_tick = (now - self.origin) // self.resolution
        if now_tick > self.elapsed:
            self.elapsed = now_tick
        timers = self.timers
        if not timers or timers[0][0] > now_tick:
            return ()
        fired = []
        while timers and timers[0][0] <= now_tick:
            fired.append(heapq.heappop(timers))
        return fired


class Driver:
    """The I/O and time driver behind one ``TryLock`` (``MT/park.rs`` ``Shared::driver``):
    its holder polls it, or sleeps in it (epoll_wait until the next timer's tick or an
    event); the other idle workers sleep on their condvars. ``events``: I/O readiness not
    yet polled, (time, task), or (time, ~task) for a connection (open arrivals are pulled
    from the engine by each turn, no event each)."""

    __slots__ = ("holder", "events", "time")

    def __init__(self, time: TimeDriver):
        self.holder: Worker | None = None  # the TryLock: None when free
        self.events: list[tuple[int, int]] = []
        self.time = time


class BlockingPool:
    """``spawn_blocking``'s pool: a FIFO queue served by up to ``size`` threads."""

    def __init__(self, model: TokioModel, size: int):
        self.model = model
        self.size = size
        self.threads = 0
        self.idle: list[Thread] = []
        self.queue: deque[tuple[int, int, int]] = deque()

    def submit(self, task: int, kind: int, work: int) -> None:
        """``Spawner::spawn_task`` (``blocking/pool.rs``): queue the call; an idle thread is
        signalled (``notify_one``: it runs after the OS's wake latency and takes whatever
        is queued then), else a new thread starts while there are fewer than ``size``."""
        model = self.model
        model.rec.ready(task, model.engine.now, False)  # waiting for a pool thread
        self.queue.append((task, kind, work))
        if self.idle:
            thread = self.idle.pop()
            delay = model.wake(model.engine.now - thread.parked_at)
            if delay:
                model.engine.after(delay, self._run, thread)
                return
            self._run(thread)
        elif self.threads < self.size:
            thread = Thread(f"blocking {self.threads}")
            self.threads += 1
            self._run(thread)

    def _run(self, thread: Thread) -> None:
        """A pool thread's loop (``Inner::run``): the queue's next call, or idle."""
        model = self.model
        if not self.queue:
            thread.parked_at = model.engine.now  # (waits on the pool's condvar)
            self.idle.append(thread)
            return
        task, kind, work = self.queue.popleft()
        thread.task = task
        if kind != BLOCK:  # native code, or Rust code (a cpu phase that says offload)
            model.cores.compute(thread, task, work, self._done)
        else:  # the thread sleeps in the kernel: no core
            now = model.engine.now
            model.rec.running(task, now)
            model.rec.span(thread.lane, task, "blocked", now, now + work)
            model.engine.after(work, self._done, thread)

    def _done(self, thread: Thread) -> None:
        model = self.model
        model.cores.release(thread)
        model.rec.ready(thread.task, model.engine.now, True)
        model.schedule_remote(thread.task)  # the JoinHandle's waker, from a pool thread
        self._run(thread)


class TokioModel(Model):
    """``workers`` worker threads on ``machine.cores`` CPUs, one shared I/O+time driver."""

    # Slots, not a __dict__: past 30 attributes CPython 3.11 no longer specialises
    # self.method() calls (see GoModel).
    __slots__ = ("rec", "cores", "n", "auto_gqi", "workers", "lifo_on", "capacity",
                 "budget", "max_lifo", "event_interval", "accept_local", "offload", "pool",
                 "runqs",
                 "inject", "idle", "time", "driver", "owes", "replay", "cur", "active",
                 "peak", "random", "direct", "late", "wake", "net_wake", "coop_wake",
                 "inject_batch",
                 "eager", "flagged", "hands_off", "signal", "owed")
    Options = TokioOptions
    # The fast path ``direct``: with no more workers than cores a burst is one timer and
    # ``Cores`` is never asked. False runs every burst through ``Cores`` (the plain
    # mechanism); tests/test_tokio.py proves both give the same results.
    bursts_as_timers = True
    pulls_arrivals = True  # open arrivals are taken by driver polls (engine.take_arrivals)

    def __init__(self, engine: Engine, options: TokioOptions):
        super().__init__(engine, options)
        cfg = engine.cfg
        self.rec = engine.rec
        self.cores = Cores(engine, cfg.machine.cores, cfg.machine.os_time_slice)
        self.n = options.workers or cfg.machine.cores
        self.auto_gqi = options.global_queue_interval == "auto"
        gqi = (self._tuned(TARGET_GLOBAL_QUEUE_INTERVAL / TARGET_TASKS_POLLED)
               if self.auto_gqi else options.global_queue_interval)
        self.workers = [Worker(i, gqi) for i in range(self.n)]
        for w in self.workers:
            engine.rec.server(w.thread.lane)  # its occupancy counts (busy or blocked)
        self.runqs = [w.runq for w in self.workers]  # (for notify_if_work_pending)
        self.lifo_on = options.lifo_slot
        self.capacity = options.local_queue
        self.budget = options.coop_budget
        self.max_lifo = options.lifo_polls
        self.event_interval = options.event_interval
        # the wheel's ticks fall at origin + k * resolution (the runtime started before the
        # run, at some phase of a tick: sim/machine.py)
        resolution = options.timer_resolution
        self.time = TimeDriver(resolution, tick_origin(cfg.machine, resolution, engine.rng))
        self.driver = Driver(self.time)
        self.accept_local = options.accept == "worker"
        self.coop_wake = options.coop_exhausted == "wake"
        self.inject_batch = options.inject_batch
        self.eager = options.eager_driver_handoff
        self.offload = {{"block": BLOCK, "native": NATIVE}[k] for k in options.offload}
        self.flagged = offload_flags(engine)  # per task: its phases said offload: true
        self.hands_off = bool(self.offload) or self.flagged is not None
        self.pool = BlockingPool(self, options.blocking_threads)
        self.inject: deque[int] = deque()
        self.idle = Idle(self.n)
        self.owes = [0] * engine.workload.n  # 1: the next poll completes an op (1 budget)
        # a phase refused for lack of budget: (kind, arg, a sleep's deadline or -1)
        self.replay: dict[int, tuple[int, int, int]] = {}
        self.cur = self.workers[0]  # the worker polling right now (spawns go to it)
        self.active = 0  # workers inside run_task, and its maximum (for the tests)
        self.peak = 0
        self.random: list[float] = []
        # no more threads that compute than cores: the OS never time-slices them, so a
        # burst is one timer (what Cores would do, minus its per-slice bookkeeping)
        self.direct = (self.bursts_as_timers and self.n <= cfg.machine.cores
                       and NATIVE not in self.offload
                       and not offloads_kinds(engine.workload.templates, (CPU, NATIVE)))
        # the OS (sim/machine.py): a driver park that ends by its timeout is late by
        # late(); a thread unparked by another runs after wake(), one handed readiness on
        # a socket after net_wake(time parked); unparking one costs the waker signal()
        self.late = engine.os.timer_late
        self.wake, self.net_wake = engine.os.wake, engine.os.net_wake
        self.signal = engine.os.signal
        self.owed = 0  # what a spawn's unpark cost the spawning worker (spawn, _poll)
        for w in self.workers:
            w.lifo_enabled = self.lifo_on
            w.resume = lambda _x=None, w=w: self._resume(w)
            engine.after(0, lambda _, w=w: self._start(w))

    # --- the outside world -----------------------------------------------------------------

    def arrive(self, task: int) -> None:
        """A connection (a closed client's request) is ready: an I/O event for the driver."""
        driver = self.driver
        driver.events.append((self.engine.now, ~task))
        if driver.holder is not None:
            self._request_wake(driver.holder, through_socket=True)

    def spawn(self, parent: int, child: int) -> None:
        """``tokio::spawn`` from a running task: ``schedule_local`` on its worker. OS: a
        parked worker it unparks (``notify_parked``: a condvar signal, or the driver's
        waker) costs the spawning worker ``signal_cost`` before the task goes on
        (``_poll``)."""
        self._owe_unpark(self._schedule_local(self.cur, child))

    def _io_ready(self, task: int) -> None:
        now = self.engine.now
        self.rec.ready(task, now, True)
        driver = self.driver
        driver.events.append((now, task))
        if driver.holder is not None:
            self._request_wake(driver.holder, through_socket=True)

    # --- Context::run -----------------------------------------------------------------------

    def _start(self, w: Worker) -> None:
        self._start_processing(w)
        self._loop(w)

    def _loop(self, w: Worker) -> None:
        """``Context::run``: one iteration per tick until the worker waits for time."""
        while True:
            w.tick += 1
            if w.tick % self.event_interval == 0:  # maintenance: a zero-timeout driver poll
                self._end_processing(w)
                self._park_internal(w, True)
                self._start_processing(w)
            task = self._next_task(w)
            if task < 0:
                self._end_processing(w)
                task = self._steal(w)
                if task < 0:
                    if w.defer:  # park_yield
                        self._park_internal(w, True)
                    elif self._to_parked(w) and self._park_loop(w) is ASLEEP:  # park
                        return  # _wake() carries on
                    self._start_processing(w)
                    continue
                self._start_processing(w)
            if self._run_task(w, task) is HELD:
                return  # _resume() or _burst_end() carries on

    def _run_task(self, w: Worker, task: int) -> bool:
        """``Context::run_task``: the last searcher to find work wakes another worker; a
        fresh coop budget; the task; then the LIFO slot (``_lifo_chain``)."""
        if w.searching:  # transition_from_searching
            w.searching = False
            idle = self.idle
            if idle.transition_worker_from_searching() and idle.num_unparked < self.n:
                self._owe_unpark(self._notify())
        if w.drove and self.eager:  # hand the driver off: a parked sibling may take it
            w.drove = False
            self._owe_unpark(self._notify())
        w.polled += 1
        w.budget = self.budget
        w.lifo_polls = 0
        self.active += 1
        if self.active > self.peak:
            self.peak = self.active
        if self._poll(w, task) is HELD:
            return HELD
        return self._lifo_chain(w)

    def _next_task(self, w: Worker) -> int:
        """``Core::next_task``: every ``gqi`` ticks the inject queue first; else local."""
        inject = self.inject
        if w.tick % w.gqi == 0:
            if abs(w.tuned - w.gqi) > 2:  # tune_global_queue_interval: smooths jitter
                w.gqi = w.tuned
            if inject:
                return inject.popleft()
        if w.lifo >= 0:
            task, w.lifo = w.lifo, -1
            return task
        if w.runq:
            return w.runq.popleft()
        if not inject:
            return -1
        if not self.inject_batch:
            return inject.popleft()
        # a batch, so other workers get some too, kept in the first half of the queue
        size = len(inject)
        n = min(size // self.n + 1, self.capacity // 2, size)
        task = inject.popleft()
        for _ in range(n - 1):
            w.runq.append(inject.popleft())
        return task

    def _steal(self, w: Worker) -> int:
        """``Core::steal_work``: half of the first non-empty queue from a random start."""
        if not w.searching:
            if not self.idle.transition_worker_to_searching():
                return -1
            w.searching = True
        if self.n > 1:
            start = self._rand(self.n)
            for i in range(self.n):
                victim = self.workers[(start + i) % self.n]
                q = victim.runq
                if victim is w or not q:
                    continue
                stolen = [q.popleft() for _ in range(len(q) - len(q) // 2)]
                task = stolen.pop()  # the newest stolen task runs now
                w.runq.extend(stolen)
                return task
        return self.inject.popleft() if self.inject else -1

    # --- run_task's polls ---------------------------------------------------------------------

    def _lifo_chain(self, w: Worker) -> bool:
        """Poll the LIFO slot while budget remains, at most ``lifo_polls`` times: RETURNED
        when the chain is over, HELD if a poll holds the worker."""
        while True:
            task = w.lifo
            if task < 0:
                w.lifo_enabled = self.lifo_on
                break
            w.lifo = -1
            if w.budget == 0:  # no budget for it: to the back of the queue, no notify
                self._push_back(w, task)
                break
            w.lifo_polls += 1
            if w.lifo_polls >= self.max_lifo:  # wakes made by this poll skip the slot
                w.lifo_enabled = False
            if self._poll(w, task) is HELD:
                return HELD
        self.active -= 1
        return RETURNED

    def cut(self, now: int) -> None:
        if not self.direct:
            self.cores.cut(now)
            return
        for w in self.workers:  # direct mode: a burst is one timer, not a Cores segment
            if w.thread.pending:
                w.thread.pending = False
                self.rec.busy(w.current, w.thread.seg_start, now, w.thread.lane)

    def _resume(self, w: Worker) -> None:
        """What held the worker is over: the rest of the poll, of run_task, the loop."""
        if self._poll(w, w.current) is RETURNED and self._lifo_chain(w) is RETURNED:
            self._loop(w)

    def _computes_next(self, task: int) -> bool:
        """The task's next phase is a burst on the worker (which may wait for a core)."""
        if self.replay and task in self.replay:
            return False
        engine = self.engine
        i = engine.pc[task]
        kinds = engine.kinds[task]
        return i < len(kinds) and engine.args[engine.offset[task] + i] > 0 and (
            kinds[i] == CPU or kinds[i] == NATIVE and NATIVE not in self.offload)

    def _offloads_next(self, task: int) -> bool:
        """The task's next phase goes to ``spawn_blocking`` (a poll that only hands it over
        does not end the task's wake-up: docs/metrics.md)."""
        if self.replay and task in self.replay:
            return False
        return offloads_next(self.engine, task, self.offload, self.flagged)

    def _returned(self, call: tuple[Worker, int]) -> None:
        """A blocking call returned (at ``returned``) and its thread runs: the task could
        continue from the return (a wake-up), and its poll goes on."""
        w, returned = call
        self.rec.ready(w.current, returned, True)
        self._resume(w)

    def _burst(self, w: Worker, task: int, work: int) -> None:
        """``work`` ns of the task on the worker's thread, then ``_resume``: one timer
        (``direct``) or through ``Cores``."""
        if self.direct:
            w.thread.seg_start = self.engine.now
            w.thread.pending = True
            self.engine.after(work, self._burst_end, w)
        else:
            self.cores.compute(w.thread, task, work, w.resume)

    def _burst_end(self, w: Worker) -> None:
        """A burst's end without ``Cores`` (``direct``): its busy span, then ``_resume``."""
        w.thread.pending = False
        self.rec.busy(w.current, w.thread.seg_start, self.engine.now, w.thread.lane)
        self._resume(w)

    def _poll(self, w: Worker, task: int) -> bool:
        """Run ``task`` until it returns (RETURNED: pending or done) or a burst or a
        blocking call holds the worker (HELD)."""
        engine, rec = self.engine, self.rec
        now = self.engine.now
        carried = -1
        if rec.ready_since[task] >= 0:
            if self.hands_off and self._offloads_next(task):  # the wake-up goes on
                carried = rec.hand_off(task)
                rec.running(task, now)
            elif self.direct or not self._computes_next(task):
                rec.running(task, now)
            # (else ``Cores.compute`` records it as the worker's thread gets a core)
        w.current = task
        self.cur = w
        if self.owed:  # OS: unparking a sibling cost the worker its time before this poll
            owed, self.owed = self.owed, 0
            if carried < 0:  # (not modelled before a poll that only hands a phase over)
                rec.charge(task, owed)
                self._burst(w, task, owed)
                return HELD
        if self.owes[task]:  # the awaited op is ready: poll_proceed spends one unit
            self.owes[task] = 0
            w.budget -= 1
        phase = self.replay.pop(task, None) if self.replay else None
        while True:
            if phase is None:
                kind, arg = engine.next_phase(task)
                deadline = -1
            else:  # a phase refused for lack of budget, polled again
                kind, arg, deadline = phase
                phase = None
                if kind == SLEEP and deadline < now:  # past due while it waited for us
                    rec.ready(task, deadline, False)
                    rec.running(task, now)
            if self.flagged is not None and arg and self.flagged[task][engine.pc[task] - 1]:
                self.owes[task] = 1  # spawn_blocking(..).await, for this phase
                rec.carry(task, carried)
                self.pool.submit(task, kind, arg)
                return RETURNED
            if kind == CPU or (kind == NATIVE and NATIVE not in self.offload):
                if arg:
                    self._burst(w, task, arg)
                    return HELD
            elif kind == DONE:
                engine.finish(task)
                return RETURNED
            elif kind in (IO, SLEEP):
                if kind == SLEEP and deadline < 0:  # time/sleep.rs sleep(): now + duration
                    deadline = now + arg
                if w.budget == 0:  # coop::poll_proceed: Pending
                    self.replay[task] = (kind, arg, deadline)
                    if kind == IO:  # (a sleep is under way: until its deadline it sleeps)
                        rec.ready(task, now, False)
                    if self.coop_wake:  # wake_by_ref, then yield_now: the queue's tail
                        self._push_back(w, task)
                        self._notify()
                    else:  # the waker deferred to the next park
                        w.defer.append(task)
                    return RETURNED
                if kind == IO:
                    if not arg:  # already ready: the await returns, spending budget
                        w.budget -= 1
                        continue
                    self.owes[task] = 1
                    engine.after(arg, self._io_ready, task)
                    return RETURNED
                # registered at its first poll: the deadline rounds up to the wheel's tick
                registered = self.time.register(task, deadline, now)
                if registered == ELAPSED:  # the await returns, spending budget
                    w.budget -= 1
                    continue
                self.owes[task] = 1
                holder = self.driver.holder
                if registered == WAITS_FIRST and holder is not None:
                    self._request_wake(holder)
                return RETURNED
            elif kind == YIELD:  # yield_now: context::defer, woken at the next park
                rec.ready(task, now, False)
                w.defer.append(task)
                return RETURNED
            elif arg and kind in self.offload:  # spawn_blocking(..).await
                self.owes[task] = 1
                rec.carry(task, carried)
                self.pool.submit(task, kind, arg)
                return RETURNED
            elif kind == BLOCK and arg:  # the thread sleeps in a syscall, holding the worker
                # OS: the call returns at now + arg; the thread runs wake latency later
                # (asleep in the kernel until then: blocked, holding the worker)
                woken = arg + self.wake(arg)
                rec.span(w.thread.lane, task, "blocked", now, now + woken)
                if not self.direct:
                    self.cores.release(w.thread)
                engine.after(woken, self._returned, (w, now + arg))
                return HELD
            elif kind == SPAWN and self.owed:  # (spawn() has scheduled the child) OS:
                owed, self.owed = self.owed, 0  # unparking a worker cost this one its time
                rec.charge(task, owed)
                self._burst(w, task, owed)
                return HELD

    # --- scheduling -------------------------------------------------------------------------

    def _schedule_local(self, w: Worker, task: int) -> Worker | None:
        """``Handle::schedule_local``: into the LIFO slot; a displaced occupant goes to the
        queue and wakes a sibling, unless the worker is inside park (notify deferred). The
        parked worker it woke, if any."""
        if w.lifo_enabled:
            prev = w.lifo
            w.lifo = task
            if prev < 0:
                return None
            task = prev
        self._push_back(w, task)
        return None if w.in_park else self._notify()

    def _push_back(self, w: Worker, task: int) -> None:
        """``push_back_or_overflow``: a full queue sends its newest half and the task to
        the inject queue (MT/queue.rs, since 1.52)."""
        q = w.runq
        if len(q) < self.capacity:
            q.append(task)
            return
        moved = [q.pop() for _ in range(self.capacity // 2)]
        moved.reverse()
        self.inject.extend(moved)
        self.inject.append(task)

    def schedule_remote(self, task: int) -> None:
        """``schedule_task`` from a thread that is not a worker: inject + notify."""
        self.inject.append(task)
        if self.idle.num_unparked < self.n:  # (_notify's own test, first: it is hot)
            self._notify()

    # --- idle.rs ----------------------------------------------------------------------------

    def _owe_unpark(self, woken: Worker | None) -> None:
        """OS: unparking ``woken`` (None: nobody was parked) costs the running worker
        ``signal_cost``, paid before its task goes on (``_poll``: the task's overhead)."""
        if woken is not None:
            self.owed += self.signal(self.engine.now - woken.thread.parked_at)

    def _notify(self) -> Worker | None:
        """``notify_parked``: unpark the latest sleeper, unless a worker is searching. The
        worker it woke from a park (blocked), if any."""
        index = self.idle.worker_to_notify()
        if index < 0:
            return None
        w = self.workers[index]
        w.state = NOTIFIED  # Unparker::unpark (MT/park.rs): a sleeping worker wakes
        if not w.blocked:
            return None
        self._request_wake(w)
        return w

    def _to_parked(self, w: Worker) -> bool:
        """``transition_to_parked`` (False: local work, the worker stays up); the last
        searcher re-checks every queue (``notify_if_work_pending``)."""
        if w.lifo >= 0 or w.runq:
            return False
        last = self.idle.transition_worker_to_parked(w.index, w.searching)
        w.searching = False
        if last and (self.inject or (self.n > 1 and any(self.runqs))):
            self._notify()
        return True

    def _from_parked(self, w: Worker) -> bool:
        """``transition_from_parked``: AWAKE with local work, searching only if it was
        notified (not for a driver event); ASLEEP if still in ``sleepers`` with nothing
        local (it parks again); AWAKE and searching if notified."""
        idle = self.idle
        if w.lifo >= 0 or w.runq:
            w.searching = not idle.unpark_worker_by_id(w.index)
            return AWAKE
        if w.index in idle.sleepers:  # Idle::is_parked
            return ASLEEP
        w.searching = True
        return AWAKE

    # --- park.rs ----------------------------------------------------------------------------

    def _park_loop(self, w: Worker) -> bool:
        """``Context::park`` once ``transition_to_parked`` is done: park until there is
        work to look at (AWAKE), or ASLEEP (``_wake`` carries on)."""
        while True:
            if self._park_internal(w, False) is ASLEEP:
                return ASLEEP
            if self._from_parked(w) is AWAKE:
                return AWAKE

    def _park_internal(self, w: Worker, zero: bool) -> bool:
        """``park_timeout``: poll the driver if its lock is free (a zero timeout never
        sleeps); else sleep on it, or on the condvar (ASLEEP)."""
        driver = self.driver
        w.in_park = True
        w.drove = False
        if zero:  # Parker::park_timeout(0): no lock, no poll; NOTIFIED is kept
            if driver.holder is None:  # driver.try_lock()
                driver.holder = w
                w.drove = True
                self._turn(w)
                driver.holder = None
        elif w.state == NOTIFIED:  # Inner::park consumes a pending notification
            w.state = EMPTY
        elif driver.holder is None:  # driver.try_lock()
            driver.holder = w
            w.drove = True
            w.state = PARKED_DRIVER
            if not self._turn(w):  # nothing ready: block in epoll until an event
                self._sleep(w)
                return ASLEEP
            driver.holder = None
            w.state = EMPTY
        else:
            w.state = PARKED_CONDVAR
            self._sleep(w)
            return ASLEEP
        self._park_done(w)
        return AWAKE

    def _park_done(self, w: Worker) -> None:
        """End of ``park_internal``: deferred wakers (popped last first), then notify a
        sibling if more than one task waits here (``should_notify_others``)."""
        while w.defer:
            self._schedule_local(w, w.defer.pop())
        w.in_park = False
        if not w.searching and w.runq and (w.lifo >= 0 or len(w.runq) > 1):
            self._notify()

    def _sleep(self, w: Worker) -> None:
        """Block: on the condvar, until an unpark; on the driver, in epoll_wait until the
        next timer's tick (``TimeDriver.park_timeout``) or the next connection. A wait that
        ends by its timeout is late by the OS's timer lateness; a connection is readiness
        on a socket handed to the parked thread: it runs after the OS's net wake latency."""
        w.blocked = True
        w.thread.parked_at = self.engine.now
        w.gen += 1
        if not self.direct:
            self.cores.release(w.thread)
        if self.driver.holder is not w:
            return
        now = self.engine.now
        delay = self.time.park_timeout(now)
        due = self.engine.next_arrival()
        if due is not None and (delay == NO_TIMER or due - now < delay):
            delay = due - now + self.net_wake(due - now)  # (parked until it comes)
        elif delay != NO_TIMER:
            delay += self.late(delay)
        else:
            return  # until an event or an unpark
        w.wake_at = now + delay
        self.engine.after(delay, self._wake, (w, w.gen))

    def _request_wake(self, w: Worker, through_socket: bool = False) -> None:
        """``Unparker::unpark`` (a condvar signal or the driver's I/O waker: ``wake``), or
        readiness on a socket for the worker parked in epoll (``net_wake``, for the time it
        has been parked): the thread runs that latency later, unless an earlier wake-up is
        already on its way. A worker that is not blocked pays nothing (it sees the
        readiness at its next poll)."""
        if w.blocked:
            now = self.engine.now
            delay = (self.net_wake if through_socket else self.wake)(now - w.thread.parked_at)
            if w.wake_at < 0 or now + delay < w.wake_at:
                w.wake_at = now + delay
                self.engine.after(delay, self._wake, (w, w.gen))

    def _wake(self, sleep: tuple[Worker, int]) -> None:
        """The blocked thread runs: epoll (or the condvar wait) returned; the rest of
        ``park_internal``, then of ``Context::park``. (A wake-up for an earlier sleep
        (``Worker.gen``), or after an earlier wake-up, finds nothing to do.)"""
        w, gen = sleep
        if not w.blocked or w.gen != gen:
            return
        w.blocked = False
        w.wake_at = -1
        w.gen += 1
        driver = self.driver
        if driver.holder is w:  # epoll returned: dispatch what is ready
            self.time.next_wake = -1
            self._turn(w)
            driver.holder = None
        w.state = EMPTY
        self._park_done(w)
        if self._from_parked(w) is AWAKE or self._park_loop(w) is AWAKE:
            self._start_processing(w)
            self._loop(w)

    def _turn(self, w: Worker) -> bool:
        """One driver turn on ``w``: I/O events, then expired timers (``time/mod.rs``
        ``park_internal``/``process``). True if anything fired."""
        now = self.engine.now
        driver = self.driver
        events = driver.events
        fired = bool(events)
        if fired:
            driver.events = []
        due = self.engine.next_arrival()
        if due is not None and due <= now:
            fired = True
            arrivals = self.engine.take_arrivals(now)
            if not self.accept_local:  # the accept loop spawns them from outside
                for task in arrivals:
                    self.schedule_remote(task)
            else:  # they land in this worker's slot like the wakes: keep time order
                arrival = self.rec.arrival
                events = sorted(events + [(arrival[task], ~task) for task in arrivals],
                                key=_time)
        for _, task in events:
            if task >= 0:
                self._schedule_local(w, task)
            elif self.accept_local:
                self._schedule_local(w, ~task)
            else:
                self.schedule_remote(~task)
        time = self.time
        if not time.timers:  # (process() with no entry: only the clock moves)
            tick = (now - time.origin) // time.resolution
            if tick > time.elapsed:
                time.elapsed = tick
            return fired
        expired = time.process(now)
        for _, _, task, deadline in expired:
            self.rec.ready(task, deadline, True)
            self._schedule_local(w, task)
        return fired or bool(expired)

    # --- stats.rs ---------------------------------------------------------------------------

    def _start_processing(self, w: Worker) -> None:
        w.started = self.engine.now
        w.polled = 0

    def _end_processing(self, w: Worker) -> None:
        """The EWMA of the mean poll time, weighted by the polls in the batch."""
        n = w.polled
        if n and self.auto_gqi:
            alpha = 1.0 - (1.0 - EWMA_ALPHA) ** n
            w.ewma = ewma = alpha * (self.engine.now - w.started) / n + (1.0 - alpha) * w.ewma
            # (_tuned, inlined: it is hot)
            per = TARGET_GLOBAL_QUEUE_INTERVAL / ewma if ewma > 0 else MAX_TASKS_POLLED
            w.tuned = MAX_TASKS_POLLED if per >= MAX_TASKS_POLLED else 2 if per < 2 else int(per)

    @staticmethod
    def _tuned(ewma: float) -> int:
        """The interval that would take 200us of polls at the mean poll time."""
        per = TARGET_GLOBAL_QUEUE_INTERVAL / ewma if ewma > 0 else MAX_TASKS_POLLED
        return MAX_TASKS_POLLED if per >= MAX_TASKS_POLLED else 2 if per < 2 else int(per)

    def _rand(self, n: int) -> int:
        """``FastRand::fastrand_n`` from the model's own stream (buffered: it is hot)."""
        if not self.random:
            self.random = self.engine.rng.random(1024).tolist()
        return int(self.random.pop() * n)
