"""Real against simulated, figure by figure: metrics, tolerances, the CSV and the chart.

A real run's timings are loaded into a ``Recorder`` and go through the very functions the
simulator's results go through (``task_table``, ``wakeup_table``, ``summary_rows``), so a
figure means the same on both sides. Tolerances come from measured noise only: the spread
of the repeated real runs, and never less than what the machine's timers add (the probe's
lateness of a 1 ms ``time.sleep``, measured just before the scenario's runs), once per
timer wait the figure spans; one task per window for a throughput.
"""

from __future__ import annotations

import copy
import json
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..config import Config, validate
from ..metrics import summary_rows, task_table, wakeup_table
from ..phases import SLEEP
from ..recorder import Recorder
from ..runner import simulate_tables
from ..workload import Workload, generate
from . import runners
from .runners import Skip, Toolchains
from .scenarios import SCENARIOS, Scenario

COLUMNS = ["scenario", "metric", "real", "simulated", "ratio", "tolerance", "agree",
           "real_min", "real_max", "runs", "note"]
STATS = ("mean", "p50", "p99")


def scenario_config(scenario: Scenario, calibration: dict[str, float] | None) -> Config:
    """The scenario's config with its overhead options set from the probe (ns)."""
    raw = copy.deepcopy(scenario.config)
    options = next(iter(raw["schedulers"].values()))
    for option, key in scenario.calibrate.items():
        if calibration and key in calibration:
            options[option] = f"{int(calibration[key])}ns"
    return validate(raw)


def real_options(cfg: Config) -> dict[str, Any]:
    """The scheduler's options with the machine-dependent defaults resolved."""
    spec = next(iter(cfg.schedulers.values()))
    options = {key: getattr(spec, key) for key in type(spec).model_fields}
    for key in ("gomaxprocs", "workers"):
        if key in options and options[key] is None:
            options[key] = cfg.machine.cores
    return options


def real_rows(records: list[dict[str, Any]], workload: Workload, cfg: Config) -> list[dict]:
    """Summary rows (``sim.metrics.summary_rows``) of one real run's JSON lines."""
    rec = Recorder(workload.task_class.tolist(), len(workload.classes), cfg.warmup,
                   cfg.horizon)
    for r in records:
        if r["kind"] == "task":
            i = r["id"]
            rec.arrival[i], rec.start[i], rec.finish[i] = r["arrival"], r["start"], r["finish"]
            rec.wait[i] = r["finish"] - r["arrival"] - int(workload.demand[i])
        elif r["kind"] == "wake":
            rec.wake_task.append(r["id"])
            rec.wake_ready.append(r["ready"])
            rec.wake_run.append(r["run"])
    tasks, wakeups = task_table(rec, workload), wakeup_table(rec, workload)
    return summary_rows(tasks, wakeups, rec, workload, cfg.machine.cores)


def sim_rows(cfg: Config, workload: Workload) -> list[dict]:
    return simulate_tables(cfg, workload, next(iter(cfg.schedulers)), cfg.seed)[0]


def figures(rows: list[dict], wanted) -> dict[tuple[str, str], float]:
    by_class = {row["class"]: row for row in rows}
    return {(cls, metric): float(by_class[cls][metric]) for cls, metric in wanted}


def floor(cls: str, metric: str, workload: Workload, probe: dict[str, float]) -> float:
    """The least tolerance a figure gets: the machine's timer lateness (the probe's mean,
    p50 or p99 for a 1 ms sleep, as the figure is) times the timer waits the figure spans
    (a wake-up: one; a task's latency: its arrival and its sleeps); for a throughput, one
    task per window. What a runtime adds on top of the OS is the model's to explain."""
    if metric.startswith("throughput"):
        return 1e9 / (workload.horizon - workload.warmup)
    stat = next((s for s in STATS if f"_{s}_" in metric), "p99")
    waits = 1
    if metric.startswith("latency"):
        waits += workload.templates[workload.classes.index(cls)].kinds.count(SLEEP)
    return waits * probe[f"lateness_{stat}"] / 1e6


