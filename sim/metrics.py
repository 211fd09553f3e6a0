"""From a recorder to tidy tables: tasks, wake-ups and summary rows.

The measured window is [warmup, horizon): a task counts if it arrived in it, and is
followed to completion. Percentiles use numpy's default (linear) method. Columns in integer
nanoseconds end in ``_ns`` (``arrival_ns``, ``latency_ns``), as the summary's end in ``_ms``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .recorder import Recorder, int64s
from .units import ns_to_ms
from .workload import Workload

SUMMARY_COLUMNS = [
    "scheduler", "model", "point", "replication", "seed", "class", "tasks",
    "throughput_per_s", "utilisation", "occupancy", "latency_mean_ms", "latency_p50_ms",
    "latency_p95_ms", "latency_p99_ms", "latency_p999_ms", "latency_max_ms", "slowdown_mean",
    "slowdown_p99", "wait_mean_ms", "wake_delay_mean_ms", "wake_delay_p50_ms",
    "wake_delay_p99_ms", "wake_delay_max_ms", "jain", "preemptions", "context_switches",
    "gil_handoffs", "slow_callbacks", "unfinished",
]


def jain(x: np.ndarray) -> float:
    """Jain's index (sum x)^2 / (n sum x^2); NaN for no values."""
    if not len(x):
        return float("nan")
    return float(x.sum() ** 2 / (len(x) * (x**2).sum()))


def _nullable(values: np.ndarray, valid: np.ndarray) -> pd.arrays.IntegerArray:
    """Integer ns with <NA> where there is no value (a task that never started or finished)."""
    return pd.arrays.IntegerArray(values.astype(np.int64), ~valid)


def task_table(rec: Recorder, workload: Workload) -> pd.DataFrame:
    """One row per task that arrived; times in integer nanoseconds (``_ns``); ``counted``:
    whether it arrived in the measured window, i.e. is one of the tasks the summary
    describes."""
    arrival = int64s(rec.arrival)
    ids = np.flatnonzero(arrival >= 0)
    arrival = arrival[ids]
    finish = int64s(rec.finish)[ids]
    start = int64s(rec.start)[ids]
    done = finish >= 0
    demand = workload.demand[ids]
    latency = np.where(done, finish - arrival, -1)
    with np.errstate(divide="ignore", invalid="ignore"):
        slowdown = np.where(done & (demand > 0), latency / demand, np.nan)
    lo, hi = workload.warmup, workload.horizon
    return pd.DataFrame({
        "task_id": ids,
        "class": pd.Categorical.from_codes(workload.task_class[ids], workload.classes),
        "arrival_ns": arrival,
        "start_ns": _nullable(start, start >= 0),
        "finish_ns": _nullable(finish, done),
        "demand_ns": demand,
        "cpu_ns": workload.cpu[ids],
        "overhead_ns": int64s(rec.overhead)[ids],
        "wait_ns": int64s(rec.wait)[ids],
        "latency_ns": _nullable(latency, done),
        "slowdown": slowdown,
        "preemptions": int64s(rec.preemptions)[ids],
        "context_switches": int64s(rec.switches)[ids],
        "gil_handoffs": int64s(rec.handoffs)[ids],
        "slow_callbacks": int64s(rec.slow)[ids],
        "counted": (arrival >= lo) & (arrival < hi),
    })


def wakeup_table(rec: Recorder, workload: Workload) -> pd.DataFrame:
    """One row per wake-up: when the task could continue (``ready_ns``), when it ran
    (``run_ns``) and the delay between; ``counted`` as its task's."""
    w = rec.wakeups()
    task = w["task_id"]
    arrival = int64s(rec.arrival)[task]
    return pd.DataFrame({
        "task_id": task,
        "class": pd.Categorical.from_codes(workload.task_class[task], workload.classes),
        "ready_ns": w["ready"],
        "run_ns": w["run"],
        "delay_ns": w["run"] - w["ready"],
        "counted": (arrival >= workload.warmup) & (arrival < workload.horizon),
    })


def _pct(values: np.ndarray, q: float) -> float:
    return float(np.percentile(values, q)) if len(values) else float("nan")


def _mean(values: np.ndarray) -> float:
    return float(values.mean()) if len(values) else float("nan")


def occupancy_of(rec: Recorder, window_ns: int) -> float:
    """The busiest server's occupied share of the window: an asyncio loop, a Tokio worker,
    a Go P (busy or blocked in a call) or a GIL (held). A property of the run, the same in
    every class's row; NaN for a model without such servers (the reference disciplines)."""
    if not rec.occupied:
        return float("nan")
    return max(rec.occupied.values()) / window_ns


