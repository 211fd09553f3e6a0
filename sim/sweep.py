"""Parameter sweeps: every scheduler on every (point, replication) of the ``sweep:`` block,
run serially, in local processes or on a Dask cluster, and stored run by run.

Flow: ``plan`` makes one ``RunSpec`` per scheduler x point x replication (seeds from
``run_seeds``: one per replication, shared by the schedulers and the points; keys from
``store.run_key``); the specs not already in ``runs/`` are executed (each key once: with
common seeds, a grid over one scheduler's option gives the other schedulers the same key
at every point), at most a small window in flight, and the parent writes each run file the
moment its outcome arrives. Workers get
the point's resolved config as a plain dict and return the run file's bytes, so a Dask
worker on another machine needs ``sim`` installed but never sees the output folder. A run
that raises is caught in its worker and stored as ``<key>.failed.json``; the sweep goes on,
and the next sweep retries it. ``--jobs 1`` runs everything in this process.

At the end ``summary.csv`` and ``aggregate.csv`` are assembled from the run files' summary
rows in plan order, with the identity columns (scheduler, point, replication, seed, swept
values) taken from the plan: the same bytes whether the runs ran serially, in parallel, on
Dask, or partly in an earlier, interrupted sweep.

``tasks.parquet`` and ``wakeups.parquet`` of a sweep are the run files' tables
concatenated one run at a time through a pyarrow ``ParquetWriter`` (with scheduler, point,
swept values and replication columns added), so the parent never holds more than one run's
tasks; the run files stay, so they are a second copy of the data. Memory otherwise holds
the plan and the summary rows only.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import platform
import select
import signal
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
from tqdm import tqdm

from . import __version__
from .config import Config, ConfigError, validate
from .folders import (
    SWEEP,
    atomic_write,
    check_output,
    clean_leftovers,
    make_temp_dir,
    replace_folder,
)
from .metrics import SUMMARY_COLUMNS
from .outputs import (
    aggregate,
    dump_config,
    manifest,
    write_json,
    write_parquet_stream,
)
from .runner import (
    identity,
    order_summary,
    run_seeds,
    simulate_tables,
    swept_columns,
    swept_row,
)
from .store import RunStore, data_digest, pack, run_key
from .workload import check_size, generate

EXECUTORS = ("local", "dask")
INSTALL_DASK = ("--executor dask needs dask.distributed: pip install 'sim[dask]' "
                "(or pip install 'dask[distributed]')")
DERIVED = ("summary.csv", "aggregate.csv", "tasks.parquet", "wakeups.parquet")


class ExecutorError(RuntimeError):
    """The executor cannot start: dask missing, scheduler unreachable (the CLI exits 2)."""


class MissingDask(ExecutorError):
    """``--executor dask`` without dask installed."""


@dataclass(frozen=True)
class RunSpec:
    """One run: what a worker needs to execute it, and what names it."""

    key: str
    scheduler: str
    point: int
    replication: int
    seed: int
    values: dict[str, Any]
    config: dict[str, Any] = field(repr=False)  # the point's resolved config
    base_dir: str | None = None

    @property
    def model(self) -> str:
        return self.config["schedulers"][self.scheduler]["model"]

    def about(self) -> dict[str, Any]:
        return {"key": self.key, "scheduler": self.scheduler, "model": self.model,
                "point": self.point, "replication": self.replication, "seed": self.seed,
                "values": self.values}


@dataclass
class Outcome:
    """What a worker sends back: the run file's bytes, or the error's traceback."""

    key: str
    data: bytes | None = None
    error: str | None = None


@dataclass
class SweepResult:
    summary: pd.DataFrame
    aggregate: pd.DataFrame
    failed: list[dict[str, Any]]  # RunSpec.about() plus "error" (the last traceback line)
    ran: int                      # runs executed now
    reused: int                   # runs found in the store
    shared: int = 0               # runs that are another point's run (the same key)


def point_configs(cfg: Config) -> list[Config]:
    """The validated config of every point; ``ConfigError`` for a bad one or a too big one."""
    configs = [cfg.at_point(values) for values in cfg.sweep_points()]
    for values, point_cfg in zip(cfg.sweep_points(), configs, strict=True):
        try:
            check_size(point_cfg)
        except ConfigError as exc:
            raise ConfigError(f"sweep point {values}: {exc}" if values else str(exc)) from None
    return configs


def plan(cfg: Config, configs: list[Config] | None = None) -> list[RunSpec]:
    """Every run of the sweep, points and replications outer, schedulers inner."""
    points = cfg.sweep_points()
    configs = configs or point_configs(cfg)
    resolved = [c.to_dict() for c in configs]
    data = [data_digest(c) for c in configs]
    base = str(cfg.base_dir) if cfg.base_dir else None
    return [RunSpec(run_key(resolved[p], name, seed, data[p]), name, p, r, seed, points[p],
                    resolved[p], base)
            for p, r, seed in run_seeds(cfg) for name in cfg.schedulers]


def execute_run(spec: RunSpec) -> Outcome:
    """Run one spec (in a worker): the run file's bytes, or the error. Never raises."""
    started, cpu = time.perf_counter(), time.thread_time()
    try:
        point_cfg = validate(spec.config, Path(spec.base_dir) if spec.base_dir else None)
        workload = generate(point_cfg, spec.seed)
        rows, tasks, wakeups = simulate_tables(point_cfg, workload, spec.scheduler, spec.seed)
        info = {**spec.about(), "summary": rows, "sim": __version__, "host": platform.node(),
                "pid": os.getpid(),
                "wall_s": round(time.perf_counter() - started, 3),
                "cpu_s": round(time.thread_time() - cpu, 3)}
        return Outcome(spec.key, data=pack(info, tasks, wakeups))
    except Exception:
        return Outcome(spec.key, error=traceback.format_exc())


