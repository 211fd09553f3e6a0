"""The command line: results on disk, determinism, and bad input (exit 2, nothing written)."""

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from sim.cli import main
from sim.models import MODELS

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
    assert tasks.columns.tolist() == [  # times in integer ns, named so
        "scheduler", "point", "replication", "task_id", "class", "arrival_ns", "start_ns",
        "finish_ns", "demand_ns", "cpu_ns", "overhead_ns", "wait_ns", "latency_ns", "slowdown",
        "preemptions", "context_switches", "gil_handoffs", "slow_callbacks", "counted"]
    wakeups = pd.read_parquet(out / "wakeups.parquet")
    assert wakeups.columns.tolist() == ["scheduler", "point", "replication", "task_id", "class",
                                        "ready_ns", "run_ns", "delay_ns", "counted"]
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
                              "max", "ms", "slowdown", "wake", "p99", "ms", "jain", "util%",
                              "occup%"]
    assert first.split() == ["fcfs", "w", "20,000", "999.0", "10,000.500", "19,800.010",
                             "20,000.000", "10,000.50", "19,799.010", "0.003", "100.0", "-"]
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


def test_list_models_gives_every_option_its_type_default_and_a_whole_sentence(capsys):
    """From the option fields themselves: every model's whole summary paragraph, every
    option with its type, its default (with its unit) and its description, none cut."""
    assert main(["--list-models"]) == 0
    text = capsys.readouterr().out
    flat = " ".join(text.split())
    assert "round_robin: Round robin with quantum" in flat
    assert "quantum: duration, default 10ms how long a task computes before" in flat
    assert "switch_interval: duration, default 5ms how long a thread waiting for the GIL" \
        in flat
    for name, cls in MODELS.items():
        summary = " ".join((cls.__doc__ or "").strip().split("\n\n")[0].split())
        assert f"{name}: {summary.replace('``', '')}" in flat  # whole, not its first line
        assert summary.endswith(".")
        for field, info in cls.Options.model_fields.items():
            if field != "model":
                assert info.description, f"{name}.{field} has no description"
                assert f"  {field}: " in text
                assert " ".join(info.description.split()).rstrip(".") + "." in flat
    assert max(len(line) for line in text.splitlines()) <= 100


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
    (["{small}", "--class", "api", "--class", "apj"],
     "error: --class 'apj': no such class; the classes are api, hog, all"),
    (["{small}", "--baseline", "go"],
     "error: --baseline 'go': no such scheduler; the schedulers are asyncio, fcfs"),
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
    assert (trace["end_ns"] > trace["start_ns"]).all()
    assert (out / "plots" / "timeline.png").exists()
    assert main([str(small), "--no-plots", "--quiet", "--out", str(tmp_path / "np")]) == 0
    assert not (tmp_path / "np" / "plots").exists()


# --- per-class focus, comparisons, overload warnings (issue 18) ---------------------------


def data_rows(printed: str) -> list[list[str]]:
    """The table's rows (after its header, before the blank line), as words."""
    lines = printed.splitlines()
    return [line.split() for line in lines[1:lines.index("")]]


def test_class_limits_the_table_and_the_charts(small, tmp_path, capsys):
    """``--class hog``: the table's rows and the charts' panels are the hog's (a chart of
    every class has three panels, 7 in each at 120 dpi); summary.csv keeps every class."""
    out = tmp_path / "out"
    assert main([str(small), "--out", str(out), "--class", "hog", "--class", "hog"]) == 0
    assert [row[:2] for row in data_rows(capsys.readouterr().out)] == [
        ["asyncio", "hog"], ["fcfs", "hog"]]
    import matplotlib.image

    for name in ("latency_cdf.png", "latency_tail.png", "wake_delay.png"):
        assert matplotlib.image.imread(out / "plots" / name).shape[1] == 7 * 120
    assert pd.read_csv(out / "summary.csv")["class"].tolist() == ["api", "hog", "all"] * 2
    assert main([str(small), "--out", str(out), "--class", "api", "--class", "all"]) == 0
    assert [row[:2] for row in data_rows(capsys.readouterr().out)] == [
        ["asyncio", "api"], ["asyncio", "all"], ["fcfs", "api"], ["fcfs", "all"]]
    assert matplotlib.image.imread(out / "plots" / "latency_cdf.png").shape[1] == 2 * 7 * 120
    assert main([str(small), "--out", str(out), "--force"]) == 0
    assert matplotlib.image.imread(out / "plots" / "latency_cdf.png").shape[1] == 3 * 7 * 120