# a p99 over fewer finished tasks lies between the two largest latencies (numpy's linear
# method): one task more or less moves it
P99_TASKS = 100


def thin_tail_notes(summary: pd.DataFrame, classes: list[str] | None = None) -> list[str]:
    """One line per class (of ``classes`` if given; ``all`` only when named) whose latency
    p99 rests on fewer than ``P99_TASKS`` finished tasks in some run, at its fewest."""
    finished = summary["tasks"] - summary["unfinished"]
    thin = summary[(finished < P99_TASKS)
                   & (summary["class"].isin(classes) if classes else summary["class"] != "all")]
    runs = len(summary[["point", "replication"]].drop_duplicates())  # (of a sweep)
    lines = []
    for name, rows in thin.groupby("class", sort=False):
        fewest = int(finished[rows.index].min())
        where = " in a run" if runs > 1 else ""
        rests = (f"its latency p99 rests on {fewest} finished tasks{where} (under "
                 f"{P99_TASKS}, a p99 lies between the two largest latencies)" if fewest else
                 f"none of its counted tasks finished{where}, so it has no latency p99")
        lines.append(f"note: class {name!r}: {rests}; a longer horizon gives one that "
                     "rests on more")
    return lines


def summary_rows(tasks: pd.DataFrame, wakeups: pd.DataFrame, rec: Recorder,
                 workload: Workload, cores: int) -> list[dict]:
    """One row per class, then ``all``: the contract's columns (times in ms)."""
    window_ns = workload.horizon - workload.warmup
    rows = []
    groups = [(name, tasks["class"] == name, wakeups["class"] == name,
               rec.busy_by_class[i]) for i, name in enumerate(workload.classes)]
    groups.append(("all", np.ones(len(tasks), bool), np.ones(len(wakeups), bool),
                   sum(rec.busy_by_class)))
    occupancy = occupancy_of(rec, window_ns)
    counted = tasks["counted"].to_numpy()
    finish = tasks["finish_ns"].to_numpy(dtype=float, na_value=np.nan)
    in_window = (finish >= workload.warmup) & (finish < workload.horizon)
    for name, of_class, wmask, busy in groups:
        of_class = np.asarray(of_class)
        mask = of_class & counted
        sel = tasks[mask]
        done = sel["finish_ns"].notna().to_numpy()
        latency = sel["latency_ns"].to_numpy(dtype=float, na_value=np.nan)[done]
        slowdown = sel["slowdown"].to_numpy()
        slowdown = slowdown[~np.isnan(slowdown)]
        delays = wakeups["delay_ns"].to_numpy()[np.asarray(wmask) & wakeups["counted"].to_numpy()]
        rows.append({
            "class": name,
            "tasks": int(mask.sum()),
            "throughput_per_s": float((of_class & in_window).sum() / (window_ns / 1e9)),
            "utilisation": float(busy / (cores * window_ns)),
            "occupancy": occupancy,
            "latency_mean_ms": ns_to_ms(_mean(latency)),
            "latency_p50_ms": ns_to_ms(_pct(latency, 50)),
            "latency_p95_ms": ns_to_ms(_pct(latency, 95)),
            "latency_p99_ms": ns_to_ms(_pct(latency, 99)),
            "latency_p999_ms": ns_to_ms(_pct(latency, 99.9)),
            "latency_max_ms": ns_to_ms(float(latency.max()) if len(latency) else np.nan),
            "slowdown_mean": _mean(slowdown),
            "slowdown_p99": _pct(slowdown, 99),
            "wait_mean_ms": ns_to_ms(_mean(sel["wait_ns"].to_numpy()[done].astype(float))),
            "wake_delay_mean_ms": ns_to_ms(_mean(delays.astype(float))),
            "wake_delay_p50_ms": ns_to_ms(_pct(delays, 50)),
            "wake_delay_p99_ms": ns_to_ms(_pct(delays, 99)),
            "wake_delay_max_ms": ns_to_ms(float(delays.max()) if len(delays) else np.nan),
            "jain": jain(1 / slowdown),
            "preemptions": int(sel["preemptions"].sum()),
            "context_switches": int(sel["context_switches"].sum()),
            "gil_handoffs": int(sel["gil_handoffs"].sum()),
            "slow_callbacks": int(sel["slow_callbacks"].sum()),
            "unfinished": int((~done).sum()),
        })
    return rows