def judge(real: list[float], simulated: float, least: float) -> dict[str, Any]:
    """Agreement of one figure: the simulated value must lie within the tolerance of the
    real runs' median; the tolerance is their full spread (max - min), at least ``least``."""
    median, lo, hi = float(np.median(real)), float(min(real)), float(max(real))
    tolerance = max(hi - lo, least)
    if median:
        ratio = simulated / median
    else:
        ratio = 1.0 if simulated == 0 else math.inf
    agree = "yes" if abs(simulated - median) <= tolerance else "no"
    return {"real": median, "real_min": lo, "real_max": hi, "tolerance": tolerance,
            "ratio": ratio, "agree": agree}


def describe(runtime: str, scenario: Scenario, cfg: Config,
             calibration: dict[str, float]) -> str:
    """The ``note`` of a scenario's rows: runtime and settings, the options set for its
    version, the calibrated ones, and the probe's timer lateness (the floor)."""
    options = real_options(cfg)
    parts = [runtime, *([scenario.versions] if scenario.versions else [])]
    parts += [f"{k}={options[k] / 1000:g}us (calibrated)" for k in scenario.calibrate]
    lateness = "/".join(f"{calibration[f'lateness_{s}'] / 1e6:.3f}" for s in STATS)
    return "; ".join([*parts, f"timer lateness mean/p50/p99 {lateness} ms"])


def compare_scenario(scenario: Scenario, repeat: int, tools: Toolchains,
                     calibration: dict[str, float], log: Callable[[str], None]) -> list[dict]:
    """Simulate the scenario, run it ``repeat`` times for real, and judge each figure."""
    cfg = scenario_config(scenario, calibration)
    workload = generate(cfg, cfg.seed)
    simulated = figures(sim_rows(cfg, workload), scenario.figures)
    real: dict[tuple[str, str], list[float]] = {f: [] for f in scenario.figures}
    try:
        argv, env, note = runners.command(scenario.runtime, real_options(cfg), tools)
        text = runners.encode(workload)
        for i in range(repeat):
            log(f"  {scenario.name}: real run {i + 1}/{repeat}")
            found = figures(real_rows(runners.run(argv, env, text, tools.nice), workload, cfg),
                            scenario.figures)
            for key, value in found.items():
                real[key].append(value)
        note = describe(note, scenario, cfg, calibration)
    except Skip as skip:
        log(f"  {scenario.name}: skipped: {skip}")
        real, note = {}, f"skipped: {skip}"
    rows = []
    for cls, metric in scenario.figures:
        row = {"scenario": scenario.name, "metric": f"{cls}.{metric}",
               "simulated": simulated[cls, metric], "runs": len(real.get((cls, metric), [])),
               "note": note}
        if real:
            least = floor(cls, metric, workload, calibration)
            row.update(judge(real[cls, metric], simulated[cls, metric], least))
        else:
            row.update({"real": math.nan, "real_min": math.nan, "real_max": math.nan,
                        "tolerance": math.nan, "ratio": math.nan, "agree": "skipped"})
        rows.append(row)
    return rows