def test_baseline_adds_ratios_on_the_same_tasks(small, tmp_path, capsys):
    """Each scheduler's p50, p99 and throughput over the baseline's, class by class, in the
    table and in comparison.csv; one replication: no interval."""
    out = tmp_path / "out"
    assert main([str(small), "--out", str(out), "--baseline", "fcfs", "--no-plots"]) == 0
    printed = capsys.readouterr().out
    header = printed.splitlines()[0]
    assert header.endswith("p50 vs fcfs p99 vs fcfs tput vs fcfs")
    summary = pd.read_csv(out / "summary.csv").set_index(["scheduler", "class"])
    compared = pd.read_csv(out / "comparison.csv")
    assert compared.columns.tolist() == [
        "scheduler", "baseline", "point", "class", "replications",
        "latency_p50_ratio", "latency_p50_ratio_ci_low", "latency_p50_ratio_ci_high",
        "latency_p99_ratio", "latency_p99_ratio_ci_low", "latency_p99_ratio_ci_high",
        "throughput_ratio", "throughput_ratio_ci_low", "throughput_ratio_ci_high"]
    assert compared[["scheduler", "class"]].values.tolist() == [
        [s, c] for s in ("asyncio", "fcfs") for c in ("api", "hog", "all")]
    assert (compared["baseline"] == "fcfs").all() and (compared["replications"] == 1).all()
    for row in compared.itertuples():
        for column, name in (("latency_p50_ms", "latency_p50"),
                             ("latency_p99_ms", "latency_p99"),
                             ("throughput_per_s", "throughput")):
            expected = (summary.loc[(row.scheduler, row[4]), column]
                        / summary.loc[("fcfs", row[4]), column])
            assert getattr(row, f"{name}_ratio") == pytest.approx(expected, rel=1e-12)
            assert pd.isna(getattr(row, f"{name}_ratio_ci_low"))
    first = data_rows(printed)[0]
    ratio = compared.loc[0, "latency_p50_ratio"]
    assert first[:2] == ["asyncio", "api"] and first[-3] == f"{ratio:.2f}x"
    assert data_rows(printed)[3][-3:] == ["1.00x", "1.00x", "1.00x"]  # fcfs against itself


def test_a_sweep_compares_per_point_with_a_t_interval_on_paired_log_ratios(small, tmp_path,
                                                                            capsys):
    """Three replications per point, each scheduler on the same tasks: the estimate is the
    geometric mean of the three ratios, the interval exp(mean +- t(2) s / sqrt(3)) of
    their logarithms."""
    from scipy import stats

    config = tmp_path / "sweep.yaml"
    config.write_text(SMALL + "sweep: {grid: {load: [0.3, 0.6]}, replications: 3}\n")
    out = tmp_path / "out"
    assert main([str(config), "--out", str(out), "--baseline", "fcfs", "--no-plots",
                 "--jobs", "1", "--class", "api"]) == 0
    summary = pd.read_csv(out / "summary.csv")
    compared = pd.read_csv(out / "comparison.csv")
    assert compared[["scheduler", "point", "class"]].values.tolist() == [
        [s, p, c] for s in ("asyncio", "fcfs") for p in (0, 1) for c in ("api", "hog", "all")]
    assert "load" in compared and (compared["replications"] == 3).all()
    row = compared[(compared["scheduler"] == "asyncio") & (compared["point"] == 1)
                   & (compared["class"] == "api")].iloc[0]
    api = summary[(summary["point"] == 1) & (summary["class"] == "api")]
    logs = np.log(api[api["scheduler"] == "asyncio"]["latency_p99_ms"].to_numpy()
                  / api[api["scheduler"] == "fcfs"]["latency_p99_ms"].to_numpy())
    half = stats.t.ppf(0.975, 2) * logs.std(ddof=1) / np.sqrt(3)
    assert row["latency_p99_ratio"] == pytest.approx(np.exp(logs.mean()), rel=1e-9)
    assert row["latency_p99_ratio_ci_low"] == pytest.approx(np.exp(logs.mean() - half),
                                                            rel=1e-9)
    assert row["latency_p99_ratio_ci_high"] == pytest.approx(np.exp(logs.mean() + half),
                                                             rel=1e-9)
    printed = capsys.readouterr()
    assert printed.err.splitlines()[-1] == (  # t(2) = 4.30, t(4) = 2.78
        "note: the ratios' 95% intervals rest on 3 replications: Student's t with 2 degrees "
        "of freedom puts their bounds 4.3 standard errors out (2.8 at 5), so they are wide; "
        "more replications (sweep.replications) narrow them")
    rows = data_rows(printed.out)
    assert [r[:3] for r in rows] == [["asyncio", "0.3", "api"], ["asyncio", "0.6", "api"],
                                     ["fcfs", "0.3", "api"], ["fcfs", "0.6", "api"]]
    assert " ".join(rows[1][-6:-3]) == (  # the p99 column: ratio [low, high]
        f"{row['latency_p99_ratio']:.2f}x [{row['latency_p99_ratio_ci_low']:.2f}, "
        f"{row['latency_p99_ratio_ci_high']:.2f}]")
    # the same sweep without --baseline: no comparison.csv left behind to mislead
    assert main([str(config), "--out", str(out), "--no-plots", "--jobs", "1", "--quiet"]) == 0
    assert not (out / "comparison.csv").exists()
    assert "intervals rest on" not in capsys.readouterr().err


