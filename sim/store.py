"""The run store: one file per finished run under ``output/runs/``, so a sweep resumes.

A *run* is one scheduler on one (point, replication). Its file is named by a key that
hashes exactly what determines its result: the scheduler's name (its random stream is
keyed by it) and resolved options, the point's resolved config without the ``schedulers``
mapping (and without ``name``, ``output``, ``sweep``, ``max_tasks`` and the root ``seed``,
which change no result), the run seed, and the sim version. So changing one scheduler's
options reruns only that scheduler. Appending a value to a one-key grid keeps the runs
already done (child i of ``SeedSequence.spawn`` does not depend on how many are spawned);
other grid or replication changes renumber the (point, replication) pairs, hence their
seeds and keys. Within one grid every point has its own seed (DESIGN section 2), so a
grid over one scheduler's option still runs the other schedulers once per point: as more
samples, not as repeats.

A run file ``<key>.zip`` holds ``run.json`` (who the run was, its summary rows, its seed,
wall time and host) and ``tasks.parquet`` / ``wakeups.parquet`` (no scheduler, point or
replication columns: a stored run may serve another grid, so the sweep adds them). It is
written to a temporary file and renamed, so a file under its final name is always
complete; temporary leftovers of a killed sweep (``.<key>.zip.*``) are never read. A run
that raised leaves ``<key>.failed.json`` instead, and is retried by the next sweep.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from . import __version__
from .outputs import atomic_write

STORE_VERSION = 1
MEMBERS = ("run.json", "tasks.parquet", "wakeups.parquet")
# Keys of the resolved config that change no result of a run.
_NOT_IN_KEY = ("name", "output", "sweep", "max_tasks", "seed", "schedulers")


def run_key(point_config: dict[str, Any], scheduler: str, seed: int) -> str:
    """The store key of ``scheduler`` on the point whose resolved config is given."""
    identity = {
        "store": STORE_VERSION,
        "sim": __version__,
        "scheduler": scheduler,
        "options": point_config["schedulers"][scheduler],
        "config": {k: v for k, v in point_config.items() if k not in _NOT_IN_KEY},
        "seed": seed,
    }
    text = json.dumps(identity, sort_keys=True, separators=(",", ":"), allow_nan=True)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _parquet(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def pack(info: dict[str, Any], tasks: pd.DataFrame, wakeups: pd.DataFrame) -> bytes:
    """One run file's bytes: ``run.json`` plus the run's tasks and wake-ups."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("run.json", json.dumps(info, indent=1, allow_nan=True))
        archive.writestr("tasks.parquet", _parquet(tasks))
        archive.writestr("wakeups.parquet", _parquet(wakeups))
    return buffer.getvalue()


class RunStore:
    """The ``runs/`` folder of one output: which runs are done, their rows and tables."""

    def __init__(self, folder: Path):
        self.folder = folder

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.zip"

    def failure_path(self, key: str) -> Path:
        return self.folder / f"{key}.failed.json"

    def done(self, key: str) -> bool:
        """Is the run stored whole? (Only final names count, and their zip index must read.)"""
        try:
            with zipfile.ZipFile(self.path(key)) as archive:
                return set(MEMBERS) <= set(archive.namelist())
        except (OSError, zipfile.BadZipFile):
            return False

    def save(self, key: str, data: bytes) -> None:
        """Store a finished run atomically; it supersedes an earlier failure."""
        atomic_write(self.path(key), data)
        self.failure_path(key).unlink(missing_ok=True)

    def save_failure(self, key: str, info: dict[str, Any]) -> None:
        atomic_write(self.failure_path(key), (json.dumps(info, indent=1) + "\n").encode())

    def info(self, key: str) -> dict[str, Any]:
        """The run's ``run.json``: identity, ``summary`` rows, seed, wall time."""
        with zipfile.ZipFile(self.path(key)) as archive:
            return json.loads(archive.read("run.json"))

    def table(self, key: str, name: str) -> pa.Table:
        """The run's ``tasks`` or ``wakeups`` table, read whole (one run fits in memory)."""
        with zipfile.ZipFile(self.path(key)) as archive:
            return pq.read_table(pa.BufferReader(archive.read(f"{name}.parquet")))
