"""Shared test helpers: build configs from dicts, run one scheduler, check invariants."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from sim.config import Config, validate
from sim.metrics import task_table, wakeup_table
from sim.runner import simulate
from sim.workload import generate

MS = 1_000_000
US = 1_000


def config(workload: dict, schedulers: dict, **top) -> Config:
    """A validated config from plain dicts (horizon defaults to 1s, one core)."""
    raw = {"horizon": "1s", "machine": {"cores": 1}, **top,
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
    return dict(zip(tasks["task_id"].tolist(), tasks["finish"].tolist(), strict=True))


def check_invariants(tasks: pd.DataFrame, rec, workload, cores: int) -> None:
    """What must hold for every model on every workload."""
    done = tasks[tasks["finish"].notna()]
    # every arrived task finishes exactly once (no drain cap hit in these tests)
    assert len(done) == len(tasks)
    assert tasks["task_id"].is_unique
    # wait is accumulated by the recorder; it must equal what latency leaves over
    latency = done["latency"].astype("int64")
    assert (latency - done["demand"] - done["overhead"] == done["wait"]).all()
    assert (done["wait"] >= 0).all()
    slow = done["slowdown"].dropna()
    assert (slow >= 1 - 1e-12).all()
    # busy core time equals the cpu work offered plus the overheads charged
    offered = done["cpu"].sum() + done["overhead"].sum()
    assert abs(rec.busy_total - offered) <= 1e-6 * max(offered, 1) + len(done)
    span = int(done["finish"].max()) if len(done) else 0
    assert rec.busy_total <= cores * span + 1


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
    return tasks[tasks["counted"] & tasks["finish"].notna()]


__all__ = ["MS", "US", "config", "one", "run_scheduler", "finish_times", "check_invariants",
           "replications", "within_ci", "counted", "wakeup_table"]