LOOP = """
name: loop
horizon: 300ms
warmup: 50ms
machine: {{cores: 4, profile: ideal}}
workload:
  req:
    arrival: {{periodic: 10ms}}
    phases: [{{cpu: 5ms}}, {{block: {block}}}]
schedulers:
  one: {{model: asyncio}}
  two: {{model: asyncio, loops: 2}}
"""


@pytest.mark.parametrize("block,lines", [
    ("5ms", ["warning: scheduler 'one': open classes offer 1.00 of the capacity of one event "
             "loop (cpu, native and block work not offloaded, per loop of 1): its queue grows "
             "without bound until horizon; the drain may hit drain_limit"]),
    ("4.9ms", ["warning: scheduler 'one': its busiest loop, worker, P or GIL was occupied 99% "
               "of the measured window while the cores were 12% busy (the occupancy column: "
               "busy or blocked in a call): a bottleneck the cores do not show"]),
    ("3ms", []),
])
def test_a_loop_over_capacity_is_warned_of_though_the_cores_are_idle(tmp_path, capsys,
                                                                     block, lines):
    """5 ms of cpu and a blocking call every 10 ms on 4 cores (12.5-25 % busy): one loop is
    offered exactly its capacity with a 5 ms call (warned before the run), 99 % with 4.9 ms
    (not over: the run's occupancy of 99 % is warned of after it), 80 % with 3 ms (nothing);
    two loops are offered half each."""
    config = tmp_path / "loop.yaml"
    config.write_text(LOOP.format(block=block))
    assert main([str(config), "--out", str(tmp_path / "out"), "--quiet", "--no-plots"]) == 0
    err = capsys.readouterr().err.splitlines()
    assert [line for line in err if line.startswith("warning:")] == lines


THIN = """
name: thin
horizon: {horizon}
warmup: {warmup}
machine: {{profile: ideal}}
workload:
  api:
    arrival: {{periodic: 1ms}}
    phases: [{{cpu: 100us}}]
  report:
    arrival: {{periodic: 10ms}}
    phases: [{{cpu: 1ms}}]
schedulers:
  fcfs: {{model: fcfs}}
"""


