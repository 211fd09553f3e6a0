"""Queueing theory: the models against closed forms, over independent replications.

Method. A check runs R independent replications (seeds 1..R, each from an empty system,
the warm-up dropped) and takes one statistic per replication: a mean, a probability or a
quantile of the counted tasks' sojourn or waiting times. The theoretical value must lie in
the 99.9 % t-interval of those R values. The tolerance is the measured spread between
replications, not a per-task standard error (tasks in one queue are strongly correlated,
so that error would be far too small).

Power. Every check also asserts that its interval's half-width is under 5 % of its target
(``POWER``), and the ``test_*_checks_fail_*`` tests show each check rejecting its target
moved by 5 % either way: a 5 % error in a model is seen. Replications and horizons are
sized for that (every half-width is at most ~3.3 %); the tails (p99, p95 of the wait) and
the mean wait of M/G/1 need the most. FCFS and processor sharing, the fastest models, carry
the replications.

What is checked, and on what:
- M/M/1 (FCFS, rho 0.5): the whole sojourn distribution, Exp(mu - lambda): its mean and
  its p10, p25, p50, p75, p90 and p99. Processor sharing on the same queue has the same
  mean and a different distribution: it passes the mean and fails the quantiles.
- M/M/c (FCFS on 2 and 4 cores, rho 0.6), Erlang C: P(W > t) = C(c, a) exp(-(c mu -
  lambda) t), checked as P(W > 0) = C(c, a), the mean wait, and the quantiles of the wait
  given W > 0 against Exp(c mu - lambda). A LIFO queue fed the same arrivals has the same
  P(W > 0) and mean wait: it fails the quantiles.
- M/G/1 (FCFS, two job sizes, service cv^2 ~ 1.9): Pollaczek-Khinchine's mean wait.
- M/G/1-PS on the same workload: E[T | x] = x / (1 - rho) for both sizes.
A model that is exactly FCFS M/M/1 or M/M/c, fed the same seed, must give FCFS's latencies
to the nanosecond, so a second statistical test of it would add no evidence (the old
asyncio and fcfs M/M/1 tests were bit-identical): one asyncio loop, a one-thread pool, c
free-threaded threads on c cores, and Go and Tokio on one P / worker with their periodic
global-queue check (and Go's 10 ms preemption) off are checked task by task instead, and
FCFS itself against a textbook queue computed here.
"""

from __future__ import annotations

import functools
import heapq
import math
from collections import deque
from dataclasses import dataclass

import numpy as np
import pytest
from helpers import config, replications, run_scheduler, within_ci
from scipy import stats

CONFIDENCE = 0.999
POWER = 0.05  # each interval's half-width must be under this fraction of its target
WRONG = (0.95, 1.05)  # targets this far off must fail
MU = 1000.0  # service rate (mean service 1 ms), per second
WARMUP = "0.2s"  # relaxation time is ~10 ms at these loads

MM1_RHO, MM1_SEEDS, MM1_HORIZON = 0.5, range(1, 31), "40s"
MM1_QUANTILES = (0.10, 0.25, 0.50, 0.75, 0.90, 0.99)
MMC_RHO, MMC_SEEDS, MMC_HORIZON = 0.6, range(1, 31), {2: "25s", 4: "15s"}
WAIT_QUANTILES = (0.10, 0.25, 0.50, 0.75, 0.90, 0.95)  # of W given W > 0
# two Poisson classes = M/G/1 with a two-point service mix: rho = 0.3 + 0.2
MIX = {"small": (600.0, 0.5e-3), "large": (40.0, 5e-3)}  # rate /s, size s
MIX_SEEDS, MIX_HORIZON = range(1, 31), "30s"


# --- checks -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    """One statistic over replications against its theoretical value."""

    name: str
    values: np.ndarray  # one per replication
    target: float

    @property
    def half(self) -> float:
        """Half-width of the t-interval of the replication values."""
        n = len(self.values)
        return stats.t.ppf(0.5 + CONFIDENCE / 2, n - 1) * self.values.std(ddof=1) / math.sqrt(n)

    @property
    def power(self) -> float:
        """Half-width relative to the target: an error larger than about this is seen."""
        return self.half / abs(self.target)

    def holds(self, factor: float = 1.0) -> bool:
        return within_ci(self.values, self.target * factor, CONFIDENCE)

    def __str__(self) -> str:
        mean = self.values.mean()
        return (f"{self.name}: {mean:.6g} +- {self.half:.3g} vs {self.target:.6g} "
                f"({(mean - self.target) / self.target:+.1%}, half-width {self.power:.1%})")


