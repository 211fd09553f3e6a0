"""CPython threads under the GIL, after CPython 3.11's ``Python/ceval_gil.h`` (``take_gil``,
``drop_gil``, ``create_gil``; the file is ``ceval_gil.c`` from 3.12 on, with the same
mechanism in 3.11-3.13: docs/runtime-notes/gil.md), ``Include/internal/pycore_gil.h`` and
``Python/condvar.h``.

``Gil`` follows the two functions step by step (the methods named after them):

- ``take_gil``: a thread that finds the GIL unlocked takes it at once (``goto _ready``).
  Otherwise it loops while the GIL is locked: it saves ``switch_number`` and sleeps in
  ``COND_TIMED_WAIT(gil->cond, ..., interval)`` (a ``TimedWait``); if that wait timed out, the
  GIL is still locked and ``switch_number`` did not change meanwhile, it sets
  ``gil_drop_request``; then it tests ``locked`` again. At ``_ready`` it locks the GIL, and if
  it is not ``last_holder`` it becomes it and increments ``switch_number``; with
  ``FORCE_SWITCHING`` (always defined) it signals ``switch_cond``; it resets the drop request.
- ``drop_gil``: unlock, ``COND_SIGNAL(gil->cond)`` (one waiter wakes); then, FORCE_SWITCHING,
  if a drop was requested and ``last_holder`` is still the dropping thread, reset the request
  and ``COND_WAIT(switch_cond)`` until another thread has taken the GIL.
- The holder sees the request at its next eval-breaker check (``RESUME``, ``JUMP_BACKWARD``,
  ``CALL``: at once, at this model's resolution) and calls ``drop_gil`` then ``take_gil``
  (``ceval.c: eval_frame_handle_pending``).

Where the machine (``sim/machine.py``, ``engine.os``) adds time, each marked ``OS:`` below:

- timer lateness: a ``COND_TIMED_WAIT`` that ends by its timeout returns ``timer_late()``
  after its deadline (``_cond_timed_wait``; ``condvar.h``: ``pthread_cond_timedwait`` to
  now + interval); ``time.sleep`` (``sleep`` phases: 3.11's ``pysleep`` sleeps in
  ``clock_nanosleep`` to a deadline fixed before it drops the GIL) returns that late too.
- wake latency: a thread woken by another runs ``wake(parked)`` after the wake-up, by how
  long it has been parked (since its current wait began, the call's length): the waiter that
  ``drop_gil`` signals (``_signal``), the dropper waiting on ``switch_cond`` that the new
  holder's ``take_gil`` signals (``_ready``), a thread blocked in ``block`` that the
  return wakes (``_call``) and a pool worker that a spawn's ``submit`` wakes in
  ``work_queue.get`` (``GilThreads.spawn``). Meanwhile the GIL is free: a thread that
  calls ``take_gil`` first takes it, and the signalled waiter then finds it held and
  starts a new full-interval wait (its saved ``switch_number`` the new one), as in
  ``ceval_gil.h``.
- signal cost: waking a parked thread costs the waker ``signal(parked)`` of CPU, charged
  where the waker goes on computing, as its task's overhead: the new holder that signals
  ``switch_cond`` (``_ready``: before its own work), a holder whose ``drop_gil`` wakes a
  waiter on its way into ``native`` code (``call``) and a spawn's ``submit`` that wakes an
  idle worker (``GilThreads.spawn``). A dropper that waits on ``switch_cond`` or blocks
  next pays nothing here (its own wait covers the cost).
- net wake latency: a thread woken by readiness on its socket runs ``net_wake(parked)``
  after it, by how long it has been parked: one blocked in ``io`` (``_call``: the io's
  length), and the idle thread a request arrives for (``GilThreads.arrive``: a thread per
  connection, blocked in ``recv`` since its last request; the one that blocked last).

With a zero law (profile ``ideal``) the woken thread runs at once, before the thread that
woke it goes on: the exact timelines of docs/runtime-notes/gil.md section 3.

Consequences on the ideal machine: a forced slice is never shorter than ``interval``; with
two or more CPU-bound threads every slice is exactly ``interval`` (the old holder is a fresh
waiter); after a voluntary release (I/O, finishing) the next holder runs up to
``2 * interval`` (the other waiters' waits began before it took the GIL: their next timeout
asks nothing). On a real machine each forced switch adds the new holder's wake latency (the
GIL idle meanwhile) and the next request comes a timer lateness plus the old holder's own
wake-up (from ``switch_cond``) after ``interval``.

Blocking calls (``io``, ``sleep``, ``block``) and ``native`` C code are wrapped in
``Py_BEGIN/END_ALLOW_THREADS`` (``PyEval_SaveThread`` = ``drop_gil``, ``PyEval_RestoreThread``
= ``take_gil``): the GIL is released and must be taken back to continue. That return path is
the convoy effect (bpo-7946): an I/O thread behind a CPU-bound holder waits one interval per
return. ``yield`` (``time.sleep(0)``) drops and retakes the GIL: the waiter that ``drop_gil``
signals gets it only if it runs before the yielding thread calls ``take_gil`` (at once on the
ideal machine; on a real one the yielding thread usually takes it back first).

Model choices (the note's section 2): the waiter that a signal wakes is picked by
``wake_order``: ``fifo`` (the order in which the waiters called ``take_gil``; deterministic,
the textbook round robin) or ``random`` (seeded; what glibc's condvar was measured to do).
A timed wait is on ``gil->cond`` until it returns: a signal that comes after its deadline but
before it returns (within its lateness) ends it as a signal. Waiters sleep off the cores; a
GIL holder that the OS deschedules keeps the GIL and answers a drop request when it runs
again. A thread that drops the GIL to block (``Gil.release``: a
pool worker going idle, an asyncio loop entering ``select``) waits on ``switch_cond`` when a
drop was requested, which only delays its entering that block: the model does not show it.
The tasks run on a ``ThreadPoolExecutor``-like pool (``Lib/concurrent/futures/thread.py``): a
FIFO work queue served by ``threads`` workers; a worker that finishes a task with work queued
takes the next one without releasing the GIL (and may take the item a woken idle worker was
woken for: that one finds the queue empty and blocks again). ``free_threaded`` (PEP 703,
``Py_GIL_DISABLED``: ``take_gil`` returns at once) removes the GIL.
"""

