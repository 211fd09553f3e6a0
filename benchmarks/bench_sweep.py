"""Parallel speed-up of a sweep: the same sweep with ``--jobs 1`` and ``--jobs N``.

    python benchmarks/bench_sweep.py [--config configs/sweep_load.yaml] [--jobs 2]
                                     [--repeat 1] [key=value ...]

Every measurement runs the whole sweep into a fresh temporary folder (nothing reused from
a store), wall clock from start to the last file written, worker start-up included: what a
user waits for. The summaries of all settings must be byte-identical. Reported: wall time
(best of ``--repeat``), runs/s, speed-up over ``--jobs 1`` and efficiency (speed-up / N),
and CPU time: the runs' own (``cpu_s`` in the run files) and this process's (with
``--jobs 1`` it includes the runs). On a shared machine other work steals the cores (the
load average printed says how much): then the CPU times still show the parallel overhead.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from sim.config import load_config
from sim.store import RunStore
from sim.sweep import plan, run_sweep

ROOT = Path(__file__).resolve().parent.parent


def timed(cfg, jobs: int, folder: Path) -> tuple[float, float, float, bytes]:
    """(wall s, this process's CPU s, the runs' CPU s, summary.csv bytes) of a fresh sweep."""
    start, cpu_start = time.perf_counter(), time.process_time()
    result = run_sweep(cfg, folder, jobs=jobs, progress=False)
    wall, parent = time.perf_counter() - start, time.process_time() - cpu_start
    assert not result.failed and result.reused == 0, "every run must be executed"
    store = RunStore(folder / "runs")
    cpu = sum(store.info(s.key)["cpu_s"] for s in plan(cfg))
    return wall, parent, cpu, (folder / "summary.csv").read_bytes()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--config", default=str(ROOT / "configs/sweep_load.yaml"))
    p.add_argument("--jobs", type=int, default=2, help="the parallel setting (default 2)")
    p.add_argument("--repeat", type=int, default=1, help="best of this many measurements")
    p.add_argument("overrides", nargs="*", default=["sweep.replications=1"],
                   help="config overrides (default: sweep.replications=1)")
    args = p.parse_args()
    cfg = load_config(args.config, args.overrides)
    runs = len(plan(cfg))
    print(f"{cfg.name}: {runs} runs, {len(cfg.schedulers)} schedulers, "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    walls, summaries = {}, set()
    for jobs in (1, args.jobs):
        best = (float("inf"), 0.0, 0.0)
        for i in range(args.repeat):
            with tempfile.TemporaryDirectory() as tmp:
                *times, summary = timed(cfg, jobs, Path(tmp) / f"jobs{jobs}-{i}")
            best = min(best, tuple(times))
            summaries.add(summary)
        wall, parent, cpu = best
        walls[jobs] = wall
        print(f"--jobs {jobs}: {wall:7.2f} s  {runs / wall:6.1f} runs/s  CPU: the runs "
              f"{cpu:.2f} s, this process {parent:.2f} s")
    speedup = walls[1] / walls[args.jobs]
    print(f"speed-up {speedup:.2f}x with {args.jobs} jobs (efficiency "
          f"{speedup / args.jobs:.0%}); summaries identical: {len(summaries) == 1}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