def assert_theory(checks: list[Check]) -> None:
    """Every check holds, and each has the power to see a 5 % error."""
    wrong = [str(c) for c in checks if not c.holds()]
    assert not wrong, "theory rejected:\n" + "\n".join(wrong)
    weak = [str(c) for c in checks if c.power >= POWER]
    assert not weak, f"half-width not under {POWER:.0%} of the target:\n" + "\n".join(weak)


def assert_wrong_targets_fail(checks: list[Check]) -> None:
    """Each check rejects its target moved 5 % down and 5 % up."""
    passed = [f"x{f}: {c}" for c in checks for f in WRONG if c.holds(f)]
    assert not passed, "a target 5 % off passed:\n" + "\n".join(passed)


def exponential_checks(samples: list[np.ndarray], rate: float, what: str) -> list[Check]:
    """Mean and quantiles of per-replication samples against Exp(rate)."""
    checks = [Check(f"{what} mean", replications(np.mean, samples), 1 / rate)]
    for p in MM1_QUANTILES:
        checks.append(Check(f"{what} p{p * 100:g}",
                            replications(lambda s, p=p: np.quantile(s, p), samples),
                            -math.log1p(-p) / rate))
    return checks


def erlang_c(c: int, a: float) -> float:
    """Probability of waiting in M/M/c with offered load a = lambda / mu."""
    tail = a**c / math.factorial(c) / (1 - a / c)
    return tail / (sum(a**k / math.factorial(k) for k in range(c)) + tail)


def erlang_c_checks(waits: list[np.ndarray], lam: float, c: int) -> list[Check]:
    """P(W > t) = C exp(-(c mu - lambda) t): P(W > 0), E[W], and W | W > 0 ~ Exp."""
    prob, rate = erlang_c(c, lam / MU), c * MU - lam
    checks = [Check("P(W > 0)", replications(lambda w: np.mean(w > 0), waits), prob),
              Check("E[W]", replications(np.mean, waits), prob / rate)]
    for p in WAIT_QUANTILES:
        checks.append(Check(f"W | W > 0 p{p * 100:g}",
                            replications(lambda w, p=p: np.quantile(w[w > 0], p), waits),
                            -math.log1p(-p) / rate))
    return checks


def mix_rho() -> float:
    return sum(rate * size for rate, size in MIX.values())


def pollaczek_khinchine_check(waits: list[np.ndarray]) -> Check:
    """M/G/1 FCFS: E[W] = lambda E[S^2] / 2(1 - rho)."""
    lam_es2 = sum(rate * size**2 for rate, size in MIX.values())
    return Check("E[W]", replications(np.mean, waits), lam_es2 / (2 * (1 - mix_rho())))


def size_proportional_checks(per_class: dict[str, list[np.ndarray]]) -> list[Check]:
    """M/G/1-PS: E[T | x] = x / (1 - rho) for each job size x."""
    return [Check(f"E[T | {name}]", replications(np.mean, per_class[name]),
                  size / (1 - mix_rho())) for name, (_, size) in MIX.items()]


# --- simulations (cached: the fails-tests reuse them) -----------------------------------


@dataclass(frozen=True)
class Run:
    """One replication's tasks in arrival order (times in ns, ``counted`` a mask)."""

    arrival: np.ndarray
    demand: np.ndarray
    wait: np.ndarray
    latency: np.ndarray
    counted: np.ndarray
    cls: np.ndarray

    def seconds(self, column: str) -> np.ndarray:
        return getattr(self, column)[self.counted] / 1e9


def single_burst(rate: float, scheduler: dict, cores: int, horizon: str):
    return config({"w": {"arrival": {"poisson": f"{rate}/s"}, "phases": [{"cpu": "exp(1ms)"}]}},
                  {"s": scheduler}, machine={"cores": cores}, horizon=horizon, warmup=WARMUP)


def mixed(scheduler: dict):
    return config({name: {"arrival": {"poisson": f"{rate}/s"},
                          "phases": [{"cpu": f"{size * 1e3:g}ms"}]}
                   for name, (rate, size) in MIX.items()},
                  {"s": scheduler}, horizon=MIX_HORIZON, warmup=WARMUP)


def run(cfg, seed: int) -> Run:
    tasks = run_scheduler(cfg, "s", seed)[0]
    assert tasks["finish_ns"].notna().all()
    tasks = tasks.sort_values(["arrival_ns", "task_id"], kind="stable")
    column = lambda name: tasks[name].to_numpy("int64")  # noqa: E731
    return Run(column("arrival_ns"), column("demand_ns"), column("wait_ns"), column("latency_ns"),
               tasks["counted"].to_numpy(bool), tasks["class"].astype(str).to_numpy())


