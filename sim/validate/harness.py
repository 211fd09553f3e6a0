"""Real against simulated, figure by figure: metrics, the verdict, the CSV and the chart.

A real run's timings are loaded into a ``Recorder`` and go through the very functions the
simulator's results go through (``task_table``, ``wakeup_table``, ``summary_rows``), so a
figure means the same on both sides. Both sides are replicated: the real program runs
``repeat`` times (in rounds across the scenarios, ``run_real``), the simulator the same
drawn workload over ``seeds`` seeds, on the
machine profile measured by ``--calibrate`` (or one given). The verdict (``judge``) compares
the two medians against a tolerance made of both sides' spreads and the machine's timer
lateness; a figure whose real runs spread (p10 to p90) wider than half their median is
uninformative.
"""

from __future__ import annotations

import copy
import io
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..config import Config, validate
from ..folders import atomic_write
from ..machine import Machine
from ..metrics import summary_rows, task_table, wakeup_table
from ..phases import BLOCK, SLEEP
from ..recorder import Recorder
from ..runner import simulate_tables
from ..units import format_duration
from ..workload import Workload, generate
from . import calibrate, runners
from .runners import Skip, Toolchains
from .scenarios import SCENARIOS, Scenario

COLUMNS = ["scenario", "metric", "real", "simulated", "ratio", "tolerance", "agree",
           "real_min", "real_max", "runs", "sim_min", "sim_max", "sim_runs", "note"]
RUN_COLUMNS = ["scenario", "metric", "side", "run", "value"]
STATS = ("mean", "p50", "p99")
UNINFORMATIVE = 0.5  # a real spread (p10 to p90) wider than this share of the median
# phases whose real end is a timer's: a sleep, a blocking call (the programs' nanosleep or
# time.sleep); not an io: loadgen's stub backend polls for its reply's time, never late
TIMED = (SLEEP, BLOCK)


def scenario_config(scenario: Scenario, profile: str = "linux") -> Config:
    """The scenario's config on the machine ``profile`` (linux, ideal or a YAML file)."""
    raw = copy.deepcopy(scenario.config)
    raw["machine"] = {**raw.get("machine", {}), "profile": str(profile)}
    return validate(raw)


def real_options(cfg: Config) -> dict[str, Any]:
    """The scheduler's options with the machine-dependent defaults resolved."""
    spec = next(iter(cfg.schedulers.values()))
    options = {key: getattr(spec, key) for key in type(spec).model_fields}
    for key in ("gomaxprocs", "workers"):
        if key in options and options[key] is None:
            options[key] = cfg.machine.cores
    return options


def real_recorder(records: list[dict[str, Any]], workload: Workload, cfg: Config) -> Recorder:
    """One real run's JSON lines as a simulated run's ``Recorder``."""
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
    return rec


def real_rows(records: list[dict[str, Any]], workload: Workload, cfg: Config) -> list[dict]:
    """Summary rows (``sim.metrics.summary_rows``) of one real run's JSON lines."""
    rec = real_recorder(records, workload, cfg)
    tasks, wakeups = task_table(rec, workload), wakeup_table(rec, workload)
    return summary_rows(tasks, wakeups, rec, workload, cfg.machine.cores)


def sim_rows(cfg: Config, workload: Workload, seed: int) -> list[dict]:
    """Summary rows of one simulated run of ``workload`` (the model's and the OS's random
    streams come from ``seed``; the workload stays the one the real runs replay)."""
    return simulate_tables(cfg, workload, next(iter(cfg.schedulers)), seed)[0]


def figures(rows: list[dict], wanted) -> dict[tuple[str, str], float]:
    by_class = {row["class"]: row for row in rows}
    return {(cls, metric): float(by_class[cls][metric]) for cls, metric in wanted}


Lateness = dict[int, dict[str, float]]  # by wait length: a law's mean, p50 and p99 (ns)


def timer_lateness(profile: str) -> Lateness:
    """The profile's timer lateness (ns) by wait length (``{0: ...}`` with one law): each
    law's mean, p50 and p99."""
    law = Machine.model_validate({"profile": str(profile)}).timer_lateness
    laws = law if isinstance(law, dict) else {0: law}
    return {length: calibrate.law_quantiles(x) for length, x in laws.items()}


