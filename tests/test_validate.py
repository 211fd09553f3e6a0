"""The validation harness (sim.validate) without the noisy real measurements: figures from
fake real-run output, the agreement logic, the CSV, skipped runtimes, and one tiny real
asyncio run whose structure (not its timings) is checked."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from sim.config import validate
from sim.runner import simulate_tables
from sim.validate import COLUMNS, SCENARIOS, Toolchains, judge, real_rows, run_validation, runners
from sim.validate.__main__ import main
from sim.validate.harness import figures, floor, scenario_config
from sim.workload import generate

MS = 1_000_000
# what the probe would measure, fixed so that no test sleeps to find it out
PROBE = {"lateness_mean": 80_000, "lateness_p50": 70_000, "lateness_p99": 150_000,
         "sleep_20us_p50": 60_000, "asyncio_step": 3_000}
TINY = {
    "horizon": "100ms", "machine": {"cores": 1},
    "workload": {
        "hog": {"arrival": {"batch": {"count": 1}}, "phases": [{"cpu": "10ms"}]},
        "ticker": {"arrival": {"batch": {"count": 2}},
                   "phases": [{"repeat": 3, "phases": [{"sleep": "1ms"}, {"cpu": "100us"}]},
                              {"spawn": "child"}]},
        "child": {"arrival": "spawned", "phases": [{"cpu": "50us"}]},
    },
    "schedulers": {"asyncio": {"model": "asyncio"}},
}
WANTED = [(c, m) for c in ("ticker", "child", "all")
          for m in ("wake_delay_mean_ms", "wake_delay_p99_ms", "latency_p50_ms",
                    "latency_max_ms", "throughput_per_s")]


def tiny():
    cfg = validate(TINY)
    return cfg, generate(cfg, cfg.seed)


def as_real_output(tasks: pd.DataFrame, wakeups: pd.DataFrame) -> list[dict]:
    """A simulated run written the way a real program prints its timings."""
    out = [{"kind": "info", "runtime": "fake"}]
    out += [{"kind": "task", "id": int(r.task_id), "arrival": int(r.arrival),
             "start": int(r.start), "finish": int(r.finish)} for r in tasks.itertuples()]
    out += [{"kind": "wake", "id": int(r.task_id), "ready": int(r.ready), "run": int(r.run)}
            for r in wakeups.itertuples()]
    return out


def test_real_output_gives_the_simulators_figures():
    """The same timings give the same figures on both sides (one metrics code path), and
    those figures are the ones a direct computation on the timings gives."""
    cfg, workload = tiny()
    rows, tasks, wakeups = simulate_tables(cfg, workload, "asyncio", cfg.seed)
    real = figures(real_rows(as_real_output(tasks, wakeups), workload, cfg), WANTED)
    assert real == pytest.approx(figures(rows, WANTED), nan_ok=True)
    expected = {}
    for cls in ("ticker", "child", "all"):
        mine = tasks if cls == "all" else tasks[tasks["class"] == cls]
        woken = wakeups if cls == "all" else wakeups[wakeups["class"] == cls]
        latency = (mine["finish"] - mine["arrival"]).astype(float) / MS
        delay = (woken["run"] - woken["ready"]).astype(float) / MS
        expected |= {(cls, "latency_p50_ms"): latency.median(),
                     (cls, "latency_max_ms"): latency.max(),
                     (cls, "wake_delay_mean_ms"): delay.mean(),
                     (cls, "wake_delay_p99_ms"): delay.quantile(0.99),
                     (cls, "throughput_per_s"): len(mine) / 0.1}  # all finish in 100 ms
    assert real == pytest.approx(expected)
    assert real[("ticker", "wake_delay_p99_ms")] > 5  # the 10 ms hog delays the tickers


def test_real_output_by_hand():
    """Two tasks: a 2 ms timer woken 3 ms late; figures as the README defines them."""
    raw = {"horizon": "1s", "workload": {"t": {"arrival": {"batch": {"count": 2}},
                                               "phases": [{"sleep": "2ms"}, {"cpu": "1ms"}]}},
           "schedulers": {"a": {"model": "asyncio"}}}
    cfg = validate(raw)
    workload = generate(cfg, cfg.seed)
    records = [
        {"kind": "task", "id": 0, "arrival": 0, "start": 0, "finish": 3 * MS},
        {"kind": "task", "id": 1, "arrival": 0, "start": 1 * MS, "finish": 7 * MS},
        {"kind": "wake", "id": 0, "ready": 0, "run": 0},
        {"kind": "wake", "id": 0, "ready": 2 * MS, "run": 2 * MS},
        {"kind": "wake", "id": 1, "ready": 0, "run": 1 * MS},
        {"kind": "wake", "id": 1, "ready": 3 * MS, "run": 6 * MS},
    ]
    got = figures(real_rows(records, workload, cfg),
                  [("t", "wake_delay_mean_ms"), ("t", "wake_delay_max_ms"),
                   ("t", "latency_p50_ms"), ("t", "latency_max_ms"), ("t", "slowdown_mean"),
                   ("t", "throughput_per_s")])
    assert got == {("t", "wake_delay_mean_ms"): 1.0, ("t", "wake_delay_max_ms"): 3.0,
                   ("t", "latency_p50_ms"): 5.0, ("t", "latency_max_ms"): 7.0,
                   ("t", "slowdown_mean"): pytest.approx((1 + 7 / 3) / 2),
                   ("t", "throughput_per_s"): 2.0}


def test_judge_uses_the_spread_or_the_floor():
    inside = judge([10.0, 11.0, 12.0], 12.5, least=0.1)
    assert inside["real"] == 11.0 and inside["tolerance"] == 2.0 and inside["agree"] == "yes"
    assert inside["ratio"] == pytest.approx(12.5 / 11)
    assert judge([10.0, 11.0, 12.0], 13.5, least=0.1)["agree"] == "no"
    # identical runs: the floor decides
    assert judge([5.0, 5.0], 5.05, least=0.1)["agree"] == "yes"
    assert judge([5.0, 5.0], 5.2, least=0.1) | {"ratio": 0} == {
        "real": 5.0, "real_min": 5.0, "real_max": 5.0, "tolerance": 0.1, "ratio": 0,
        "agree": "no"}
    assert judge([0.0, 0.0], 0.0, least=0.0)["ratio"] == 1.0
    assert math.isinf(judge([0.0], 1.0, least=0.0)["ratio"])


def test_floor_counts_the_timer_waits_a_figure_spans():
    _, workload = tiny()
    assert floor("ticker", "wake_delay_p99_ms", workload, PROBE) == pytest.approx(0.15)
    assert floor("ticker", "wake_delay_p50_ms", workload, PROBE) == pytest.approx(0.07)
    # a ticker's latency spans its arrival and its three sleeps
    assert floor("ticker", "latency_mean_ms", workload, PROBE) == pytest.approx(4 * 0.08)
    assert floor("child", "latency_p99_ms", workload, PROBE) == pytest.approx(0.15)
    assert floor("all", "throughput_per_s", workload, PROBE) == pytest.approx(10.0)


def test_encode_writes_every_phase_and_refuses_what_real_programs_cannot_run():
    _, workload = tiny()
    lines = runners.encode(workload).splitlines()
    assert lines[0] == "0 0 cpu 10000000"
    assert lines[1].startswith("1 0 sleep 1000000 cpu 100000 sleep")
    assert lines[1].endswith("spawn 3")
    assert lines[3] == "3 -1 cpu 50000"
    for phase in ({"io": "1ms"}, {"block": "1ms"}):
        raw = {**TINY, "workload": {"t": {"arrival": {"batch": {"count": 1}},
                                          "phases": [phase]}}}
        with pytest.raises(ValueError, match="cpu, sleep, yield and spawn"):
            runners.encode(generate(validate(raw), 1))
    later = {**TINY, "workload": {"t": {"arrival": {"batch": {"count": 1, "at": "5ms"}},
                                        "phases": [{"cpu": "1ms"}]}}}
    with pytest.raises(ValueError, match="at 0 or by a spawn"):
        runners.encode(generate(validate(later), 1))


def test_every_scenario_is_a_valid_config_the_real_programs_can_run():
    required = {"asyncio_hog", "asyncio_yield_hog", "gil_convoy_1ms", "gil_convoy_5ms",
                "gil_convoy_20ms", "go_p1_hog", "go_p1_hog_nopreempt", "go_p2_hog",
                "tokio_hog", "tokio_lifo"}
    assert required <= set(SCENARIOS)
    for scenario in SCENARIOS.values():
        cfg = scenario_config(scenario, PROBE)
        workload = generate(cfg, cfg.seed)
        assert runners.encode(workload)
        for cls, _ in scenario.figures:
            assert cls in workload.classes
    go = scenario_config(SCENARIOS["go_p1_hog_nopreempt"], PROBE).schedulers["go"]
    assert go.async_preemption is False and not hasattr(go, "sysmon_sleep_overhead")
    tokio = scenario_config(SCENARIOS["tokio_lifo"], PROBE).schedulers["tokio"]
    assert tokio.global_queue_interval == 61


def test_missing_runtimes_give_skipped_rows(tmp_path: Path):
    """No go binary, no Tokio crates: rows say skipped and why; nothing fails."""
    tools = Toolchains(build_dir=tmp_path / "build", go=str(tmp_path / "missing" / "go"),
                       crates=str(tmp_path / "no-crates"))
    table = run_validation(["go_p1_hog", "tokio_lifo"], tmp_path, repeat=1, tools=tools,
                           calibration=PROBE, log=lambda _msg: None)
    assert list(table.columns) == COLUMNS
    assert (table["agree"] == "skipped").all()
    assert table["simulated"].notna().all()
    notes = table.groupby("scenario")["note"].first()
    assert "golang-go" in notes["go_p1_hog"]
    assert "librust-tokio-dev" in notes["tokio_lifo"]
    written = pd.read_csv(tmp_path / "validation.csv")
    assert list(written.columns) == COLUMNS and len(written) == len(table)
    assert (tmp_path / "validation.png").stat().st_size > 0
    assert "| go_p1_hog | req.wake_delay_p99_ms |" in (tmp_path / "validation.md").read_text()


def test_a_tiny_real_asyncio_run_reports_every_task_and_wake_up(tmp_path: Path):
    """A real run of some 30 ms: its structure, not its timings."""
    cfg, workload = tiny()
    tools = Toolchains(build_dir=tmp_path)
    argv, env, version = runners.command("asyncio", {}, tools)
    assert version.startswith("CPython")
    records = runners.run(argv, env, runners.encode(workload), timeout=60)
    tasks = {r["id"]: r for r in records if r["kind"] == "task"}
    wakes = [r for r in records if r["kind"] == "wake"]
    assert sorted(tasks) == list(range(workload.n))
    assert len(wakes) == workload.n + 2 * 3  # every arrival, and each ticker's three timers
    for t in tasks.values():
        assert 0 <= t["arrival"] <= t["start"] <= t["finish"]
        assert t["finish"] - t["arrival"] >= workload.demand[t["id"]] - 1_000
    assert all(w["run"] >= w["ready"] - 1_000 for w in wakes)
    rows = real_rows(records, workload, cfg)
    assert [r["class"] for r in rows] == ["hog", "ticker", "child", "all"]


def test_cli_lists_and_refuses_unknown_scenarios(capsys):
    assert main(["--list"]) == 0
    assert "gil_convoy_20ms" in capsys.readouterr().out
    assert main(["no_such_scenario"]) == 2
    assert "unknown scenario no_such_scenario" in capsys.readouterr().err
