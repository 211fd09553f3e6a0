"""Sweeps: the same summary bytes however the runs are executed, resumption after a kill,
seeds per (point, replication), store keys per scheduler, failed runs, aggregate.csv."""

import json
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats

import sim
from sim import folders, sweep
from sim.cli import main
from sim.metrics import SUMMARY_COLUMNS
from sim.models import reference
from sim.outputs import aggregate, t_quantile
from sim.store import RunStore

SWEEP = """
name: tiny
seed: 5
horizon: 200ms
warmup: 20ms
machine: {cores: 1}
load: 0.5
workload:
  api:
    arrival: {poisson: 300/s}
    phases: [{cpu: exp(0.5ms)}, {io: exp(2ms)}, {cpu: 0.2ms}]
  hog:
    arrival: {poisson: 10/s}
    phases: [{cpu: 20ms}]
schedulers:
  asyncio: {model: asyncio}
  fcfs: {model: fcfs}
  rr: {model: round_robin, quantum: 2ms}
sweep:
  grid: {load: [0.3, 0.7]}
  replications: 2
"""
RUNS = 3 * 2 * 2  # schedulers x points x replications


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(SWEEP)
    return path


@pytest.fixture(scope="module")
def reference_out(tmp_path_factory):
    """An uninterrupted serial sweep, run once for the module."""
    folder = tmp_path_factory.mktemp("ref")
    (folder / "tiny.yaml").write_text(SWEEP)
    assert main([str(folder / "tiny.yaml"), "--jobs", "1", "--quiet", "--out",
                 str(folder / "out")]) == 0
    return folder / "out"


def run_files(out: Path) -> list[Path]:
    return sorted((out / "runs").glob("*.zip"))