from __future__ import annotations

from collections import deque
from typing import Literal

from pydantic import Field

from ..machine import Delays
from ..phases import BLOCK, CPU, DONE, IO, NATIVE, SLEEP, SPAWN, YIELD
from ..schema import MAX_THREADS, Count, Duration
from .base import Cores, Engine, MessageCost, Model, Thread

DEFAULT_INTERVAL = 5_000_000  # pycore_gil.h: #define DEFAULT_INTERVAL 5000 (microseconds)
US = 1_000  # sys.setswitchinterval keeps whole microseconds; take_gil waits at least 1 us
NO_TASK = -1  # the task of a thread that takes the GIL on its own behalf (Gil.take)


class GilThreadsOptions(MessageCost):
    model: Literal["gil_threads"]
    threads: Count(MAX_THREADS) = Field(  # the pool's workers (ThreadPoolExecutor's default: 32)
        default=32, description="threads in the pool that runs the tasks; more tasks wait "
        "in its queue")
    switch_interval: Duration = Field(  # sys.setswitchinterval (default 0.005 s)
        default=DEFAULT_INTERVAL, description="how long a thread waiting for the GIL waits "
        "before it asks the holder to drop it (sys.setswitchinterval)")
    free_threaded: bool = Field(  # PEP 703 build (3.13t) with the GIL disabled
        default=False, description="no GIL (the free-threaded build): threads compute in "
        "parallel on the cores")
    wake_order: Literal["fifo", "random"] = Field(  # which waiter a signal wakes
        default="fifo", description="which waiter a signal of the GIL's condition wakes: the "
        "longest waiting (fifo) or any (random, as an OS may)")

    def check(self, cfg, path):
        if self.switch_interval <= 0:  # sysmodule.c: "switch interval must be strictly positive"
            raise ValueError(f"{path}.switch_interval: must be positive")


class PyThread(Thread):
    """An OS thread that runs Python code: what it needs to wait for, hold and give back
    the GIL (``since``: when its current ``take_gil`` began; ``wait``: its timed wait on
    ``gil->cond``, None when it is not in one; ``left``: bytecode work left in its current
    burst; ``then``: what it does next, holding the GIL; ``kind``, ``arg``, ``due``: the
    blocking call it makes, and when a sleep is due)."""

    __slots__ = ("since", "wait", "left", "then", "kind", "arg", "due", "owed")

    def __init__(self, lane: str | None = None):
        super().__init__(lane)
        self.owed = 0  # a signal's cost not yet paid (a thread on its own behalf: ``take``)
        self.since = 0
        self.wait: TimedWait | None = None
        self.left = 0
        self.then = None
        self.kind = 0
        self.arg = 0
        self.due = 0