def _timed_lengths(workload: Workload, cls: str) -> np.ndarray:
    """The lengths (ns) of the class's ``TIMED`` phases, a row per task of the class and a
    column per phase."""
    c = workload.classes.index(cls)
    positions = [i for i, kind in enumerate(workload.templates[c].kinds) if kind in TIMED]
    tasks = np.flatnonzero(workload.task_class == c)
    return workload.args[workload.offset[tasks][:, None] + np.array(positions, dtype=np.int64)]


def _late(lengths: np.ndarray, lateness: Lateness, stat: str) -> float:
    """The mean over waits of these lengths of their law's ``stat`` (the law of the
    longest length key not above each, the shortest's below it)."""
    starts = np.array(list(lateness))
    law = np.maximum(np.searchsorted(starts, lengths, side="right") - 1, 0)
    return float(np.array([x[stat] for x in lateness.values()])[law].mean())


def floor(cls: str, metric: str, workload: Workload, lateness: Lateness) -> float:
    """The machine's part of a figure's tolerance: its timer lateness (the law's mean, p50
    or p99, as the figure is) once per timer wait the figure spans (a wake-up: one; a
    task's latency: its arrival and its ``TIMED`` phases); for a throughput, one task per
    window. With a law per wait length, a ``TIMED`` phase takes its length's law; the
    arrival and a wake-up's one wait take the average over the class's ``TIMED`` phases
    (the timers whose expiries its wake-ups are), else over the workload's (a spawned
    class: its spawner's timers), else the shortest length's law."""
    if metric.startswith("throughput"):
        return 1e9 / (workload.horizon - workload.warmup)
    stat = next((s for s in STATS if f"_{s}_" in metric), "p99")
    own = _timed_lengths(workload, cls) if cls in workload.classes else np.zeros((0, 0))
    timers = own.ravel() if own.size else np.concatenate(
        [_timed_lengths(workload, c).ravel() for c in workload.classes])
    one = _late(timers, lateness, stat) if timers.size else lateness[min(lateness)][stat]
    if metric.startswith("latency"):
        one += sum(_late(own[:, j], lateness, stat) for j in range(own.shape[1]))
    return one / 1e6


def spread(values: list[float]) -> float:
    """Half the interquartile range (numpy's linear percentiles): the median's noise
    without the one odd run."""
    q1, q3 = np.percentile(values, [25, 75])
    return float(q3 - q1) / 2


def judge(real: list[float], simulated: list[float], least: float) -> dict[str, Any]:
    """The verdict on one figure. ``uninformative`` when the real runs spread (p10 to p90,
    numpy's linear percentiles) wider than half their median (reported, not counted); else
    ``yes`` when the medians differ by at most ``least`` (the machine's timer lateness,
    ``floor``) plus the spread of each side (``spread``), ``no`` otherwise. Not max - min:
    the range grows with the runs (2.3 standard deviations at 5 runs, 3.7 at 20), so more
    runs made more figures uninformative, one odd run enough; p10-p90 spans 1.8 and 2.3."""
    median, lo, hi = float(np.median(real)), float(min(real)), float(max(real))
    p10, p90 = np.percentile(real, [10, 90])
    sim = float(np.median(simulated))
    tolerance = least + spread(real) + spread(simulated)
    if median:
        ratio = sim / median
    else:
        ratio = 1.0 if sim == 0 else math.inf
    if p90 - p10 > UNINFORMATIVE * abs(median):
        agree = "uninformative"
    else:
        agree = "yes" if abs(sim - median) <= tolerance else "no"
    return {"real": median, "real_min": lo, "real_max": hi, "runs": len(real),
            "simulated": sim, "sim_min": float(min(simulated)),
            "sim_max": float(max(simulated)), "sim_runs": len(simulated),
            "tolerance": tolerance, "ratio": ratio, "agree": agree}


def describe(runtime: str, scenario: Scenario, profile: str, lateness: Lateness) -> str:
    """The ``note`` of a scenario's rows: runtime and settings, the options set for its
    version, the machine profile and its timer lateness (by wait length)."""
    parts = [runtime, *([scenario.versions] if scenario.versions else [])]
    late = ", ".join((f"from {format_duration(length)} " if len(lateness) > 1 else "")
                     + "/".join(f"{law[s] / 1e6:.3f}" for s in STATS)
                     for length, law in lateness.items())
    return "; ".join([*parts, f"machine {Path(profile).name}: timer lateness "
                                f"mean/p50/p99 {late} ms"])


