"""CPython threads under the GIL, after ``Python/ceval_gil.c`` (3.12/3.13; ``ceval_gil.h`` in
3.11) and ``Include/internal/pycore_gil.h``. The mechanism is the same in 3.11-3.13
(docs/runtime-notes/gil.md).

``take_gil``: a thread that finds the GIL free takes it at once; otherwise it waits on
``gil->cond`` for at most ``interval`` and, if it timed out and no switch happened during that
wait (``switch_number`` unchanged), sets the drop request, then waits again (a fresh timeout
every pass). The holder answers the request at its next eval-breaker check (``RESUME``,
``JUMP_BACKWARD``, ``CALL``: at once, at this model's resolution) with ``drop_gil`` +
``take_gil``; with ``FORCE_SWITCHING`` (always defined) ``drop_gil`` blocks on
``switch_cond`` until another thread has taken the GIL, so the dropper cannot take it back
first. A waiter whose wait began before the current holder took the GIL is stale: its next
timeout asks nothing. Hence a forced slice is never shorter than ``interval``; with two or
more CPU-bound threads every slice is exactly ``interval`` (the old holder is a fresh waiter),
and after a voluntary release (I/O, finishing) the next holder runs up to ``2 * interval``.

Blocking calls (``io``, ``sleep``, ``block``) and ``native`` C code are wrapped in
``Py_BEGIN/END_ALLOW_THREADS`` (``PyEval_SaveThread`` = ``drop_gil``, ``PyEval_RestoreThread``
= ``take_gil``): the GIL is released and must be taken back to continue. That return path is
the convoy effect (bpo-7946): an I/O thread behind a CPU-bound holder waits one interval per
return. ``yield`` (``time.sleep(0)``) hands the GIL over if another thread waits.

Model choices (the note's section 2): a hand-off to a waiting thread takes ``handoff_cost``
(default 0, instantaneous: the exact timelines of the note's section 3): the time from the
holder's ``drop_gil`` (``COND_SIGNAL(gil->cond)``) to the woken waiter running, during which
nobody runs Python. It is the same signal and wake-up whether the holder answers a drop
request, yields or releases voluntarily, so every hand-off to a waiter pays it (a thread that
finds the GIL free takes it at once); it counts as the woken thread's wait. Meanwhile the GIL
is reserved for that waiter (in reality it is free, and a thread arriving in that gap could
take it first), and after a forced switch the old holder starts its own wait only when the
new one has taken the GIL (FORCE_SWITCHING), so forced slices stay exactly ``interval``
long. ``sim.validate``'s convoy scenarios set it to what was measured on this machine
(docs/validation.md: 0.1-0.25 ms beyond the OS's timer lateness; the note's section 2: about
0.1 ms per forced switch). The waiter that gets the GIL is picked by ``wake_order``:
``fifo`` (the order in which the waiters called ``take_gil``; deterministic, the textbook
round robin) or ``random`` (seeded; what glibc's condvar was measured to do); a wait that
restarts at the very instant of a switch sees the new ``switch_number``. Waiters sleep off
the cores; a GIL holder that the OS deschedules keeps the GIL and answers a drop request
when it runs again. The tasks run on a ``ThreadPoolExecutor``-like pool
(``Lib/concurrent/futures/thread.py``): a FIFO work queue served by ``threads`` workers; a
worker that finishes a task with work queued takes the next one without releasing the GIL.
``free_threaded`` (PEP 703, ``Py_GIL_DISABLED``: ``take_gil`` returns at once) removes it.
"""

from __future__ import annotations

from collections import deque
from typing import Literal

from ..phases import BLOCK, CPU, DONE, IO, NATIVE, SLEEP, YIELD
from ..schema import MAX_THREADS, Count, Duration
from .base import FOREVER, Cores, Engine, Model, SchedulerOptions, Thread

DEFAULT_INTERVAL = 5_000_000  # pycore_gil.h: #define DEFAULT_INTERVAL 5000 (microseconds)
US = 1_000  # sys.setswitchinterval keeps whole microseconds; take_gil waits at least 1 us


