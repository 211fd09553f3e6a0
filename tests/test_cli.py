"""The command line: results on disk, determinism, and bad input (exit 2, nothing written)."""

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from sim.cli import main

ROOT = Path(__file__).resolve().parent.parent
SMALL = """
name: small
seed: 3
horizon: 300ms
warmup: 50ms
machine: {cores: 1}
workload:
  api:
    arrival: {poisson: 300/s}
    phases: [{cpu: exp(0.5ms)}, {io: exp(2ms)}, {cpu: 0.2ms}]
  hog:
    arrival: {batch: {count: 1, at: 100ms}}
    phases: [{cpu: 20ms}]
schedulers:
  asyncio: {model: asyncio}
  fcfs: {model: fcfs}
"""


@pytest.fixture
def small(tmp_path):
    path = tmp_path / "small.yaml"
    path.write_text(SMALL)
    return path


def test_run_writes_every_result_file(small, tmp_path, capsys):
    out = tmp_path / "out"
    assert main([str(small), "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "config.yaml", "manifest.json", "plots", "summary.csv", "tasks.parquet",
        "wakeups.parquet"]
    assert sorted(p.name for p in (out / "plots").iterdir()) == [
        "fairness.png", "latency_cdf.png", "latency_tail.png", "wake_delay.png"]
    summary = pd.read_csv(out / "summary.csv")
    assert summary["scheduler"].tolist() == ["asyncio"] * 3 + ["fcfs"] * 3
    assert summary["class"].tolist() == ["api", "hog", "all"] * 2
    tasks = pd.read_parquet(out / "tasks.parquet")
    assert {"scheduler", "point", "replication", "task_id", "class", "arrival", "start",
            "finish", "demand", "cpu", "wait", "latency", "slowdown", "preemptions",
            "counted"} <= set(tasks.columns)
    wakeups = pd.read_parquet(out / "wakeups.parquet")
    assert {"task_id", "ready", "run", "delay"} <= set(wakeups.columns)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["seeds"] == [{"point": 0, "replication": 0, "seed": 3}]
    assert yaml.safe_load((out / "config.yaml").read_text())["schedulers"]["asyncio"][
        "select_resolution"] == "1ms"
    printed = capsys.readouterr().out
    assert "asyncio" in printed and "p99 ms" in printed


QUEUE = """
name: queue
horizon: 1s
machine: {cores: 1, profile: ideal}
workload:
  w:
    arrival: {batch: {count: 20000, at: 0s}}
    phases: [{cpu: 1ms}]
schedulers:
  fcfs: {model: fcfs}
"""


def test_the_table_has_fixed_decimals_thousands_separators_and_units(tmp_path, capsys):
    """20,000 tasks of 1 ms queued at 0 on one core: task i finishes at i + 1 ms, so every
    figure is known (p99 of 1..20,000 ms, linear: 19,800.01 ms) and none is printed as
    2e+04."""
    config = tmp_path / "queue.yaml"
    config.write_text(QUEUE)
    assert main([str(config), "--out", str(tmp_path / "out"), "--no-plots"]) == 0
    header, first, last = capsys.readouterr().out.splitlines()[:3]
    assert header.split() == ["scheduler", "class", "tasks", "tput/s", "p50", "ms", "p99", "ms",
                              "max", "ms", "slowdown", "wake", "p99", "ms", "jain", "util%"]
    assert first.split() == ["fcfs", "w", "20,000", "999.0", "10,000.500", "19,800.010",
                             "20,000.000", "10,000.50", "19,799.010", "0.003", "100.0"]
    assert last.split()[1] == "all"


def test_same_config_and_seed_give_byte_identical_summaries(small, tmp_path):
    for name in ("a", "b"):
        assert main([str(small), "--out", str(tmp_path / name), "--quiet", "--no-plots"]) == 0
    assert (tmp_path / "a/summary.csv").read_bytes() == (tmp_path / "b/summary.csv").read_bytes()
    assert main([str(small), "seed=4", "--out", str(tmp_path / "c"), "--quiet",
                 "--no-plots"]) == 0
    assert (tmp_path / "a/summary.csv").read_bytes() != (tmp_path / "c/summary.csv").read_bytes()


def test_check_prints_the_resolved_config_and_writes_nothing(small, tmp_path, capsys):
    out = tmp_path / "never"
    assert main([str(small), "--check", "--out", str(out)]) == 0
    resolved = yaml.safe_load(capsys.readouterr().out)
    assert resolved["schedulers"]["asyncio"]["slow_callback"] == "100ms"
    assert resolved["drain_limit"] == "10min" or resolved["drain_limit"] == "600s"
    assert not out.exists()


def test_list_models(capsys):
    assert main(["--list-models"]) == 0
    text = capsys.readouterr().out
    assert "asyncio:" in text and "quantum (default 10ms)" in text


def test_example_configs_validate(capsys):
    for path in sorted((ROOT / "configs").glob("*.yaml")):
        assert main([str(path), "--check"]) == 0, path


BAD_ARGS = [
    (["missing.yaml"], "cannot read config"),
    (["{small}", "horizon=10"], "horizon: duration 10 needs a unit"),
    (["{small}", "nothere=1"], "nothere: no such key"),
    (["{small}", "machine.cores=0"], "machine.cores"),
    (["{small}", "schedulers.fcfs.model=gil"],
     "schedulers.fcfs.model: unknown model 'gil'; known models: asyncio, gil_threads, go, "),
    (["{small}", "workload.api.arival=spawned"],
     "workload.api.arival: no such key in the config; did you mean workload.api.arrival?"),
    (["{small}", "horizon=1m"], "horizon: cannot read duration '1m': 'm' is not a unit "
                                "(minutes or milli-?); units: ns, us, ms, s, min"),
    (["{small}", "load=90%"], "load: a fraction of the cores' capacity, not a percentage: "
                              "write 0.9 for 90 %, got '90%'"),
    (["{small}", "max_tasks=10"], "max_tasks"),
    (["{small}", "--bogus"], "unrecognized arguments"),
    ([], "give a config file"),
]


def exit_code(args: list[str]) -> int:
    try:
        return main(args)
    except SystemExit as exc:  # argparse's own errors
        return exc.code


@pytest.mark.parametrize("args,message", BAD_ARGS)
def test_bad_input_exits_2_with_one_message_and_writes_nothing(small, tmp_path, capsys,
                                                                args, message):
    out = tmp_path / "out"
    args = [a.replace("{small}", str(small)) for a in args]
    assert exit_code([*args, "--out", str(out)] if args else []) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


yaml_scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.text(max_size=6),
                         st.sampled_from(["1ms", "-1ms", "exp(", "5/s", "yield", "spawned"]))