@functools.cache
def mm1_runs(model: str) -> tuple[Run, ...]:
    cfg = single_burst(MM1_RHO * MU, {"model": model}, 1, MM1_HORIZON)
    return tuple(run(cfg, seed) for seed in MM1_SEEDS)


@functools.cache
def mmc_runs(cores: int) -> tuple[Run, ...]:
    cfg = single_burst(MMC_RHO * cores * MU, {"model": "fcfs"}, cores, MMC_HORIZON[cores])
    return tuple(run(cfg, seed) for seed in MMC_SEEDS)


@functools.cache
def mix_runs(model: str) -> tuple[Run, ...]:
    return tuple(run(mixed({"model": model}), seed) for seed in MIX_SEEDS)


def per_class_latency(runs) -> dict[str, list[np.ndarray]]:
    return {name: [r.latency[r.counted & (r.cls == name)] / 1e9 for r in runs] for name in MIX}


def queue_waits(arrival: np.ndarray, service: np.ndarray, servers: int,
                lifo: bool = False) -> np.ndarray:
    """Waits in a textbook non-preemptive queue with ``servers`` servers, in FIFO or LIFO
    order, for jobs in arrival order (an arrival at a completion's instant comes first)."""
    n = len(arrival)
    arrival, service = arrival.tolist(), service.tolist()
    wait = [0] * n
    busy: list[int] = []  # completion times of the busy servers
    queue: deque[int] = deque()
    i = 0
    while i < n or queue:
        if i < n and (len(busy) < servers or arrival[i] <= busy[0]):
            if len(busy) < servers:
                heapq.heappush(busy, arrival[i] + service[i])
            else:
                queue.append(i)
            i += 1
            continue
        now = heapq.heappop(busy)
        if queue:
            j = queue.pop() if lifo else queue.popleft()
            wait[j] = now - arrival[j]
            heapq.heappush(busy, now + service[j])
    return np.asarray(wait, dtype=np.int64)


# --- the theory -------------------------------------------------------------------------


def test_mm1_sojourn_is_exponential():
    """M/M/1 FCFS: sojourn ~ Exp(mu - lambda), mean and six quantiles p10..p99."""
    samples = [r.seconds("latency") for r in mm1_runs("fcfs")]
    assert_theory(exponential_checks(samples, MU * (1 - MM1_RHO), "T"))


@pytest.mark.parametrize("cores", [2, 4])
def test_mmc_wait_follows_erlang_c(cores):
    """M/M/c FCFS: P(W > t) = C(c, a) exp(-(c mu - lambda) t)."""
    waits = [r.seconds("wait") for r in mmc_runs(cores)]
    assert_theory(erlang_c_checks(waits, MMC_RHO * cores * MU, cores))


def test_mg1_mean_wait_is_pollaczek_khinchine():
    """M/G/1 FCFS with a two-point service mix (cv^2 ~ 1.9): E[W] = lambda E[S^2] / 2(1-rho)."""
    waits = [r.seconds("wait") for r in mix_runs("fcfs")]
    assert_theory([pollaczek_khinchine_check(waits)])


def test_processor_sharing_is_size_proportional():
    """M/G/1-PS: E[T | x] = x / (1 - rho) for both sizes (0.5 ms and 5 ms) of one workload."""
    assert_theory(size_proportional_checks(per_class_latency(mix_runs("processor_sharing"))))


# --- the same queue, task by task ---------------------------------------------------------


@pytest.mark.parametrize("cores", [1, 2, 4])
def test_fcfs_is_the_textbook_queue(cores):
    """FCFS's waits equal a FIFO queue computed here from its own arrivals and demands, to
    the ns (so the LIFO queue below differs from it only in the order)."""
    r = (mm1_runs("fcfs") if cores == 1 else mmc_runs(cores))[0]
    assert len(r.wait) > 10_000
    assert np.array_equal(queue_waits(r.arrival, r.demand, cores), r.wait)


@pytest.mark.parametrize("cores, scheduler", [
    (1, {"model": "asyncio"}),
    (1, {"model": "gil_threads", "threads": 1}),
    (2, {"model": "gil_threads", "threads": 2, "free_threaded": True}),
    (4, {"model": "gil_threads", "threads": 4, "free_threaded": True}),
    (1, {"model": "tokio", "global_queue_interval": 1_000_000}),
], ids=["asyncio", "one-thread-pool", "free-threaded-2", "free-threaded-4",
        "tokio-one-worker"])
