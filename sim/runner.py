"""``sim.run(cfg)``: config -> workload -> model -> recorder -> metrics.

Every (point, replication) draws one task set from its own seed; every scheduler replays
that same task set. Randomness inside a model comes from a stream keyed by the run seed
and the scheduler's name, so adding a scheduler changes no other scheduler's results.
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from .config import Config
from .metrics import SUMMARY_COLUMNS, summary_rows, task_table, wakeup_table
from .models import MODELS
from .models.base import Engine
from .recorder import Recorder
from .units import NS_PER, UnitError, parse_duration, parse_rate
from .workload import Workload, generate


@dataclass
class Result:
    """Tidy DataFrames: ``summary`` (the contract's columns), ``tasks``, ``wakeups``."""

    summary: pd.DataFrame
    tasks: pd.DataFrame
    wakeups: pd.DataFrame
    seeds: list[dict[str, int]] = field(default_factory=list)
    trace: pd.DataFrame | None = None  # with trace=True: lane, task, state, start, end


def run_seeds(cfg: Config) -> list[tuple[int, int, int]]:
    """(point, replication, seed) for every run: one ``SeedSequence(seed)`` child each.

    A config without a sweep runs once with ``seed`` itself, so any run of a sweep can be
    reproduced alone with ``seed=<its seed>``.
    """
    points = len(cfg.sweep_points())
    reps = cfg.sweep.replications if cfg.sweep else 1
    if points == 1 and reps == 1:
        return [(0, 0, cfg.seed)]
    children = np.random.SeedSequence(cfg.seed).spawn(points * reps)
    return [(p, r, int(children[p * reps + r].generate_state(1)[0]))
            for p in range(points) for r in range(reps)]


def model_rng(seed: int, scheduler: str) -> np.random.Generator:
    """The scheduler's own random stream, independent of every other scheduler's."""
    key = int.from_bytes(hashlib.sha256(scheduler.encode()).digest()[:8], "little")
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(key,)))


def simulate(cfg: Config, workload: Workload, scheduler: str, seed: int,
             trace: bool = False) -> Recorder:
    """Replay ``workload`` under one scheduler of ``cfg``; return what was recorded
    (with ``trace``, also who ran where and when, for the timeline)."""
    options = cfg.schedulers[scheduler]
    rec = Recorder(workload.task_class.tolist(), len(workload.classes), cfg.warmup, cfg.horizon)
    rec.tracing = trace
    engine = Engine(workload, rec, cfg, MODELS[options.model], options,
                    model_rng(seed, scheduler))
    engine.run()
    return rec


def swept_value(value: Any) -> Any:
    """A grid value as a summary column: durations in ms, rates per second."""
    if isinstance(value, str):
        for parse, scale in ((parse_duration, NS_PER["ms"]), (parse_rate, 1)):
            try:
                return parse(value) / scale
            except UnitError:
                pass
    return value


def simulate_tables(point_cfg: Config, workload: Workload, scheduler: str, seed: int,
                    traces: list[pd.DataFrame] | None = None):
    """One run: (summary rows without identity columns, tasks, wakeups) of ``scheduler``;
    given a ``traces`` list, the run is traced and its trace appended to it."""
    rec = simulate(point_cfg, workload, scheduler, seed, trace=traces is not None)
    tasks = task_table(rec, workload)
    wakeups = wakeup_table(rec, workload)
    rows = summary_rows(tasks, wakeups, rec, workload, point_cfg.machine.cores)
    if traces is not None:
        frame = pd.DataFrame({"scheduler": scheduler, **rec.trace()})
        traces.append(frame.astype({"task": "int64", "start": "int64", "end": "int64"}))
    return rows, tasks, wakeups


def identity(scheduler: str, model: str, point: int, replication: int, seed: int,
             values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The columns that name a summary row: (the leading ones, one per swept key)."""
    lead = {"scheduler": scheduler, "model": model,
            "point": point, "replication": replication, "seed": seed}
    return lead, {k: swept_value(v) for k, v in values.items()}


def run_one(cfg: Config, point: int, replication: int, seed: int,
            values: dict[str, Any], schedulers: list[str] | None = None, on_done=None,
            traces: list[pd.DataFrame] | None = None):
    """All (or the given) schedulers on one (point, replication): three lists of rows/frames.

    The task set is drawn once and replayed under each scheduler; ``on_done()`` is called
    after each scheduler (for a progress bar)."""
    point_cfg = cfg.at_point(values)
    workload = generate(point_cfg, seed)
    summaries, task_frames, wake_frames = [], [], []
    for name in schedulers or list(cfg.schedulers):
        rows, tasks, wakeups = simulate_tables(point_cfg, workload, name, seed, traces)
        lead, swept = identity(name, point_cfg.schedulers[name].model, point, replication,
                               seed, values)
        summaries += [{**lead, **row, **swept} for row in rows]
        for frame, out in ((tasks, task_frames), (wakeups, wake_frames)):
            frame.insert(0, "scheduler", name)
            frame.insert(1, "point", point)
            frame.insert(2, "replication", replication)
            out.append(frame)
        if on_done:
            on_done()
    return summaries, task_frames, wake_frames


def run(cfg: Config, progress: bool | None = None, trace: bool = False) -> Result:
    """Run every scheduler on every (point, replication) of ``cfg``, in process; with
    ``trace``, also record the lanes' states for the timeline (``Result.trace``)."""
    points = cfg.sweep_points()
    seeds = run_seeds(cfg)
    show = sys.stderr.isatty() if progress is None else progress
    summaries: list[dict] = []
    task_frames: list[pd.DataFrame] = []
    wake_frames: list[pd.DataFrame] = []
    traces: list[pd.DataFrame] | None = [] if trace else None
    bar = tqdm(total=len(seeds) * len(cfg.schedulers), disable=not show, unit="run",
               desc=cfg.name)
    for point, replication, seed in seeds:
        s, t, w = run_one(cfg, point, replication, seed, points[point], on_done=bar.update,
                          traces=traces)
        summaries += s
        task_frames += t
        wake_frames += w
    bar.close()
    swept = list(points[0])
    summary = pd.DataFrame(summaries, columns=SUMMARY_COLUMNS + swept)
    summary = order_summary(summary, list(cfg.schedulers), list(cfg.workload))
    return Result(summary, pd.concat(task_frames, ignore_index=True),
                  pd.concat(wake_frames, ignore_index=True),
                  [{"point": p, "replication": r, "seed": s} for p, r, s in seeds],
                  pd.concat(traces, ignore_index=True) if traces else None)


def order_summary(summary: pd.DataFrame, schedulers: list[str],
                  classes: list[str]) -> pd.DataFrame:
    """Rows in scheduler config order, point, replication, class (``all`` last)."""
    keys = pd.DataFrame({
        "s": summary["scheduler"].map({n: i for i, n in enumerate(schedulers)}),
        "c": summary["class"].map({n: i for i, n in enumerate([*classes, "all"])}),
    })
    order = np.lexsort((keys["c"], summary["replication"], summary["point"], keys["s"]))
    return summary.iloc[order].reset_index(drop=True)