class TimedWait:
    """One ``COND_TIMED_WAIT(gil->cond, gil->mutex, interval, timed_out)`` of a thread in
    ``take_gil``: its deadline and the ``saved_switchnum`` read just before it. It ends by a
    signal (``drop_gil``) or by its timeout; it is live while ``thread.wait`` is it."""

    __slots__ = ("thread", "deadline", "saved_switchnum")

    def __init__(self, thread: PyThread, deadline: int, saved_switchnum: int):
        self.thread = thread
        self.deadline = deadline
        self.saved_switchnum = saved_switchnum


class Gil:
    """One GIL (``struct _gil_runtime_state``, made by ``create_gil``: unlocked, no last
    holder) shared by the ``PyThread`` s of one process. ``holder`` is None when ``locked``
    is 0; ``waiting``: the threads inside ``take_gil``, in the order they called it (those in
    a timed wait, and those woken and not yet running); ``switcher``: the thread blocked in
    ``drop_gil`` on ``switch_cond``, and what it does when that returns."""

    __slots__ = ("engine", "rec", "cores", "interval", "fifo", "holder", "last_holder",
                 "switch_number", "held_since", "drop_request", "waiting", "switcher",
                 "shared", "late", "wake", "net_wake", "signal", "paid", "lane")

    def __init__(self, engine: Engine, cores: Cores, interval: int = DEFAULT_INTERVAL,
                 fifo: bool = True):
        self.engine = engine
        self.rec = engine.rec
        self.cores = cores
        self.interval = max(interval // US, 1) * US  # take_gil: interval = Py_MAX(1, ...) us
        self.fifo = fifo
        self.holder: PyThread | None = None  # gil->locked (and who holds it)
        self.last_holder: PyThread | None = None  # gil->last_holder
        self.switch_number = 0  # gil->switch_number
        self.held_since = 0
        self.drop_request = False  # gil_drop_request
        self.waiting: deque[PyThread] = deque()
        self.switcher: tuple[PyThread, object] | None = None
        self.shared = not isinstance(cores, OneCore)  # a thread that stops frees a core
        self.late = engine.os.timer_late  # OS: a timed wait ends this late
        self.wake = engine.os.wake  # OS: a woken thread runs this late
        self.net_wake = engine.os.net_wake  # OS: a thread woken by its socket, this late
        self.signal = engine.os.signal  # OS: what waking a parked thread costs the waker
        self.paid = 0  # what the last drop_gil's signal cost the thread that dropped
        self.lane = "GIL"  # where its holds are recorded (Recorder.occupy)

    # --- what threads do --------------------------------------------------------------------

    def run(self, th: PyThread, task: int, work: int, then) -> None:
        """Run ``work`` ns of bytecode for ``task`` on ``th``, taking the GIL first if needed
        (``take_gil``), then call ``then(th)`` with the GIL still held."""
        th.task, th.left, th.then = task, work, then
        if self.holder is th:
            if self.drop_request:  # the eval breaker is checked before the next bytecode
                self._eval_breaker(th)
            else:
                self.cores.compute(th, task, work, then)
        else:
            self.take_gil(th)

    def release(self, th: PyThread) -> None:
        """``drop_gil`` by a thread that blocks or leaves Python (and does nothing more
        here). The caller releases the thread's core first if it stops running."""
        if self.holder is th:
            self.drop_gil(th, None)

    def yield_(self, th: PyThread, then) -> bool:
        """``time.sleep(0)``: ``drop_gil``, a zero sleep, ``take_gil``. If another thread
        took the GIL meanwhile, ``then(th)`` comes when ``th`` has it back (True); else
        ``th`` goes on holding it (False)."""
        if self.holder is not th or not self.waiting:
            return False  # (nobody to signal: the GIL is dropped and taken back at once)
        task, now = th.task, self.engine.now
        th.left, th.then = 0, then
        self.rec.ready(task, now, False)
        if self.shared:
            self.cores.release(th)
        if not self.drop_gil(th, self.take_gil):
            return True  # FORCE_SWITCHING: it takes the GIL once woken on switch_cond
        if self.holder is None and not self.shared:  # free: take_gil goes to _ready
            self._ready(th, False)
            self.rec.running(task, now)
            return False
        self.take_gil(th)
        return True

    def take(self, th: PyThread, then) -> None:
        """``take_gil`` by a thread on its own behalf, for no task (an asyncio loop whose
        ``select`` returns: ``Py_END_ALLOW_THREADS`` after ``epoll_wait``): ``then(th)``
        once it holds the GIL. No task waits for it or is charged a hand-off; the thread
        takes no core here (its next burst does)."""
        th.task, th.left, th.then = NO_TASK, 0, then
        if self.holder is th:
            then(th)
        else:
            self.take_gil(th)

    def call(self, th: PyThread, task: int, kind: int, arg: int, then) -> None:
        """A call inside ``Py_BEGIN/END_ALLOW_THREADS``: ``native`` computes on a core, the
        others block off-core; the GIL is released first (``drop_gil``; by a holder) and
        taken back on return (``take_gil``), then ``then(th)``."""
        now = self.engine.now
        th.task, th.then, th.kind, th.arg = task, then, kind, arg
        th.due = now + arg  # pysleep: the deadline is fixed before drop_gil
        if kind != NATIVE and self.shared:
            self.cores.release(th)  # it will block
        if self.holder is not th:
            self._call(th)
        elif not self.drop_request and self.signal.zero:  # drop_gil returns at once: the
            self._call(th)  # call, then the drop
            self.drop_gil(th, None)
        elif not self.drop_gil(th, self._call):  # FORCE_SWITCHING may hold it back
            self.rec.ready(task, now, False)  # (the call begins once the GIL changed hands)
        else:  # OS: drop_gil's signal to a waiter costs the thread its time first
            self._call(th, self.paid)

    # --- ceval_gil.h ------------------------------------------------------------------------

    def take_gil(self, th: PyThread) -> None:
        """``take_gil(tstate)``: take the GIL if it is unlocked, else sleep in timed waits
        (off the cores) until it is; ``th`` then goes on with its work left (``_resume``)."""
        if self.holder is None:  # goto _ready
            self._ready(th, False)
            self._resume(th)
            return
        now = self.engine.now
        th.since = now
        self.waiting.append(th)
        if th.task >= 0 and self.rec.ready_since[th.task] < 0:  # (not waiting since its
            self.rec.ready(th.task, now, False)  # arrival; and not a thread on its own behalf)
        if self.shared:
            self.cores.release(th)
        self._cond_timed_wait(th)

    def _cond_timed_wait(self, th: PyThread) -> None:
        """One pass of take_gil's loop: ``saved_switchnum = switch_number`` and
        ``COND_TIMED_WAIT(gil->cond, gil->mutex, interval)``."""
        now = self.engine.now
        th.parked_at = now
        th.wait = wait = TimedWait(th, now + self.interval, self.switch_number)
        # OS: a wait that ends by its timeout returns timer lateness after its deadline
        # (drawn now: the law is the same whenever it is drawn)
        self.engine.after(self.interval + self.late(self.interval), self._timed_out, wait)

    def _timed_out(self, wait: TimedWait) -> None:
        """The wait's timeout: ``timed_out = 1``. If the GIL is locked and no switch came
        since the wait began, ``SET_GIL_DROP_REQUEST``; then the loop tests ``locked``."""
        th = wait.thread
        if th.wait is not wait:
            return  # the wait ended by a signal before its timeout
        th.wait = None
        if self.holder is None:  # unlocked: the loop ends, goto _ready
            self._ready(th, True)
            self._resume(th)
            return
        request = self.switch_number == wait.saved_switchnum
        self._cond_timed_wait(th)  # locked: the next pass (the holder sees the request after)
        if request:
            self._request_drop()

    def _signalled(self, th: PyThread) -> None:
        """The signalled waiter runs: its ``COND_TIMED_WAIT`` returned with ``timed_out =
        0``, and the loop tests ``locked``: free, it takes the GIL; held (a thread that
        called ``take_gil`` first took it), a new full-interval wait."""
        if self.holder is None:
            self._ready(th, True)
            self._resume(th)
        else:
            self._cond_timed_wait(th)

    def _ready(self, th: PyThread, waited: bool) -> None:
        """``_ready:`` ``locked = 1``; a new holder becomes ``last_holder`` and increments
        ``switch_number``; ``COND_SIGNAL(switch_cond)`` (FORCE_SWITCHING) wakes a thread
        waiting in ``drop_gil``; the drop request is reset. ``waited``: ``th`` has been
        in the loop (it leaves ``waiting``)."""
        now = self.engine.now
        if waited:
            waiting = self.waiting
            if waiting[0] is th:
                waiting.popleft()
            else:
                waiting.remove(th)
            if th.lane and self.rec.tracing and th.task >= 0:
                self.rec.span(th.lane, th.task, "gil_wait", th.since, now)
        self.holder = th
        self.held_since = now
        if th is not self.last_holder:
            if self.last_holder is not None and th.task >= 0:
                self.rec.handoffs[th.task] += 1
            self.last_holder = th
            self.switch_number += 1
        if self.switcher is not None:
            switcher, self.switcher = self.switcher, None
            self._owe(th, self.signal(now - switcher[0].parked_at))
            if switcher[1] is None:
                pass  # (it only blocks next: its waking up changes nothing here)
            elif self.wake.zero:
                self._switched(switcher)
            else:  # OS: the thread woken on switch_cond runs wake latency later
                self.engine.after(self.wake(now - switcher[0].parked_at), self._switched,
                                  switcher)
        self.drop_request = False

    def _owe(self, th: PyThread, cost: int) -> None:
        """OS: ``th``, the new holder, paid ``cost`` signalling ``switch_cond`` before its
        own work: its task's overhead (a thread on its own behalf pays it with its next
        work, ``GilLoopThread.compute``)."""
        if not cost:
            return
        if th.task < 0:
            th.owed += cost
        else:
            th.left += cost
            self.rec.charge(th.task, cost)

    def drop_gil(self, th: PyThread, then) -> bool:
        """``drop_gil(tstate)``: unlock, signal one waiter. FORCE_SWITCHING: if a drop was
        requested and no thread has taken the GIL since, reset the request and wait on
        ``switch_cond`` (off the cores): False, and ``then(th)`` comes when ``th`` is woken.
        True: ``drop_gil`` has returned."""
        self.holder = None  # gil->locked = 0
        self.rec.occupy(self.lane, self.held_since, self.engine.now)
        self.paid = self._signal()  # COND_SIGNAL(gil->cond)
        if self.drop_request and self.last_holder is th:
            self.drop_request = False  # RESET_GIL_DROP_REQUEST
            if self.shared:
                self.cores.release(th)
            self.switcher = (th, then)  # COND_WAIT(gil->switch_cond): it waits for the GIL
            th.since = th.parked_at = self.engine.now  # to change hands (gil_wait)
            return False
        return True

    def _signal(self) -> int:
        """``COND_SIGNAL(gil->cond)``: one thread in a timed wait (``wake_order`` picks it)
        is woken; its wait ends (its timeout will not count). What it cost the signaller
        (OS: ``signal_cost``); nobody waits: nothing, free."""
        waiting = self.waiting
        if self.fifo:
            for th in waiting:
                if th.wait is not None:
                    break
            else:
                return 0
        else:
            asleep = [w for w in waiting if w.wait is not None]
            if not asleep:
                return 0
            th = asleep[0] if len(asleep) == 1 else \
                asleep[int(self.engine.rng.integers(len(asleep)))]
        th.wait = None
        parked = self.engine.now - th.parked_at
        if self.wake.zero:
            self._signalled(th)
        else:  # OS: the signalled waiter runs wake latency later; the GIL is free meanwhile
            self.engine.after(self.wake(parked), self._signalled, th)
        return self.signal(parked)

    def _switched(self, switcher: tuple[PyThread, object]) -> None:
        """The thread waiting on ``switch_cond`` runs: ``drop_gil`` returns. The trace
        shows its wait as ``gil_wait`` (it goes on waiting in ``take_gil``, if it asks)."""
        th, then = switcher
        if th.lane and self.rec.tracing and th.task >= 0:
            self.rec.span(th.lane, th.task, "gil_wait", th.since, self.engine.now)
        if then is not None:
            then(th)

    def _request_drop(self) -> None:
        """``SET_GIL_DROP_REQUEST``: the holder sees it at its next eval-breaker check."""
        if self.drop_request:
            return
        self.drop_request = True
        th = self.holder
        if th.pending:  # running bytecode: it drops at its next eval-breaker check, now
            th.left = self.cores.interrupt(th)
            if th.left:
                self._eval_breaker(th)
            else:  # its burst ends at this very instant: it checks at its next bytecode
                th.then(th)
        elif th.queued:  # descheduled by the OS, GIL in hand: it answers when it runs again
            th.left, th.remaining, th.done = th.remaining, 0, self._eval_breaker
        # (otherwise it is between bursts and answers at its next ``run``)

    def _eval_breaker(self, th: PyThread) -> None:
        """``eval_frame_handle_pending``: a drop was requested: ``drop_gil``, then
        ``take_gil`` (once ``switch_cond`` lets it go: the GIL has changed hands)."""
        self.rec.preempt(th.task, self.engine.now)
        if self.shared:
            self.cores.release(th)
        if self.drop_gil(th, self.take_gil):
            self.take_gil(th)

    # --- the calls around ------------------------------------------------------------------

    def _call(self, th: PyThread, owed: int = 0) -> None:
        """The call itself, after ``drop_gil`` returned: native code computes on a core
        (after ``owed``, what the drop's signal cost the thread: the task's overhead); a
        blocking call blocks, and its thread runs again when it returns (a signal's cost
        before it is not modelled: its thread is off the CPU soon after)."""
        task, kind, arg = th.task, th.kind, th.arg
        if kind == NATIVE:
            if owed:
                self.rec.charge(task, owed)
            self.cores.compute(th, task, arg + owed, self._returned)
            return
        now = self.engine.now
        self.rec.running(task, now)
        if kind == SLEEP:  # OS: clock_nanosleep to the deadline ends timer lateness late
            if th.due > now:
                back = th.due + self.late(th.arg)
            else:  # (the deadline passed in drop_gil's switch_cond wait: it returns at once)
                back = th.due = now
        else:  # OS: the completion wakes the blocked thread, which runs wake latency
            th.due = now + arg  # later (net wake latency, for the time parked: its socket)
            back = th.due + (self.net_wake if kind == IO else self.wake)(arg)
        if th.lane and self.rec.tracing:
            self.rec.span(th.lane, task, "blocked" if kind == BLOCK else "io", now, back)
        self.engine.after(back - now, self._back, th)

    def _back(self, th: PyThread) -> None:
        """The blocked thread runs again (it could from ``due``): ``PyEval_RestoreThread``."""
        self.rec.ready(th.task, th.due, True)
        self.run(th, th.task, 0, th.then)

    def _returned(self, th: PyThread) -> None:
        """Native code returned: ``PyEval_RestoreThread``, continue once the GIL is held."""
        self.rec.ready(th.task, self.engine.now, True)
        self.run(th, th.task, 0, th.then)

    def _resume(self, th: PyThread) -> None:
        """``th`` has just taken the GIL: it goes on with its work left, then ``then`` (a
        thread on its own behalf, ``take``, at once)."""
        if th.task < 0:
            th.then(th)
        elif th.left or self.shared:
            self.cores.compute(th, th.task, th.left, th.then)
        else:  # OneCore.compute of no work, inlined (every hand-off at a task's end)
            if self.rec.ready_since[th.task] >= 0:
                self.rec.running(th.task, self.engine.now)
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

    __slots__ = ("engine", "rec", "current")

    def __init__(self, engine: Engine):
        self.engine, self.rec = engine, engine.rec
        self.current: Thread | None = None  # the thread whose burst runs (for ``cut``)

    def compute(self, thread: Thread, task: int, work: int, done) -> None:
        thread.task = task
        now = self.engine.now
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
            self.rec.busy(thread.task, thread.seg_start, self.engine.now, thread.lane)
            thread.done(thread)

    def cut(self, now: int) -> None:
        if self.current is not None:
            self.interrupt(self.current)

    def interrupt(self, thread: Thread) -> int:
        if thread.pending:
            now = self.engine.now
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
        self.gil = gil(engine, self.cores, options.switch_interval, options.wake_order == "fifo")
        self.wake, self.net_wake = engine.os.wake, engine.os.net_wake
        self.signal = engine.os.signal
        self.owed = 0  # what a spawn's submit cost the spawning thread (spawn, _walk)
        self.idle = [PyThread(f"thread {i}") for i in reversed(range(options.threads))]
        self.queue: deque[int] = deque()  # ThreadPoolExecutor._work_queue

    def arrive(self, task: int) -> None:
        """A request (an open arrival, a closed client's): it comes over a socket, and an
        idle thread blocked reading it (a thread per connection) is woken by the readiness:
        it runs ``net_wake_latency`` later (for the time it has been parked)."""
        self._submit(task, self.net_wake)

    def spawn(self, parent: int, child: int) -> None:
        """``submit`` from a running thread: the worker blocked in ``work_queue.get`` is
        woken by its condition (``wake_latency``), which costs the spawning thread
        ``signal_cost`` (OS) before its next phase (``_walk``)."""
        if self.idle:
            self.owed = self.signal(self.engine.now - self.idle[-1].parked_at)
        self._submit(child, self.wake)

    def _submit(self, task: int, wake: Delays) -> None:
        """The work item goes to the queue, and the idle worker that blocked last is woken
        (through its socket, or by the queue's condition): it runs ``wake`` for the time
        it has been parked later, takes the first item and then the GIL."""
        if not self.idle:
            self.queue.append(task)
        elif wake.zero:
            self.gil.run(self.idle.pop(), task, 0, self._walk)
        else:  # OS: the woken worker runs its wake latency later
            th = self.idle.pop()
            self.queue.append(task)
            self.engine.after(wake(self.engine.now - th.parked_at), self._get, th)

    def _get(self, th: PyThread) -> None:
        """The woken worker's ``work_queue.get`` returns the first item, unless a worker
        that finished a task took it first: then it blocks again."""
        if self.queue:
            self.gil.run(th, self.queue.popleft(), 0, self._walk)
        else:
            th.parked_at = self.engine.now
            self.idle.append(th)

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
            elif kind == SPAWN and self.owed:  # OS: waking the pool's worker cost this
                owed, self.owed = self.owed, 0  # thread its time (the task's overhead)
                engine.rec.charge(task, owed)
                gil.run(th, task, owed, self._walk)
                return
            elif kind == DONE:  # (the thread holds the GIL and a core: the task is running)
                engine.finish(task)
                if not self.queue:  # the worker blocks in work_queue.get: GIL released
                    th.parked_at = engine.now
                    self.idle.append(th)
                    if gil.shared:
                        self.cores.release(th)
                    gil.release(th)
                    return
                task = th.task = self.queue.popleft()  # got at once: the GIL is kept
                engine.rec.running(task, engine.now)
            elif kind in (IO, SLEEP, BLOCK, NATIVE) and arg:
                gil.call(th, task, kind, arg, self._walk)
                return


class GilLoopThread:
    """An asyncio loop thread whose executor runs Python code (``offload: [cpu]``), as the
    loop sees it: it stands in for the loop's ``Cores``. Its Python work (step overheads)
    needs the GIL, ``native`` code releases it and takes it back, and the loop keeps the GIL
    from one step to the next until it sleeps in ``select`` or blocks (``release``); back
    from ``select`` it takes the GIL for itself before anything else (``take``)."""

    __slots__ = ("gil", "cores", "engine", "thread")

    def __init__(self, gil: Gil):
        self.gil = gil
        self.cores = gil.cores
        self.engine = gil.engine
        self.thread = PyThread()

    def compute(self, thread: Thread, task: int, work: int, done) -> None:
        """Python work on the loop (a step's overhead, a ``cpu`` phase): with the GIL, after
        what the loop owes for signalling ``switch_cond`` when it took the GIL for itself
        (``Gil._owe``: this task's overhead)."""
        mine = self.thread
        mine.lane = thread.lane  # the loop's name on the timeline (--trace)
        if mine.owed:
            owed, mine.owed = mine.owed, 0
            self.engine.rec.charge(task, owed)
            work += owed
        self.gil.run(mine, task, work, done)

    def native(self, thread: Thread, task: int, work: int, done) -> None:
        """A ``native`` phase on the loop: the GIL released around it, taken back after."""
        self.thread.lane = thread.lane
        self.gil.call(self.thread, task, NATIVE, work, done)

    def release(self, _thread: Thread) -> None:
        self.cores.release(self.thread)
        self.gil.release(self.thread)

    def take(self, thread: Thread, then) -> None:
        """``select`` returns: ``epoll_wait`` ran with the GIL released, so the loop's thread
        takes it back for itself (``Gil.take``), then ``then()``."""
        self.thread.lane = thread.lane
        self.gil.take(self.thread, lambda _th: then())
