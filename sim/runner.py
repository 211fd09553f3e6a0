"""``sim.run(cfg)``: config -> workload -> model -> recorder -> metrics.

Every (point, replication) draws one task set from its replication's seed; every
scheduler replays that same task set, and every grid point uses the same seeds (common
random numbers across points as across schedulers: a difference between two points is
the swept key's, not the luck of the draw). Randomness inside a model comes from a stream
keyed by the run seed and the scheduler's name, so adding a scheduler changes no other
scheduler's results.
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import yaml
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
    trace: pd.DataFrame | None = None  # with trace=True: lane, task, state, start_ns, end_ns


def replication_seeds(cfg: Config) -> list[int]:
    """The seed of each replication: ``seed`` itself for the first, so a config without a
    sweep, and replication 0 of every sweep point, run with the config's seed; the r-th
    (r >= 1) is child r - 1 of ``SeedSequence(seed)`` (independent streams; a child does
    not depend on how many are spawned, so adding replications keeps the ones done)."""
    reps = cfg.sweep.replications if cfg.sweep else 1
    children = np.random.SeedSequence(cfg.seed).spawn(reps - 1)
    return [cfg.seed] + [int(c.generate_state(1)[0]) for c in children]


def run_seeds(cfg: Config) -> list[tuple[int, int, int]]:
    """(point, replication, seed) for every run: replication r has the same seed at every
    point (common random numbers across points), so any run of a sweep can be reproduced
    alone with its point's values and ``seed=<its seed>``."""
    seeds = replication_seeds(cfg)
    return [(p, r, seed) for p in range(len(cfg.sweep_points()))
            for r, seed in enumerate(seeds)]


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


def swept_columns(grid: dict[str, list[Any]]) -> dict[str, tuple[str, str]]:
    """Swept key -> (its column in the tables, its kind): a key whose values are all
    durations is ``<key>_ms`` (``schedulers.g.switch_interval_ms``), all rates
    ``<key>_per_s``, as the summary's other columns carry their unit; other keys keep
    their name (``load`` is a fraction)."""
    columns = {}
    for key, values in grid.items():
        written = any(isinstance(v, str) for v in values)  # (a grid of 0s is no duration)
        for kind, suffix in (("duration", "_ms"), ("rate", "_per_s"), ("", "")):
            if not kind or written and all(_reads_as(kind, v) for v in values):
                columns[key] = (key + suffix, kind)
                break
    return columns


def _reads_as(kind: str, value: Any) -> bool:
    parse = parse_duration if kind == "duration" else parse_rate
    if kind == "rate" and not isinstance(value, str):
        return False
    try:
        parse(value)
    except UnitError:
        return False
    return True


def swept_row(grid: dict[str, list[Any]], values: dict[str, Any]) -> dict[str, Any]:
    """A point's values as table columns: durations in ms, rates per second, numbers as
    they are, anything else (a list, a distribution) as the text a config would hold."""
    row = {}
    for key, (column, kind) in swept_columns(grid).items():
        value = values[key]
        if kind == "duration":
            value = parse_duration(value) / NS_PER["ms"]
        elif kind == "rate":
            value = parse_rate(value)
        elif isinstance(value, bool) or not isinstance(value, int | float | str):
            value = yaml.safe_dump(value, default_flow_style=True, width=1 << 20).strip()
            value = value.removesuffix("\n...").strip()
        elif any(isinstance(v, float) for v in grid[key]) and isinstance(value, int):
            value = float(value)  # one type per column ([1, 2.5]: floats)
        row[column] = value
    return row


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
        frame = frame.rename(columns={"start": "start_ns", "end": "end_ns"})
        traces.append(frame.astype({"task": "int64", "start_ns": "int64", "end_ns": "int64"}))
    return rows, tasks, wakeups


def identity(scheduler: str, model: str, point: int, replication: int,
             seed: int) -> dict[str, Any]:
    """The columns that name a summary row (before the metrics; the swept ones follow)."""
    return {"scheduler": scheduler, "model": model,
            "point": point, "replication": replication, "seed": seed}


def name_run(frame: pd.DataFrame, scheduler: str, point: int, swept: dict[str, Any],
             replication: int) -> pd.DataFrame:
    """A run's tasks or wake-ups with the columns that name the run in front: scheduler,
    point, the point's swept values, replication."""
    for i, (column, value) in enumerate({"scheduler": scheduler, "point": point, **swept,
                                         "replication": replication}.items()):
        frame.insert(i, column, value)
    return frame


def run_one(cfg: Config, point: int, replication: int, seed: int,
            values: dict[str, Any], schedulers: list[str] | None = None, on_done=None,
            traces: list[pd.DataFrame] | None = None):
    """All (or the given) schedulers on one (point, replication): three lists of rows/frames.

    The task set is drawn once and replayed under each scheduler; ``on_done()`` is called
    after each scheduler (for a progress bar)."""
    point_cfg = cfg.at_point(values)
    workload = generate(point_cfg, seed)
    swept = swept_row(cfg.sweep.grid, values) if values else {}
    summaries, task_frames, wake_frames = [], [], []
    for name in schedulers or list(cfg.schedulers):
        rows, tasks, wakeups = simulate_tables(point_cfg, workload, name, seed, traces)
        lead = identity(name, point_cfg.schedulers[name].model, point, replication, seed)
        summaries += [{**lead, **row, **swept} for row in rows]
        task_frames.append(name_run(tasks, name, point, swept, replication))
        wake_frames.append(name_run(wakeups, name, point, swept, replication))
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
    swept = [column for column, _ in swept_columns(cfg.sweep.grid).values()] \
        if cfg.sweep else []
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