def require_dask() -> None:
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise MissingDask(INSTALL_DASK) from None


@contextmanager
def _executor(kind: str, jobs: int, address: str | None):
    """(a concurrent.futures executor or None for in-process, how many runs in flight)."""
    if kind == "dask":
        require_dask()
        from distributed import Client, LocalCluster

        with _sigint_ignored(), warnings.catch_warnings():  # (its ports in use: its business)
            warnings.simplefilter("ignore")  # its worker processes ignore Ctrl-C: ours alone
            cluster = None if address else LocalCluster(
                n_workers=jobs, threads_per_worker=1, dashboard_address=None,
                silence_logs=logging.ERROR)  # (not its warnings when Ctrl-C stops runs)
        try:
            client = Client(address or cluster)
        except (OSError, ValueError, TypeError) as exc:  # unreachable, or not an address
            raise ExecutorError(f"cannot reach the Dask scheduler at {address}: "
                                f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
                                ) from None
        logged = logging.root.manager.disable
        try:
            slots = sum(client.nthreads().values()) or jobs
            yield client.get_executor(pure=False), 2 * slots
        except BaseException:  # Ctrl-C: the connections it closes are no news to the user
            logging.disable(logging.CRITICAL)  # (distributed's and tornado's loggers)
            raise
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
            logging.disable(logged)
    elif jobs > 1:
        pool = ProcessPoolExecutor(jobs, mp_context=_start_method(), initializer=_worker_init,
                                   initargs=(os.getpid(),))
        try:
            yield pool, 2 * jobs
        except BaseException:  # Ctrl-C or an error: stop the runs in flight, now
            # and let the pool's thread end before the interpreter's exit does: its exit
            # hook wakes the thread through a pipe the thread may be closing (3.11's
            # _python_exit takes no lock: "Exception ignored ... Bad file descriptor").
            # Unless a worker died sending: then the thread never ends (__main__'s guard)
            pool.shutdown(wait=_kill_workers(pool), cancel_futures=True)
            raise
        pool.shutdown(wait=True, cancel_futures=True)
    else:
        yield None, 1


# How long Ctrl-C waits for a worker that is sending its result to finish sending (a run
# file of tens of MB takes well under a second).
SEND_WAIT = 30.0


def _kill_workers(pool: ProcessPoolExecutor) -> bool:
    """Kill the runs in flight, but no worker halfway through sending its result: half a
    message left in the result pipe (whose write end this process also holds) blocks the
    pool's manager thread in recv() forever, and the interpreter's exit joins that thread
    (seen in 1 of 30 Ctrl-Cs of a two-worker sweep). Workers send under the result queue's
    write lock (multiprocessing SimpleQueue.put), so hold it while killing them; a worker
    waiting for it dies with nothing written. (No public API for either in 3.11.) False if
    a worker still sent after SEND_WAIT: the pool's thread may then never end."""
    sending = pool._result_queue._wlock  # None on Windows, where put() takes no lock
    clean = sending is None or sending.acquire(timeout=SEND_WAIT)  # held until the end
    for process in list((pool._processes or {}).values()):
        process.kill()  # (they ignore SIGTERM: see _worker_init)
    return clean