garbage = st.recursive(yaml_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)),
    max_leaves=8)


@given(key=st.sampled_from(["horizon", "machine", "workload", "schedulers", "seed", "load",
                            "warmup", "sweep", "workload.api", "workload.api.phases",
                            "workload.api.arrival", "schedulers.asyncio", "machine.cores"]),
       value=garbage)
def test_random_garbage_never_shows_a_traceback(tmp_path_factory, key, value):
    folder = tmp_path_factory.mktemp("g")
    raw = yaml.safe_load(SMALL)
    node = raw
    parts = key.split(".")
    for part in parts[:-1]:
        node = node[part]
    node[parts[-1]] = value
    path = folder / "g.yaml"
    path.write_text(yaml.safe_dump(raw))
    out = folder / "out"
    assert exit_code([str(path), "--check", "--out", str(out)]) in (0, 2)
    assert not out.exists()


def test_results_replace_an_earlier_runs_output_atomically(small, tmp_path):
    """An earlier run's folder (its trace included) is replaced whole, leaving nothing
    hidden beside it; a folder with foreign files is refused (tests/test_reliability.py)."""
    out = tmp_path / "out"
    assert main([str(small), "--out", str(out), "--quiet", "--trace"]) == 0
    assert (out / "trace.parquet").exists()
    assert main([str(small), "--out", str(out), "--quiet", "--no-plots"]) == 0
    assert not (out / "trace.parquet").exists() and not (out / "plots").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    shutil.rmtree(out)


def test_trace_writes_the_lanes_and_a_timeline(small, tmp_path):
    out = tmp_path / "out"
    assert main([str(small), "--trace", "--quiet", "--out", str(out)]) == 0
    trace = pd.read_parquet(out / "trace.parquet")
    assert set(trace["scheduler"]) == {"asyncio"}  # fcfs threads are unnamed: not traced
    assert set(trace["lane"]) == {"loop 0"}
    assert set(trace["state"]) == {"running", "loop"}  # (the loop's own work: the linux machine)
    assert (trace["end"] > trace["start"]).all()
    assert (out / "plots" / "timeline.png").exists()
    assert main([str(small), "--no-plots", "--quiet", "--out", str(tmp_path / "np")]) == 0
    assert not (tmp_path / "np" / "plots").exists()