def test_exact_fcfs_runtimes_give_fcfs_latencies(cores, scheduler):
    """These run single-burst tasks FCFS with no overhead: the same latencies as ``fcfs``,
    task by task, so the M/M/1 and Erlang C checks above hold for them too. (With its
    defaults Tokio is not FCFS: its self-tuned global queue interval lets a later task run
    first. Go is not FCFS even with one P: the next test.)"""
    rate = MMC_RHO * cores * MU
    fcfs = run(single_burst(rate, {"model": "fcfs"}, cores, "5s"), 7)
    other = run(single_burst(rate, scheduler, cores, "5s"), 7)
    assert len(fcfs.latency) > 2_000 * cores
    assert (fcfs.wait > 0).mean() > 0.2
    assert np.array_equal(other.latency, fcfs.latency)


def test_go_on_one_p_keeps_mm1s_mean_not_its_distribution():
    """Go with one P, no preemption and no global queue check runs one task at a time, never
    by size, so its mean sojourn is M/M/1's; but a poll returns the connections it finds
    newest first (netpoll's gList), so tasks polled together run LIFO and the spread
    widens: every quantile check rejects it, p99 above its target (about 15 % over)."""
    scheduler = {"model": "go", "global_queue_interval": 1_000_000, "time_slice": "100s"}
    cfg = single_burst(MM1_RHO * MU, scheduler, 1, MM1_HORIZON)
    runs = [run(cfg, seed) for seed in MM1_SEEDS]
    mean, *quantiles = exponential_checks([r.seconds("latency") for r in runs],
                                          MU * (1 - MM1_RHO), "T")
    assert_theory([mean])
    assert not any(c.holds() for c in quantiles), [str(c) for c in quantiles]
    p99 = quantiles[-1]
    assert p99.values.mean() > p99.target * 1.05, str(p99)
    fcfs = mm1_runs("fcfs")
    assert [len(r.latency) for r in runs] == [len(r.latency) for r in fcfs]
    assert all(not np.array_equal(r.latency, f.latency) for r, f in zip(runs, fcfs, strict=True))


# --- each check can fail ------------------------------------------------------------------


def test_mm1_checks_fail_wrong_targets_and_processor_sharing():
    """5 % off fails every M/M/1 check. M/M/1-PS has FCFS's mean sojourn 1/(mu - lambda)
    but not its distribution: the mean check passes it, the quantile checks do not."""
    rate = MU * (1 - MM1_RHO)
    assert_wrong_targets_fail(
        exponential_checks([r.seconds("latency") for r in mm1_runs("fcfs")], rate, "T"))
    ps = exponential_checks([r.seconds("latency") for r in mm1_runs("processor_sharing")],
                            rate, "T")
    assert ps[0].holds(), ps[0]
    failing = [c.name for c in ps[1:] if not c.holds()]
    assert len(failing) >= 3, "\n".join(map(str, ps))


@pytest.mark.parametrize("cores", [2, 4])
def test_erlang_c_checks_fail_wrong_targets_and_lifo(cores):
    """5 % off fails every Erlang C check. A LIFO queue, fed the same arrivals and service
    times, keeps P(W > 0) and E[W] (the number waiting evolves the same way) and so passes a
    mean-only check; the waiting-time quantiles reject it."""
    lam = MMC_RHO * cores * MU
    runs = mmc_runs(cores)
    assert_wrong_targets_fail(erlang_c_checks([r.seconds("wait") for r in runs], lam, cores))
    lifo = [queue_waits(r.arrival, r.demand, cores, lifo=True)[r.counted] / 1e9 for r in runs]
    checks = {c.name: c for c in erlang_c_checks(lifo, lam, cores)}
    assert checks.pop("P(W > 0)").holds()
    assert checks.pop("E[W]").holds()
    failing = [name for name, c in checks.items() if not c.holds()]
    assert len(failing) >= 3, "\n".join(map(str, checks.values()))


def test_pk_and_ps_checks_fail_wrong_targets_and_each_other():
    """5 % off fails Pollaczek-Khinchine and both size-proportional checks; and each
    discipline fails the other's formula on the same workload (PS waits less on average;
    FCFS delays small jobs as long as large ones)."""
    fcfs, ps = mix_runs("fcfs"), mix_runs("processor_sharing")
    assert_wrong_targets_fail([pollaczek_khinchine_check([r.seconds("wait") for r in fcfs])])
    assert_wrong_targets_fail(size_proportional_checks(per_class_latency(ps)))
    assert not pollaczek_khinchine_check([r.seconds("wait") for r in ps]).holds()
    assert not any(c.holds() for c in size_proportional_checks(per_class_latency(fcfs)))