@contextmanager
def _sigint_ignored():
    """Ignore SIGINT while starting processes: an ignored signal stays ignored across
    ``exec``, so they leave Ctrl-C to this process, which stops them (and exits 130)."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _worker_init(parent: int) -> None:
    """A local worker leaves Ctrl-C and SIGTERM to the parent (which stops it), and exits
    when the parent dies, even killed with SIGKILL mid-run (no orphan computing for
    nobody)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    threading.Thread(target=_exit_with, args=(parent,), daemon=True).start()


def _exit_with(parent: int) -> None:
    try:  # Linux: a pidfd becomes readable when the process ends
        fd = os.pidfd_open(parent)
    except (AttributeError, OSError):
        fd = None
    if fd is not None:
        select.select([fd], [], [])
    else:
        while os.getppid() != 1 and _running(parent):
            time.sleep(1)
    os._exit(1)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def _start_method():
    """Workers that start clean, as on another machine, and cheaply: forked from a server
    process that imported sim once (a fork of this possibly threaded process could
    deadlock; spawn would import sim in every worker and re-import ``__main__``)."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["sim.sweep"])
    return context


def _outcomes(specs: Iterable[RunSpec], pool, window: int) -> Iterator[tuple[RunSpec, Outcome]]:
    """Outcomes as runs finish; only ``window`` runs submitted at a time (bounded memory)."""
    if pool is None:
        for spec in specs:
            yield spec, execute_run(spec)
        return
    queue = iter(specs)
    pending = {}
    while True:
        with _signals_deferred():  # (the pool's and the futures' locks taken in here)
            for spec in islice(queue, window - len(pending)):
                pending[pool.submit(execute_run, spec)] = spec
            if not pending:
                return
            finished, _ = wait(pending, timeout=POLL, return_when=FIRST_COMPLETED)
            outcomes = []
            for future in finished:
                spec = pending.pop(future)
                try:
                    outcome = future.result()
                except Exception:  # the worker died or could not take the run
                    outcome = Outcome(spec.key, error=traceback.format_exc())
                outcomes.append((spec, outcome))
        yield from outcomes


POLL = 0.25  # s: how long Ctrl-C may wait for the sweep's loop to take it


@contextmanager
def _signals_deferred():
    """Hold Ctrl-C and SIGTERM while the block runs, then deliver them. Raised anywhere,
    they could leave a lock held: ``concurrent.futures.wait`` takes each future's lock in
    a Python loop, and one left held made the pool's shutdown (whose thread cancels the
    futures) wait for it forever (a SIGTERM'd two-worker sweep hung, once in a full test
    run). Only the main thread handles signals; elsewhere nothing is held."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    held = (signal.SIGINT, signal.SIGTERM)
    previous = [signal.signal(signum, lambda signum, _frame: caught.append(signum))
                for signum in held]
    try:
        yield
    finally:
        for signum, handler in zip(held, previous, strict=True):
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
        for signum in dict.fromkeys(caught):
            signal.raise_signal(signum)  # its own handler runs now: out of every lock


