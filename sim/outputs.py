"""Results on disk and on the terminal.

A run's files are written into a temporary sibling folder that is then renamed into
place (``sim.folders``: which folders may be replaced), so a reader never sees a
half-written result. ``summary.csv`` is a pure function
of config and seed; wall-clock and host facts go to ``manifest.json`` only. A sweep adds
``aggregate.csv``: per scheduler x point x class, the mean of each metric over the
replications and its 95 % Student t-interval.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import os
import platform
import shutil
import sys
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import yaml

from .config import Config
from .folders import RUN, atomic_dir, atomic_write, temp_file
from .metrics import SUMMARY_COLUMNS
from .runner import Result

# warnings (charts not drawn) go to the sim logger: with logging unconfigured, Python
# prints them to stderr as written
log = logging.getLogger(__name__)

PACKAGES = ("sim", "simpy", "numpy", "pandas", "pyarrow", "pydantic", "matplotlib", "tqdm",
            "dask", "distributed")
METRICS = SUMMARY_COLUMNS[SUMMARY_COLUMNS.index("class") + 1:]
TABLE_COLUMNS = {
    "tasks": "tasks", "throughput_per_s": "tput/s", "latency_p50_ms": "p50 ms",
    "latency_p99_ms": "p99 ms", "latency_max_ms": "max ms", "slowdown_mean": "slowdown",
    "wake_delay_p99_ms": "wake p99 ms", "jain": "jain", "utilisation": "util%",
    "occupancy": "occup%",
}
#: Decimals of a metric on the terminal (by its summary name, ``_mean`` of an aggregate
#: stripped); ms get 3 (whole microseconds), a metric not listed 3.
DECIMALS = {"tasks": 0, "throughput_per_s": 1, "slowdown_mean": 2, "slowdown_p99": 2,
            "jain": 3, "utilisation": 1, "occupancy": 1}
PERCENT = ("utilisation", "occupancy")  # fractions shown as percentages ("util%")


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def manifest(cfg: Config, seeds: list[dict[str, int]], kind: str = RUN, **extra: Any) -> dict:
    """What is needed to reproduce the results: resolved config, seeds, versions; and the
    marker that lets a later run replace (or a sweep resume) this folder."""
    return {
        "written_by": "sim",
        "kind": kind,
        "name": cfg.name,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": sys.argv,
        "host": platform.node(),
        "versions": versions(),
        "seeds": seeds,
        **extra,
        "config": cfg.to_dict(),
    }


def write_files(folder: Path, cfg: Config, result: Result, plots: bool = True,
                classes: list[str] | None = None,
                comparison: pd.DataFrame | None = None) -> None:
    result.summary.to_csv(folder / "summary.csv", index=False)
    if comparison is not None:
        comparison.to_csv(folder / "comparison.csv", index=False)
    result.tasks.to_parquet(folder / "tasks.parquet", index=False)
    result.wakeups.to_parquet(folder / "wakeups.parquet", index=False)
    if result.trace is not None:
        result.trace.to_parquet(folder / "trace.parquet", index=False)
    (folder / "config.yaml").write_text(dump_config(cfg))
    (folder / "manifest.json").write_text(json.dumps(manifest(cfg, result.seeds), indent=2) + "\n")
    if plots:
        draw_plots(folder / "plots", result.summary, result.tasks, result.wakeups,
                   result.trace, classes=classes)


def draw_plots(folder: Path, *frames, classes: list[str] | None = None) -> bool:
    """The standard charts (of ``classes`` only, if given); a chart that fails is a
    warning, never the loss of the results."""
    try:
        from .plots import standard_plots  # matplotlib is slow to import: only when drawing

        standard_plots(*frames[:3], folder, *frames[3:], classes=classes)
        return True
    except Exception as exc:  # any plotting failure: matplotlib, a label, the disk
        shutil.rmtree(folder, ignore_errors=True)
        log.warning("warning: charts not drawn (%s: %s); the results are written",
                    type(exc).__name__, exc)
        return False


def write_results(cfg: Config, result: Result, out: Path, plots: bool = True,
                  force: bool = False, config: Path | None = None,
                  classes: list[str] | None = None,
                  comparison: pd.DataFrame | None = None) -> None:
    """Write a run's files into ``out`` atomically, under the rules of ``sim.folders``
    (``force``: replace a folder that is not an earlier run's; ``config``: the config
    file, whose folder is never replaced; ``classes``: the charts' classes;
    ``comparison``: ``comparison.csv``)."""
    with atomic_dir(out, RUN, force, config) as folder:
        write_files(folder, cfg, result, plots, classes, comparison)


def dump_config(cfg: Config) -> str:
    return yaml.safe_dump(cfg.to_dict(), sort_keys=False, allow_unicode=True)


def table(summary: pd.DataFrame, classes: list[str] | None = None,
          comparison: pd.DataFrame | None = None) -> str:
    """The terminal table: one row per scheduler and class (of ``classes`` if given), with
    the ratios to a baseline of ``comparison`` (``sim.compare``) if given."""
    keys = ["scheduler", "class"]
    if summary["point"].nunique() > 1 or summary["replication"].nunique() > 1:
        keys = ["scheduler", "point", "replication", "class"]
    rows = summary if not classes else summary[summary["class"].isin(classes)]
    return render(_with_ratios(rows[keys + list(TABLE_COLUMNS)], rows, comparison),
                  TABLE_COLUMNS)


def _with_ratios(frame: pd.DataFrame, rows: pd.DataFrame,
                 comparison: pd.DataFrame | None) -> pd.DataFrame:
    """``frame`` with the baseline ratios of its rows as text columns (``0.52x [0.48,
    0.57]``)."""
    if comparison is None:
        return frame
    from .compare import ratio_labels

    return frame.join(ratio_labels(comparison, rows).set_index(frame.index))


def fixed(value: Any, decimals: int | None = None) -> str:
    """A number as the terminal shows it: fixed decimals and thousands separators, never
    ``1.753e+04``; whole numbers without decimals, ``decimals=None`` for as many as the
    value needs (a swept value), NaN as ``-``."""
    if value is None or pd.isna(value):
        return "-"
    if isinstance(value, bool | str):
        return str(value)
    if isinstance(value, int | np.integer):
        return f"{value:,}"
    if decimals is None:
        text = f"{value:,.6f}".rstrip("0")
        return text.rstrip(".") if text.endswith(".") else text
    return f"{value:,.{decimals}f}"


def render(frame: pd.DataFrame, headers: dict[str, str]) -> str:
    """A table for the terminal: each metric column with its decimals (``DECIMALS``),
    percentages for fractions (``PERCENT``), other columns (names, swept values) plain;
    headers renamed to carry their units."""
    shown = pd.DataFrame(index=frame.index)
    for column in frame.columns:
        mean_of = column.removesuffix("_mean")  # an aggregate's column
        metric = mean_of if column.endswith("_mean") and mean_of in METRICS else column
        values = frame[column]
        if metric in PERCENT:
            values = values * 100
        if metric in METRICS:
            shown[column] = [fixed(v, DECIMALS.get(metric, 3)) for v in values]
        elif pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            shown[column] = [fixed(v) for v in values]
        else:
            shown[column] = values.astype(str)
    return shown.rename(columns=headers).to_string(index=False)


def write_json(path: Path, data: Any) -> None:
    atomic_write(path, (json.dumps(data, indent=2) + "\n").encode())


def write_parquet_stream(path: Path, tables) -> bool:
    """Concatenate ``tables`` (an iterable) into one parquet file, holding one at a time.

    Written to a temporary file and renamed; returns False (and writes nothing) when
    there is no table."""
    tmp = temp_file(path.parent, path.name)
    writer = None
    try:
        for table in tables:
            if writer is None:
                writer = pq.ParquetWriter(tmp, table.schema)
            writer.write_table(table.cast(writer.schema))
        if writer is None:
            Path(tmp).unlink()
            return False
        writer.close()
        os.replace(tmp, path)
        return True
    except BaseException:
        if writer is not None:
            writer.close()
        Path(tmp).unlink(missing_ok=True)
        raise


@functools.lru_cache(maxsize=256)
def t_quantile(p: float, df: int) -> float:
    """Student's t quantile for ``p`` in (0.5, 1) and integer ``df`` >= 1.

    Bisection on the closed-form distribution of |T| for integer degrees of freedom
    (Abramowitz and Stegun 26.7.3-4), so the package needs no scipy at run time."""

    def coverage(theta: float) -> float:  # P(|T| < sqrt(df) tan(theta))
        c2, s = math.cos(theta) ** 2, math.sin(theta)
        if df % 2:
            term, total = math.cos(theta), 0.0
            for k in range(1, (df - 1) // 2 + 1):
                total += term
                term *= c2 * (2 * k) / (2 * k + 1)
            return 2 / math.pi * (theta + s * total)
        term, total = 1.0, 0.0
        for k in range(1, df // 2 + 1):
            total += term
            term *= c2 * (2 * k - 1) / (2 * k)
        return s * total

    target, lo, hi = 2 * p - 1, 0.0, math.pi / 2
    for _ in range(100):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if coverage(mid) < target else (lo, mid)
    return math.sqrt(df) * math.tan((lo + hi) / 2)


def aggregate(summary: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """Per scheduler x point x class: each metric's mean over replications and its
    t-interval (``<metric>_mean``, ``_ci_low``, ``_ci_high``; NaN bounds for one value)."""
    swept = [c for c in summary.columns if c not in SUMMARY_COLUMNS]
    groups = summary.groupby(["scheduler", "point", "class"], sort=False)
    out = groups[["model", *swept]].first().reset_index()
    out = out[["scheduler", "model", "point", *swept, "class"]]
    out["replications"] = groups.size().to_numpy()
    stats = groups[METRICS].agg(["mean", "std", "count"])
    columns = {}
    for metric in METRICS:
        mean = stats[(metric, "mean")].to_numpy(float)
        count = stats[(metric, "count")].to_numpy()
        t = np.array([t_quantile(0.5 + confidence / 2, n - 1) if n > 1 else np.nan
                      for n in count])
        half = t * stats[(metric, "std")].to_numpy(float) / np.sqrt(np.maximum(count, 1))
        columns |= {f"{metric}_mean": mean, f"{metric}_ci_low": mean - half,
                    f"{metric}_ci_high": mean + half}
    return pd.concat([out, pd.DataFrame(columns)], axis=1)


SWEEP_COLUMNS = {
    "tasks_mean": "tasks", "latency_p50_ms_mean": "p50 ms", "latency_p99_ms_mean": "p99 ms",
    "slowdown_mean_mean": "slowdown", "wake_delay_p99_ms_mean": "wake p99 ms",
    "jain_mean": "jain", "utilisation_mean": "util%", "occupancy_mean": "occup%",
}


def sweep_table(aggregate: pd.DataFrame, classes: list[str] | None = None,
                comparison: pd.DataFrame | None = None) -> str:
    """The terminal table of a sweep: means over replications of class ``all`` (or of
    ``classes``, then with a class column), with the ratios of ``comparison`` if given."""
    swept = [c for c in aggregate.columns
             if c not in ("scheduler", "model", "point", "class", "replications")
             and not c.endswith(("_mean", "_ci_low", "_ci_high"))]
    rows = aggregate[aggregate["class"].isin(classes or ["all"])]
    columns = ["scheduler", *swept, *(["class"] if classes else []), *SWEEP_COLUMNS]
    return render(_with_ratios(rows[columns], rows, comparison), SWEEP_COLUMNS)
