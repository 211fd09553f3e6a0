"""Tasks simulated per second for each model, beside a textbook SimPy M/M/1 model (a
``simpy.Resource`` and one process per customer) in the same run.

    python benchmarks/bench_models.py [--tasks 200000] [--models asyncio fcfs ...]
                                      [--workload mm1|general] [--profile linux|ideal]

Workloads: ``mm1`` (rho 0.8, one exponential burst per task: the models' fast paths) and
``general`` (2 cores, 0.7 of a core's work, so that the GIL keeps up: requests of three
phases around an I/O wait beside a class of 30 ms computations, so loops are contended,
preemption happens and, where a model has them, there are more threads than cores). Before
its speed is reported, every run's results are checked: the M/M/1 mean latency against 1/(mu
- lambda) for the models that serve it first-come first-served (within 10 % on ``ideal``;
on ``linux``, where every hand-off of gil_threads' GIL waits out the woken thread's wake-up
latency, not under it by more than 10 %: the OS only adds delay), and on both workloads
throughput and utilisation against the offered rates (a model that got faster by getting
wrong stops the benchmark).

Reported: tasks/s, the ratio to the textbook model (the median over ``--repeats`` runs, each
beside a textbook run just before it, so that a noisy shared machine affects both alike),
and peak memory per recorded task.
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

import numpy as np
import simpy

from sim.config import validate
from sim.metrics import summary_rows, task_table, wakeup_table
from sim.models import MODELS
from sim.runner import simulate
from sim.workload import generate

RHO = 0.8
MEAN_MS = 1.0


def textbook(n: int, seed: int = 1) -> float:
    """The textbook SimPy M/M/1: a Resource, a source process, a process per customer."""
    rng = np.random.default_rng(seed)
    gaps = rng.exponential(MEAN_MS / RHO, n)
    services = rng.exponential(MEAN_MS, n)
    env = simpy.Environment()
    server = simpy.Resource(env, capacity=1)
    latencies = []

    def customer(service):
        arrived = env.now
        with server.request() as req:
            yield req
            yield env.timeout(service)
        latencies.append(env.now - arrived)

    def source():
        for gap, service in zip(gaps, services, strict=True):
            yield env.timeout(gap)
            env.process(customer(service))

    env.process(source())
    start = time.process_time()
    env.run()
    return n / (time.process_time() - start)


# general: per request 0.3 + 0.2 ms of cpu around a 2 ms wait; hogs of 30 ms; 2 cores
# 800 x 0.5 ms + 10 x 30 ms = 0.7 cores of work: within the GIL's one core, too
GENERAL_RATES = {"api": 800.0, "hog": 10.0}
GENERAL_CPU_MS = {"api": 0.5, "hog": 30.0}
GENERAL_CORES = 2
# models with more threads than cores where they have threads
GENERAL_OPTIONS = {"gil_threads": {"threads": 8}, "go": {"gomaxprocs": 4},
                   "tokio": {"workers": 4}, "asyncio": {"loops": 2},
                   "round_robin": {"quantum": "2ms"}}
FCFS_ON_MM1 = ("asyncio", "gil_threads", "go", "tokio", "fcfs")  # serve M/M/1 in order


def model_config(model: str, n: int, workload: str = "mm1", profile: str = "linux"):
    if workload == "mm1":
        horizon_s = n / (RHO / (MEAN_MS / 1000))
        return validate({
            "horizon": f"{horizon_s}s", "machine": {"cores": 1, "profile": profile},
            "workload": {"w": {"arrival": {"poisson": f"{RHO / MEAN_MS * 1000}/s"},
                               "phases": [{"cpu": f"exp({MEAN_MS}ms)"}]}},
            "schedulers": {model: {"model": model}},
        })
    horizon_s = n / sum(GENERAL_RATES.values())
    return validate({
        "horizon": f"{horizon_s}s", "machine": {"cores": GENERAL_CORES, "profile": profile},
        "workload": {
            "api": {"arrival": {"poisson": f"{GENERAL_RATES['api']}/s"},
                    "phases": [{"cpu": "exp(0.3ms)"}, {"io": "exp(2ms)"}, {"cpu": "0.2ms"}]},
            "hog": {"arrival": {"poisson": f"{GENERAL_RATES['hog']}/s"},
                    "phases": [{"cpu": "30ms"}]}},
        "schedulers": {model: {"model": model, **GENERAL_OPTIONS.get(model, {})}},
    })


def check(model: str, workload: str, cfg, rec, wl, profile: str = "linux") -> None:
    """Stop (SystemExit) if the run's results disagree with theory or with the offered
    load: a speed figure for wrong results means nothing."""
    tasks = task_table(rec, wl)
    rows = {r["class"]: r for r in summary_rows(tasks, wakeup_table(rec, wl), rec, wl,
                                               cfg.machine.cores)}
    problems = []
    if workload == "mm1":
        rate, cores = RHO / MEAN_MS * 1000, 1
        offered = RHO
        if model in FCFS_ON_MM1:  # E[T] = 1 / (mu - lambda); one long run: 10 %
            theory = 1 / (1000 / MEAN_MS - rate) * 1000
            got = rows["all"]["latency_mean_ms"]
            if got / theory - 1 < -0.10 or (profile == "ideal" and got / theory - 1 > 0.10):
                problems.append(f"M/M/1 mean latency {got:.3f} ms, theory {theory:.3f} ms")
    else:
        rate, cores = sum(GENERAL_RATES.values()), GENERAL_CORES
        offered = sum(GENERAL_RATES[c] * GENERAL_CPU_MS[c] / 1000 for c in GENERAL_RATES)
        offered /= cores
    # the runtime's own CPU charged to the tasks (socket messages, Go's sysmon rounds, step
    # overheads) is busy time as well
    offered += tasks["overhead_ns"].mean() / 1e9 * rate / cores
    tput, util = rows["all"]["throughput_per_s"], rows["all"]["utilisation"]
    if abs(tput / rate - 1) > 0.03:
        problems.append(f"throughput {tput:.1f}/s, offered {rate:.1f}/s")
    if abs(util / offered - 1) > 0.03:
        problems.append(f"utilisation {util:.3f}, offered load {offered:.3f}")
    if rows["all"]["unfinished"]:
        problems.append(f"{rows['all']['unfinished']} tasks unfinished")
    if problems:
        raise SystemExit(f"{model} on {workload}: results disagree ({'; '.join(problems)}); "
                         "no speed reported")


def measure(model: str, n: int, workload: str = "mm1",
            profile: str = "linux") -> tuple[float, float, int]:
    """(tasks/s for simulate + metrics tables, bytes per task at peak, tasks)."""
    cfg = model_config(model, n, workload, profile)
    workload = generate(cfg)
    tracemalloc.start()
    start = time.process_time()
    rec = simulate(cfg, workload, model, cfg.seed)
    task_table(rec, workload), wakeup_table(rec, workload)
    elapsed = time.process_time() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return workload.n / elapsed, peak / workload.n, workload.n


def model_rate(model: str, n: int, workload: str = "mm1", profile: str = "linux") -> float:
    """Tasks/s of simulate + metrics tables for ``model``, its results checked (untimed)."""
    cfg = model_config(model, n, workload, profile)
    wl = generate(cfg)
    start = time.process_time()
    rec = simulate(cfg, wl, model, cfg.seed)
    task_table(rec, wl), wakeup_table(rec, wl)
    rate = wl.n / (time.process_time() - start)
    check(model, workload, cfg, rec, wl, profile)
    return rate


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tasks", type=int, default=200_000)
    p.add_argument("--repeats", type=int, default=3,
                   help="textbook/model pairs per model; the median ratio is reported")
    p.add_argument("--models", nargs="*", default=list(MODELS))
    p.add_argument("--workload", choices=("mm1", "general"), default="mm1")
    p.add_argument("--profile", choices=("linux", "ideal"), default="linux",
                   help="the machine (linux, the default users run; ideal: no OS delays)")
    args = p.parse_args()
    print(f"workload {args.workload}, {args.profile} machine, {args.tasks:,} tasks, "
          f"median of {args.repeats} pairs")
    print(f"{'model':<20}{'tasks/s':>12}{'textbook':>10}{'ratio':>8}{'bytes/task':>12}")
    for model in args.models:
        # each model run is paired with a textbook run just before it: the machine is
        # shared and its speed drifts, so only ratios measured side by side are compared
        pairs = [(textbook(args.tasks),
                  model_rate(model, args.tasks, args.workload, args.profile))
                 for _ in range(args.repeats)]
        base, rate = sorted(pairs, key=lambda pair: pair[1] / pair[0])[len(pairs) // 2]
        ratio = rate / base  # the median pair's (odd --repeats)
        _, per_task, _ = measure(model, min(args.tasks, 50_000), args.workload,
                                 args.profile)  # (slower)
        print(f"{model:<20}{rate:>12,.0f}{base:>10,.0f}{ratio:>8.2f}{per_task:>12,.0f}",
              flush=True)


if __name__ == "__main__":
    main()