def simulate(cfg: Config, workload: Workload, seeds: int, wanted
             ) -> dict[tuple[str, str], list[float]]:
    """Each figure over ``seeds`` simulated runs (seeds cfg.seed, cfg.seed + 1, ...)."""
    found: dict[tuple[str, str], list[float]] = {f: [] for f in wanted}
    for seed in range(cfg.seed, cfg.seed + seeds):
        for key, value in figures(sim_rows(cfg, workload, seed), wanted).items():
            found[key].append(value)
    return found


class RealProgram:
    """A runtime's real program for one workload, ready to run: built, its input encoded
    (served: under loadgen, the server on ``cfg.machine.cores``). Making one raises
    ``Skip`` when the runtime is not installed."""

    def __init__(self, runtime: str, cfg: Config, workload: Workload, tools: Toolchains,
                 served: bool):
        runners.check_native(runtime, workload)
        self.argv, self.env, self.note = runners.command(
            runtime, real_options(cfg), tools, cfg.machine.cores if served else None)
        self.text = runners.encode(workload, served=served)
        self.nice = tools.nice

    def run(self) -> list[dict[str, Any]]:
        """One real run's JSON lines."""
        return runners.run(self.argv, self.env, self.text, self.nice)


class RealSide:
    """A scenario's real program and the figures of its runs so far (``Skip`` when the
    runtime is not installed)."""

    def __init__(self, scenario: Scenario, cfg: Config, workload: Workload,
                 tools: Toolchains):
        self.program = RealProgram(scenario.runtime, cfg, workload, tools, scenario.served)
        self.note = self.program.note
        self.scenario, self.cfg, self.workload = scenario, cfg, workload
        self.figures: dict[tuple[str, str], list[float]] = {f: [] for f in scenario.figures}

    def run_once(self) -> None:
        found = figures(real_rows(self.program.run(), self.workload, self.cfg),
                        self.scenario.figures)
        for key, value in found.items():
            self.figures[key].append(value)


def run_real(sides: list[RealSide], repeat: int, log: Callable[[str], None]) -> None:
    """``repeat`` real runs of each scenario, in rounds: each round runs every scenario
    once. The machine's speed shifts from one half-minute to the next (a probe's five runs
    in a row agree within 0.4 ms and move 1.6 ms between rounds: docs/validation.md), so
    runs in a row would share one state; a round apart, a scenario's runs sample the
    machine as the tolerance assumes, and its median is not one state's."""
    for i in range(repeat):
        for side in sides:
            log(f"  {side.scenario.name}: real run {i + 1}/{repeat}")
            side.run_once()


def verdicts(scenario: Scenario, workload: Workload,
             real: dict[tuple[str, str], list[float]],
             simulated: dict[tuple[str, str], list[float]],
             lateness: Lateness) -> dict[tuple[str, str], dict[str, Any]]:
    """``judge`` on each of the scenario's figures, with its timer-lateness floor."""
    return {(cls, metric): judge(real[cls, metric], simulated[cls, metric],
                                 floor(cls, metric, workload, lateness))
            for cls, metric in scenario.figures}


def scenario_rows(scenario: Scenario, workload: Workload,
                  simulated: dict[tuple[str, str], list[float]], profile: str,
                  real: RealSide | str) -> list[dict]:
    """Judge each figure's simulated runs against its real runs (``real``: the scenario's
    real side, or why it was skipped)."""
    lateness = timer_lateness(profile)
    if isinstance(real, RealSide):
        judged = verdicts(scenario, workload, real.figures, simulated, lateness)
        note = describe(real.note, scenario, profile, lateness)
    else:
        judged, note = {}, f"skipped: {real}"
    rows = []
    for cls, metric in scenario.figures:
        row = {"scenario": scenario.name, "metric": f"{cls}.{metric}", "note": note}
        sim = simulated[cls, metric]
        if judged:
            row.update(judged[cls, metric])
        else:
            row.update({"real": math.nan, "real_min": math.nan, "real_max": math.nan,
                        "runs": 0, "simulated": float(np.median(sim)),
                        "sim_min": min(sim), "sim_max": max(sim), "sim_runs": len(sim),
                        "tolerance": math.nan, "ratio": math.nan, "agree": "skipped"})
        rows.append(row)
    return rows