class GilThreadsOptions(SchedulerOptions):
    model: Literal["gil_threads"]
    threads: Count(MAX_THREADS) = 32  # the pool's workers (ThreadPoolExecutor's default: 32)
    switch_interval: Duration = DEFAULT_INTERVAL  # sys.setswitchinterval (default 0.005 s)
    free_threaded: bool = False  # PEP 703 build (3.13t) with the GIL disabled
    wake_order: Literal["fifo", "random"] = "fifo"  # which waiter gets a released GIL
    handoff_cost: Duration = 0  # drop_gil's signal to the woken waiter running (0 = at once)

    def check(self, cfg, path):
        if self.switch_interval <= 0:  # sysmodule.c: "switch interval must be strictly positive"
            raise ValueError(f"{path}.switch_interval: must be positive")
        if self.handoff_cost < 0:
            raise ValueError(f"{path}.handoff_cost: must not be negative")


class PyThread(Thread):
    """An OS thread that runs Python code: what it needs to wait for, hold and give back
    the GIL (``since``: when its current ``take_gil`` began; ``left``: bytecode work left in
    its current burst; ``then``: what it does next, holding the GIL)."""

    __slots__ = ("since", "left", "then")

    def __init__(self, lane: str | None = None):
        super().__init__(lane)
        self.since = 0
        self.left = 0
        self.then = None


