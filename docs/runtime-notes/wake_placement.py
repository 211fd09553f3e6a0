"""Where Linux puts a real program's woken threads: on a CPU already running another task
while a CPU idles? How the numbers in docs/validation.md ("Woken threads put on a busy
CPU") were measured.

    python docs/runtime-notes/wake_placement.py go_p2_hog asyncio_offload --runs 3

Runs a validation scenario's real program (not a served one: loadgen's threads would mix
in) under ``perf sched record`` (root, or perf_event_paranoid <= 0) and reads its
``sched_waking`` and ``sched_switch`` events: a wake-up is "put on a busy CPU" when the
CPU its thread next runs on was running another task at the wake-up while some other CPU
was idle. For each run: the program's wake-ups, how many were put on a busy CPU, their
waits from wake-up to running (p50, how many over 0.5 ms, the sum). The simulator's cores
have no identity: a woken thread gets any idle core, so it never waits that way.

For a scenario whose ``hog`` repeats a ``cpu`` burst then a ``sleep`` (``go_p1_hog``,
``go_p2_hog``, ``asyncio_hog``, ``tokio_hog``), also the wall-clock length of each burst
(its end is the next sleep's start), real (these runs) against simulated (as many seeds,
on ``--profile``): a thread that shares its CPU takes longer than its work.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from sim.phases import CPU, SLEEP
from sim.runner import simulate
from sim.validate import harness, runners, scenarios
from sim.workload import generate

EXEC = re.compile(r"comm=perf-exec (?:next_)?pid=(\d+)")  # perf's child, before its exec
EVENT = re.compile(r"\s*(.+?)\s+(\d+)\s+\[(\d+)\]\s+([\d.]+):\s+sched:(\w+):\s+(.*)")


def placement(script: str) -> tuple[int, np.ndarray]:
    """The program's wake-ups and, for those put on a busy CPU while another idled, each
    one's wait (s) until it ran."""
    running: dict[int, int] = {}  # CPU -> pid running (0: idle)
    ours: set[int] = set()  # the program's threads: perf's child and what it forks
    woken: dict[int, tuple[float, dict[int, int]]] = {}
    wakeups, waits = 0, []
    for line in script.splitlines():
        m = EVENT.match(line)
        if not m:
            continue
        cpu, t, event, fields = int(m[3]), float(m[4]), m[5], m[6]
        ours.update(int(pid) for pid in EXEC.findall(fields))
        if event == "sched_process_fork":
            parent, child = (int(x) for x in re.findall(r"pid=(\d+)", fields)[:2])
            if parent in ours:
                ours.add(child)
        elif event == "sched_switch":
            nxt = int(re.search(r"next_pid=(\d+)", fields)[1])
            running[cpu] = nxt
            if nxt in woken:
                at, seen = woken.pop(nxt)
                wakeups += 1
                others_idle = any(pid == 0 for c, pid in seen.items() if c != cpu)
                if seen.get(cpu, 0) != 0 and others_idle:
                    waits.append(t - at)
        elif event in ("sched_waking", "sched_wakeup_new"):
            pid = int(re.search(r" pid=(\d+)", fields)[1])
            if pid in ours:
                woken[pid] = (t, dict(running))
    return wakeups, np.array(waits)


def hog_bursts(rec, workload) -> np.ndarray | None:
    """Wall-clock ms of each hog burst (a wake-up from one sleep to the next sleep's call),
    or None when the scenario has no cpu-then-sleep hog."""
    if "hog" not in workload.classes:
        return None
    c = workload.classes.index("hog")
    kinds = list(workload.templates[c].kinds)
    hog = int(np.flatnonzero(workload.task_class == c)[0])
    args = workload.args[workload.offset[hog]: workload.offset[hog] + len(kinds)]
    cycle = [k for k in kinds if k in (CPU, SLEEP)]
    if cycle[1:] != [CPU, SLEEP] * ((len(cycle) - 1) // 2) or cycle[0] != SLEEP:
        return None
    sleeps = np.array([a for k, a in zip(kinds, args, strict=True) if k == SLEEP])
    task, ready, run = (np.asarray(x) for x in (rec.wake_task, rec.wake_ready, rec.wake_run))
    ready, run = ready[task == hog], run[task == hog]
    if len(ready) == len(sleeps) + 1:  # the task's start, recorded as a wake-up
        ready, run = ready[1:], run[1:]
    if len(ready) != len(sleeps):  # other wake-ups (an offloaded burst's end)
        return None
    return (ready[1:] - sleeps[1:] - run[:-1]) / 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("scenarios", nargs="+", choices=sorted(
        n for n, s in scenarios.SCENARIOS.items() if not s.served))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--profile", default="linux", help="the simulated side's machine profile")
    args = ap.parse_args()
    if shutil.which("perf") is None:
        sys.exit("needs perf (apt-get install linux-perf)")
    with tempfile.TemporaryDirectory() as scratch:
        tools = runners.Toolchains(build_dir=Path(scratch), nice=harness.default_nice())
        for name in args.scenarios:
            scenario = scenarios.SCENARIOS[name]
            cfg = harness.scenario_config(scenario, args.profile)
            workload = generate(cfg, cfg.seed)
            argv, env, _ = runners.command(scenario.runtime, harness.real_options(cfg), tools)
            data = os.path.join(scratch, "perf.data")
            real_bursts = []
            for i in range(args.runs):
                perf = ["perf", "sched", "record", "-q", "-o", data, "--",
                        "nice", "-n", str(tools.nice), *argv]
                done = subprocess.run(perf, input=runners.encode(workload), text=True,
                                      capture_output=True, env={**os.environ, **env})
                if done.returncode:
                    sys.exit(f"perf sched record failed: {done.stderr.strip()[-300:]}")
                records = [json.loads(x) for x in done.stdout.splitlines() if x]
                bursts = hog_bursts(harness.real_recorder(records, workload, cfg), workload)
                if bursts is not None:
                    real_bursts.append(bursts)
                script = subprocess.run(
                    ["perf", "script", "-i", data, "-F", "comm,tid,cpu,time,event,trace"],
                    capture_output=True, text=True).stdout
                wakeups, waits = placement(script)
                print(f"{name} run {i + 1}: {wakeups} wake-ups, {len(waits)} "
                      f"({100 * len(waits) / max(wakeups, 1):.1f} %) put on a busy CPU "
                      f"while another idled: wait p50 {np.median(waits) * 1e6:.0f} us, "
                      f"{(waits > 5e-4).sum()} over 0.5 ms, {waits.sum() * 1e3:.1f} ms in all"
                      if len(waits) else f"{name} run {i + 1}: {wakeups} wake-ups, none "
                      "put on a busy CPU while another idled", flush=True)
            model = next(iter(cfg.schedulers))
            for side, runs in (("real", real_bursts), ("simulated", [
                    hog_bursts(simulate(cfg, workload, model, seed), workload)
                    for seed in range(cfg.seed, cfg.seed + args.runs)] if real_bursts else [])):
                for b in runs:
                    print(f"{name} hog bursts, {side}: {len(b)}, wall ms mean {b.mean():.3f}, "
                          f"p50 {np.median(b):.3f}, max {b.max():.3f}")


if __name__ == "__main__":
    main()