def run_rows(scenario: Scenario, simulated: dict[tuple[str, str], list[float]],
             real: RealSide | str) -> list[dict]:
    """Every run's value of each figure (``validation_runs.csv``): the real runs by round,
    the simulated ones by seed offset, so a verdict can be re-judged or its runs split."""
    sides = [("simulated", simulated)]
    if isinstance(real, RealSide):
        sides.insert(0, ("real", real.figures))
    return [{"scenario": scenario.name, "metric": f"{cls}.{metric}", "side": side,
             "run": i + 1, "value": value}
            for side, values in sides for cls, metric in scenario.figures
            for i, value in enumerate(values[cls, metric])]


def _range(part: pd.DataFrame, side: str) -> np.ndarray:
    """Error bars from a side's median to its min and max."""
    mid = part["real" if side == "real" else "simulated"].to_numpy(float)
    return np.vstack([mid - part[f"{side}_min"].to_numpy(float),
                      part[f"{side}_max"].to_numpy(float) - mid])


def chart(table: pd.DataFrame, path: Path | BinaryIO) -> None:
    """One panel per scenario: real and simulated medians side by side, each with a bar
    from its min to its max, per figure in ms on a log scale; throughputs in the panel's
    title; a disagreeing figure's label is red, an uninformative one's grey."""
    names = list(dict.fromkeys(table["scenario"]))
    cols = 2
    rows = math.ceil(len(names) / cols)
    fig = Figure(figsize=(12, 2.9 * rows), layout="constrained")
    FigureCanvasAgg(fig)
    colours = {"no": "#D55E00", "uninformative": "#999999"}
    for k, name in enumerate(names):
        ax = fig.add_subplot(rows, cols, k + 1)
        part = table[table["scenario"] == name]
        times = part[part["metric"].str.endswith("_ms")]
        x = np.arange(len(times))
        real, sim = times["real"].to_numpy(float), times["simulated"].to_numpy(float)
        real_err, sim_err = _range(times, "real"), _range(times, "sim")
        ax.bar(x - 0.2, real, 0.4, yerr=real_err, capsize=2, color="#0072B2", label="real")
        ax.bar(x + 0.2, sim, 0.4, yerr=sim_err, capsize=2, color="#E69F00", label="simulated")
        classes = {m.split(".", 1)[0] for m in times["metric"]}
        labels = [(m if len(classes) > 1 else m.split(".", 1)[1]).removesuffix("_ms")
                  for m in times["metric"]]  # the class named where a panel has several
        ax.set_xticks(x, labels, rotation=20, fontsize=7)
        for tick, agree in zip(ax.get_xticklabels(), times["agree"], strict=True):
            tick.set_color(colours.get(agree, "black"))
        ax.set_yscale("symlog", linthresh=0.1)  # sub-ms wake-ups beside 50 ms ones
        top = np.nanmax(np.concatenate([real + real_err[1], sim + sim_err[1], [1.0]]))
        ax.set_ylim(0, top * 2)
        ax.set_ylabel("ms (linear below 0.1)")
        title = name
        for _, r in part[~part["metric"].str.endswith("_ms")].iterrows():
            title += f"\n{r['metric'].split('.', 1)[1]}: real {r['real']:.0f} " \
                     f"({r['real_min']:.0f}-{r['real_max']:.0f}), sim {r['simulated']:.0f} " \
                     f"({r['sim_min']:.0f}-{r['sim_max']:.0f}) {r['agree']}"
        if (part["agree"] == "skipped").all():
            title += "   (real run skipped)"
        ax.set_title(title, fontsize=8)
        if k == 0:
            ax.legend(fontsize=8)
    fig.savefig(path, dpi=110, format="png")


MARKS = {"yes": "✓", "no": "✗", "uninformative": "?", "skipped": "–"}


def _num(v: float) -> str:
    return "" if pd.isna(v) else f"{v:.3g}" if abs(v) < 1000 else f"{v:.0f}"