class Gil:
    """One GIL (``struct _gil_runtime_state``) shared by the ``PyThread`` s of one process.

    The waiters' timed waits are not simulated one timeout at a time. A waiter that began
    waiting at ``s`` times out at ``s + k * interval``; the first of those timeouts whose wait
    began at or after the holder took the GIL asks for a drop (``_due``). One timer is kept,
    never later than that moment; when it fires early (the GIL changed hands meanwhile) it
    is set again for the moment computed then.
    """

    __slots__ = ("engine", "env", "rec", "cores", "interval", "fifo", "holder", "last_holder",
                 "switch_number", "held_since", "drop_request", "waiting", "timer_at",
                 "handoff", "transit", "shared")

    def __init__(self, engine: Engine, cores: Cores, interval: int = DEFAULT_INTERVAL,
                 fifo: bool = True, handoff: int = 0):
        self.engine = engine
        self.env = engine.env
        self.rec = engine.rec
        self.cores = cores
        self.interval = max(interval // US, 1) * US  # take_gil: interval = Py_MAX(1, ...) us
        self.fifo = fifo
        self.holder: PyThread | None = None
        self.last_holder: PyThread | None = None
        self.switch_number = 0
        self.held_since = 0
        self.drop_request = False
        self.waiting: deque[PyThread] = deque()  # in take_gil order
        self.timer_at = FOREVER  # when the live timer fires
        self.handoff = handoff  # handoff_cost: signal + wake-up of the picked waiter
        self.transit = False  # the GIL is on its way to ``holder`` (picked, not yet running)
        self.shared = not isinstance(cores, OneCore)  # a thread that stops frees a core

    # --- what threads do --------------------------------------------------------------------

    def run(self, th: PyThread, task: int, work: int, then) -> None:
        """Run ``work`` ns of bytecode for ``task`` on ``th``, taking the GIL first if needed
        (``take_gil``), then call ``then(th)`` with the GIL still held."""
        th.task, th.left, th.then = task, work, then
        holder = self.holder
        if holder is th:
            if self.drop_request:  # the eval breaker is checked before the next bytecode
                self._switch(th, forced=True)
            else:
                self.cores.compute(th, task, work, then)
        elif holder is None:
            self._take(th)
            self._resume(th)
        else:
            self._wait(th)

    def release(self, th: PyThread) -> None:
        """``drop_gil`` by a thread that blocks or leaves Python: one waiter takes the GIL.
        The caller releases the thread's core first if it stops running."""
        if self.holder is not th:
            return
        if self.waiting:
            self._hand(self._pick(), None)
        else:
            self.holder = None
            self.drop_request = False

    def yield_(self, th: PyThread, then) -> bool:
        """``time.sleep(0)``: release and retake. If another thread waits it gets the GIL
        and ``then(th)`` comes when ``th`` has it back (True); else ``th`` goes on (False)."""
        if self.holder is not th or not self.waiting:
            return False
        th.left, th.then = 0, then
        self._switch(th, forced=False)
        return True

    def call(self, th: PyThread, task: int, kind: int, arg: int, then) -> None:
        """A call inside ``Py_BEGIN/END_ALLOW_THREADS``: ``native`` computes on a core, the
        others block off-core; the GIL is released meanwhile and taken back on return."""
        th.then = then
        if kind == NATIVE:
            self.cores.compute(th, task, arg, self._returned)
            self.release(th)
        else:
            now = self.env._now
            self.rec.running(task, now)
            if th.lane and self.rec.tracing:
                self.rec.span(th.lane, task, "blocked" if kind == BLOCK else "io", now, now + arg)
            self.engine.after(arg, self._returned, th)
            if self.shared:
                self.cores.release(th)
            self.release(th)

    # --- internals --------------------------------------------------------------------------

    def _returned(self, th: PyThread) -> None:
        """``PyEval_RestoreThread``: the call has returned; continue once the GIL is held."""
        self.rec.ready(th.task, self.env._now, True)
        self.run(th, th.task, 0, th.then)

    def _wait(self, th: PyThread) -> None:
        """``take_gil`` with the GIL held: sleep in ``COND_TIMEDWAIT`` (off the cores)."""
        now = self.env._now
        th.since = now
        self.waiting.append(th)
        if self.rec.ready_since[th.task] < 0:  # (not waiting since its arrival)
            self.rec.ready(th.task, now, False)
        if self.shared:
            self.cores.release(th)
        self._arm(now + self.interval)  # a fresh waiter asks one interval from now

    def _pick(self) -> PyThread:
        """The waiter that wins the GIL: FIFO, or uniformly at random (``wake_order``)."""
        if self.fifo or len(self.waiting) == 1:
            th = self.waiting.popleft()
        else:
            i = int(self.engine.rng.integers(len(self.waiting)))
            th = self.waiting[i]
            del self.waiting[i]
        return th

    def _take(self, th: PyThread) -> None:
        """The end of ``take_gil``: ``locked = 1``, ``switch_number++`` if the holder
        changes, the drop request cleared; then when the next request will come."""
        now = self.env._now
        self.holder = th
        if self.last_holder is not th:
            if self.last_holder is not None:
                self.rec.handoffs[th.task] += 1
            self.last_holder = th
            self.switch_number += 1
        self.held_since = now
        self.drop_request = False
        if self.waiting:  # no request can come before one interval from now
            self._arm(now + self.interval)

    def _due(self) -> int:
        """When the first drop request under the current holder comes: each waiter asks one
        interval after its first timeout at or after the holder took the GIL."""
        since, interval, first = self.held_since, self.interval, FOREVER
        for w in self.waiting:
            start = w.since
            if start < since:
                start += -(-(since - start) // interval) * interval
            if start < first:
                first = start
        return first + interval

    def _arm(self, at: int) -> None:
        if at < self.timer_at:
            self.timer_at = at
            self.engine.after(at - self.env._now, self._timer, at)

    def _timer(self, at: int) -> None:
        """A waiter timed out with ``switch_number`` unchanged: ``SET_GIL_DROP_REQUEST``."""
        if at != self.timer_at:
            return  # superseded by an earlier timer
        self.timer_at = FOREVER
        if self.holder is None or self.transit or self.drop_request or not self.waiting:
            return  # (in transit: the new holder's ``_take`` arms the next one)
        due = self._due()
        if due > self.env._now:
            self._arm(due)
            return
        self.drop_request = True
        th = self.holder
        if th.pending:  # running bytecode: it drops at its next eval-breaker check, now
            th.left = self.cores.interrupt(th)
            if th.left:
                self._switch(th, forced=True)
            else:  # its burst ends at this very instant: it checks at its next bytecode
                th.then(th)
        elif th.queued:  # descheduled by the OS, GIL in hand: it answers when it runs again
            th.left, th.remaining, th.done = th.remaining, 0, self._answer
        # (otherwise it is between bursts and answers at its next ``run``)

    def _answer(self, th: PyThread) -> None:
        self._switch(th, forced=True)

    def _switch(self, th: PyThread, forced: bool) -> None:
        """``drop_gil`` + ``take_gil`` by the holder: the next waiter takes the GIL and only
        then does ``th`` wait for it (FORCE_SWITCHING), as a fresh waiter."""
        now = self.env._now
        if forced:
            self.rec.preempt(th.task, now)
        else:
            self.rec.ready(th.task, now, False)
        nxt = self._pick()
        if self.shared:
            self.cores.release(th)
        self._hand(nxt, th)

    def _hand(self, nxt: PyThread, old: PyThread | None) -> None:
        """Give the GIL to the picked waiter ``nxt``: at once, or ``handoff`` later (its
        wake-up), the GIL reserved for it meanwhile. ``old``: the holder that was forced or
        yielded, which waits for the GIL again from the moment ``nxt`` has taken it."""
        if not self.handoff:
            self._handed(nxt, old)
            return
        self.holder = nxt
        self.transit = True
        self.drop_request = False  # answered: the holder has dropped the GIL
        self.engine.after(self.handoff, self._woken, (nxt, old))

    def _woken(self, handoff: tuple[PyThread, PyThread | None]) -> None:
        self.transit = False
        self._handed(*handoff)

    def _handed(self, nxt: PyThread, old: PyThread | None) -> None:
        if nxt.lane and self.rec.tracing:
            self.rec.span(nxt.lane, nxt.task, "gil_wait", nxt.since, self.env._now)
        self._take(nxt)
        if old is not None:  # FORCE_SWITCHING: drop_gil returned, old calls take_gil
            now = self.env._now
            old.since = now
            self.waiting.append(old)
            self._arm(now + self.interval)
        self._resume(nxt)

    def _resume(self, th: PyThread) -> None:
        """``th`` has just taken the GIL: it goes on with its work left, then ``then``."""
        if th.left or self.shared:
            self.cores.compute(th, th.task, th.left, th.then)
        else:  # OneCore.compute of no work, inlined (every hand-off at a task's end)
            if self.rec.ready_since[th.task] >= 0:
                self.rec.running(th.task, self.env._now)
            th.then(th)


class NoGil(Gil):
    """The free-threaded build (PEP 703): ``take_gil`` returns at once, nothing is dropped."""

    __slots__ = ()

    def run(self, th: PyThread, task: int, work: int, then) -> None:
        self.cores.compute(th, task, work, then)

    def release(self, th: PyThread) -> None:
        pass

    def yield_(self, th: PyThread, then) -> bool:
        return False

    def call(self, th: PyThread, task: int, kind: int, arg: int, then) -> None:
        if kind == NATIVE:  # plain computation without a GIL to give back
            self.cores.compute(th, task, arg, then)
        else:
            super().call(th, task, kind, arg, then)


class OneCore:
    """The cores when only the GIL holder ever computes (a workload without ``native``
    phases): it never waits for a core and is never descheduled, so a burst is one timer.
    The same results as ``Cores`` with fewer calls; the interface ``Gil`` uses."""

    __slots__ = ("engine", "env", "rec", "current")

    def __init__(self, engine: Engine):
        self.engine, self.env, self.rec = engine, engine.env, engine.rec
        self.current: Thread | None = None  # the thread whose burst runs (for ``cut``)

    def compute(self, thread: Thread, task: int, work: int, done) -> None:
        thread.task = task
        now = self.env._now
        if self.rec.ready_since[task] >= 0:
            self.rec.running(task, now)
        if not work:
            done(thread)
            return
        thread.done, thread.remaining, thread.seg_start, thread.pending = done, work, now, True
        thread.gen += 1
        self.current = thread
        self.engine.after(work, self._end, (thread, thread.gen))

    def _end(self, due: tuple[Thread, int]) -> None:
        thread, gen = due
        if thread.gen == gen:
            thread.pending = False
            thread.remaining = 0
            self.rec.busy(thread.task, thread.seg_start, self.env._now, thread.lane)
            thread.done(thread)

    def cut(self, now: int) -> None:
        if self.current is not None:
            self.interrupt(self.current)

    def interrupt(self, thread: Thread) -> int:
        if thread.pending:
            now = self.env._now
            if thread.seg_start < now:
                self.rec.busy(thread.task, thread.seg_start, now, thread.lane)
            thread.remaining -= now - thread.seg_start
            thread.pending = False
            thread.gen += 1
        return thread.remaining

    def release(self, thread: Thread) -> None:
        """Nothing to give back: a thread that stops computing frees no queue."""


class GilThreads(Model):
    """Tasks run on a pool of ``threads`` Python threads sharing one GIL and the machine's
    cores; ``spawn`` submits to the pool like an arrival."""

    Options = GilThreadsOptions

    def __init__(self, engine: Engine, options: GilThreadsOptions):
        super().__init__(engine, options)
        machine = engine.cfg.machine
        native = any(NATIVE in t.kinds for t in engine.workload.templates)
        if options.free_threaded or native:
            self.cores = Cores(engine, machine.cores, machine.os_time_slice)
        else:  # only the GIL holder computes: at most one thread wants a core
            self.cores = OneCore(engine)
        gil = NoGil if options.free_threaded else Gil
        self.gil = gil(engine, self.cores, options.switch_interval, options.wake_order == "fifo",
                       options.handoff_cost)
        self.idle = [PyThread(f"thread {i}") for i in reversed(range(options.threads))]
        self.queue: deque[int] = deque()  # ThreadPoolExecutor._work_queue

    def arrive(self, task: int) -> None:
        """``submit``: an idle worker returns from ``work_queue.get`` and takes the GIL."""
        if self.idle:
            self.gil.run(self.idle.pop(), task, 0, self._walk)
        else:
            self.queue.append(task)

    def _walk(self, th: PyThread) -> None:
        """Run the task's phases on ``th``, which holds the GIL and a core."""
        engine, gil = self.engine, self.gil
        task = th.task
        while True:
            kind, arg = engine.next_phase(task)
            if kind == CPU:
                if arg:
                    if gil.holder is th and not gil.drop_request:  # Gil.run, inlined
                        th.left, th.then = arg, self._walk
                        self.cores.compute(th, task, arg, self._walk)
                    else:
                        gil.run(th, task, arg, self._walk)
                    return
            elif kind == YIELD:
                if gil.yield_(th, self._walk):
                    return
            elif kind == DONE:  # (the thread holds the GIL and a core: the task is running)
                engine.finish(task)
                if not self.queue:  # the worker blocks in work_queue.get: GIL released
                    self.idle.append(th)
                    if gil.shared:
                        self.cores.release(th)
                    gil.release(th)
                    return
                task = th.task = self.queue.popleft()  # got at once: the GIL is kept
                engine.rec.running(task, engine.env._now)
            elif kind in (IO, SLEEP, BLOCK, NATIVE) and arg:
                gil.call(th, task, kind, arg, self._walk)
                return


class GilLoopThread:
    """An asyncio loop thread whose executor runs Python code (``offload: [cpu]``), as the
    loop sees it: it stands in for the loop's ``Cores``. Its Python work (step overheads)
    needs the GIL, ``native`` code releases it and takes it back, and the loop keeps the GIL
    from one step to the next until it sleeps in ``select`` or blocks (``release``). The
    loop's zero-time bookkeeping does not wait for the GIL."""

    __slots__ = ("gil", "cores", "engine", "thread", "native")

    def __init__(self, gil: Gil, native_on_loop: bool):
        self.gil = gil
        self.cores = gil.cores
        self.engine = gil.engine
        self.thread = PyThread()
        self.native = native_on_loop

    def compute(self, thread: Thread, task: int, work: int, done) -> None:
        self.thread.lane = thread.lane  # the loop's name on the timeline (--trace)
        engine = self.engine
        pc = engine.pc[task]  # a native phase the loop runs itself has just been read
        if self.native and pc and engine.kinds[task][pc - 1] == NATIVE:
            self.gil.call(self.thread, task, NATIVE, work, done)
        else:
            self.gil.run(self.thread, task, work, done)

    def release(self, _thread: Thread) -> None:
        self.cores.release(self.thread)
        self.gil.release(self.thread)
