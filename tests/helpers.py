"""Shared test helpers: build configs from dicts, run one scheduler, check invariants.

``run_probed`` runs a scheduler with a ``Probe`` (the recorder plus what ``--trace`` and the
trace checks need); ``check_invariants`` then also checks the trace: no lane runs two things
at once and no more run than there are cores, every wake-up is recorded, and the model's own
promise of work conservation (``check_conservation``, whose docstring defines it per model).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from sim.config import Config, validate
from sim.metrics import task_table, wakeup_table
from sim.models import MODELS
from sim.models.base import Engine
from sim.phases import KIND_NAMES
from sim.recorder import Recorder
from sim.runner import model_rng, simulate
from sim.workload import generate

MS = 1_000_000
US = 1_000


def config(workload: dict, schedulers: dict, **top) -> Config:
    """A validated config from plain dicts (horizon defaults to 1s, one core, the ``ideal``
    machine: timings derived by hand assume an OS that adds nothing)."""
    machine = {"profile": "ideal", "cores": 1, **top.pop("machine", {})}
    raw = {"horizon": "1s", **top, "machine": machine,
           "workload": workload, "schedulers": schedulers}
    return validate(raw)


def one(phases: list, at: str = "0s") -> dict:
    """A class of exactly one task arriving at ``at``: the unit of exact micro-scenarios."""
    return {"arrival": {"batch": {"count": 1, "at": at}}, "phases": phases}


def run_scheduler(cfg: Config, scheduler: str, seed: int | None = None):
    """Simulate one scheduler: (tasks, wakeups, recorder, workload)."""
    seed = cfg.seed if seed is None else seed
    workload = generate(cfg, seed)
    rec = simulate(cfg, workload, scheduler, seed)
    return task_table(rec, workload), wakeup_table(rec, workload), rec, workload


def finish_times(cfg: Config, scheduler: str) -> dict[int, int]:
    """task id -> finish time (ns), for exact micro-scenarios."""
    tasks = run_scheduler(cfg, scheduler)[0]
    return dict(zip(tasks["task_id"].tolist(), tasks["finish_ns"].tolist(), strict=True))


def check_invariants(tasks: pd.DataFrame, rec, workload, cores: int) -> None:
    """What must hold for every model on every workload; with a ``Probe`` (``run_probed``),
    the trace checks too."""
    done = tasks[tasks["finish_ns"].notna()]
    # every arrived task finishes exactly once (no drain cap hit in these tests)
    assert len(done) == len(tasks)
    assert tasks["task_id"].is_unique
    # wait is accumulated by the recorder; it must equal what latency leaves over
    latency = done["latency_ns"].astype("int64")
    assert (latency - done["demand_ns"] - done["overhead_ns"] == done["wait_ns"]).all()
    assert (done["wait_ns"] >= 0).all()
    slow = done["slowdown"].dropna()
    assert (slow >= 1 - 1e-12).all()
    # busy core time equals the cpu work offered plus the overheads charged
    offered = done["cpu_ns"].sum() + done["overhead_ns"].sum()
    assert abs(rec.busy_total - offered) <= 1e-6 * max(offered, 1) + len(done)
    span = int(done["finish_ns"].max()) if len(done) else 0
    assert rec.busy_total <= cores * span + 1
    if isinstance(rec, Probe):
        check_lanes(rec, cores)
        check_wakeups(rec, workload)
        check_conservation(rec, cores)


def replications(fn, seeds) -> np.ndarray:
    """Apply ``fn(seed) -> float`` over independent replications."""
    return np.asarray([fn(s) for s in seeds], dtype=float)


def within_ci(values: np.ndarray, target: float, confidence: float = 0.999) -> bool:
    """Is ``target`` inside the t-interval of the replication means?

    The tolerance is the spread over independent replications (not a per-task standard
    error, which autocorrelation in a queue makes far too small)."""
    mean = values.mean()
    half = stats.t.ppf(0.5 + confidence / 2, len(values) - 1) * values.std(ddof=1) / np.sqrt(
        len(values))
    return abs(mean - target) <= half


def counted(tasks: pd.DataFrame) -> pd.DataFrame:
    return tasks[tasks["counted"] & tasks["finish_ns"].notna()]


# --- the trace: who ran where and when ------------------------------------------------------


class Probe(Recorder):
    """The recorder with tracing on, plus what the trace checks need: every running span
    (lane-less threads, fcfs's and round robin's one per task, under their task's name),
    processor sharing's shares, every wait (a stretch with ``ready_since`` set) with its
    cause, and each task's calls of ``running`` (PS's time in service). A cause is the kind
    of the phase the task has reached when its wait begins: ``arrival``, or a wake-up's
    (``io``, ``sleep``, ...), or ``requeue <kind>`` for a wait that is not a wake-up (a
    yield, a core or GIL queue, an executor's queue), or ``preempt``."""

    __slots__ = ("engine", "spans", "shares", "waits", "cause", "runs", "readies")

    def __init__(self, *args):
        super().__init__(*args)
        self.tracing = True
        self.engine: Engine | None = None
        self.spans: list[tuple[str, int, int, int, int]] = []  # lane, task, t0, t1, phase
        self.shares: list[tuple[int, int, float]] = []  # t0, t1, cores in use (PS)
        self.waits: list[tuple[int, int, int, str, int]] = []  # task, since, until, cause, pc
        self.cause: dict[int, tuple[str, int]] = {}  # each open wait's cause, and its pc
        self.runs: list[tuple[int, int, int]] = []  # task, t, phase index (running calls)
        self.readies: list[tuple[int, int, int]] = []  # the same, of ready calls

    def kind(self, task: int) -> str:
        """The kind of the phase the task has reached (``arrival`` before its first)."""
        i = self.engine.pc[task]
        return KIND_NAMES[self.engine.kinds[task][i - 1]] if i else "arrival"

    def arrive(self, task: int, t: int) -> None:
        self.cause[task] = ("arrival", 0)
        super().arrive(task, t)

    def ready(self, task: int, t: int, wake: bool) -> None:
        if self.ready_since[task] < 0 and task not in self.cause:
            kind = self.kind(task)
            self.cause[task] = (kind if wake else "requeue " + kind, self.engine.pc[task])
        self.readies.append((task, t, self.engine.pc[task]))
        super().ready(task, t, wake)

    def preempt(self, task: int, t: int) -> None:
        if self.ready_since[task] < 0:
            self.cause[task] = ("preempt", self.engine.pc[task])
        super().preempt(task, t)

    def running(self, task: int, t: int) -> None:
        since = self.ready_since[task]
        if since >= 0:  # (open arrivals a model pulls are recorded without ``arrive``)
            self.waits.append((task, since, t, *self.cause.pop(task, ("arrival", 0))))
        self.runs.append((task, t, self.engine.pc[task]))
        super().running(task, t)

    def busy(self, task: int, t0: int, t1: int, lane: str | None = None) -> None:
        super().busy(task, t0, t1, lane)
        self.spans.append((f"task {task}" if lane is None else lane, task, t0, t1,
                           self.engine.pc[task]))

    def busy_share(self, cls: int, t0: int, t1: int, cores: float) -> None:
        super().busy_share(cls, t0, t1, cores)
        self.shares.append((t0, t1, cores))


def run_probed(cfg: Config, scheduler: str, seed: int | None = None):
    """``run_scheduler`` with a ``Probe``: (tasks, wakeups, probe, workload)."""
    seed = cfg.seed if seed is None else seed
    workload = generate(cfg, seed)
    options = cfg.schedulers[scheduler]
    rec = Probe(workload.task_class.tolist(), len(workload.classes), cfg.warmup, cfg.horizon)
    engine = Engine(workload, rec, cfg, MODELS[options.model], options,
                    model_rng(seed, scheduler))
    rec.engine = engine
    engine.run()
    return task_table(rec, workload), wakeup_table(rec, workload), rec, workload


def covering(t0: np.ndarray, t1: np.ndarray, at: np.ndarray,
             weight: np.ndarray | None = None) -> np.ndarray:
    """How many of the intervals [t0, t1) hold each point of ``at`` (or their total weight)."""
    if weight is None:
        return (np.searchsorted(np.sort(t0), at, "right")
                - np.searchsorted(np.sort(t1), at, "right"))
    return _weighted(t0, weight, at) - _weighted(t1, weight, at)


def _weighted(t: np.ndarray, weight: np.ndarray, at: np.ndarray) -> np.ndarray:
    order = np.argsort(t, kind="stable")
    total = np.concatenate([[0.0], np.cumsum(weight[order])])
    return total[np.searchsorted(t[order], at, "right")]


def _frame(rows: list, columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=columns) if rows else pd.DataFrame(
        {c: pd.Series(dtype=object if c in ("lane", "cause", "state") else "int64")
         for c in columns})


def spans(rec: Probe) -> pd.DataFrame:
    """Every lane state of positive length: running (with the task's phase index at the
    span's end) and the trace's others (runnable, blocked, io, gil_wait)."""
    run = _frame(rec.spans, ["lane", "task", "t0", "t1", "pc"]).assign(state="running")
    other = _frame([r for r in rec.trace_rows if r[2] != "running"],
                   ["lane", "task", "state", "t0", "t1"]).assign(pc=-1)
    both = pd.concat([run, other], ignore_index=True)
    return both[both["t1"] > both["t0"]].reset_index(drop=True)


def waits(rec: Probe) -> pd.DataFrame:
    """Every wait (zero-length ones too): task, since, until, cause, and the task's phase
    index when it began."""
    return _frame(rec.waits, ["task", "since", "until", "cause", "pc"])


def check_lanes(rec: Probe, cores: int) -> None:
    """No lane (an OS thread: a loop, a worker, a P's M, a pool thread) is in two states at
    once, e.g. running two segments or running while blocked; at no instant do more lanes
    run than there are cores; a lane waits for a core (``runnable``) only while every core
    runs. (A Go M in a cgo call has a lane of its own, ``cgo M3``.)"""
    s = spans(rec)
    for lane, group in s.groupby("lane", sort=False):
        g = group.sort_values(["t0", "t1"])
        t0, t1 = g["t0"].to_numpy(), g["t1"].to_numpy()
        clash = np.flatnonzero(t0[1:] < t1[:-1])
        assert not len(clash), f"{lane} is in two states at once: {g.iloc[clash[0]:clash[0] + 2]}"
    run = s[s["state"] == "running"]
    r0, r1 = run["t0"].to_numpy(), run["t1"].to_numpy()
    if len(r0):
        at = np.unique(r0)
        busy = covering(r0, r1, at)
        assert busy.max() <= cores, f"{busy.max()} lanes run at {at[busy.argmax()]} on {cores}"
    if rec.shares:
        sh = np.asarray([(a, b) for a, b, _ in rec.shares])
        use = np.asarray([c for *_, c in rec.shares])
        at = np.unique(sh[:, 0])
        assert covering(sh[:, 0], sh[:, 1], at, use).max() <= cores + 1e-9
    queued = s[s["state"] == "runnable"]
    if len(queued):
        at = np.unique(np.concatenate([queued["t0"], r0, r1]))
        at = at[covering(queued["t0"].to_numpy(), queued["t1"].to_numpy(), at) > 0]
        idle = at[covering(r0, r1, at) < cores]
        assert not len(idle), f"a thread waits for a core while one is idle at {idle[0]}"


def wakeups_expected(rec: Probe, workload) -> tuple[np.ndarray, np.ndarray]:
    """(fewest, most) wake-up rows per task id, from its phases: one for its arrival and
    one for each completed wait (I/O, timer, call) that makes it runnable again.

    Not wake-ups: zero-length phases (the result is there), ``yield`` and ``sleep(0)``
    (a re-queue; but tokio's ``sleep(0)`` is a timer unless its tick has elapsed: 0 or 1),
    ``native`` where it is service (reference disciplines, free-threaded, go's cgo is a
    call). A blocking call's return is one everywhere (a thread the kernel wakes: holding
    the loop or worker, or on a pool thread). Asyncio with ``cpu`` offloaded (a GIL shared
    with the executor): native code on the loop is one (the loop takes the GIL back), an
    offloaded ``block`` or ``native`` call two (the pool thread takes the GIL back, then
    the loop the result)."""
    options = rec.engine.model.options
    model = options.model
    wake = {"io": 1, "sleep": 1, "block": 1, "native": 1}  # go, gil_threads
    sleep0 = 0
    if model in ("fcfs", "round_robin", "shortest_remaining", "class_priority",
                 "processor_sharing") or (
            model == "gil_threads" and options.free_threaded):
        wake["native"] = 0  # native is service, like cpu
    elif model == "asyncio":
        gil = rec.engine.model.python_offloaded  # executor threads run Python: a GIL
        wake = {"io": 1, "sleep": 1, "block": 1, "native": int(gil), "cpu": 0}
        for kind in options.offload:
            wake[kind] = 2 if gil and kind != "cpu" else 1
    elif model == "tokio":
        wake = {"io": 1, "sleep": 1, "block": 1, **{k: 1 for k in options.offload}}
        sleep0 = 1
    # a phase that says offload: true is offloaded in asyncio and tokio (one wake-up: its
    # result; two for a call under a GIL), elsewhere run in place
    pooled = {"io": 1, "sleep": 1, "block": 1, "native": 1, "cpu": 1}
    if model == "asyncio" and gil:
        pooled.update(block=2, native=2)
    if model not in ("asyncio", "tokio"):
        pooled = wake
    lo = np.zeros(workload.n, np.int64)
    hi = np.zeros(workload.n, np.int64)
    for task in np.flatnonzero(np.asarray(rec.arrival) >= 0).tolist():
        lo[task] = hi[task] = 1
        flagged = workload.templates[workload.task_class[task]].offloaded
        for i, (kind, arg) in enumerate(workload.phases(task)):
            if arg and kind != "spawn":
                count = (pooled if flagged and flagged[i] else wake).get(kind, 0)
                lo[task] += count
                hi[task] += count
            elif kind == "sleep":
                hi[task] += sleep0
    return lo, hi


def check_wakeups(rec: Probe, workload) -> None:
    """Every arrival and every completed wait (I/O, timer, call) yields exactly one wake-up
    row (``wakeups_expected``): none dropped, none doubled."""
    got = np.bincount(np.asarray(rec.wake_task, np.int64), minlength=workload.n)
    lo, hi = wakeups_expected(rec, workload)
    bad = np.flatnonzero((got < lo) | (got > hi))
    assert not len(bad), (f"task {bad[0]} ({workload.phases(int(bad[0]))}): "
                          f"{got[bad[0]]} wake-ups, expected {lo[bad[0]]}-{hi[bad[0]]}")


def phases_at(rec: Probe, tasks, pcs) -> tuple[np.ndarray, np.ndarray]:
    """(kind, argument) of phase ``pc - 1`` of each task: the phase reached at phase index
    ``pc`` ('' and 0 before the first)."""
    eng = rec.engine
    kinds, args = [], []
    for t, p in zip(tasks, pcs, strict=True):
        kinds.append(KIND_NAMES[eng.kinds[t][p - 1]] if p else "")
        args.append(eng.args[eng.offset[t] + p - 1] if p else 0)
    return np.asarray(kinds, dtype=object), np.asarray(args, np.int64)


def flagged_at(rec: Probe, tasks, pcs) -> np.ndarray:
    """Whether phase ``pc - 1`` of each task says ``offload: true`` (False before the
    first)."""
    wl = rec.engine.workload
    out = []
    for t, p in zip(tasks, pcs, strict=True):
        flags = wl.templates[wl.task_class[t]].offloaded
        out.append(bool(p and flags and flags[p - 1]))
    return np.asarray(out, bool)


def unserved(occupied: pd.DataFrame, need: int, start, until) -> np.ndarray:
    """For each window [start, until): the longest stretch inside it during which fewer than
    ``need`` of the ``occupied`` intervals (columns t0, t1) are open."""
    t0, t1 = occupied["t0"].to_numpy(np.int64), occupied["t1"].to_numpy(np.int64)
    start, until = np.asarray(start, np.int64), np.asarray(until, np.int64)
    at = np.unique(np.concatenate([[0], t0, t1]))
    short = covering(t0, t1, at) < need
    # maximal runs of short segments [at[k], at[k + 1]) (the last runs forever)
    ends = np.append(at[1:], np.iinfo(np.int64).max)
    first = short & ~np.append([False], short[:-1])
    last = short & ~np.append(short[1:], [False])
    d0, d1 = at[first], ends[last]
    longest = np.zeros(len(start), np.int64)
    lo = np.searchsorted(d1, start, "right")
    hi = np.searchsorted(d0, until, "left")
    for i in np.flatnonzero(lo < hi):
        k = slice(lo[i], hi[i])
        longest[i] = (np.minimum(d1[k], until[i]) - np.maximum(d0[k], start[i])).max()
    return longest


def _assert_served(w: pd.DataFrame, longest: np.ndarray, allowed, what: str) -> None:
    bad = np.flatnonzero(longest > allowed)
    assert not len(bad), f"{what}: {w.iloc[bad[:3]].to_dict('records')} unserved {longest[bad[:3]]}"


def os_allowance(rec: Probe, chain: int = 2) -> int:
    """What the machine's delays can add to one wait (0 on the ideal machine): ``chain``
    times the largest timer lateness plus the largest wake latencies (by another thread,
    through a socket) drawn in the run (a timed wait that ends late, then a thread woken
    by the one it wakes, ...)."""
    delays = rec.engine.os
    return chain * (delays.timer_late.largest + delays.wake.largest
                    + delays.net_wake.largest)


def check_conservation(rec: Probe, cores: int) -> None:
    """Work conservation as each model promises it (zero-length waits aside):

    - fcfs, round_robin: a task waits only while every core runs, and the queue is FIFO
      (a task that became ready earlier never starts after one that became ready later),
      save the machine's delays (``os_allowance``: a woken thread joins the queue late).
      shortest_remaining, class_priority: the same without FIFO (their orders are pinned
      by exact tests).
    - processor_sharing: the cores in use are exactly min(cores, tasks in service).
    - asyncio: a loop never idles (neither runs, blocks, waits for a core or for the GIL)
      while one of its tasks is ready for it, save a timer while the loop sleeps in select:
      an idle epoll wait is rounded up to ``select_resolution`` (and with 1 ms, CPython's
      float arithmetic adds another to some: ``epoll_wait_ns``), so that timer may wait
      up to twice ``select_resolution`` after it is due. Waits for an executor thread (and its
      GIL) are not the loop's: of an offloaded call's waits only the last (the result) is.
      A loop may idle a core while another loop's task waits (one loop per task).
    - gil_threads: no two threads run Python (cpu spans) at once, and the GIL is never
      idle while a thread waits for it: some thread runs Python or waits for a core holding
      it, save a wake latency at a time (a dropped GIL is free until the signalled waiter
      runs). Free-threaded: only the OS's promise (``check_lanes``).
    - go: a runnable G waits only while every P is busy (its M running or waiting for a
      core, or its G in a syscall or cgo call: the P is held until retaken), save
      stretches of the machine's delays per P and one more (a P handed to a waking M looks
      idle; ``wakep`` wakes one spinning M at a time, each that finds work wakes the next;
      an arrival may take the P a timer's M woke for), and a timer ``netpoll_resolution``
      late (the idle M's epoll_wait counts whole units). A G whose M waits for a core
      waits for the OS.
    - tokio: a task is ready only while some worker is busy (running, blocked in a call,
      waiting for a core): the LIFO slot and deferred yields belong to a busy worker, and
      queued tasks wake a parked one; save timers, fired on the driver's tick (up to two
      ``timer_resolution`` late: the deadline rounds up, the sleep counts from the floored
      tick) and waits for a ``spawn_blocking`` thread, and the machine's delays
      (``os_allowance``: a driver park late by its timeout, a woken worker, a worker it
      wakes). Idle workers beside a busy one are allowed (a task in a busy worker's LIFO
      slot, I/O seen only at its next poll).
    """
    model = rec.engine.model
    name = model.options.model
    w = waits(rec)
    s = spans(rec)
    if name == "processor_sharing":
        _check_sharing(rec, cores)
        return
    if name in ("fcfs", "round_robin", "shortest_remaining", "class_priority"):
        w = w[w["until"] > w["since"]]
        run = s[s["state"] == "running"]
        late = os_allowance(rec)  # a thread woken by the OS runs that much later
        _assert_served(w, unserved(run, cores, w["since"] + late, w["until"]), 0,
                       "a task waits while a core is idle")
        if name in ("fcfs", "round_robin") and not late:  # (woken late: queued later)
            _check_fifo(w)
    elif name == "asyncio":
        _check_loops(rec, model, w, s)
    elif name == "gil_threads":
        if not model.options.free_threaded:
            _check_gil(rec, model, s)
    elif name == "go":
        _check_ps(rec, model, w, s)
    elif name == "tokio":
        w = _not_pooled(rec, w, model.options.offload)
        w = w[w["until"] > w["since"]]
        workers = s[s["lane"].str.startswith("worker ")]
        allow = np.where(w["cause"] == "sleep", 2 * model.options.timer_resolution, 0)
        allow += os_allowance(rec)  # the driver's park ends late, a woken worker runs later
        _assert_served(w, unserved(workers, 1, w["since"] + allow, w["until"]), 0,
                       "a task waits while every worker is idle")


def _not_pooled(rec: Probe, w: pd.DataFrame, offload: list[str]) -> pd.DataFrame:
    """Drop the waits that are a pool's (asyncio's executor, tokio's ``spawn_blocking``):
    at an offloaded call, those before its last wake-up (the result, which the runtime
    then runs)."""
    kind = phases_at(rec, w["task"], w["pc"])[0]
    offloaded = np.isin(kind, offload) | flagged_at(rec, w["task"], w["pc"])
    wake = offloaded & (w["cause"].to_numpy() == kind)
    order = np.arange(len(w))
    result = pd.Series(np.where(wake, order, -1)).groupby(
        [w["task"].to_numpy(), w["pc"].to_numpy()]).transform("max").to_numpy()
    return w[~(offloaded & (order < result))]


def _check_loops(rec: Probe, model, w: pd.DataFrame, s: pd.DataFrame) -> None:
    options = model.options
    index = {id(loop): i for i, loop in enumerate(model.loops)}
    w = _not_pooled(rec, w, options.offload)
    w = w[w["until"] > w["since"]]
    loop = np.asarray([index[id(model.loop_of[t])] for t in w["task"]], np.int64)
    # (twice: CPython's float arithmetic adds a millisecond to some waits, epoll_wait_ns)
    allow = np.where(w["cause"] == "sleep", 2 * options.select_resolution, 0)
    allow += os_allowance(rec)  # select ends late, or the parked loop runs after its wake
    for i in range(len(model.loops)):
        mine = loop == i
        lane = s[s["lane"] == f"loop {i}"]
        longest = unserved(lane, 1, w["since"][mine] + allow[mine], w["until"][mine])
        _assert_served(w[mine], longest, 0, f"loop {i} idles while its task is ready")


def _check_gil(rec: Probe, model, s: pd.DataFrame) -> None:
    threads = s[s["lane"].str.startswith("thread ")]
    run = threads[threads["state"] == "running"]
    python = run[phases_at(rec, run["task"], run["pc"])[0] == "cpu"].sort_values("t0")
    t0, t1 = python["t0"].to_numpy(), python["t1"].to_numpy()
    assert (t0[1:] >= t1[:-1]).all(), "two threads run Python at once"
    waiting = threads[threads["state"] == "gil_wait"]
    # a wait ends with a take: the thread holds the GIL (an instant, if it drops it at once
    # to block) and any idle stretch after it is another waiter's wake-up
    takes = waiting[["t1"]].assign(t0=waiting["t1"] - 1)
    holder = pd.concat([python, threads[threads["state"] == "runnable"], takes])
    _assert_served(waiting, unserved(holder, 1, waiting["t0"], waiting["t1"]),
                   rec.engine.os.wake.largest, "the GIL is idle while a thread waits for it")


def _check_ps(rec: Probe, model, w: pd.DataFrame, s: pd.DataFrame) -> None:
    options = model.options
    lanes = [f"P{i}" for i in range(model.nprocs)]
    busy = s[s["lane"].isin(lanes) & s["state"].isin(["running", "runnable"])]
    # a G in a syscall or cgo call holds its P (until retaken): from the call (its first
    # running or ready, for a cgo M queued for a core) to the wake
    began = pd.DataFrame(rec.runs + rec.readies, columns=["task", "t", "pc"]).groupby(
        ["task", "pc"])["t"].min()
    calls = w[w["cause"].isin(["block", "native"])]
    start = began.reindex(pd.MultiIndex.from_frame(calls[["task", "pc"]])).to_numpy(float)
    assert not np.isnan(start).any()
    held = pd.DataFrame({"t0": start.astype(np.int64), "t1": calls["since"].to_numpy()})
    occupied = pd.concat([busy[["t0", "t1"]], held], ignore_index=True)
    w = _in_runtime(w, s)
    late = np.where(w["cause"] == "sleep", options.netpoll_resolution, 0)
    _assert_served(w, unserved(occupied, model.nprocs, w["since"] + late, w["until"]),
                   os_allowance(rec, model.nprocs + 1), "a G waits while a P is idle")


def _in_runtime(w: pd.DataFrame, s: pd.DataFrame) -> pd.DataFrame:
    """The waits of positive length, each cut where its task's thread starts waiting for a
    core (a ``runnable`` span of the task: from then on the wait is the OS's, which
    ``check_lanes`` checks)."""
    q = s[s["state"] == "runnable"]
    w = w[w["until"] > w["since"]].copy()
    if len(q) and len(w):
        pair = w.reset_index().merge(q[["task", "t0"]], on="task")
        pair = pair[(pair["t0"] >= pair["since"]) & (pair["t0"] < pair["until"])]
        cut = pair.groupby("index")["t0"].min()
        w.loc[cut.index, "until"] = cut
    return w[w["until"] > w["since"]]


def _check_fifo(w: pd.DataFrame) -> None:
    """Waits sorted by start end in the same order (ties at a start in any order)."""
    w = w.sort_values(["since", "until"])
    since, until = w["since"].to_numpy(), w["until"].to_numpy()
    before = np.maximum.accumulate(until)
    k = np.searchsorted(since, since, "left") - 1  # the last wait that began strictly before
    ok = k < 0
    ok[~ok] = before[k[~ok]] <= until[~ok]
    bad = np.flatnonzero(~ok)
    assert not len(bad), f"not FIFO: {w.iloc[bad[:3]].to_dict('records')}"


def _check_sharing(rec: Probe, cores: int) -> None:
    """PS: from each task's calls of ``running`` (one per phase), its time in cpu phases;
    the shares recorded must use min(cores, n) cores whenever n tasks are in service."""
    runs = pd.DataFrame(rec.runs, columns=["task", "t", "pc"])
    runs["next"] = runs.groupby("task")["t"].shift(-1)
    kinds, args = phases_at(rec, runs["task"], runs["pc"])
    first = ~runs.duplicated(["task", "pc"]).to_numpy()  # (the end's call repeats the last)
    serve = runs[first & np.isin(kinds, ["cpu", "native"]) & (args > 0)]
    assert serve["next"].notna().all()
    n0, n1 = serve["t"].to_numpy(np.int64), serve["next"].to_numpy(np.int64)
    sh = np.asarray([(a, b) for a, b, _ in rec.shares], np.int64).reshape(-1, 2)
    use = np.asarray([c for *_, c in rec.shares], float)
    at = np.unique(np.concatenate([n0, n1, sh[:, 0], sh[:, 1]]))
    n = covering(n0, n1, at)
    used = covering(sh[:, 0], sh[:, 1], at, use)
    bad = np.flatnonzero(np.abs(used - np.minimum(n, cores)) > 1e-6)
    assert not len(bad), f"at {at[bad[0]]}: {used[bad[0]]} cores in use, {n[bad[0]]} in service"


__all__ = ["MS", "US", "config", "one", "run_scheduler", "finish_times", "check_invariants",
           "replications", "within_ci", "counted", "wakeup_table"]