def overview(table: pd.DataFrame) -> str:
    """A scenario a row (a row more for each other class it judges), a figure a column
    (the table in docs/validation.md): real median (min-max) / simulated median (min-max), and the
    verdict as a mark (✓ agrees, ✗ disagrees, ? uninformative, – skipped)."""
    kinds = list(dict.fromkeys(m.split(".", 1)[1] for m in table["metric"]))
    head = [k.removesuffix("_ms").replace("_", " ") for k in kinds]
    lines = ["| scenario | " + " | ".join(head) + " |", "|---" * (len(kinds) + 1) + "|"]
    cls = table["metric"].str.split(".", n=1).str[0]
    for (name, which), part in table.groupby([table["scenario"], cls], sort=False):
        first = cls[table["scenario"] == name].iloc[0]
        label = name if which == first else f"{name} ({which})"  # a second class: a row
        cells = {m.split(".", 1)[1]: r for m, (_, r) in zip(part["metric"], part.iterrows(),
                                                           strict=True)}
        row = []
        for kind in kinds:
            r = cells.get(kind)
            if r is None:
                row.append("")
                continue
            real = "–" if pd.isna(r["real"]) else \
                f"{_num(r['real'])} ({_num(r['real_min'])}–{_num(r['real_max'])})"
            sim = f"{_num(r['simulated'])} ({_num(r['sim_min'])}–{_num(r['sim_max'])})"
            row.append(f"{real} / {sim} {MARKS.get(r['agree'], r['agree'])}")
        lines.append(f"| {label} | " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def markdown(table: pd.DataFrame) -> str:
    """The overview, then the table with tolerances (for docs/validation.md)."""
    num = _num

    def ranged(mid: float, lo: float, hi: float) -> str:
        return "" if pd.isna(mid) else f"{num(mid)} ({num(lo)}-{num(hi)})"

    lines = [overview(table), "| scenario | metric | real (min-max) | simulated (min-max) | "
             "ratio | tolerance | agree |", "|---|---|---|---|---|---|---|"]
    for _, r in table.iterrows():
        lines.append(f"| {r['scenario']} | {r['metric']} | "
                     f"{ranged(r['real'], r['real_min'], r['real_max'])} | "
                     f"{ranged(r['simulated'], r['sim_min'], r['sim_max'])} | "
                     f"{num(r['ratio'])} | {num(r['tolerance'])} | {r['agree']} |")
    return "\n".join(lines) + "\n"


def default_nice() -> int:
    """Real runs at niceness -15 when allowed (root): on a shared machine the other load
    then takes the cores away from them less often."""
    return -15 if hasattr(os, "geteuid") and os.geteuid() == 0 else 0


# --- a socket message's cost to each runtime (calibration) ----------------------------------

# real runs and simulated seeds per runtime: a run's excess moves by 20-40 us from one run
# to the next (Tokio 123-146 us, threads 107-174 in nine runs), so the median of three
# gave a cost anywhere in 28-36 us (Tokio) or 23-44 (threads) a message
MESSAGE_RUNS, MESSAGE_SEEDS = 9, 5
# the burst probe's requests (all at once), its bursts per run (200 ms apart: a drain is
# ~30 ms) and its real runs. One burst a run, the median of three runs gave 22-36 us a
# message in three tries minutes apart; the drain behind a hog in asyncio_sockets ~45 us
BURST, BURSTS, BURST_RUNS = 60, 5, 9
BURST_GAP_MS = 200
MESSAGE_RATE = "300/s"  # the probe's load: a server parked most of the time, 3 ms apart
MESSAGE_PROBES = ("asyncio_sockets", "threads_sockets", "go_sockets", "tokio_sockets")


def message_probe(scenario: Scenario, profile: Path, rate: str = MESSAGE_RATE) -> Config:
    """``scenario``'s server on a light load: ``rate`` requests, each 20 us of CPU, a 1 ms
    ``io``, 20 us of CPU; the simulator with no message cost, on ``profile``."""
    return _probe(scenario, profile, {"req": {"poisson": rate}}, "20us")


def burst_probe(scenario: Scenario, profile: Path) -> Config:
    """``scenario``'s server sent ``BURST`` requests at once, ``BURSTS`` times (a class
    each, from 100 ms, ``BURST_GAP_MS`` apart), each 200 us of CPU, a 1 ms ``io``, 200 us
    of CPU (the served scenarios' requests): it reads message after message, as when it
    drains the queue behind a long request; the simulator with no message cost, on
    ``profile``."""
    arrivals = {f"burst{i}": {"batch": {"count": BURST, "at": f"{100 + BURST_GAP_MS * i}ms"}}
                for i in range(BURSTS)}
    return _probe(scenario, profile, arrivals, "200us",
                  horizon=f"{100 + BURST_GAP_MS * BURSTS}ms", warmup="0")


def _probe(scenario: Scenario, profile: Path, arrivals: dict, cpu: str, **top) -> Config:
    """``scenario``'s server on ``arrivals`` (a class each: {name: arrival}) of requests
    of ``cpu``, a 1 ms ``io``, ``cpu``."""
    raw = {**copy.deepcopy(scenario.config), **top}
    raw["workload"] = {name: {"arrival": arrival,
                              "phases": [{"cpu": cpu}, {"io": "1ms"}, {"cpu": cpu}]}
                       for name, arrival in arrivals.items()}
    raw["machine"]["profile"] = str(profile)
    next(iter(raw["schedulers"].values()))["message_cost"] = 0  # (asyncio's busy one too)
    return validate(raw)


def _span(tasks: pd.DataFrame) -> float:
    """A burst's drain: from its first arrival to its last end (ns), the median over the
    bursts (a class each)."""
    spans = tasks.groupby("class").agg(first=("arrival_ns", "min"), last=("finish_ns", "max"))
    return float(np.median(spans["last"] - spans["first"]))


def _excess(tasks: pd.DataFrame) -> float:
    """The median of latency less demand over the counted tasks (ns)."""
    done = tasks[tasks["counted"]]
    return float(np.median(done["latency_ns"] - done["demand_ns"]))


class Probe:
    """A message probe's server, ready to run, and ``of`` its task table over the runs so
    far (``Skip`` when the runtime is not installed)."""

    def __init__(self, scenario: Scenario, cfg: Config, tools: Toolchains,
                 of: Callable[[pd.DataFrame], float]):
        self.workload = generate(cfg, cfg.seed)
        self.program = RealProgram(scenario.runtime, cfg, self.workload, tools, served=True)
        self.cfg, self.of = cfg, of
        self.model = scenario.scheduler["model"]
        self.real: list[float] = []

    def run_once(self) -> None:
        rec = real_recorder(self.program.run(), self.workload, self.cfg)
        self.real.append(self.of(task_table(rec, self.workload)))

    def medians(self) -> tuple[float, float]:
        """The real runs' median and the median over ``MESSAGE_SEEDS`` simulated runs."""
        sim = [self.of(simulate_tables(self.cfg, self.workload, self.model, seed)[1])
               for seed in range(self.cfg.seed, self.cfg.seed + MESSAGE_SEEDS)]
        return float(np.median(self.real)), float(np.median(sim))


def measure_message_costs(profile: Path, tools: Toolchains, log: Callable[[str], None],
                          rate: str = MESSAGE_RATE) -> dict[str, dict[str, float]]:
    """Each runtime's cost per socket message (``sim.messages``), by model: its server on
    a light load (``message_probe``), what a request takes beyond its phases in reality
    (the median of ``MESSAGE_RUNS`` runs' medians) less what the simulator gives it on
    the machine ``profile`` without the cost (over ``MESSAGE_SEEDS`` seeds), over the two
    messages a request reads (itself and its ``io``'s reply): each read after the server
    parked. asyncio's loop also has a cost for a message it reads without having parked
    (``busy``, ``asyncio_busy_message_cost``): the burst probe's drain (the median over
    its bursts and real runs), real less simulated, over its ``2 * BURST`` messages. The
    probes' real runs go in rounds (each round runs every probe once), as the validation's
    do (``run_real``). A runtime that is not installed is left out (the profile then
    takes ``linux``'s)."""
    light: dict[str, Probe] = {}
    burst: dict[str, Probe] = {}
    for name in MESSAGE_PROBES:
        scenario = SCENARIOS[name]
        try:
            model = scenario.scheduler["model"]
            light[model] = Probe(scenario, message_probe(scenario, profile, rate), tools,
                                 _excess)
            if model == "asyncio":
                burst[model] = Probe(scenario, burst_probe(scenario, profile), tools, _span)
        except Skip as skip:
            log(f"  {scenario.runtime}: skipped: {skip}")
    for i in range(max(MESSAGE_RUNS, BURST_RUNS)):
        log(f"calibrating: the socket message probes, round {i + 1}/"
            f"{max(MESSAGE_RUNS, BURST_RUNS)}")
        for probes, runs in ((light, MESSAGE_RUNS), (burst, BURST_RUNS)):
            for probe in probes.values() if i < runs else ():
                probe.run_once()
    costs = {}
    for model, probe in light.items():
        real, sim = probe.medians()
        costs[model] = {"real": real, "simulated": sim, "cost": max(0.0, (real - sim) / 2)}
    for model, probe in burst.items():
        real, sim = probe.medians()
        costs[model] |= {"burst": BURST, "bursts": BURSTS, "burst_real": real,
                         "burst_simulated": sim, "busy": max(0.0, (real - sim) / (2 * BURST))}
    return costs


def calibrate_machine(tools: Toolchains, log: Callable[[str], None]) -> calibrate.Measured:
    """Measure this machine: the OS's delays and asyncio's costs (``calibrate.measure``),
    then each runtime's cost per socket message on a profile of those."""
    found = calibrate.measure(tools, log)
    with tempfile.TemporaryDirectory(prefix="sim-calibrate-") as scratch:
        partial = Path(scratch) / "machine.yaml"
        partial.write_text(calibrate.profile_text(found, partial.name))
        found.messages = measure_message_costs(partial, tools, log)
    return found


def measure_profile(out: Path, tools: Toolchains, log: Callable[[str], None]) -> Path:
    """Calibrate now; the profile is written to ``out/machine.yaml``."""
    path = out / "machine.yaml"
    found = calibrate_machine(tools, log)
    calibrate.write_atomic(path, calibrate.profile_text(found, path.name))
    return path.resolve()


def run_validation(names: list[str], out: Path, repeat: int = 5, seeds: int = 20,
                   tools: Toolchains | None = None, profile: str | Path | None = None,
                   log: Callable[[str], None] = print) -> pd.DataFrame:
    """Validate ``names`` on the machine ``profile`` (linux, ideal or a YAML file, copied
    to ``out/machine.yaml``; None: measured now into it); write validation.csv, .md and
    .png, and every run's values in validation_runs.csv, in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    tools = tools or Toolchains(build_dir=out / "build", nice=default_nice())
    if profile is None:
        profile = measure_profile(out, tools, log)
    elif str(profile).endswith((".yaml", ".yml")):
        profile = Path(profile).resolve()
        kept = out.resolve() / "machine.yaml"  # the profile beside the results it gave
        if kept != profile:
            calibrate.write_atomic(kept, profile.read_text())
    prepared: dict[str, tuple[Config, Workload, RealSide | str]] = {}
    for name in names:
        scenario = SCENARIOS[name]
        log(f"{name}: {scenario.about}")
        cfg = scenario_config(scenario, str(profile))
        workload = generate(cfg, cfg.seed)
        try:
            real: RealSide | str = RealSide(scenario, cfg, workload, tools)
        except Skip as skip:
            log(f"  {name}: skipped: {skip}")
            real = str(skip)
        prepared[name] = (cfg, workload, real)
    run_real([real for _, _, real in prepared.values() if isinstance(real, RealSide)],
             repeat, log)
    rows, runs = [], []
    for name, (cfg, workload, real) in prepared.items():
        log(f"{name}: simulating {seeds} seeds")
        scenario = SCENARIOS[name]
        simulated = simulate(cfg, workload, seeds, scenario.figures)
        rows += scenario_rows(scenario, workload, simulated, str(profile), real)
        runs += run_rows(scenario, simulated, real)
    table = pd.DataFrame(rows, columns=COLUMNS)
    png = io.BytesIO()
    chart(table, png)
    files = {"validation.csv": table.to_csv(index=False, float_format="%.6g").encode(),
             "validation_runs.csv": pd.DataFrame(runs, columns=RUN_COLUMNS).to_csv(
                 index=False, float_format="%.6g").encode(),
             "validation.md": markdown(table).encode(), "validation.png": png.getvalue()}
    for name, data in files.items():  # each whole or not at all (a temporary file, renamed)
        atomic_write(out / name, data)
    return table
