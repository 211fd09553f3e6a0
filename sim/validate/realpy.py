"""The real CPython runtimes: replay a workload on asyncio or on threads, print timings.

Run as a script (``python realpy.py asyncio|threads [options] < workload``), not as part
of the ``sim`` package: the measured process should hold nothing but the standard library
(no numpy, pandas or their garbage). The workload and output formats are the ones the Go
and Tokio programs share (see ``runners.encode``): one task per line in, JSON lines out,
times in ns since the start. ``probe`` measures the machine's timer lateness and the
overheads that are calibrated (a short sleep's overshoot, an asyncio task step's cost).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

GAP = 20_000  # ns: a longer pause inside a busy loop means the thread was not running
now = time.perf_counter_ns  # CLOCK_MONOTONIC: the clock asyncio's loop.time() reads too


def spin(ns: int) -> None:
    """Busy in pure Python until ``ns`` have passed: a burst holds the event loop for
    exactly its length, whatever else the machine does meanwhile."""
    end = now() + ns
    while now() < end:
        pass


def burst(ns: int) -> None:
    """Busy in pure Python for ``ns`` of running time: pauses longer than GAP (the GIL
    taken by another thread) are not counted, so a thread does the same work however
    often it loses the GIL. Every loop pass checks the eval breaker."""
    done, last = 0, now()
    while done < ns:
        t = now()
        if t - last < GAP:
            done += t - last
        last = t


def read(stream) -> tuple[list[list[tuple[str, int]]], list[int]]:
    """Tasks' phases and the roots (arrival 0) from the shared text format."""
    tasks, roots = [], []
    for line in stream:
        fields = line.split()
        if not fields:
            continue
        if int(fields[1]) > 0:
            sys.exit("only arrivals at 0 are supported")
        if int(fields[1]) == 0:
            roots.append(len(tasks))
        tasks.append([(k, int(a)) for k, a in zip(fields[2::2], fields[3::2], strict=True)])
    return tasks, roots


class Log:
    """What every task did, kept in memory during the run and printed after it."""

    def __init__(self, n: int):
        self.t0 = 0
        self.arrival = [-1] * n
        self.start = [-1] * n
        self.finish = [-1] * n
        self.wakes: list[tuple[int, int, int]] = []

    def ns(self) -> int:
        return now() - self.t0

    def dump(self, info: dict) -> None:
        out = [json.dumps({"kind": "info", **info})]
        out += [json.dumps({"kind": "task", "id": i, "arrival": a, "start": s, "finish": f})
                for i, (a, s, f) in enumerate(zip(self.arrival, self.start, self.finish,
                                                  strict=True))]
        out += [json.dumps({"kind": "wake", "id": i, "ready": r, "run": u})
                for i, r, u in self.wakes]
        print("\n".join(out))


def run_asyncio(tasks, roots) -> Log:
    """One event loop; roots are created at t0, children with ``create_task``."""
    log = Log(len(tasks))
    left = len(tasks)

    async def task(i: int) -> None:
        nonlocal left
        log.start[i] = start = log.ns()
        log.wakes.append((i, log.arrival[i], start))
        for kind, arg in tasks[i]:
            if kind == "cpu":
                spin(arg)
            elif kind == "sleep":
                ready = log.ns() + arg
                await asyncio.sleep(arg / 1e9)
                log.wakes.append((i, ready, log.ns()))
            elif kind == "yield":
                await asyncio.sleep(0)
            elif kind == "spawn":
                log.arrival[arg] = log.ns()
                loop.create_task(task(arg))
        log.finish[i] = log.ns()
        left -= 1
        if not left:
            finished.set()

    async def start_all() -> None:
        nonlocal loop, finished
        loop, finished = asyncio.get_running_loop(), asyncio.Event()
        log.t0 = now()
        for i in roots:
            log.arrival[i] = 0
            loop.create_task(task(i))
        await finished.wait()

    loop = finished = None
    asyncio.run(start_all())
    return log


