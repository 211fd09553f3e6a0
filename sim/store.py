"""The run store: one file per finished run under ``output/runs/``, so a sweep resumes.

A *run* is one scheduler on one (point, replication). Its file is named by a key that
hashes exactly what determines its result: the scheduler's name (its random stream is
keyed by it) and resolved options, the point's resolved config without the ``schedulers``
mapping (and without ``name``, ``output``, ``sweep``, ``max_tasks`` and the root ``seed``,
which change no result), the run seed, the data the config reads from files
(``empirical(...)``), and the sim version and source code. So changing one scheduler's
options reruns only that scheduler. Seeds belong to replications, not points (common
random numbers across points), so changing the grid keeps every run whose point and
replication are unchanged, adding replications keeps the ones done (child i of
``SeedSequence.spawn`` does not depend on how many are spawned), and a grid over one
scheduler's option gives the other schedulers one key per replication: they run once.

A run file ``<key>.zip`` holds ``run.json`` (who the run was, its summary rows, its seed,
wall time and host) and ``tasks.parquet`` / ``wakeups.parquet`` (no scheduler, point or
replication columns: a stored run may serve another grid, so the sweep adds them). It is
written to a temporary file and renamed, so a file under its final name is always
complete; temporary leftovers of a killed sweep (``.sim-tmp.*``) are never read, and the
next sweep removes them. A run
that raised leaves ``<key>.failed.json`` instead, and is retried by the next sweep.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import logging
import zipfile
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel

from . import __version__
from .distributions import Empirical
from .folders import atomic_write

# warnings (a damaged run file) go to the sim logger: with logging unconfigured, Python
# prints them to stderr as written
log = logging.getLogger(__name__)

STORE_VERSION = 2
MEMBERS = ("run.json", "tasks.parquet", "wakeups.parquet")
# Keys of the resolved config that change no result of a run.
_NOT_IN_KEY = ("name", "output", "sweep", "max_tasks", "seed", "schedulers")


@functools.cache
def source_digest() -> str:
    """A hash of the ``sim`` package's own source files: changed model code (even with the
    same version number) changes every key, so no stale run is reused."""
    package = Path(__file__).parent
    digest = hashlib.sha256()
    for file in sorted(package.rglob("*.py")):
        digest.update(file.relative_to(package).as_posix().encode() + b"\0")
        digest.update(file.read_bytes() + b"\0")
    return digest.hexdigest()


def data_digest(cfg: BaseModel) -> str:
    """A hash of the data that a config reads from files (``empirical(file.csv)``): the
    spec names only the path, so a changed file must change the key through this."""
    digest = hashlib.sha256()
    stack: list[Any] = [cfg]
    while stack:  # the config's tree, iteratively
        node = stack.pop()
        if isinstance(node, Empirical):
            digest.update(node.path.encode() + b"\0" + node.values.tobytes() + b"\0")
        elif isinstance(node, BaseModel):
            stack.extend(getattr(node, name) for name in reversed(type(node).model_fields))
        elif isinstance(node, dict):
            stack.extend(reversed(list(node.values())))
        elif isinstance(node, list | tuple):
            stack.extend(reversed(node))
    return digest.hexdigest()


def run_key(point_config: dict[str, Any], scheduler: str, seed: int, data: str = "") -> str:
    """The store key of ``scheduler`` on the point whose resolved config is given
    (``data``: the point's ``data_digest``)."""
    identity = {
        "store": STORE_VERSION,
        "sim": __version__,
        "source": source_digest(),
        "data": data,
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
        """Is the run stored whole? Only final names count, and every member must read
        with a good CRC; a damaged file is removed with a warning, so the run is redone."""
        path = self.path(key)
        try:
            with zipfile.ZipFile(path) as archive:
                whole = set(MEMBERS) <= set(archive.namelist()) and archive.testzip() is None
        except FileNotFoundError:
            return False
        except (OSError, zipfile.BadZipFile, EOFError, ValueError) as exc:
            whole, why = False, exc
        else:
            why = "a member is missing or fails its CRC check"
        if not whole:
            log.warning("warning: %s is damaged (%s); the run is redone", path, why)
            path.unlink(missing_ok=True)
        return whole

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