@pytest.mark.parametrize("horizon,args,notes", [
    ("500ms", [], ["report"]),  # 50 reports, 500 api requests
    ("500ms", ["--class", "api"], []),  # the table shows api only
    ("500ms", ["--class", "all"], []),  # all: 550 tasks
    ("1s", [], []),  # 100 reports
    ("90ms", ["--class", "all"], ["all"]),  # 90 api requests and 9 reports
    ("5ms", ["--class", "report"], ["report"]),  # 5 api requests, 1 report
    ("100ms:95ms", ["--class", "report"], ["report"]),  # none arrived in the window
])
def test_a_p99_over_under_100_tasks_is_noted(tmp_path, capsys, horizon, args, notes):
    """A class's p99 over fewer than 100 finished tasks lies between its two largest
    latencies: the note names the class (of those shown) and its count, on stderr."""
    from sim.metrics import P99_TASKS

    config = tmp_path / "thin.yaml"
    horizon, _, warmup = horizon.partition(":")
    config.write_text(THIN.format(horizon=horizon, warmup=warmup or "0s"))
    assert main([str(config), "--out", str(tmp_path / "out"), "--no-plots", *args]) == 0
    printed = capsys.readouterr()
    counts = {"report": {"500ms": 50, "5ms": 1, "100ms": 0}.get(horizon), "all": 90 + 9}
    rests = {name: f"its latency p99 rests on {counts[name]} finished tasks (under "
                   f"{P99_TASKS}, a p99 lies between the two largest latencies)"
             if counts[name] else "none of its counted tasks finished, so it has no latency p99"
             for name in notes}
    assert [line for line in printed.err.splitlines() if line.startswith("note:")] == [
        f"note: class {name!r}: {rests[name]}; a longer horizon gives one that rests on more"
        for name in notes]
    assert "note:" not in printed.out  # the table stays clean to pipe


def test_check_prints_the_rates_that_load_resolves_to(small, capsys):
    """api offers 0.5 + 0.2 ms of cpu a task: load 0.35 of one core is 500 tasks/s."""
    assert main([str(small), "load=0.35", "--check"]) == 0
    printed = capsys.readouterr().out
    assert printed.splitlines()[-1] == ("# open class rates after load: api 500/s "
                                        "(cpu + native work: 0.35 of the cores)")
    assert yaml.safe_load(printed)["load"] == 0.35


def test_check_writes_a_high_rate_without_scientific_notation(small, capsys):
    assert main([str(small), "workload.api.arrival.poisson=2000000/s", "--check"]) == 0
    printed = capsys.readouterr().out
    assert printed.splitlines()[-1] == ("# open class rates: api 2,000,000/s (cpu + native "
                                        "work: 1,400 of the cores)")
    assert "e+" not in printed
    assert "poisson: 2000000/s" in printed  # (format_number: positional, never 2e+06)


def overloaded(phases: list, schedulers: dict, arrival=None, **top) -> dict:
    """(scheduler, resource) -> offered load of each resource at or over capacity."""
    from helpers import config

    from sim.capacity import overloads

    arrival = arrival or {"periodic": "10ms"}
    cfg = config({"req": {"arrival": arrival, "phases": phases}}, schedulers, **top)
    return {(b.scheduler, b.resource): round(b.load, 9) for b in overloads([cfg])}


def test_every_bottleneck_is_checked_against_its_own_capacity():
    """A task every 10 ms on 4 cores; each resource at exactly its capacity is named, one
    just under it is not."""
    four = {"machine": {"cores": 4}}
    gil = {"threads": {"model": "gil_threads"},
           "free": {"model": "gil_threads", "free_threaded": True},
           "offloaded": {"model": "asyncio", "offload": ["cpu"], "executor_threads": 4}}
    assert overloaded([{"cpu": "10ms"}], gil, **four) == {
        ("threads", "the GIL"): 1.0, ("offloaded", "the GIL"): 1.0}
    assert overloaded([{"cpu": "9.9ms"}], gil, **four) == {}
    pools = {"threads": {"model": "gil_threads", "threads": 2, "free_threaded": True},
             "executor": {"model": "asyncio", "offload": ["block"], "executor_threads": 2},
             "tokio": {"model": "tokio", "offload": ["block"], "blocking_threads": 2}}
    assert overloaded([{"block": "20ms"}], pools, **four) == {
        ("threads", "the thread pool"): 1.0, ("executor", "the executor pool"): 1.0,
        ("tokio", "the blocking pool"): 1.0}
    assert overloaded([{"block": "19.9ms"}], pools, **four) == {}
    assert overloaded([{"io": "19ms"}, {"block": "1ms"}], pools, **four) == {
        ("threads", "the thread pool"): 1.0}  # io holds a pool thread, not the executor's
    workers = {"tokio": {"model": "tokio", "workers": 2},
               "go": {"model": "go", "gomaxprocs": 1}}
    assert overloaded([{"cpu": "10ms"}, {"block": "10ms"}], workers, **four) == {
        ("tokio", "the workers"): 1.0, ("go", "the Ps"): 1.0}
    cores = {"fcfs": {"model": "fcfs"}}
    assert overloaded([{"cpu": "20ms"}, {"native": "20ms"}], cores, **four) == {
        ("*", "the 4 cores"): 1.0}