def chart(table: pd.DataFrame, path: Path) -> None:
    """One panel per scenario: real (median, bar from min to max) beside simulated, per
    figure in ms on a log scale; throughput in the panel's title; a disagreeing figure's
    label is red."""
    names = list(dict.fromkeys(table["scenario"]))
    cols = 2
    rows = math.ceil(len(names) / cols)
    fig = Figure(figsize=(12, 2.9 * rows), layout="constrained")
    FigureCanvasAgg(fig)
    for k, name in enumerate(names):
        ax = fig.add_subplot(rows, cols, k + 1)
        part = table[table["scenario"] == name]
        times = part[part["metric"].str.endswith("_ms")]
        x = np.arange(len(times))
        real, sim = times["real"].to_numpy(float), times["simulated"].to_numpy(float)
        err = np.vstack([real - times["real_min"].to_numpy(float),
                         times["real_max"].to_numpy(float) - real])
        ax.bar(x - 0.2, real, 0.4, yerr=err, capsize=2, color="#0072B2", label="real")
        ax.bar(x + 0.2, sim, 0.4, color="#E69F00", label="simulated")
        labels = [m.split(".", 1)[1].removesuffix("_ms") for m in times["metric"]]
        ax.set_xticks(x, labels, rotation=20, fontsize=7)
        for tick, agree in zip(ax.get_xticklabels(), times["agree"], strict=True):
            tick.set_color("#D55E00" if agree == "no" else "black")
        ax.set_yscale("symlog", linthresh=0.1)  # sub-ms wake-ups beside 50 ms ones
        top = np.nanmax(np.concatenate([real + err[1], sim, [1.0]]))
        ax.set_ylim(0, top * 2)
        ax.set_ylabel("ms (linear below 0.1)")
        title = name
        for _, r in part[~part["metric"].str.endswith("_ms")].iterrows():
            title += f"   {r['metric'].split('.', 1)[1]}: {r['real']:.0f} real, " \
                     f"{r['simulated']:.0f} sim" + (" (disagree)" if r["agree"] == "no" else "")
        if (part["agree"] == "skipped").all():
            title += "   (real run skipped)"
        ax.set_title(title, fontsize=9)
        if k == 0:
            ax.legend(fontsize=8)
    fig.savefig(path, dpi=110)


def markdown(table: pd.DataFrame) -> str:
    """The table as Markdown (for docs/validation.md)."""
    def num(v: float) -> str:
        return "" if pd.isna(v) else f"{v:.3g}" if abs(v) < 1000 else f"{v:.0f}"

    lines = ["| scenario | metric | real (min-max) | simulated | ratio | tolerance | agree |",
             "|---|---|---|---|---|---|---|"]
    for _, r in table.iterrows():
        real = "" if pd.isna(r["real"]) else \
            f"{num(r['real'])} ({num(r['real_min'])}-{num(r['real_max'])})"
        lines.append(f"| {r['scenario']} | {r['metric']} | {real} | {num(r['simulated'])} | "
                     f"{num(r['ratio'])} | {num(r['tolerance'])} | {r['agree']} |")
    return "\n".join(lines) + "\n"


def default_nice() -> int:
    """Real runs at niceness -15 when allowed (root): on a shared machine the other load
    then takes the cores away from them less often."""
    return -15 if hasattr(os, "geteuid") and os.geteuid() == 0 else 0


def run_validation(names: list[str], out: Path, repeat: int = 5,
                   tools: Toolchains | None = None,
                   calibration: dict[str, float] | None = None,
                   log: Callable[[str], None] = print) -> pd.DataFrame:
    """Validate ``names``; write validation.csv, .md, .png and calibration.json in ``out``.
    The probe (timer lateness, calibrated overheads) runs before each scenario, unless
    ``calibration`` gives its figures."""
    out.mkdir(parents=True, exist_ok=True)
    tools = tools or Toolchains(build_dir=out / "build", nice=default_nice())
    rows, probes = [], {}
    for name in names:
        log(f"{name}: {SCENARIOS[name].about}")
        probes[name] = calibration or runners.probe(tools)
        rows += compare_scenario(SCENARIOS[name], repeat, tools, probes[name], log)
    (out / "calibration.json").write_text(json.dumps(probes, indent=1) + "\n")
    table = pd.DataFrame(rows, columns=COLUMNS)
    table.to_csv(out / "validation.csv", index=False, float_format="%.6g")
    (out / "validation.md").write_text(markdown(table))
    chart(table, out / "validation.png")
    return table
