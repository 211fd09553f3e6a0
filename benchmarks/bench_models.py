"""Tasks simulated per second on M/M/1 (rho 0.8) for each model, beside a textbook SimPy
model (a ``simpy.Resource`` and one process per customer) in the same run.

    python benchmarks/bench_models.py [--tasks 200000] [--models asyncio fcfs ...]

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
from sim.metrics import task_table, wakeup_table
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


def model_config(model: str, n: int):
    horizon_s = n / (RHO / (MEAN_MS / 1000))
    return validate({
        "horizon": f"{horizon_s}s", "machine": {"cores": 1},
        "workload": {"w": {"arrival": {"poisson": f"{RHO / MEAN_MS * 1000}/s"},
                           "phases": [{"cpu": f"exp({MEAN_MS}ms)"}]}},
        "schedulers": {model: {"model": model}},
    })


def measure(model: str, n: int) -> tuple[float, float, int]:
    """(tasks/s for simulate + metrics tables, bytes per task at peak, tasks)."""
    cfg = model_config(model, n)
    workload = generate(cfg)
    tracemalloc.start()
    start = time.process_time()
    rec = simulate(cfg, workload, model, cfg.seed)
    task_table(rec, workload), wakeup_table(rec, workload)
    elapsed = time.process_time() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return workload.n / elapsed, peak / workload.n, workload.n


def model_rate(model: str, n: int) -> float:
    """Tasks/s of simulate + metrics tables for ``model`` on the M/M/1 workload."""
    cfg = model_config(model, n)
    workload = generate(cfg)
    start = time.process_time()
    rec = simulate(cfg, workload, model, cfg.seed)
    task_table(rec, workload), wakeup_table(rec, workload)
    return workload.n / (time.process_time() - start)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tasks", type=int, default=200_000)
    p.add_argument("--repeats", type=int, default=3,
                   help="textbook/model pairs per model; the median ratio is reported")
    p.add_argument("--models", nargs="*", default=list(MODELS))
    args = p.parse_args()
    print(f"{'model':<20}{'tasks/s':>12}{'textbook':>10}{'ratio':>8}{'bytes/task':>12}")
    for model in args.models:
        # each model run is paired with a textbook run just before it: the machine is
        # shared and its speed drifts, so only ratios measured side by side are compared
        pairs = [(textbook(args.tasks), model_rate(model, args.tasks))
                 for _ in range(args.repeats)]
        base, rate = sorted(pairs, key=lambda pair: pair[1] / pair[0])[len(pairs) // 2]
        ratio = rate / base  # the median pair's (odd --repeats)
        _, per_task, _ = measure(model, min(args.tasks, 50_000))  # tracemalloc: slower
        print(f"{model:<20}{rate:>12,.0f}{base:>10,.0f}{ratio:>8.2f}{per_task:>12,.0f}",
              flush=True)


if __name__ == "__main__":
    main()