def test_a_sweep_writes_its_files_and_matches_sim_run(reference_out, config, capsys):
    assert sorted(p.name for p in reference_out.iterdir()) == [
        "aggregate.csv", "config.yaml", "manifest.json", "plots", "runs", "summary.csv",
        "tasks.parquet", "wakeups.parquet"]
    assert (reference_out / "plots" / "latency_cdf.png").exists()
    assert len(run_files(reference_out)) == RUNS
    summary = pd.read_csv(reference_out / "summary.csv")
    assert len(summary) == RUNS * 3  # classes api, hog, all
    assert summary["scheduler"].tolist()[:12] == ["asyncio"] * 12
    assert summary["load"].tolist()[:12] == [0.3] * 6 + [0.7] * 6
    # the sweep's files are what sim.run() gives in process, row for row
    result = sim.run(sim.load_config(config), progress=False)
    assert (reference_out / "summary.csv").read_text() == result.summary.to_csv(index=False)
    assert pd.read_parquet(reference_out / "tasks.parquet").equals(result.tasks)
    assert pd.read_parquet(reference_out / "wakeups.parquet").equals(result.wakeups)
    manifest = json.loads((reference_out / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["config"]["sweep"]["replications"] == 2
    assert manifest["versions"]["numpy"] and len(manifest["runs"]) == RUNS


def test_serial_parallel_and_dask_give_identical_summary_bytes(reference_out, config,
                                                               tmp_path, capsys):
    distributed = pytest.importorskip("distributed")
    assert main([str(config), "--jobs", "2", "--no-plots", "--out", str(tmp_path / "par")]) == 0
    store = RunStore(tmp_path / "par" / "runs")  # two worker processes ran, not this one
    pids = {store.info(path.stem)["pid"] for path in run_files(tmp_path / "par")}
    assert 1 <= len(pids) <= 2 and os.getpid() not in pids
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        assert main([str(config), "--no-plots", "--executor", "dask", "--scheduler-address",
                     cluster.scheduler_address, "--quiet", "--out", str(tmp_path / "dask")]) == 0
    for name in ("summary.csv", "aggregate.csv"):
        expected = (reference_out / name).read_bytes()
        assert (tmp_path / "par" / name).read_bytes() == expected
        assert (tmp_path / "dask" / name).read_bytes() == expected
    captured = capsys.readouterr()
    assert "run/s" not in captured.err  # no progress bar when stderr is not a terminal
    assert "p99 ms" in captured.out


def test_dask_without_an_address_starts_a_local_cluster(reference_out, config, tmp_path):
    pytest.importorskip("distributed")
    cfg = sim.load_config(config)
    result = sweep.run_sweep(cfg, tmp_path / "out", jobs=1, executor="dask", progress=False)
    assert (result.ran, result.reused, result.failed) == (RUNS, 0, [])
    assert ((tmp_path / "out/summary.csv").read_bytes()
            == (reference_out / "summary.csv").read_bytes())


def test_without_dask_the_executor_says_how_to_install_it(config, tmp_path, capsys,
                                                          monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import fails
    out = tmp_path / "out"
    assert main([str(config), "--executor", "dask", "--out", str(out)]) == 2
    assert "pip install 'sim[dask]'" in capsys.readouterr().err
    assert not out.exists()


def test_an_unreachable_scheduler_exits_2_and_writes_nothing(config, tmp_path, capsys):
    dask = pytest.importorskip("dask")
    pytest.importorskip("distributed")
    out = tmp_path / "out"
    with dask.config.set({"distributed.comm.timeouts.connect": "0.5s"}):
        assert main([str(config), "--no-plots", "--executor", "dask", "--scheduler-address",
                     "tcp://127.0.0.1:9", "--out", str(out)]) == 2
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in capsys.readouterr().err
    assert not out.exists()


def test_a_killed_sweep_resumes_without_rerunning_finished_runs(reference_out, config,
                                                               tmp_path, monkeypatch):
    """The kill is a KeyboardInterrupt raised by the store after its fifth run file."""
    out = tmp_path / "out"
    save = RunStore.save
    saved = []

    def save_then_die(self, key, data):
        save(self, key, data)
        saved.append(key)
        if len(saved) == 5:
            raise KeyboardInterrupt

    monkeypatch.setattr(RunStore, "save", save_then_die)
    assert main([str(config), "--jobs", "1", "--quiet", "--no-plots", "--out", str(out)]) == 130
    monkeypatch.undo()
    assert not (out / "summary.csv").exists()
    assert json.loads((out / "manifest.json").read_text())["status"] == "running"
    finished = {p: p.stat().st_ino for p in run_files(out)}
    assert len(finished) == 5
    # what a kill during a write leaves: a temporary file, and (from a writer that was not
    # atomic) a truncated file under a final name; neither is taken as finished
    cfg = sim.load_config(config)
    pending = [s for s in sweep.plan(cfg) if s.key not in saved]
    dead = 999_999_999  # above Linux's pid_max: a process that no longer runs
    leftover = out / "runs" / f".sim-tmp.{folders._host()}-{dead}.x1y2.{pending[0].key}.zip"
    leftover.write_bytes(b"PK\x03\x04half")
    (out / "runs" / f"{pending[1].key}.zip").write_bytes(b"PK\x03\x04half")

    result = sweep.run_sweep(cfg, out, jobs=2, progress=False)
    assert (result.ran, result.reused) == (RUNS - 5, 5)
    assert {p: p.stat().st_ino for p in finished} == finished  # not rewritten
    assert not leftover.exists()
    assert (out / "summary.csv").read_bytes() == (reference_out / "summary.csv").read_bytes()
    assert json.loads((out / "manifest.json").read_text())["status"] == "complete"


def test_seeds_one_per_replication_shared_by_the_schedulers_and_the_points(reference_out,
                                                                          config):
    """Replication 0 runs with the config's seed, replication r >= 1 with child r - 1 of
    SeedSequence(seed), at every point (common random numbers across points)."""
    specs = sweep.plan(sim.load_config(config))
    seeds = {(s.point, s.replication): set() for s in specs}
    for s in specs:
        seeds[(s.point, s.replication)].add(s.seed)
    assert all(len(v) == 1 for v in seeds.values())  # every scheduler, the same seed
    child = int(np.random.SeedSequence(5).spawn(1)[0].generate_state(1)[0])
    expected = {(p, 0): {5} for p in range(2)} | {(p, 1): {child} for p in range(2)}
    assert seeds == expected and child != 5
    summary = pd.read_csv(reference_out / "summary.csv")
    recorded = summary.groupby(["point", "replication"])["seed"].unique()
    assert {k: set(v) for k, v in recorded.items()} == expected
    manifest = json.loads((reference_out / "manifest.json").read_text())
    assert {(d["point"], d["replication"]): {d["seed"]} for d in manifest["seeds"]} == expected
    info = RunStore(reference_out / "runs").info(specs[0].key)
    assert info["seed"] == specs[0].seed and info["summary"][-1]["class"] == "all"


def test_a_load_sweep_scales_the_same_draws(reference_out):
    """Common random numbers under load: the same exponential draws divided by each
    point's rate, so the k-th arrival at load 0.3 is at 0.7/0.3 times the k-th at 0.7
    (to the ns the times are floored to); another replication draws other arrivals."""
    tasks = pd.read_parquet(reference_out / "tasks.parquet",
                            filters=[("scheduler", "==", "fcfs"), ("class", "==", "api")])

    def arrivals(load, replication):
        rows = tasks[(tasks["load"] == load) & (tasks["replication"] == replication)]
        return np.sort(rows["arrival_ns"].to_numpy())
    low, high = arrivals(0.3, 0), arrivals(0.7, 0)
    n = min(len(low), len(high))
    assert n > 10 and np.abs(low[:n] * 0.3 - high[:n] * 0.7).max() <= 1
    other = arrivals(0.3, 1)
    n = min(len(low), len(other))
    assert not np.array_equal(other[:n], low[:n])


GRID = SWEEP.replace("grid: {load: [0.3, 0.7]}", "grid: {schedulers.rr.quantum: [1ms, 4ms]}")


def test_a_sweep_of_any_key_pairs_its_points(tmp_path, capsys):
    """A grid over one scheduler's option: point 0 and point 1 of a replication replay the
    very same tasks (identical arrival times); the other schedulers' runs have the same
    key at both points and run once; the swept column carries its unit, in summary.csv,
    aggregate.csv, tasks.parquet and wakeups.parquet (beside point), and the terminal;
    plots/sweep_curves.png is drawn."""
    config = tmp_path / "grid.yaml"
    config.write_text(GRID)
    out = tmp_path / "out"
    assert main([str(config), "--jobs", "1", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.splitlines()[0].split()[:2] == ["scheduler", "schedulers.rr.quantum_ms"]
    # asyncio and fcfs run once per replication, and count as such in the manifest
    assert "(8 runs run now, 4 the same as at another point)" in printed
    manifest = json.loads((out / "manifest.json").read_text())
    assert (manifest["ran"], manifest["reused"], manifest["shared"]) == (8, 0, 4)
    summary = pd.read_csv(out / "summary.csv")
    assert summary.columns[-1] == "schedulers.rr.quantum_ms"
    assert summary.groupby("point")["schedulers.rr.quantum_ms"].unique().tolist() == [[1.0],
                                                                                    [4.0]]
    assert "schedulers.rr.quantum_ms" in pd.read_csv(out / "aggregate.csv").columns
    for name in ("tasks", "wakeups"):
        table = pd.read_parquet(out / f"{name}.parquet")
        assert table.columns[:4].tolist() == ["scheduler", "point", "schedulers.rr.quantum_ms",
                                              "replication"]
        assert (table["schedulers.rr.quantum_ms"] == table["point"].map({0: 1.0, 1: 4.0})).all()
    tasks = pd.read_parquet(out / "tasks.parquet", filters=[("scheduler", "==", "rr")])
    by = {(p, r): part.sort_values("task_id")["arrival_ns"].to_numpy()
          for (p, r), part in tasks.groupby(["point", "replication"])}
    assert np.array_equal(by[0, 0], by[1, 0]) and np.array_equal(by[0, 1], by[1, 1])
    n = min(len(by[0, 0]), len(by[0, 1]))
    assert not np.array_equal(by[0, 0][:n], by[0, 1][:n])  # replications differ
    fcfs = summary[summary["scheduler"] == "fcfs"]
    at = [fcfs[fcfs["point"] == p].drop(columns=["point", "schedulers.rr.quantum_ms"])
          .reset_index(drop=True) for p in (0, 1)]
    pd.testing.assert_frame_equal(at[0], at[1])  # the same run, reported at both points
    assert (out / "plots" / "sweep_curves.png").exists()
    assert not (out / "plots" / "load_curves.png").exists()


def test_swept_columns_carry_the_unit_their_values_have():
    from sim.runner import swept_columns, swept_row

    grid = {"schedulers.g.switch_interval": ["1ms", "500us", 0], "load": [0.5, 1],
            "workload.api.arrival.poisson": ["100/s", "2/ms"], "machine.cores": [1, 2],
            "schedulers.a.offload": [[], ["cpu"]], "workload.api.phases.0.cpu": ["1ms",
                                                                                "exp(1ms)"],
            "schedulers.go.steal_tries": [0]}
    assert {k: c for k, (c, _) in swept_columns(grid).items()} == {
        "schedulers.g.switch_interval": "schedulers.g.switch_interval_ms", "load": "load",
        "workload.api.arrival.poisson": "workload.api.arrival.poisson_per_s",
        "machine.cores": "machine.cores", "schedulers.a.offload": "schedulers.a.offload",
        "workload.api.phases.0.cpu": "workload.api.phases.0.cpu",
        "schedulers.go.steal_tries": "schedulers.go.steal_tries"}
    point = {"schedulers.g.switch_interval": "500us", "load": 1,
             "workload.api.arrival.poisson": "2/ms", "machine.cores": 2,
             "schedulers.a.offload": ["cpu"], "workload.api.phases.0.cpu": "exp(1ms)",
             "schedulers.go.steal_tries": 0}
    assert swept_row(grid, point) == {
        "schedulers.g.switch_interval_ms": 0.5, "load": 1.0,
        "workload.api.arrival.poisson_per_s": 2000.0, "machine.cores": 2,
        "schedulers.a.offload": "[cpu]", "workload.api.phases.0.cpu": "exp(1ms)",
        "schedulers.go.steal_tries": 0}
    assert isinstance(swept_row(grid, point)["load"], float)


def test_changing_one_schedulers_option_reruns_only_its_runs(reference_out, config,
                                                             tmp_path):
    cfg = sim.load_config(config)
    changed = sim.load_config(config, ["schedulers.rr.quantum=5ms", "name=renamed"])
    before = {(s.scheduler, s.point, s.replication): s.key for s in sweep.plan(cfg)}
    after = {(s.scheduler, s.point, s.replication): s.key for s in sweep.plan(changed)}
    assert {k for k in before if before[k] != after[k]} == {k for k in before if k[0] == "rr"}

    out = tmp_path / "out"
    sweep.run_sweep(cfg, out, jobs=1, progress=False)
    result = sweep.run_sweep(changed, out, jobs=1, progress=False)
    assert (result.ran, result.reused) == (4, RUNS - 4)
    old = pd.read_csv(reference_out / "summary.csv")
    new = pd.read_csv(out / "summary.csv")
    others = old["scheduler"] != "rr"
    pd.testing.assert_frame_equal(new[others], old[others])
    assert not new[~others].equals(old[~others])


def test_a_failing_run_is_reported_and_the_others_go_on(config, tmp_path, capsys,
                                                        monkeypatch):
    """rr raises when its quantum is 3ms; the grid has 2ms and 3ms."""
    raw = yaml.safe_load(SWEEP)
    raw["sweep"] = {"grid": {"schedulers.rr.quantum": ["2ms", "3ms"]}, "replications": 1}
    config.write_text(yaml.safe_dump(raw))
    init = reference.RoundRobin.__init__

    def fragile(self, engine, options):
        if options.quantum == 3_000_000:
            raise RuntimeError("quantum 3ms is cursed")
        init(self, engine, options)

    monkeypatch.setattr(reference.RoundRobin, "__init__", fragile)
    out = tmp_path / "out"
    assert main([str(config), "--jobs", "1", "--quiet", "--no-plots", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "1 of 6 runs failed" in err
    assert "rr point 1 replication 0 seed" in err and "schedulers.rr.quantum=3ms" in err
    assert "RuntimeError: quantum 3ms is cursed" in err
    failed = list((out / "runs").glob("*.failed.json"))
    assert len(failed) == 1 and "Traceback" in json.loads(failed[0].read_text())["traceback"]
    summary = pd.read_csv(out / "summary.csv")
    assert len(summary) == 5 * 3 and summary["schedulers.rr.quantum_ms"].tolist()[-1] == 2.0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "1 runs failed" and manifest["failed"][0]["scheduler"] == "rr"

    monkeypatch.undo()  # fixed: the rerun retries only the failed run
    result = sweep.run_sweep(sim.load_config(config), out, jobs=1, progress=False)
    assert (result.ran, result.reused, result.shared, result.failed) == (1, 3, 2, [])
    assert not list((out / "runs").glob("*.failed.json"))


def test_runs_in_flight_are_bounded_by_the_window(monkeypatch):
    """A sweep of thousands of runs never has more than ``window`` outcomes pending."""
    lock, state = threading.Lock(), {"now": 0, "max": 0}

    def fake(spec):
        with lock:
            state["now"] += 1
            state["max"] = max(state["max"], state["now"])
        time.sleep(0.001)
        with lock:
            state["now"] -= 1
        return sweep.Outcome(spec)

    monkeypatch.setattr(sweep, "execute_run", fake)
    with ThreadPoolExecutor(8) as pool:
        done = list(sweep._outcomes(range(200), pool, window=4))
    assert len(done) == 200 and state["max"] <= 4


def test_aggregate_is_the_mean_and_95_percent_t_interval_over_replications():
    rows = [{"scheduler": "s", "model": "fcfs", "point": 0, "replication": r, "seed": r,
             "class": "all", **{m: float(v) for m in SUMMARY_COLUMNS[6:]},
             "load": 0.5} for r, v in enumerate([1.0, 2.0, 4.0])]
    agg = aggregate(pd.DataFrame(rows))
    low, high = stats.t.interval(0.95, 2, loc=7 / 3, scale=stats.sem([1, 2, 4]))
    row = agg.iloc[0]
    assert row["replications"] == 3 and row["load"] == 0.5
    assert row["latency_p99_ms_mean"] == pytest.approx(7 / 3)
    assert (row["latency_p99_ms_ci_low"], row["latency_p99_ms_ci_high"]) == pytest.approx(
        (low, high), rel=1e-12)
    for df in (1, 2, 5, 30, 200):
        assert t_quantile(0.975, df) == pytest.approx(stats.t.ppf(0.975, df), rel=1e-12)
