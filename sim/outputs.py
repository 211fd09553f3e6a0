"""Results on disk and on the terminal (DESIGN section 3).

A run's files are written into a temporary sibling folder that is then renamed into
place, so a reader never sees a half-written result. ``summary.csv`` is a pure function
of config and seed; wall-clock and host facts go to ``manifest.json`` only.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import sys
import tempfile
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import pandas as pd
import yaml

from .config import Config
from .runner import Result

PACKAGES = ("sim", "simpy", "numpy", "pandas", "pyarrow", "pydantic", "matplotlib", "tqdm")
TABLE_COLUMNS = {
    "tasks": "tasks", "throughput_per_s": "tput/s", "latency_p50_ms": "p50 ms",
    "latency_p99_ms": "p99 ms", "latency_max_ms": "max ms", "slowdown_mean": "slowdown",
    "wake_delay_p99_ms": "wake p99 ms", "jain": "jain", "utilisation": "util",
}


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def manifest(cfg: Config, result: Result) -> dict:
    return {
        "name": cfg.name,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": sys.argv,
        "host": platform.node(),
        "versions": versions(),
        "seeds": result.seeds,
    }


@contextmanager
def atomic_dir(target: Path):
    """Yield a temporary folder beside ``target``; on success it replaces ``target``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        target.rename(old)
    tmp.rename(target)
    if old:
        shutil.rmtree(old, ignore_errors=True)


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_files(folder: Path, cfg: Config, result: Result) -> None:
    result.summary.to_csv(folder / "summary.csv", index=False)
    result.tasks.to_parquet(folder / "tasks.parquet", index=False)
    result.wakeups.to_parquet(folder / "wakeups.parquet", index=False)
    (folder / "config.yaml").write_text(dump_config(cfg))
    (folder / "manifest.json").write_text(json.dumps(manifest(cfg, result), indent=2) + "\n")


def write_results(cfg: Config, result: Result, out: Path) -> None:
    with atomic_dir(out) as folder:
        write_files(folder, cfg, result)


def dump_config(cfg: Config) -> str:
    return yaml.safe_dump(cfg.to_dict(), sort_keys=False, allow_unicode=True)


def table(summary: pd.DataFrame) -> str:
    """The terminal table: one row per scheduler and class (first replication's point)."""
    keys = ["scheduler", "class"]
    if summary["point"].nunique() > 1 or summary["replication"].nunique() > 1:
        keys = ["scheduler", "point", "replication", "class"]
    shown = summary[keys + list(TABLE_COLUMNS)].rename(columns=TABLE_COLUMNS)
    return shown.to_string(index=False, float_format=lambda v: f"{v:.4g}")