def run_threads(tasks, roots, threads: int) -> Log:
    """A ``ThreadPoolExecutor`` whose threads are started before t0 (starting a thread
    costs GIL hand-offs that the model does not have); spawns are ``submit``."""
    log = Log(len(tasks))
    pool = ThreadPoolExecutor(max_workers=threads)
    started = threading.Barrier(threads + 1)
    for _ in range(threads):
        pool.submit(started.wait)
    started.wait()
    left = len(tasks)
    lock, finished = threading.Lock(), threading.Event()

    def task(i: int) -> None:
        nonlocal left
        log.start[i] = start = log.ns()
        log.wakes.append((i, log.arrival[i], start))
        for kind, arg in tasks[i]:
            if kind == "cpu":
                burst(arg)
            elif kind == "sleep":
                ready = log.ns() + arg
                time.sleep(arg / 1e9)
                log.wakes.append((i, ready, log.ns()))
            elif kind == "yield":
                time.sleep(0)
            elif kind == "spawn":
                log.arrival[arg] = log.ns()
                pool.submit(task, arg)
        log.finish[i] = log.ns()
        with lock:
            left -= 1
            if not left:
                finished.set()

    log.t0 = now()
    for i in roots:
        log.arrival[i] = 0
        pool.submit(task, i)
    finished.wait()
    pool.shutdown()
    return log


def probe(samples: int) -> dict:
    """What the machine adds to every timer wait (how late ``time.sleep(1 ms)`` returns:
    mean, p50, p99; the tolerances' floor), how often a CPU-bound thread loses its core
    for over 0.5 ms (other load; reported, not used), and the overheads the models have
    options for: a 20 us sleep's overshoot (Go's sysmon sleeps with ``usleep(20)``) and the
    cost of one asyncio task step (``sleep(0)`` round trips of 10 tasks)."""
    def lateness(ns: int) -> list[int]:
        out = []
        for _ in range(samples):
            t = now()
            time.sleep(ns / 1e9)
            out.append(now() - t - ns)
        return sorted(out)

    ms, short = lateness(1_000_000), lateness(20_000)
    gaps, last, end = [], now(), now() + 300_000_000  # a CPU-bound thread's lost time
    while last < end:
        t = now()
        if t - last > 500_000:
            gaps.append(t - last)
        last = t

    async def spinner(n: int) -> None:
        for _ in range(n):
            await asyncio.sleep(0)

    async def steps(k: int, n: int) -> int:
        t = now()
        await asyncio.gather(*(spinner(n) for _ in range(k)))
        return now() - t

    step = min(asyncio.run(steps(10, 200)) for _ in range(5)) / 2000
    return {"kind": "probe", "lateness_mean": int(statistics.mean(ms)),
            "lateness_p50": int(statistics.median(ms)),
            "lateness_p99": ms[round(0.99 * (len(ms) - 1))],
            "sleep_20us_p50": int(statistics.median(short)), "asyncio_step": int(step),
            "spin_gaps_per_s": len(gaps) / 0.3, "spin_gap_max": max(gaps, default=0)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runtime", choices=["asyncio", "threads", "probe"])
    parser.add_argument("--switch-interval", type=float, default=0.005, help="seconds")
    parser.add_argument("--threads", type=int, default=32)
    parser.add_argument("--samples", type=int, default=300)
    args = parser.parse_args()
    if args.runtime == "probe":
        print(json.dumps(probe(args.samples)))
        return
    tasks, roots = read(sys.stdin)
    info = {"runtime": f"CPython {sys.version.split()[0]}"}
    if args.runtime == "asyncio":
        log = run_asyncio(tasks, roots)
    else:
        sys.setswitchinterval(args.switch_interval)
        info["switch_interval"] = sys.getswitchinterval()
        log = run_threads(tasks, roots, args.threads)
    log.dump(info)


if __name__ == "__main__":
    main()
