"""Go's goroutine scheduler, after ``src/runtime/proc.go`` and ``runtime2.go``.

G, M, P: tasks are Gs; ``gomaxprocs`` Ps each hold a local run queue (``runq``, 256) and a
one-slot ``runnext``; Ms are OS threads on the machine's ``Cores`` (the OS time-slices them
when Ms in syscalls or cgo calls outnumber the cores). An M with a P loops ``schedule ->
findRunnable``: its P's expired timers, one global pick when ``schedtick % 61 == 0``,
``runqget`` (``runnext`` first, inheriting the time slice), ``globrunqgetbatch``, a
non-blocking ``netpoll``, then ``stealWork``; finding nothing, it idles the P.

Phases: ``cpu`` runs on a P (a loop without calls: only async preemption stops it); ``io``
parks on the netpoller; ``sleep`` parks on a timer in the current P's heap (fired by
``findRunnable``, a thief's last steal pass or the M sleeping in netpoll, never by sysmon);
``block`` is a syscall and ``native`` a cgo call (``entersyscall``: the M keeps its P until
``retake`` hands it off); ``yield`` is ``Gosched`` (tail of the global queue); ``spawn`` is
``newproc`` (``runnext``). Arrivals are connections readied by the netpoller.

sysmon (``sysmon``, ``retake``, ``preemptone``) comes in two forms with the same results
(tests/test_go.py compares them on random workloads). ``Sysmon`` (``sysmon: plain``) is
proc.go's loop as written, an event per round: ``usleep(delay)`` (20 us, doubling after 50
idle rounds up to 10 ms), a deep sleep while every P is idle, netpoll if stale, ``retake``.
The default, ``planned``, is its fast path, a lazy planner in ``GoModel``: the rounds fall on
a grid that is computed, not simulated (``SysmonClock``); an event is scheduled only for a
round that acts (preempts, retakes a P, injects polled Gs), and what a quiet round does
(note a new ``schedtick``, a syscall's sighting, ``gp.preempt``, a fruitless poll's
``lastpoll``) is worked out when it matters. Only sysmon's returns from a timed-out deep
sleep keep its ``idle``. Either way a round comes after everything else that happens at its
instant (``Engine.last_at``, S14): it sees a syscall that ends then, a G that starts then.

The machine (``engine.os``) adds what the OS does: every timed wait that ends by its timeout
is late by a draw of ``machine.timer_lateness``, the law for the wait's length (sysmon's
``usleep(delay)`` and deep ``notetsleep``, a draw per sleep, in order, from a stream of
sysmon's own, so that the planner may draw ahead: ``DrawnSysmonClock``; the idle M's
``epoll_wait`` for a timer, its timeout in whole ``netpoll_resolution`` units); a
thread woken by another runs after a draw of ``machine.wake_latency`` (``startm``'s
``notewakeup`` of a parked M, a blocking syscall's return,
``notewakeup(&sched.sysmonnote)`` of a deep-sleeping sysmon), and the M blocked in
``epoll_wait`` runs a draw of ``machine.net_wake_latency`` after readiness on a socket
(an ``io`` completion, a connection) wakes it; readiness that finds every P busy waits
for a poll and pays none. Starting an M (``wakep``) from ``newproc`` or from a spinning M
that found work (``resetspinning``) costs the waking M a draw of ``machine.signal_cost``
(the futex wake of ``notewakeup``), before its G goes on: the G's overhead. ``preemptM``'s signal
(signal_unix.go: ``tgkill`` SIGURG, one pending per M) to an M that waits for a core stays
pending and is taken when the OS next runs the M (``GoCores``), as the kernel delivers it.

When no M can wait for a core ("direct mode", a fast path: ``direct_bursts: false`` runs
every burst through the shared ``Cores`` instead, with the same results), a burst's end is
known when it starts: a round that would preempt its G or poll while it surely runs, but
falls after it ends, is not queued until a later burst reaches it; and a P whose next burst
ends before SimPy's next event handles that end at once, running ahead (its event id
reserved, so ties resolve as if it had been queued).

Simplifications (docs/runtime-notes/go.md S1-S14): scheduler code takes no time (but
``sysmon_round_cost``, when set, has each sysmon round take that much from the first busy
P's burst: the OS ran sysmon on that M's core; and a deep-sleeping sysmon woken by an M that
goes on running waits until that M stops or the OS's time slice ends); no GC, STW,
trace, locked threads or ``-race`` shuffling. Whenever a P is idle an M is taken to be
blocked in ``netpoll`` (S4): readiness wakes it (the P stays idle until it runs), and it
sleeps until the earliest timer on any P, in epoll_wait's whole units of
``netpoll_resolution`` (netpoll_epoll.go:
``waitms`` = the delay in ms, truncated, at least 1): a timer due in 1.5 ms wakes the M
after 1 ms, finds nothing, and the next wait is another 1 ms, so it fires at 2 ms. The M
re-enters netpoll from the moment it is woken or broken (``netpollBreak`` when a timer
earlier than the one it waits for is added). With every P busy, readiness waits for a
``findRunnable`` poll or sysmon's (S12). A poll returns the last ready G first (netpoll's
``gList`` is a stack; fds ready at one instant keep the workload's order). A G readied by the
netpoller reads its socket on
return: a zero-length syscall whose ``entersyscall`` wakes a deep-sleeping sysmon (as real
servers' read/accept calls do). An M broken out of netpoll re-enters it at once (no wake
latency for ``netpollBreak``); there is no ``needspinning`` hand-shake, no 3 us back-off
before stealing ``runnext``, and no GOMAXPROCS update or forced GC in sysmon. With
``async_preemption: false``,
``preemptone`` only sets ``gp.preempt``, acted on when the G starts its next ``cpu`` phase
(the next function prologue), never inside one. A G that leaves a syscall onto an idle P
continues without ``execute``, so sysmon may find that P's slice long over and preempt it at
once: the runtime's own bookkeeping, kept.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left
from collections import deque
from functools import partial
from itertools import accumulate, pairwise, repeat
from math import gcd
from operator import add
from typing import Literal

from pydantic import Field

from ..machine import Delays
from ..phases import BLOCK, CPU, IO, NATIVE, SLEEP, SPAWN, YIELD
from ..schema import MAX_CORES, MAX_QUEUE, MAX_TICKS, Count, Duration
from .base import FOREVER, Cores, Engine, MessageCost, Model, Thread, given_or

SYSCALL_GRACE = 10_000_000  # proc.go:retake, pd.syscallwhen+10*1000*1000 > now
NETPOLL_STALE = 10_000_000  # proc.go:sysmon, lastpoll+10*1000*1000 < now
DEEP_SLEEP_MAX = 60_000_000_000  # proc.go:sysmon, forcegcperiod/2 (forcegcperiod = 2 min)

RUN, SYSCALL, IDLE = 0, 1, 2  # a P's state; SYSCALL: its G is in a syscall, its M keeps it


def last_first(ready: list[tuple[int, int]]) -> list[int]:
    """The Gs of ``(ready time, g)`` pairs (in readiness order) as netpoll returns them: the
    last ready first. Fds ready at the same instant have no order in reality; the model keeps
    theirs (the workload's), so that tasks arriving together start in the order written."""
    out: list[int] = []
    end = len(ready)
    while end:
        start, t = end - 1, ready[end - 1][0]
        while start and ready[start - 1][0] == t:
            start -= 1
        out.extend(g for _, g in ready[start:end])
        end = start
    return out


class GoOptions(MessageCost):
    model: Literal["go"]
    gomaxprocs: Count(MAX_CORES) | None = Field(  # _MaxGomaxprocs = 1 << 10
        default=None, description="None: machine.cores (the runtime's default, ncpu)")
    time_slice: Duration = Field(  # proc.go: forcePreemptNS = 10 * 1000 * 1000
        default=10_000_000, description="how long a goroutine may run before sysmon's "
        "retake preempts it")
    async_preemption: bool = Field(  # preempt.go (Go 1.14+); false: GODEBUG=asyncpreemptoff=1
        default=True, description="preempt by signal anywhere; false: only at a function "
        "call's stack check, so a tight loop is never preempted")
    local_queue: Count(MAX_QUEUE) = Field(  # runtime2.go: p.runq [256]guintptr
        default=256, description="each P's local run queue; a full one sends half to the "
        "global queue")
    global_queue_interval: Count(MAX_TICKS) = Field(  # proc.go:findRunnable, schedtick%61
        default=61, description="every this many schedules a P looks at the global queue "
        "first")
    steal_tries: Count(1000) = Field(  # proc.go:stealWork, const stealTries = 4
        default=4, description="passes over the other Ps a spinning M makes to steal work")
    sysmon_min_delay: Duration = Field(  # proc.go:sysmon, delay = 20 (us)
        default=20_000, description="sysmon's sleep between rounds while it finds work to do")
    sysmon_max_delay: Duration = Field(  # proc.go:sysmon, delay > 10*1000 (us)
        default=10_000_000, description="the longest sleep sysmon's doubling reaches")
    sysmon_idle_rounds: Count(10_000, low=0) = Field(  # sysmon: idle > 50
        default=50, description="rounds without a retake after which sysmon's sleep doubles")
    # sysmon's thread is the OS's to place: on a machine where its usleep's timer fires on
    # the core of the M running a G (measured on go_syscall, GOMAXPROCS=1 on 2 vCPUs: the
    # timer interrupt, two context switches and the round cost that burst about 26 us a
    # round), every round takes that much from the burst; and a deep-sleeping sysmon woken
    # by an M that goes on running (a read on return from the netpoller) waits for that M's
    # core (measured on go_sockets: it ran when the M blocked, p50 234 us later, or at the
    # OS's time slice's end behind a CPU-bound G). 0: a core of its own (free)
    sysmon_round_cost: Duration | None = Field(
        default=None, description="CPU time each sysmon round takes from the G running on "
        "the first busy P (the core sysmon shares; woken from its deep sleep by a running "
        "M, it waits for that M to stop or the OS's time slice to end); 0: sysmon has a "
        "core of its own and costs nothing. None is the machine's go_sysmon_round_cost "
        "(linux: 26 us, ideal: 0). Not 0 runs the plain sysmon (the planner does not take "
        "it)")
    # netpoll_epoll.go:netpoll: epoll_wait waits whole ms, delay truncated, at least 1 ms
    # (Go 1.19 to current); 0: an idle P's M wakes exactly at its timer
    netpoll_resolution: Duration = Field(
        default=1_000_000, description="epoll_wait's unit for an idle M waiting for a timer "
        "(whole milliseconds, truncated, at least one)")
    # proc.go:findRunnable reads the clock (checkTimers) some time after the G set its
    # timer and parked: with the truncation above a sleep of exactly k ms waits k - 1 ms,
    # then 1 ms more
    netpoll_entry: Duration | None = Field(
        default=None, description="how long after a G sets its timer (time.Sleep) and parks "
        "its idle M reads the clock for netpoll's timeout and enters epoll_wait: None is "
        "the machine's go_netpoll_entry (linux: 750 ns, ideal: 0)")
    # How sysmon is simulated (same results): plain (``Sysmon``, proc.go's loop of usleep
    # and rounds, an event per round) or planned (the fast path: only acting rounds are
    # events, the quiet ones worked out when they matter)
    sysmon: Literal["planned", "plain"] = Field(
        default="planned", description="how sysmon is simulated, with the same results: "
        "plain (proc.go's loop, an event per round) or planned (faster)")
    # Fast path (same results): when no M can ever wait for a core (gomaxprocs <= cores, no
    # cgo calls) a burst is one event, not a run through the shared Cores
    direct_bursts: bool = Field(
        default=True, description="the fast path (same results): a burst is one event when "
        "no M can wait for a core; false runs every burst through the shared cores")

    def check(self, cfg, path):
        if self.time_slice <= 0:
            raise ValueError(f"{path}.time_slice: must be positive")
        if self.sysmon_min_delay <= 0:
            raise ValueError(f"{path}.sysmon_min_delay: must be positive")
        if self.sysmon_max_delay < self.sysmon_min_delay:
            raise ValueError(f"{path}.sysmon_max_delay: must be at least sysmon_min_delay")
        if self.netpoll_resolution < 0:
            raise ValueError(f"{path}.netpoll_resolution: must not be negative")

    def procs(self, cores: int) -> int:
        return self.gomaxprocs or cores

    def round_cost(self, machine) -> int:
        """``sysmon_round_cost``, or the machine's ``go_sysmon_round_cost``."""
        return given_or(machine, "go_sysmon_round_cost", self.sysmon_round_cost)

    def entry(self, machine) -> int:
        """``netpoll_entry``, or the machine's ``go_netpoll_entry``."""
        return given_or(machine, "go_netpoll_entry", self.netpoll_entry)


class SysmonClock:
    """When sysmon's rounds fall, as arithmetic (proc.go:sysmon's delay schedule).

    ``if idle == 0 { delay = 20 } else if idle > 50 { delay *= 2 }; if delay > 10*1000 {
    delay = 10 * 1000 }; usleep(delay)``, then a round; ``idle`` counts rounds in a row that
    retook no P. Until a retake or a deep sleep re-anchors it, the rounds after one round
    (at ``f``, with ``idle`` and the ``delay`` slept before it) form a fixed grid.

    This class is the fast path for a machine whose ``usleep`` ends late by a constant
    ``extra`` (0 on the ideal machine): the grid's offsets are cached per (idle, delay)
    and its steady tail is arithmetic. ``DrawnSysmonClock`` is the general case (each
    ``usleep`` late by its own draw); the two give the same rounds for a constant
    lateness (tests/test_go.py).
    """

    __slots__ = ("min", "max", "rounds", "extra", "step", "cache", "f", "idle", "delay",
                 "offs", "last")

    def __init__(self, min_delay: int, max_delay: int, rounds: int, extra: int):
        self.min, self.max, self.rounds, self.extra = min_delay, max_delay, rounds, extra
        self.step = max_delay + extra
        self.cache: dict[tuple[int, int], list[int]] = {}
        self.start(min_delay + extra, 0, min_delay)  # sysmon starts at 0 with idle == 0

    def next_delay(self, idle: int, delay: int) -> int:
        """The delay slept after a round that leaves ``idle`` and ``delay``."""
        if idle == 0:
            return self.min
        if idle > self.rounds:
            delay *= 2
        return delay if delay < self.max else self.max

    def start(self, f: int, idle: int, delay: int) -> None:
        """Anchor the grid: a round at ``f`` with ``idle`` and ``delay`` as they were."""
        self.f, self.idle, self.delay = f, idle, delay
        key = (idle if idle <= self.rounds else self.rounds + 1, delay)
        offs = self.cache.get(key)
        if offs is None:
            offs, i, d = [0], idle, delay
            while not (i > self.rounds and d >= self.max):  # then every sleep is max
                i += 1
                d = self.next_delay(i, d)
                offs.append(offs[-1] + d + self.extra)
            self.cache[key] = offs
        self.offs, self.last = offs, offs[-1]

    def ge(self, x: int) -> int:
        """The first round at or after ``x``."""
        f = self.f
        if x <= f:
            return f
        off = x - f
        if off <= self.last:
            return f + self.offs[bisect_left(self.offs, off)]
        return f + self.last - (off - self.last) // -self.step * self.step

    def state(self, t: int) -> tuple[int, int]:
        """(idle, delay) as they are at the round at ``t``."""
        off = t - self.f
        if off > self.last:
            return self.idle + len(self.offs) - 1 + (off - self.last) // self.step, self.max
        k = bisect_left(self.offs, off)
        return self.idle + k, self.offs[k] - self.offs[k - 1] - self.extra if k else self.delay

    def advance(self, t: int, retook: bool) -> None:
        """The round at ``t`` has run: re-anchor on the next one."""
        idle, d = self.state(t)
        idle = 0 if retook else idle + 1
        d = self.next_delay(idle, d)
        self.start(t + d + self.extra, idle, d)

    def deep_sleep(self, t: int, until: int) -> int:
        """The round at ``t`` found every P idle: ``notetsleep(&sched.sysmonnote, until -
        t)``, which ends by its timeout (late), then the next round. Returns its time."""
        idle, delay = self.state(t)
        w = until + self.extra
        self.start(w, idle, delay)
        return w

    def woken(self, f: int) -> None:
        """``notewakeup(&sched.sysmonnote)`` (a syscall) during a deep sleep (it does not
        end a ``usleep``): the round at ``f`` (the woken thread's start) follows with
        ``idle = 0, delay = 20``."""
        self.start(f, 0, self.min)


class DrawnSysmonClock(SysmonClock):
    """``SysmonClock`` on a machine whose every timed wait ends late by its own draw
    (``engine.os.timer_late``, a law per wait length): the ``j``-th sleep of sysmon's life
    (a ``usleep`` or a deep sleep) is late by the ``j``-th draw of the law for its length.

    Round ``k`` after the anchor at ``f`` falls at ``f + offs[k]``, ``offs[k] = offs[k - 1]
    + steps[k] + late[laws[k]][n + k - 1]``: ``steps[k]`` the ``k``-th ``usleep``'s length
    on the grid of the delays alone (``SysmonClock`` with no overshoot, cached), ``laws[k]``
    its law, ``n`` the index of the sleep that ends the round after ``f``, and ``late`` the
    draws of every law, taken ahead in blocks by sleep index (a re-anchor changes the
    lengths of the sleeps ahead, not their indices, so the draws taken stay valid). The
    rounds are worked out (``offs``) as far as a question reaches."""

    __slots__ = ("take_each", "law_of", "late", "lo", "n", "plans", "steps", "laws",
                 "law_max")
    BLOCK = 1024  # draws taken at a time
    CHUNK = 2  # rounds worked out at first when a question reaches past them (then 2x)

    def __init__(self, min_delay: int, max_delay: int, rounds: int, take_each, law_of):
        self.take_each = take_each  # take_each(k): the next k draws of every law, [law][j]
        self.law_of = law_of  # law_of(length): the law of a sleep of that length
        self.late = take_each(self.BLOCK)  # late[law][j - lo]: the j-th sleep's draw
        self.lo = self.n = 0
        self.plans: dict[tuple[int, int], tuple[list[int], list[int]]] = {}
        self.law_max = law_of(max_delay)
        super().__init__(min_delay, max_delay, rounds, 0)
        self.n = 1
        self.start(min_delay + self._late(0, min_delay), 0, min_delay)  # the first usleep

    def start(self, f: int, idle: int, delay: int) -> None:
        key = (idle if idle <= self.rounds else self.rounds + 1, delay)
        plan = self.plans.get(key)
        if plan is None:  # the sleeps' lengths until all are the longest, and their laws
            SysmonClock.start(self, f, idle, delay)
            grid = self.offs
            steps = [delay, *(b - a for a, b in pairwise(grid))]
            plan = self.plans[key] = (steps, [self.law_of(d) for d in steps])
        self.f, self.idle, self.delay = f, idle, delay
        self.steps, self.laws = plan  # (cached: never changed)
        self.offs, self.last = [0], 0

    def _more(self) -> None:
        for row, new in zip(self.late, self.take_each(self.BLOCK), strict=True):
            row += new

    def _late(self, j: int, length: int) -> int:
        """The draw of the ``j``-th sleep, of ``length`` ns."""
        i = j - self.lo
        while len(self.late[0]) <= i:
            self._more()
        return self.late[self.law_of(length)][i]

    def _extend(self, off: int) -> None:
        """Work out the rounds until one falls at or after ``f + off`` (2, 4, 8 ... at a
        time: most questions reach a few rounds past a new anchor, and as sysmon's draws
        are a stream of its own, how far they are taken ahead changes no result)."""
        offs, late, steps, laws = self.offs, self.late, self.steps, self.laws
        i = self.n - self.lo - 1  # round k's sleep is the (i + k)-th draw held
        glen = len(steps)
        chunk, last = self.CHUNK, self.last
        while last < off:
            k0 = len(offs)  # the rounds k0 .. k1 - 1: all on the grid or all past its end
            k1 = k0 + chunk if k0 >= glen else min(k0 + chunk, glen)
            while len(late[0]) < i + k1:
                self._more()
            if k0 >= glen:  # past the grid's end every sleep is the longest
                lengths = repeat(self.max, k1 - k0)
                lates = late[self.law_max][i + k0:i + k1]
            else:
                lengths = steps[k0:k1]
                if laws[k0] == laws[k1 - 1]:  # (lengths never shrink along a grid, nor
                    lates = late[laws[k0]][i + k0:i + k1]  # their laws: one law here)
                else:
                    lates = [late[law][j] for j, law in enumerate(laws[k0:k1], i + k0)]
            rounds = accumulate(map(add, lengths, lates), initial=last)
            next(rounds)
            offs.extend(rounds)
            last = offs[-1]
            chunk *= 2
        self.last = last

    def ge(self, x: int) -> int:
        f = self.f
        if x <= f:
            return f
        if x - f > self.last:
            self._extend(x - f)
        return f + self.offs[bisect_left(self.offs, x - f)]

    def state(self, t: int) -> tuple[int, int]:
        k = bisect_left(self.offs, t - self.f)
        steps = self.steps
        return self.idle + k, steps[k] if k < len(steps) else self.max

    def _reanchor(self, t: int, until: int, idle: int, delay: int) -> int:
        """The round at ``t`` sleeps until ``until``, late by its sleep's draw of the law for
        ``until - t``; the next round anchors the grid. Returns its time."""
        j = self.n + bisect_left(self.offs, t - self.f)
        f = until + self._late(j, until - t)
        self.n = j + 1
        if self.n - self.lo > 4096:  # forget the draws of sleeps long past
            for row in self.late:
                del row[:self.n - self.lo]
            self.lo = self.n
        self.start(f, idle, delay)
        return f

    def advance(self, t: int, retook: bool) -> None:
        idle, d = self.state(t)
        idle = 0 if retook else idle + 1
        d = self.next_delay(idle, d)
        self._reanchor(t, t + d, idle, d)

    def deep_sleep(self, t: int, until: int) -> int:
        idle, delay = self.state(t)
        return self._reanchor(t, until, idle, delay)


class M(Thread):
    """runtime2.go:m as the cores see it: an OS thread, with ``signalPending``: the P whose
    G a preemption signal sent to this M (while it waited for a core) is for."""

    __slots__ = ("sigp", "id")

    def __init__(self, id: int):
        super().__init__()
        self.sigp: P | None = None
        self.id = id  # m.id (sched.mnext): names its lane while in a cgo call


class GoCores(Cores):
    """The machine's cores, delivering a pending signal: ``preemptM`` (signal_unix.go)
    sends SIGURG with ``tgkill``; to a thread that is runnable but off its core the
    kernel delivers it when the thread next runs, and its handler (``doSigPreempt``)
    preempts the G then, not at sysmon's next round."""

    __slots__ = ("deliver", "signalled")

    def _dispatch(self) -> None:
        super()._dispatch()
        if self.signalled:  # Ms with a pending signal: one back on a core runs its handler
            for thread in [m for m in self.signalled if m.on_core]:
                self.signalled.remove(thread)
                p, thread.sigp = thread.sigp, None
                self.engine.after(0, self.deliver, (p, thread))


class P:
    """runtime2.go:p, with ``sysmontick`` (``pd_*``) and what the lazy sysmon needs."""

    __slots__ = ("status", "m", "curg", "runq", "runnext", "timers", "schedtick",
                 "syscalltick", "pd_tick", "pd_when", "watch", "pd_sys", "pd_syswhen",
                 "sys_from", "check_from", "spinning", "done", "ev", "eid", "seg",
                 "left", "lane", "idle_at")

    def __init__(self, lane: str, m: M):
        self.status = IDLE
        self.idle_at = 0  # when it last went idle (pidleput)
        self.m = m
        self.curg = -1
        self.runq: deque[int] = deque()
        self.runnext = -1
        self.timers: list[tuple[int, int, int]] = []  # (when, sequence, g)
        self.schedtick = self.syscalltick = 0
        self.pd_tick = self.pd_when = self.pd_sys = self.pd_syswhen = 0
        self.watch = -1  # since when sysmon could see an unseen schedtick (-1: none)
        self.sys_from = 0  # rounds from here may first see the current syscall
        self.check_from = 0  # rounds from here may set gp.preempt (async preemption off)
        self.spinning = False
        self.done = None  # Cores callback when this P's G ends a cpu burst
        self.ev = None  # direct mode: the burst's token (None: none; the P itself: not
        # queued yet), its start and length
        self.seg = self.left = self.eid = 0  # eid: its place in SimPy's queue
        self.lane = lane  # its name on the timeline (--trace)


class GoModel(Model):
    """``gomaxprocs`` Ps, their Ms, the global queue, the netpoller, timers and sysmon."""

    # Slots, not a __dict__: past 30 attributes an instance's dict is materialised and
    # CPython 3.11 no longer specialises self.method() calls on it (15% of this model's
    # CPU time in the benchmark).
    __slots__ = ("rec", "cores", "nprocs", "allp", "mnext", "direct", "pidle", "glob", "netq",
                 "lastpoll", "nmspinning", "ms", "resume", "flag", "netwake", "sysp", "systh",
                 "seq", "ntimers", "cur_p", "ahead", "slice", "async_pre", "cap", "gqi",
                 "tries", "os", "coprimes", "draws", "clock", "idle_since", "nocheck",
                 "sleep_until", "sleep_from", "m_stopped_at", "sm_at", "sm_gen", "dirty",
                 "limit", "nsys", "poll_at", "poll_gen", "resolution", "entry", "poll_until",
                 "poll_timer", "arrival_wake", "owed")
    Options = GoOptions
    pulls_arrivals = True  # connections wait in the netpoller until someone polls

    def __init__(self, engine: Engine, options: GoOptions):
        super().__init__(engine, options)
        cfg = engine.cfg
        self.rec = engine.rec
        self.cores = GoCores(engine, cfg.machine.cores, cfg.machine.os_time_slice)
        self.cores.deliver = self._signal
        self.cores.signalled = []
        n = self.nprocs = options.procs(cfg.machine.cores)
        self.allp = [P(f"P{i}", M(i)) for i in range(n)]
        self.mnext = n  # the next M's id
        for p in self.allp:
            p.done = lambda _thread, p=p: self._burst_done(p)
            self.rec.server(p.lane)  # its occupancy counts
        # No M can ever wait for a core (Ps <= cores, no cgo calls): a burst is then one
        # event, exactly what Cores would do, without its bookkeeping.
        self.direct = options.direct_bursts and n <= cfg.machine.cores and not any(
            NATIVE in t.kinds for t in engine.workload.templates)
        self.pidle = self.allp[::-1]  # pidleget pops P0 first
        self.glob: deque[int] = deque()  # sched.runq
        self.netq: list[tuple[int, int]] = []  # (ready time, g) not yet polled
        self.lastpoll = 0  # when the network was last polled (meaningless while P idle)
        self.nmspinning = 0
        self.ms: list[Thread] = []  # idle Ms
        tasks = engine.workload.n
        self.resume = [0] * tasks  # cpu left of a preempted burst
        self.flag = bytearray(tasks)  # gp.preempt
        self.netwake = bytearray(tasks)  # readied by the netpoller: reads on return
        self.sysp: dict[int, P] = {}  # m.oldp of a G in a syscall
        self.systh: dict[int, Thread] = {}  # the M of a G in a syscall
        self.seq = 0
        self.ntimers = 0
        self.cur_p = self.allp[0]
        self.ahead: P | None = None  # the P whose burst ends _direct_end is handling
        self.slice = options.time_slice
        self.async_pre = options.async_preemption
        self.cap = options.local_queue
        self.gqi = options.global_queue_interval
        self.tries = options.steal_tries
        self.os = engine.os  # usleep's and epoll_wait's lateness, a parked M's wake-up
        self.coprimes = [c for c in range(1, n + 1) if gcd(c, n) == 1]  # stealOrder
        self.draws: list[int] = []
        self._start_sysmon(options, engine.os.own_timer())
        self.idle_since = 0  # every P idle since
        self.nocheck = -1  # the round that ends a deep sleep skips the all-idle check
        self.sleep_from = 0  # when it began (its thread parked on sched.sysmonnote)
        self.m_stopped_at = 0  # when an M last stopped (stopm: parked on its note)
        self.owed = 0  # what a spawn's notewakeup cost the spawning M (spawn, _advance)
        self.sleep_until = -1  # sysmon's deep sleep (sysmonwait) lasts until
        self.sm_at, self.sm_gen = FOREVER, 0
        self.dirty = False  # something may have moved sysmon's next act earlier
        self.limit = 0  # direct mode: a burst that reaches this plans again (see _replan)
        self.nsys = 0  # Ps whose G is in a syscall
        self.poll_at, self.poll_gen = FOREVER, 0
        self.resolution = options.netpoll_resolution
        self.entry = options.entry(engine.cfg.machine)
        self.poll_until = FOREVER  # the timer the M in netpoll waits for (sched.pollUntil)
        self.poll_timer = FOREVER  # when its epoll_wait for that timer returns
        # (the next connection, its M's wake-up latency by each law of net_wake_latency:
        # which applies depends on how long the M has been parked when it comes)
        self.arrival_wake: tuple[int, list[int]] = (-1, [0])
        self._arm_poller()

    def __new__(cls, engine: Engine, options: GoOptions):
        """``sysmon: plain``, or a sysmon round that costs the cores CPU time, runs the
        reference sysmon instead (``PlainSysmonGo``)."""
        if cls is GoModel and (options.sysmon == "plain"
                               or options.round_cost(engine.cfg.machine)):
            cls = PlainSysmonGo
        return super().__new__(cls)

    def _start_sysmon(self, options: GoOptions, late: Delays) -> None:
        """The planner's clock; each sleep of sysmon's is late by the next draw of ``late``
        (the machine's timer lateness, on a stream of sysmon's own), of its length's law."""
        clock = (options.sysmon_min_delay, options.sysmon_max_delay,
                 options.sysmon_idle_rounds)
        self.clock = SysmonClock(*clock, 0) if late.zero else \
            DrawnSysmonClock(*clock, late.take_each, late.law_of)

    # --- entry points (events); each ends by planning sysmon's next acting round ---------

    def arrive(self, task: int) -> None:
        """A closed client's request: a connection readied by the netpoller."""
        self._netready(task, self.engine.now)
        self._plan()

    def spawn(self, parent: int, child: int) -> None:
        """proc.go:newproc: ``runqput(pp, newg, true)`` then ``wakep()``. OS: an M that
        ``wakep`` starts is woken by ``notewakeup`` (a futex wake), which costs the spawning
        G's M ``signal_cost`` before the G goes on (``_advance``)."""
        self._runqput(self.cur_p, child, True)
        self.owed = self._wakep_paid()

    def _io_ready(self, g: int) -> None:
        now = self.engine.now
        self.rec.ready(g, now, True)
        self._netready(g, now)
        self._plan()

    def _burst_done(self, p: P) -> None:
        if not self._advance(p, p.curg):
            self._schedule(p)
        self._plan()

    def _direct_end(self, token: tuple[P]) -> None:
        """A burst ends. While the P's next burst would end before the queue's next event,
        that end is handled here at once (the P runs ahead of SimPy), with the same result:
        the burst's place in the queue (its event id) is reserved when it starts."""
        p = token[0]
        if token is not p.ev:  # (a burst cut short by a preemption)
            return
        engine = self.engine
        self.ahead = p
        while True:
            now = engine.now
            self.rec.busy(p.curg, p.seg, now, p.lane)
            p.ev = None
            if not self._advance(p, p.curg):
                self._schedule(p)
            if self.dirty or self.nsys:
                self._replan(now)  # (_plan, inlined: the hot path)
            if p.ev is None:
                break
            end = p.seg + p.left
            if end >= engine.next_due():
                p.ev = token = (p,)
                engine.at(end, self._direct_end, token, p.eid)
                break
            engine.run_ahead(end)
        self.ahead = None

    def _mstart(self, p: P) -> None:
        self._schedule(p)
        self.dirty = True  # (a P handed off by retake keeps its sysmontick: the G it runs,
        self._plan()  # from runnext, may be over its slice at once)

    def _run_first(self, first: tuple[P, int]) -> None:
        p, g = first
        if not self._execute(p, g, False):
            self._schedule(p)
        self._plan()

    # --- the netpoller -----------------------------------------------------------------------

    def _netready(self, g: int, now: int) -> None:
        """Readiness of ``g``'s fd: an M blocked in netpoll returns with it and runs it on
        an idle P (findRunnable step 9) once it has woken; with none idle it waits to be
        polled."""
        self.netwake[g] = 1
        if not self.pidle:
            if not self.netq and self.lastpoll + NETPOLL_STALE < self.sm_at:
                self.dirty = True  # sysmon's poll may act before its planned round
            self.netq.append((now, g))
            return
        # the readiness wakes the M blocked in epoll_wait since the longest-idle P's M
        # stopped (the first M to find nothing to do polls the network)
        wake = self.os.net_wake(now - self.pidle[0].idle_at)
        if wake:
            self.engine.after(wake, self._netpoll_return, g)
            return
        p = self._pidleget()
        if not self._execute(p, g, False):
            self._schedule(p)

    def _netpoll_return(self, g: int) -> None:
        """The M woken in epoll_wait runs: findRunnable takes an idle P for the G netpoll
        returned (``pidleget``); if every P was taken meanwhile, ``injectglist`` puts the
        G on the global queue and the M stops."""
        if self.pidle:
            self._run_first((self._pidleget(), g))
            return
        self.glob.append(g)
        self._plan()

    def _ready_by(self, t: int) -> bool:
        """Would ``netpoll`` at ``t`` return anything?"""
        engine = self.engine
        i = engine.open_next
        return bool(self.netq and self.netq[0][0] <= t) or (
            i < len(engine.open_times) and engine.open_times[i] <= t)

    def _netpoll(self, now: int) -> list[int]:
        """netpoll(0): every G whose fd is ready by ``now`` (new connections included), the
        last ready first: epoll_wait reports fds in readiness order and netpoll_epoll.go
        ``netpoll`` pushes each G onto the head of its ``gList`` (``toRun.push``, a stack),
        so its callers run (``list.pop()``) and queue (``injectglist``) them last-first."""
        engine = self.engine
        netq = self.netq
        i = engine.open_next
        if i < len(engine.open_times) and engine.open_times[i] <= now:
            arrived = engine.take_arrivals(now)
            netwake = self.netwake
            for g in arrived:
                netwake[g] = 1
            arrival = self.rec.arrival  # (an arrival is ready when it arrives)
            netq = sorted(netq + [(arrival[g], g) for g in arrived]) if netq else \
                [(arrival[g], g) for g in arrived]
        elif not netq:
            return []
        self.netq = []
        return last_first(netq)

    def _arm_poller(self) -> None:
        """The M in netpoll wakes at the next connection (after a wake-up latency) or the
        earliest timer on any P, the latter in whole ``netpoll_resolution`` units from when
        it entered netpoll, late by the machine's timer lateness (epoll_wait's timeout)."""
        if not self.pidle:
            return
        engine = self.engine
        when = engine.next_arrival()
        if when is None:
            when = FOREVER
        else:  # the wake-up latency of the M that this connection wakes: drawn once for it
            wake, late = self.arrival_wake, self.os.net_wake
            if wake[0] != engine.open_next:  # (the poller may be re-armed many times first)
                wake = self.arrival_wake = (engine.open_next,
                                            [row[0] for row in late.take_each(1)])
            # (parked since the longest-idle P's M stopped, as in _netready)
            when += wake[1][late.law_of(when - self.pidle[0].idle_at)]
        if self.ntimers:
            due = min(q.timers[0][0] for q in self.allp if q.timers)
            if due < self.poll_until or self.poll_at == FOREVER:  # (re-)enters netpoll now
                self.poll_until = due
                self.poll_timer = self._waitms(due)
            if self.poll_timer < when:
                when = self.poll_timer
        if when >= self.poll_at or when > engine.deadline:
            return
        self.poll_at = when
        self.poll_gen += 1
        now = self.engine.now
        engine.after(when - now if when > now else 0, self._poll_wake, self.poll_gen)

    def _waitms(self, due: int) -> int:
        """netpoll_epoll.go:netpoll(delay): when epoll_wait returns for a timer at ``due``,
        entered ``netpoll_entry`` from now (``delay < 1e6 → 1``, else ``delay / 1e6`` ms,
        truncated), by its timeout: late by a draw of the machine's timer lateness for that
        timeout (the whole units epoll_wait waits, not the timer's distance)."""
        now, r = self.engine.now + self.entry, self.resolution
        delay = due - now
        if delay <= 0:
            return due  # (findRunnable runs a due timer without blocking)
        if r:
            due = now + (r if delay < r else delay // r * r)
        return due + self.os.timer_late(due - now)

    def _poll_wake(self, gen: int) -> None:
        if gen != self.poll_gen:
            return
        self.poll_at = FOREVER
        self.poll_until = self.poll_timer = FOREVER  # netpoll returned
        if self.pidle:
            now = self.engine.now
            ready = self._netpoll(now)
            if ready:  # netpoll returns: run the first, inject the rest
                p = self._pidleget()
                if len(ready) > 1:
                    self._inject(ready[1:], p)
                if not self._execute(p, ready[0], False):
                    self._schedule(p)
            elif self.ntimers and any(q.timers and q.timers[0][0] <= now for q in self.allp):
                p = self._pidleget()  # it searches as a spinning M: its own timers,
                p.spinning = True  # then the other Ps' in stealWork's last pass
                self.nmspinning += 1
                self._schedule(p)
            if self.pidle:
                self._arm_poller()
        self._plan()

    # --- schedule / findRunnable -------------------------------------------------------------

    def _schedule(self, p: P) -> None:
        """proc.go:schedule: find a G and run it, until one holds the P over time."""
        while True:
            found = self._find(p)
            if p.spinning:  # resetspinning: a spinning M that found work wakes another
                p.spinning = False
                self.nmspinning -= 1
                if found is not None:  # OS: notewakeup costs this M before the G runs
                    self._owe(found[0], self._wakep_paid())
            if found is None:
                self._idle(p)
                return
            g, inherit = found
            if self._execute(p, g, inherit):
                return

    def _find(self, p: P) -> tuple[int, bool] | None:
        """proc.go:findRunnable, in its order: ``(g, inheritTime)`` (a G from ``runnext``
        inherits the time slice), None for nothing (the M then idles the P)."""
        now = self.engine.now
        if p.timers and p.timers[0][0] <= now:
            self._run_timers(p, p, now)
        glob = self.glob
        if glob and p.schedtick % self.gqi == 0:
            return glob.popleft(), False
        g = p.runnext
        if g >= 0:
            p.runnext = -1
            return g, True
        if p.runq:
            return p.runq.popleft(), False
        if glob:  # globrunqgetbatch(len(pp.runq)/2), the rest onto the local queue
            n = min(len(glob), len(glob) // self.nprocs + 1, self.cap // 2)
            g = glob.popleft()
            for _ in range(n - 1):
                p.runq.append(glob.popleft())
            return g, False
        engine = self.engine  # netpoll(0) (unless an M is in netpoll: then none is ready)
        if self.netq or (engine.open_next < len(engine.open_times)
                         and engine.open_times[engine.open_next] <= now and not self.pidle):
            ready = self._netpoll(now)
            if len(ready) > 1:
                self._inject(ready[1:], p)
            return ready[0], False
        if self.nprocs > 1 and (p.spinning or 2 * self.nmspinning < self.nprocs - len(self.pidle)):
            return self._steal(p, now)
        return None

    def _steal(self, p: P, now: int) -> tuple[int, bool] | None:
        """proc.go:stealWork: ``stealTries`` passes over the other Ps in a random coprime
        order; only the last steals timers and ``runnext``; ``runqsteal`` takes half."""
        allp = self.allp
        if not any(q is not p and (q.runq or q.runnext >= 0 or (q.timers and q.timers[0][0]
                   <= now)) for q in allp):
            return None  # the passes would find nothing: skip them and their random draws
        n, coprimes = self.nprocs, self.coprimes
        for i in range(self.tries):
            last = i == self.tries - 1
            r = self._draw()
            pos, inc = r % n, coprimes[r // n % len(coprimes)]
            for _ in range(n):
                q = allp[pos]
                pos = (pos + inc) % n
                if q is p:
                    continue
                if last and q.timers and q.timers[0][0] <= now:
                    self._run_timers(q, p, now)
                    if p.runnext >= 0:
                        g, p.runnext = p.runnext, -1
                        return g, True
                    if p.runq:
                        return p.runq.popleft(), False
                if q.status != IDLE:
                    rq = q.runq
                    k = len(rq) - len(rq) // 2  # runqgrab: n - n/2
                    if k:
                        batch = [rq.popleft() for _ in range(k)]
                        g = batch.pop()  # runqsteal runs the last one grabbed
                        p.runq.extend(batch)
                        return g, False
                    if last and q.runnext >= 0:
                        g, q.runnext = q.runnext, -1
                        return g, False
        return None

    def _draw(self) -> int:
        if not self.draws:
            self.draws = self.engine.rng.integers(0, 1 << 31, size=256).tolist()
        return self.draws.pop()

    def _execute(self, p: P, g: int, inherit: bool) -> bool:
        """proc.go:execute; True if ``g`` now holds the P until a callback."""
        now = self.engine.now
        if not inherit:
            p.schedtick += 1
            p.watch = now
        self.rec.switches[g] += 1
        p.curg = g
        if not self.async_pre:  # gp.preempt and when rounds may set it: read only then
            self.flag[g] = 0
            p.check_from = now
        if self.netwake[g]:  # read(2) or accept4(2) on return from the netpoller
            self.netwake[g] = 0
            if self.sleep_until > now:
                self._wake_sysmon(p)
            p.syscalltick += 1
        left = self.resume[g]
        if left:
            self.resume[g] = 0
            self._compute(p, g, left)
            return True
        return self._advance(p, g)

    def _advance(self, p: P, g: int) -> bool:
        """Run ``g``'s phases on ``p``; True if it holds the P until a callback."""
        engine = self.engine
        pc, kinds = engine.pc, engine.kinds[g]
        while True:
            i = pc[g]  # engine.next_phase, inlined: the hot path
            if i == len(kinds):  # goexit0
                if self.rec.ready_since[g] >= 0:
                    self.rec.running(g, self.engine.now)
                p.curg = -1
                engine.finish(g)
                return False
            pc[g] = i + 1
            kind, arg = kinds[i], engine.args[engine.offset[g] + i]
            if kind == CPU:  # (the hot path: it needs neither rec nor now)
                if arg:
                    if not self.async_pre and self._flagged(p, g):
                        self.resume[g] = arg  # newstack sees stackPreempt: gopreempt_m
                        self.rec.preempt(g, self.engine.now)
                        self._to_global(p, g)
                        return False
                    self._compute(p, g, arg)
                    return True
                continue
            rec, now = self.rec, self.engine.now
            if kind == IO:
                if arg:  # gopark on the netpoller; readiness comes through netpoll
                    rec.running(g, now)
                    p.curg = -1
                    engine.after(arg, self._io_ready, g)
                    return False
                if self.sleep_until > now:  # data already there: the read is a syscall
                    self._wake_sysmon(p)
                p.syscalltick += 1
            elif kind == SLEEP:
                if arg:  # time.Sleep: resetForSleep puts the timer on the current P
                    rec.running(g, now)
                    p.curg = -1
                    self._add_timer(p, now + arg, g)
                    return False
            elif kind == BLOCK:
                if arg:
                    rec.running(g, now)
                    thread = p.m
                    self._entersyscall(p, g)
                    self._release(thread)
                    # OS: the call returns at now + arg; its thread runs wake latency later
                    engine.after(arg + self.os.wake(arg), self._syscall_done, (g, now + arg))
                    return True
            elif kind == NATIVE:
                if arg:  # cgocall: entersyscall, then the C code computes on the M
                    thread = p.m
                    thread.lane = f"cgo M{thread.id}"  # (one lane per M: calls overlap)
                    self._entersyscall(p, g)
                    self.cores.compute(thread, g, arg, partial(self._cgo_return, g))
                    return True
            elif kind == YIELD:  # Gosched: goschedImpl puts it on the global queue
                rec.running(g, now)
                rec.ready(g, now, False)
                self._to_global(p, g)
                return False
            elif kind == SPAWN:
                self.cur_p = p  # newproc puts the child on the spawner's P
                engine.spawn(g, arg, now)
                if self.owed:  # OS: waking an M cost this M its time (the G's overhead)
                    owed, self.owed = self.owed, 0
                    rec.charge(g, owed)
                    self._compute(p, g, owed)
                    return True

    def _compute(self, p: P, g: int, work: int) -> None:
        """The P's M runs ``work`` ns of ``g``'s cpu (then ``_burst_done``)."""
        if self.direct:  # one event at the burst's end (or none: see _direct_end)
            now = self.engine.now
            self.rec.running(g, now)
            p.seg, p.left = now, work
            if p is self.ahead:  # _direct_end queues it (with a token) or runs ahead
                p.ev = p
                p.eid = self.engine.reserve()
            else:
                p.ev = token = (p,)
                self.engine.after(work, self._direct_end, token)
            if now + work >= self.limit:  # it may meet a deferred round
                self.dirty = True
        else:  # when the burst ends is up to the OS: a round after the G's fresh time
            p.m.lane = p.lane  # slice ends may find it still running
            self.cores.compute(p.m, g, work, p.done)
            if self.sm_at > self.engine.now + self.slice:
                self.dirty = True

    def cut(self, now: int) -> None:
        if not self.direct:
            self.cores.cut(now)
            return
        for p in self.allp:  # direct mode: a P's burst is ``p.seg`` on, while ``p.ev`` is set
            if p.ev is not None and p.seg < now:
                self.rec.busy(p.curg, p.seg, now, p.lane)
                p.ev = None

    def _bursting(self, p: P, now: int) -> bool:
        """The P runs a G whose burst is on a core now."""
        if p.status != RUN or p.curg < 0:
            return False
        if self.direct:
            return p.ev is not None and p.seg <= now
        return p.m.on_core and p.m.pending

    def _interrupt(self, p: P) -> int:
        """Stop the P's M mid-burst (it keeps its core); the work left."""
        if not self.direct:
            return self.cores.interrupt(p.m)
        now = self.engine.now
        self.rec.busy(p.curg, p.seg, now, p.lane)
        p.ev = None
        return p.left - (now - p.seg)

    def _release(self, thread: Thread) -> None:
        if not self.direct:
            self.cores.release(thread)

    def _to_global(self, p: P, g: int) -> None:
        """proc.go:goschedImpl: the G to the tail of the global queue, then ``wakep``."""
        p.curg = -1
        self.glob.append(g)
        self._wakep()

    # --- run queues --------------------------------------------------------------------------

    def _runqput(self, p: P, g: int, nxt: bool) -> None:
        """proc.go:runqput; a full ring sends half of it and ``g`` to the global queue."""
        if nxt:
            g, p.runnext = p.runnext, g
            if g < 0:
                return
        rq = p.runq
        if len(rq) < self.cap:
            rq.append(g)
            return
        glob = self.glob  # runqputslow
        for _ in range(len(rq) // 2):
            glob.append(rq.popleft())
        glob.append(g)

    def _inject(self, gs: list[int], p: P | None) -> None:
        """proc.go:injectglist: one G per idle P through the global queue (and an M for
        it), the rest on the caller's local queue; no P: all to the global queue."""
        if not gs:
            return
        k = len(gs)
        if p is not None and len(self.pidle) < k:
            k = len(self.pidle)
        if k:
            self.glob.extend(gs[:k])
            for _ in range(k):  # startIdle
                if not self.pidle:
                    break
                self._startm(self._pidleget(), False)
            if p is None:
                return
            gs = gs[k:]
        rq = p.runq
        if len(rq) + len(gs) <= self.cap:  # runqputbatch
            rq.extend(gs)
        else:  # what does not fit goes to the global queue
            for g in gs:
                (rq if len(rq) < self.cap else self.glob).append(g)
        self._wakep()

    # --- Ps and Ms -----------------------------------------------------------------------------

    def _pidleget(self) -> P:
        pidle = self.pidle
        if len(pidle) == self.nprocs:
            self._all_idle_end()
        p = pidle.pop()
        now = self.engine.now
        if not pidle:
            self.lastpoll = now  # the M polling the network has returned
            self.dirty = True
        p.status = RUN
        p.curg = -1
        p.check_from = now
        if p.pd_tick != p.schedtick:
            p.watch = now
        else:
            self.dirty = True  # a stale sysmontick: its slice may be over already
        return p

    def _idle(self, p: P) -> None:
        """proc.go:pidleput (the M stops; while any P is idle an M waits in netpoll)."""
        now = self.engine.now
        self._observe(p, now - 1)
        p.status = IDLE
        p.curg = -1
        p.watch = -1
        p.idle_at = self.m_stopped_at = now
        self._release(p.m)
        self.pidle.append(p)
        if len(self.pidle) == self.nprocs:
            self.idle_since = now
        self._arm_poller()

    def _startm(self, p: P, spinning: bool) -> None:
        """proc.go:startm: ``notewakeup(&nmp.park)``; the M runs ``schedule`` on ``p``
        after the machine's wake-up latency, for the time the M has been parked: ``mget``
        takes the M that stopped last (the head of ``sched.midle``)."""
        p.status = RUN
        p.curg = -1
        p.check_from = self.engine.now
        if spinning:
            p.spinning = True
            self.nmspinning += 1
        now = self.engine.now
        self.engine.after(self.os.wake(now - self.m_stopped_at), self._mstart, p)

    def _owe(self, g: int, cost: int) -> None:
        """``g``'s M spends ``cost`` (waking another M) before it runs ``g``: a burst of
        the G's overhead ahead of what it has left (``_execute``)."""
        if cost:
            self.rec.charge(g, cost)
            self.resume[g] += cost

    def _wakep(self) -> bool:
        """proc.go:wakep: one spinning M at a time, only if a P is idle (True: an M was
        started)."""
        if self.nmspinning or not self.pidle:
            return False
        self._startm(self._pidleget(), True)
        return True

    def _wakep_paid(self) -> int:
        """``wakep`` by an M that goes on running: what starting an M cost it (OS:
        ``signal_cost`` for the time the M had been parked; 0 when none was started)."""
        parked = self.engine.now - self.m_stopped_at
        return self.os.signal(parked) if self._wakep() else 0

    def _handoffp(self, p: P) -> None:
        """proc.go:handoffp (its last-P-and-nobody-polling case cannot arise here: an idle
        P means an M is in netpoll)."""
        if p.runq or p.runnext >= 0 or self.glob:
            self._startm(p, False)
        elif self.nmspinning + len(self.pidle) == 0:
            self._startm(p, True)
        else:
            self._idle(p)

    # --- syscalls ------------------------------------------------------------------------------

    def _entersyscall(self, p: P, g: int) -> None:
        """proc.go:reentersyscall: the M keeps its P; a deep-sleeping sysmon is woken."""
        now = self.engine.now
        if not self.async_pre:
            self._flag_commit(p, now - 1)
        p.status = SYSCALL
        self.nsys += 1
        p.sys_from = now
        self.sysp[g] = p
        self.systh[g] = p.m
        self._wake_sysmon()

    def _syscall_done(self, done: tuple[int, int]) -> None:
        """The blocked M runs again: the G could continue from the call's return."""
        g, returned = done
        self._exitsyscall(g, returned)

    def _cgo_return(self, g: int, _thread: Thread) -> None:
        self._exitsyscall(g, self.engine.now)

    def _exitsyscall(self, g: int, returned: int) -> None:
        """proc.go:exitsyscall: keep the P if still ours; else exitsyscallTryGetP (the old
        P back if its holder is in a syscall, or an idle P); else the global queue."""
        now = self.engine.now
        self.rec.ready(g, returned, True)
        p, thread = self.sysp.pop(g), self.systh.pop(g)
        self.dirty = True
        if p.status == SYSCALL:  # ours still, or its holder is in a syscall: takeP
            self._sys_observe(p, now - 1)  # (a sighting stays in pd.syscallwhen)
            self.nsys -= 1
            p.syscalltick += 1
            p.m = thread
        elif self.pidle:
            p = self._pidleget()
            self._wake_sysmon(p)
            self.ms.append(p.m)
            p.m = thread
        else:  # exitsyscallNoP: runnable on the global queue, and the M stops
            self._release(thread)
            self.ms.append(thread)
            self.glob.append(g)
            self._plan()
            return
        p.status = RUN
        p.curg = g
        p.check_from = now
        if not self._advance(p, g):
            self._schedule(p)
        self._plan()

    def _newm(self) -> M:
        """proc.go:newm (mcommoninit numbers it from sched.mnext)."""
        self.mnext += 1
        return M(self.mnext - 1)

    def _retake(self, p: P) -> None:
        """proc.go:retake's hand-off: the G's M keeps blocking, the P goes to a new M."""
        p.curg = -1
        p.syscalltick += 1
        self.nsys -= 1
        p.m = self.ms.pop() if self.ms else self._newm()
        p.status = RUN
        self._handoffp(p)

    # --- timers ----------------------------------------------------------------------------------

    def _add_timer(self, p: P, when: int, g: int) -> None:
        self.seq += 1
        heapq.heappush(p.timers, (when, self.seq, g))
        self.ntimers += 1
        if self.pidle and (when < self.poll_until or when < self.poll_at):  # wakeNetPoller
            self._arm_poller()

    def _run_timers(self, owner: P, to: P, now: int) -> None:
        """time.go:check -> goroutineReady -> goready: each into ``to``'s runnext."""
        timers = owner.timers
        while timers and timers[0][0] <= now:
            when, _, g = heapq.heappop(timers)
            self.ntimers -= 1
            self.rec.ready(g, when, True)
            self._runqput(to, g, True)
            self._wakep()

    # --- sysmon, planned: the fast path of ``Sysmon`` (same results) --------------------------

    def _wake_sysmon(self, _p: P | None = None) -> None:
        """entersyscall_sysmon / exitsyscall's notewakeup(&sched.sysmonnote): idle = 0.
        ``_p``: the P whose M goes on running after the wake (None: the M blocks);
        only the plain sysmon with ``sysmon_round_cost`` uses it."""
        now = self.engine.now
        if self.sleep_until > now:  # (no round since it fell asleep: nothing to commit)
            self.sleep_until = -1
            # sysmon's thread runs after a wake-up, for the time it has slept
            self.nocheck = now + self.os.wake(now - self.sleep_from)
            self.clock.woken(self.nocheck)
            self.dirty = True

    def _time_sleep_until(self) -> int:
        """proc.go:timeSleepUntil: when the earliest timer on any P is due."""
        if not self.ntimers:
            return FOREVER
        return min(q.timers[0][0] for q in self.allp if q.timers)

    def _all_idle_end(self) -> None:
        """Every P was idle since ``idle_since`` and one is wanted now: replay sysmon's deep
        sleeps (``npidle == gomaxprocs``: sleep until the next timer, 1 min at most)."""
        now, clock, x = self.engine.now, self.clock, self.idle_since
        while True:
            t = clock.ge(x)
            if t >= now:
                return
            x = t + 1
            if t == self.nocheck:
                continue
            nxt = self._time_sleep_until()
            if nxt <= t:
                continue
            self.dirty = True
            w = clock.deep_sleep(t, min(nxt, t + DEEP_SLEEP_MAX))
            self.nocheck = w
            if w > now:
                self.sleep_until, self.sleep_from = w, t
                return
            x = w + 1

    def _observe(self, p: P, limit: int) -> int:
        """retake's ``pd.schedtick != t`` branch at the first round (<= limit) that sees it."""
        if p.watch < 0:
            return -1
        b = self.clock.ge(p.watch)
        if b > limit:
            return -1
        p.pd_tick, p.pd_when, p.watch = p.schedtick, b, -1
        return b

    def _sys_observe(self, p: P, limit: int) -> None:
        """retake's first sighting of a syscall (skipped by a round with ``sysretake``)."""
        if p.pd_sys == p.syscalltick:
            return
        b = self.clock.ge(p.sys_from)
        while b <= limit:
            self._observe(p, b)
            if p.pd_when + self.slice > b:
                p.pd_sys, p.pd_syswhen = p.syscalltick, b
                return
            b = self.clock.ge(b + 1)
        p.sys_from = limit + 1

    def _flag_commit(self, p: P, limit: int) -> None:
        """Rounds up to ``limit`` that found the P's G over its slice set ``gp.preempt``."""
        g = p.curg
        if g < 0 or p.status != RUN:
            return
        sw = self.clock.ge(p.watch) if p.watch >= 0 else p.pd_when
        if self.clock.ge(max(sw + self.slice, p.check_from)) <= limit:
            self.flag[g] = 1
        p.check_from = max(p.check_from, limit + 1)

    def _flagged(self, p: P, g: int) -> bool:
        self._flag_commit(p, self.engine.now - 1)
        return bool(self.flag[g])

    def _poll_commit(self, limit: int) -> None:
        """Quiet rounds up to ``limit`` whose netpoll found nothing still set ``lastpoll``
        (sysmon CASes it to ``now`` before it polls)."""
        if self.pidle:
            return
        while True:
            r = self.clock.ge(self.lastpoll + NETPOLL_STALE + 1)
            if r > limit or self._ready_by(r):
                return
            self.lastpoll = r

    def _sm_commit(self, limit: int) -> None:
        """Record what the quiet rounds up to ``limit`` saw, before the grid changes."""
        self._poll_commit(limit)
        for p in self.allp:
            if p.status == IDLE:
                continue
            self._observe(p, limit)
            if p.status == SYSCALL:
                self._sys_observe(p, limit)
            elif not self.async_pre:
                self._flag_commit(p, limit)

    def _grace(self, p: P, when: int, t: int) -> bool:
        """retake: spare a syscall P with nothing queued while an M idles or spins."""
        return (not p.runq and p.runnext < 0 and self.nmspinning + len(self.pidle) > 0
                and when + SYSCALL_GRACE > t)

    def _sys_act(self, p: P, now: int) -> int:
        """The round at which ``retake`` would take ``p`` back from its syscall."""
        clock = self.clock
        b = clock.ge(p.sys_from)
        seen, when = p.pd_sys == p.syscalltick, p.pd_syswhen
        sw = clock.ge(p.watch) if p.watch >= 0 else p.pd_when
        while True:
            if not seen and sw + self.slice > b:
                seen, when, b = True, b, clock.ge(b + 1)
            elif b < now:
                b = clock.ge(now)
            elif self._grace(p, when, b):
                b = clock.ge(when + SYSCALL_GRACE)
            else:
                return b

    def _poll_act(self, now: int) -> int:
        """The round at which sysmon's stale-network poll would find something."""
        engine = self.engine
        first = self.netq[0][0] if self.netq else FOREVER
        if engine.open_next < len(engine.open_times):
            arrival = engine.open_times[engine.open_next]
            if arrival < first:
                first = arrival
        if first == FOREVER:
            return FOREVER
        lastpoll = self.lastpoll
        for _ in range(64):  # past that, an early wake-up that finds nothing is harmless
            x = lastpoll + NETPOLL_STALE + 1
            r = self.clock.ge(x if x > now else now)
            if r >= first:
                break
            lastpoll = r
        return r

    def _plan(self) -> None:
        """Schedule sysmon's event at the next round that acts, if earlier than planned.

        Only when something may have moved that round earlier (``dirty``): a burst that
        may outlast its G's time slice or a deferred netpoll round (see ``_replan``), a P
        taken or idled, a syscall, a first G readied while every P is busy."""
        if self.dirty or self.nsys:
            self._replan(self.engine.now)

    def _replan(self, now: int) -> None:
        """The next acting round, from the Ps' state. In direct mode a burst's end is known,
        so a round that would preempt its G, or poll while it surely runs, after it ends is
        deferred: ``limit`` is the earliest end of a later burst that must plan again (the
        G's time slice can end then, or the deferred poll fall in it)."""
        self.dirty = False
        if len(self.pidle) == self.nprocs:
            return  # nothing runs: no round can act (the deep sleep is replayed later)
        clock, direct = self.clock, self.direct
        best = self.sm_at
        busy_until = limit = FOREVER  # busy_until (direct mode): no P can be idle before
        for p in self.allp:
            if p.status == RUN:
                end = FOREVER  # (unknown)
                if direct:
                    if p.ev is not None:
                        end = p.seg + p.left
                    if end < busy_until:
                        busy_until = end if end < FOREVER else now
                if self.async_pre and p.curg >= 0 and p.m.sigp is None:
                    w = p.watch
                    low = (w if w >= 0 else p.pd_when) + self.slice  # a lower bound
                    if low > end:
                        if low < limit:
                            limit = low
                    elif low > now:  # a check then, not a round: the round is worked
                        best = low if low < best else best  # out near it (most Gs are gone)
                    elif low < best:
                        sw = clock.ge(w) if w >= 0 else p.pd_when
                        r = clock.ge(max(sw + self.slice, now))
                        if r > end:
                            limit = min(limit, r)
                        elif r < best:
                            best = r
            elif p.status == SYSCALL:
                best = min(best, self._sys_act(p, now))
        low = self.lastpoll + NETPOLL_STALE + 1  # (a lower bound)
        if self.pidle or low > best:
            pass
        elif low > busy_until:
            if low < limit:
                limit = low
        else:
            r = self._poll_act(now)
            if r > busy_until:
                limit = min(limit, r)
            else:
                best = min(best, r)
        if best < self.sm_at and best <= self.engine.deadline:
            self.sm_at = best
            self.sm_gen += 1
            self.engine.last_at(best, self._sm_wake, self.sm_gen)
        self.limit = limit if direct else 0

    def _sm_wake(self, gen: int) -> None:
        if gen != self.sm_gen:
            return
        self.sm_at = FOREVER
        now = self.engine.now
        if self.clock.ge(now) == now and len(self.pidle) < self.nprocs:
            self._sm_round(now)
        self._replan(now)

    def _sm_round(self, t: int) -> None:
        """One round of proc.go:sysmon at ``t``: netpoll if stale, then ``retake``."""
        self._sm_commit(t - 1)
        if not self.pidle and self.lastpoll + NETPOLL_STALE < t:
            self.lastpoll = t
            if self._ready_by(t):
                self._inject(self._netpoll(t), None)
        retook = False
        preempt = []
        for p in self.allp:
            if p.status == IDLE:
                continue
            self._observe(p, t)
            sysretake = p.pd_when + self.slice <= t
            if sysretake and p.status == RUN and p.curg >= 0:  # preemptone
                if self.async_pre:
                    preempt.append(p)
                else:
                    self.flag[p.curg] = 1
            if p.status == SYSCALL:
                self._sys_observe(p, t - 1)
                if not sysretake and p.pd_sys != p.syscalltick:
                    p.pd_sys, p.pd_syswhen = p.syscalltick, t
                elif not self._grace(p, p.pd_syswhen, t):
                    self._retake(p)
                    retook = True
        self.clock.advance(t, retook)
        for p in preempt:
            self._preempt(p, t)

    def _preempt(self, p: P, t: int) -> None:
        """preemptone -> preemptM's signal -> asyncPreempt -> gopreempt_m: the G to the
        global queue. An M waiting for a core keeps the signal pending (one at a time:
        ``signalPending``) and takes it when it next runs (``GoCores``)."""
        g, thread = p.curg, p.m
        if g < 0 or p.status != RUN or thread.sigp is not None:
            return
        if not (self.direct or thread.on_core):
            thread.sigp = p
            self.cores.signalled.append(thread)
            return
        self.resume[g] = self._interrupt(p)
        self.rec.preempt(g, t)
        self._to_global(p, g)
        self._schedule(p)

    def _signal(self, pending: tuple[P, M]) -> None:
        """doSigPreempt on an M back on its core: ``wantAsyncPreempt`` (its P still runs
        the G the signal was for) -> asyncPreempt."""
        p, thread = pending
        if p.m is thread:  # (off its core again already: pending again)
            self._preempt(p, self.engine.now)
        self.dirty = True
        self._plan()


class Sysmon:
    """proc.go:sysmon as it is written, a round at a time: the reference that the planner
    in ``GoModel`` (the fast path, ``sysmon: planned``) must match (tests/test_go.py).

    ``for { if idle == 0 { delay = 20 } else if idle > 50 { delay *= 2 }; if delay > 10*1000
    { delay = 10 * 1000 }; usleep(delay); <every P idle: notetsleep until the next timer>;
    <netpoll if not polled for 10 ms>; if retake(now) != 0 { idle = 0 } else { idle++ } }``.
    Each ``usleep`` and deep sleep ends late by the next draw of the machine's timer
    lateness for its length (a stream of sysmon's own); ``notewakeup(&sched.sysmonnote)``
    ends a deep sleep, and the round follows once sysmon's thread runs (a wake-up latency
    later). A round is queued last at its instant: it sees everything that happened then
    (S14). The ``preemptM`` signals of a round are taken after its ``retake`` loop (S9).
    """

    __slots__ = ("go", "engine", "late", "busy_late", "min", "max", "rounds", "slice", "idle",
                 "delay", "note", "cost", "core", "turn")

    def __init__(self, go: GoModel, options: GoOptions, late: Delays):
        self.go, self.engine, self.late = go, go.engine, late
        self.cost = options.round_cost(go.engine.cfg.machine)
        # sharing a core (a round cost), a usleep beside a running M ends on a busy CPU
        self.busy_late = go.os.own_timer(busy=True) if self.cost else None
        self.min, self.max = options.sysmon_min_delay, options.sysmon_max_delay
        self.rounds, self.slice = options.sysmon_idle_rounds, options.time_slice
        self.idle = self.delay = 0  # how many rounds in a row retook no P; the usleep
        self.note: list | None = None  # the deep sleep's timeout
        self.core: P | None = None  # woken, it waits for the core of this P's M
        self.turn: list | None = None  # the OS's time slice end for it then
        self._loop()

    def _loop(self) -> None:
        """The top of sysmon's loop: the delay, then ``usleep(delay)``."""
        if self.idle == 0:  # start with 20us sleep...
            self.delay = self.min
        elif self.idle > self.rounds:  # start doubling the sleep after 1ms...
            self.delay *= 2
        if self.delay > self.max:  # up to 10ms
            self.delay = self.max
        now = self.engine.now
        late = self.busy_late if self.busy_late and self._no_idle_core(now) else self.late
        self.engine.last_at(now + self.delay + late(self.delay), self._slept)

    def _no_idle_core(self, now: int) -> bool:
        """Does the usleep start with every core running an M? Its timer then fires on a busy
        CPU and the OS has no idle one to wake sysmon on: ``busy_timer_lateness`` (the timer
        slack and a switch, no idle state to leave). With a core idle the woken thread's
        placement goes through it: ``timer_lateness``. Measured with perf on the real Go 1.19
        servers: sysmon's 20 us rounds behind a G on a server pinned to one CPU
        (``go_sockets``) every 87.9 us (p50), as the busy law gives; on two CPUs with one
        idle (``go_syscall``) every 96-104 us, busy or not, as the idle law gives."""
        go = self.go
        if not go.direct:
            return go.cores.free == 0
        cores = go.engine.cfg.machine.cores
        if go.nprocs - len(go.pidle) < cores:  # (fewer Ps at work than cores)
            return False
        return sum(go._bursting(p, now) for p in go.allp) >= cores

    def _slept(self, _value: None) -> None:
        """``usleep`` returned. With every P idle (``npidle == gomaxprocs``) and a timer
        not due yet, ``notetsleep(&sched.sysmonnote)`` until it (half of forcegcperiod at
        most); then the round."""
        go, now = self.go, self.engine.now
        if len(go.pidle) == go.nprocs:
            nxt = go._time_sleep_until()
            if nxt > now:
                sleep = min(nxt - now, DEEP_SLEEP_MAX)
                go.sleep_until = now + sleep + self.late(sleep)
                go.sleep_from = now
                self.note = self.engine.last_at(go.sleep_until, self._round)
                return
        self._round(None)

    def notewakeup(self, at: int) -> None:
        """``notewakeup(&sched.sysmonnote)`` during the deep sleep (a syscall): its thread
        runs at ``at``; ``syscallWake``: ``idle = 0, delay = 20``, then the round."""
        self._syscall_wake()
        self.engine.last_at(at, self._round)

    def _syscall_wake(self) -> None:
        """The deep sleep ends by ``notewakeup`` (``syscallWake``): ``idle = 0, delay =
        20``."""
        self.engine.cancel(self.note)
        self.idle, self.delay = 0, self.min

    def wait_core(self, p: P, now: int) -> None:
        """``notewakeup(&sched.sysmonnote)`` by an M that goes on running (a read on
        return from the netpoller, exitsyscall onto an idle P) when sysmon shares its core
        (``sysmon_round_cost``): the OS puts the woken thread on the waker's core and does
        not preempt the waker for it, so sysmon runs when that M stops (its P idles or it
        blocks in a syscall: ``got_core``) or at the OS's time slice's end, whichever is
        first (measured on go_sockets and go_syscall, perf: a sysmon woken by the M's futex
        wake ran when that M blocked, p50 234 us later; behind a CPU-bound G 2.1-5.2 ms
        later; woken by its usleep's timer it preempts the M within 7.5 us)."""
        self._syscall_wake()
        self.core = p
        self.turn = self.engine.last_at(now + self.go.cores.slice, self.got_core, False)

    def got_core(self, freed: bool) -> None:
        """sysmon's thread runs: the round, now; on the core its waker ``freed`` it costs
        no G, preempting the waker at the time slice's end it costs the running one."""
        self.core = None
        self.engine.cancel(self.turn)
        self.engine.last_at(self.engine.now, self._round, freed)

    def _round(self, on_freed_core: bool | None) -> None:
        """netpoll if the network was not polled for 10 ms (``lastpoll != 0``: no M is
        blocked in netpoll, so no P is idle), then ``retake``. Its cost goes to a running
        G unless it runs on the core its waker freed."""
        go, now = self.go, self.engine.now
        if self.cost and not on_freed_core:
            self._take_core(now)
        if not go.pidle and go.lastpoll + NETPOLL_STALE < now:
            go.lastpoll = now  # (the CAS)
            if go._ready_by(now):
                go._inject(go._netpoll(now), None)
        signals: list[P] = []
        if self.retake(now, signals):
            self.idle = 0
        else:
            self.idle += 1
        for p in signals:
            go._preempt(p, now)
        self._loop()

    def _take_core(self, now: int) -> None:
        """The round's CPU (``sysmon_round_cost``): the OS ran sysmon's thread on the core of
        the first P's M that is in a burst, which ends that much later (charged to its G as
        overhead)."""
        go = self.go
        for p in go.allp:
            if go._bursting(p, now):
                g = p.curg
                left = go._interrupt(p)
                go.rec.charge(g, self.cost)
                go._compute(p, g, left + self.cost)
                return

    def retake(self, now: int, signals: list[P]) -> int:
        """proc.go:retake: preempt a G that ran 10 ms on its P (``pd.schedwhen``, the round
        that first saw the P's ``schedtick``); take a P back from its syscall once a round
        has seen the syscall (``pd.syscallwhen``), unless it has nothing queued while an M
        spins or a P idles and the syscall is younger than 10 ms. Returns how many."""
        go, n = self.go, 0
        for p in go.allp:
            s = p.status
            sysretake = False
            if s in (RUN, SYSCALL):  # _Prunning, _Psyscall
                t = p.schedtick
                if p.pd_tick != t:
                    p.pd_tick, p.pd_when = t, now
                elif p.pd_when + self.slice <= now:
                    self._preemptone(p, signals)
                    sysretake = True  # (preemptone does nothing to a P in a syscall)
            if s == SYSCALL:
                t = p.syscalltick
                if not sysretake and p.pd_sys != t:
                    p.pd_sys, p.pd_syswhen = t, now
                    continue
                if go._grace(p, p.pd_syswhen, now):
                    continue
                n += 1
                go._retake(p)  # syscalltick++, handoffp
        return n

    def _preemptone(self, p: P, signals: list[P]) -> None:
        """proc.go:preemptone: ``gp.preempt = true``, and with async preemption
        ``preemptM``'s signal."""
        g = p.curg
        if p.status != RUN or g < 0:  # (no M wired to the P, or no G on it)
            return
        if self.go.async_pre:
            signals.append(p)
        else:
            self.go.flag[g] = 1


class PlainSysmonGo(GoModel):
    """``GoModel`` with the reference ``Sysmon`` (``sysmon: plain``): every round is an
    event, so the planner's hooks do nothing."""

    __slots__ = ("sysmon",)

    def _start_sysmon(self, options: GoOptions, late: Delays) -> None:
        self.clock = None
        self.sysmon = Sysmon(self, options, late)

    def _replan(self, now: int) -> None:
        self.dirty = False

    def _all_idle_end(self) -> None:
        pass

    def _observe(self, p: P, limit: int) -> int:
        return -1

    def _sys_observe(self, p: P, limit: int) -> None:
        pass

    def _flag_commit(self, p: P, limit: int) -> None:
        pass

    def _flagged(self, p: P, g: int) -> bool:
        return bool(self.flag[g])

    def _wake_sysmon(self, p: P | None = None) -> None:
        now = self.engine.now
        if self.sleep_until > now:
            self.sleep_until = -1
            if p is not None and self.sysmon.cost:
                self.sysmon.wait_core(p, now)
            else:
                self.sysmon.notewakeup(now + self.os.wake(now - self.sleep_from))

    def _idle(self, p: P) -> None:
        super()._idle(p)
        if self.sysmon.core is p:  # its M parks: the woken sysmon takes the core
            self.sysmon.got_core(True)

    def _entersyscall(self, p: P, g: int) -> None:
        super()._entersyscall(p, g)
        if self.sysmon.core is p:  # its M blocks in the syscall
            self.sysmon.got_core(True)


__all__ = ["DrawnSysmonClock", "GoModel", "GoOptions", "PlainSysmonGo", "Sysmon",
           "SysmonClock"]