def run_sweep(cfg: Config, out: Path, jobs: int = 1, executor: str = "local",
              address: str | None = None, progress: bool | None = None,
              configs: list[Config] | None = None, force: bool = False,
              config: Path | None = None) -> SweepResult:
    """Run the sweep into ``out`` (resuming from ``out/runs``) and write its tables.

    ``out`` follows the rules of ``sim.folders``: an earlier sweep's folder is resumed;
    any other non-empty folder is refused (``OutputError``) unless ``force``, which
    replaces it whole. ``config`` is the config file, whose folder is never replaced."""
    found = check_output(out, SWEEP, force, config)
    specs = plan(cfg, configs)
    store = RunStore(out / "runs")
    replace = found.state not in ("missing", "empty", SWEEP)  # only with force
    if not replace:
        for folder in (out, store.folder):
            clean_leftovers(folder)
    unique = list({s.key: s for s in reversed(specs)}.values())[::-1]  # first of each key
    todo = unique if replace else [s for s in unique if not store.done(s.key)]
    jobs = max(1, min(jobs, len(todo)))
    seeds = [{"point": p, "replication": r, "seed": s} for p, r, s in run_seeds(cfg)]
    runs = [{k: v for k, v in s.about().items() if k != "values"} for s in specs]
    failed: dict[str, dict[str, Any]] = {}
    show = sys.stderr.isatty() if progress is None else progress
    # the executor starts first: a scheduler that cannot be reached leaves nothing written
    with _executor(executor if todo else "local", jobs if todo else 1, address) as (
            pool, window):
        if replace:
            replace_folder(make_temp_dir(out.absolute().parent, out.name), out)
        out.mkdir(parents=True, exist_ok=True)
        # the marker first: a sweep killed at any point leaves a folder it may resume
        write_json(out / "manifest.json",
                   manifest(cfg, seeds, SWEEP, status="running", runs=runs))
        for name in DERIVED:  # stale until this sweep writes them again
            (out / name).unlink(missing_ok=True)
        store.folder.mkdir(exist_ok=True)
        atomic_write(out / "config.yaml", dump_config(cfg).encode())
        with tqdm(total=len(specs), initial=len(specs) - len(todo), disable=not show,
                  unit="run", desc=cfg.name, smoothing=0.1) as bar:
            for spec, outcome in _outcomes(todo, pool, window):
                if outcome.error is None:
                    store.save(spec.key, outcome.data)
                else:
                    error = outcome.error.strip().splitlines()[-1]
                    failed[spec.key] = {**spec.about(), "error": error}
                    store.save_failure(spec.key,
                                       {**failed[spec.key], "traceback": outcome.error})
                bar.update()

    ok = [s for s in specs if s.key not in failed]
    summary = _summary(cfg, ok, store)
    agg = aggregate(summary)
    atomic_write(out / "summary.csv", summary.to_csv(index=False).encode())
    atomic_write(out / "aggregate.csv", agg.to_csv(index=False).encode())
    for name in ("tasks", "wakeups"):  # in plan order, as sim.run() has them
        write_parquet_stream(out / f"{name}.parquet", _tables(cfg, ok, store, name))
    status = "complete" if not failed else f"{len(failed)} runs failed"
    write_json(out / "manifest.json", manifest(
        cfg, seeds, SWEEP, status=status, executor=executor, jobs=jobs, ran=len(todo),
        reused=len(unique) - len(todo), shared=len(specs) - len(unique), runs=runs,
        failed=list(failed.values())))
    return SweepResult(summary, agg, list(failed.values()), len(todo), len(unique) - len(todo),
                       len(specs) - len(unique))


def _summary(cfg: Config, specs: list[RunSpec], store: RunStore) -> pd.DataFrame:
    """The summary rows of the stored runs, identity from the plan, in contract order."""
    rows = []
    for spec in specs:
        lead = identity(spec.scheduler, spec.model, spec.point, spec.replication, spec.seed)
        swept = swept_row(cfg.sweep.grid, spec.values) if spec.values else {}
        rows += [{**lead, **row, **swept} for row in store.info(spec.key)["summary"]]
    columns = [column for column, _ in swept_columns(cfg.sweep.grid).values()] \
        if cfg.sweep else []
    summary = pd.DataFrame(rows, columns=SUMMARY_COLUMNS + columns)
    return order_summary(summary, list(cfg.schedulers), list(cfg.workload))


def _tables(cfg: Config, specs: list[RunSpec], store: RunStore,
            name: str) -> Iterator[pa.Table]:
    """One run's ``tasks``/``wakeups`` at a time, with the columns that name the run
    (scheduler, point, the point's swept values, replication: as ``sim.run`` has them)."""
    for spec in specs:
        table = store.table(spec.key, name)
        n = table.num_rows
        swept = swept_row(cfg.sweep.grid, spec.values) if spec.values else {}
        names = {"scheduler": spec.scheduler, "point": spec.point, **swept,
                 "replication": spec.replication}
        for i, (column, value) in enumerate(names.items()):
            kind = pa.scalar(value).type  # (typed even when the run has no rows)
            table = table.add_column(i, column, pa.array([value] * n, type=kind))
        yield table


__all__ = ["EXECUTORS", "ExecutorError", "MissingDask", "Outcome", "RunSpec", "SweepResult",
           "execute_run", "plan", "point_configs", "require_dask", "run_sweep"]