def test_a_phase_that_says_offload_loads_the_pool_and_a_process_pool_no_gil():
    """A task every 10 ms: 1 ms on the loop and 9 ms that say ``offload: true`` (twice: 18
    ms). The loop is at a tenth, the GIL the executor's threads share at 1.8, one executor
    thread at 1.8; a process pool of one has no GIL to share, the same 1.8 on its process;
    tokio's blocking pool of one, 1.8."""
    phases = [{"cpu": "1ms"}, {"repeat": 2, "phases": [{"cpu": "9ms", "offload": True}]}]
    pools = {"t": {"model": "asyncio", "executor_threads": 1},
             "p": {"model": "asyncio", "executor": "process", "process_workers": 1},
             "k": {"model": "tokio", "blocking_threads": 1}}
    assert overloaded(phases, pools, machine={"cores": 4}) == {
        ("t", "the GIL"): 1.8, ("t", "the executor pool"): 1.8,
        ("p", "the executor pool"): 1.8, ("k", "the blocking pool"): 1.8}


def test_batch_and_closed_classes_are_never_overload_and_load_sets_the_rates():
    """A burst that drains is a normal scenario; ``load`` scales the open rates first."""
    one = {"one": {"model": "asyncio"}}
    assert overloaded([{"block": "1s"}], one,
                      arrival={"batch": {"count": 1000, "at": "0s"}}) == {}
    assert overloaded([{"block": "1s"}], one,
                      arrival={"closed": {"clients": 10, "think": "0"}}) == {}
    assert overloaded([{"cpu": "1ms"}, {"block": "1ms"}], one, load=0.5) == {
        ("one", "one event loop"): 1.0}  # 1 core at 0.5: 500/s of 2 ms each


def test_a_busy_machine_is_not_a_hidden_bottleneck():
    """One loop on one core, 9.6 ms of cpu every 10 ms: the loop is occupied 96 % but so
    is the core (the load's doing, below the cores' own capacity): no warning. The same
    on four cores leaves three idle: the loop is the bottleneck the cores do not show."""
    from helpers import config

    import sim
    from sim.capacity import occupancy_warnings

    workload = {"req": {"arrival": {"periodic": "10ms"}, "phases": [{"cpu": "9.6ms"}]}}
    for cores, warned in ((1, False), (4, True)):
        cfg = config(workload, {"one": {"model": "asyncio"}}, machine={"cores": cores},
                     warmup="100ms")
        summary = sim.run(cfg, progress=False).summary
        assert summary["occupancy"].iloc[-1] == pytest.approx(0.96, abs=1e-12)
        assert bool(occupancy_warnings(summary)) is warned
        assert occupancy_warnings(summary, warned={"one"}) == []


@pytest.mark.parametrize("replications,t", [(1, None), (2, "12.7"), (4, "3.2"), (5, None)])
def test_ratio_intervals_on_few_replications_are_noted(replications, t):
    """Two to four replications: a note gives Student's t (12.71 at 1 degree of freedom,
    3.18 at 3); one has no interval, five or more need no note."""
    from sim.compare import few_replications_note

    compared = pd.DataFrame({"replications": [replications, replications + 3]})
    lines = few_replications_note(compared)
    if t is None:
        assert lines == []
    else:
        df = replications - 1
        assert lines == [
            f"note: the ratios' 95% intervals rest on {replications} replications: Student's "
            f"t with {df} degree{'s' if df > 1 else ''} of freedom puts their bounds {t} "
            "standard errors out (2.8 at 5), so they are wide; more replications "
            "(sweep.replications) narrow them"]
