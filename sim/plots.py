"""Charts of the tidy results: the pictures people in this field draw.

Every function takes the DataFrames of ``sim.run`` (``tasks``, ``wakeups``, ``summary``,
or a trace) and returns the matplotlib ``Axes`` it drew on, so charts compose into a
notebook's own figures. ``standard_plots`` writes the PNGs the CLI puts in ``plots/``;
it builds ``Figure`` objects directly (Agg canvas, no pyplot state), so it needs no display
and leaves nothing open.

Times in the tables are integer nanoseconds (``latency_ns``; ``summary`` in ms); the charts show ms.
Distributions pool the replications of one sweep point: pooling different loads would
draw a curve that no configuration produces, so several points need ``point=``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import rc_context
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, LogFormatter

from .metrics import SUMMARY_COLUMNS
from .units import format_number, parse_duration

MS = 1_000_000

#: Timeline colours (Okabe-Ito, readable with colour blindness); idle is left blank.
STATE_COLOURS = {
    "running": "#0072B2",
    "gil_wait": "#D55E00",
    "runnable": "#E69F00",
    "io": "#009E73",
    "blocked": "#CC79A7",
    "loop": "#56B4E9",
}
STATE_LABELS = {
    "running": "running",
    "gil_wait": "waiting for the GIL",
    "runnable": "runnable, waiting for a CPU",
    "io": "in I/O or a timer",
    "blocked": "blocked in a call",
    "loop": "the event loop's own work",
}

# --- helpers ------------------------------------------------------------------------------


def _plain_text(chart):
    """Scheduler and class names are the user's: a ``$`` in one is text, not mathtext
    (which would fail to draw, or draw something else)."""

    @functools.wraps(chart)
    def drawn(*args, **kwargs):
        with rc_context({"text.parse_math": False}):
            return chart(*args, **kwargs)

    return drawn


def _axes(ax: Axes | None, size=(7, 4.5)) -> Axes:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt  # only when the caller wants a new figure (notebooks)

    return plt.subplots(figsize=size, layout="constrained")[1]


def plain_log_ticks(axis) -> None:
    """Log-axis ticks as plain numbers (0.1, 2, 50), not 10^k, and minor labels when the
    axis spans few decades."""
    axis.set_major_formatter(FuncFormatter(
        lambda v, _: np.format_float_positional(v, precision=6, trim="-")))
    axis.set_minor_formatter(LogFormatter(labelOnlyBase=False, minor_thresholds=(1.2, 0.5)))


def _schedulers(df: pd.DataFrame) -> list[str]:
    """Schedulers in the order they appear (config order in every table)."""
    return list(pd.unique(df["scheduler"]))


def _colours(names: Sequence[str]) -> dict[str, str]:
    """One colour per scheduler, by position, so every chart of a run agrees."""
    return {name: f"C{i % 10}" for i, name in enumerate(names)}


def _dashes(names: Sequence[str]) -> dict[str, str]:
    """Line styles that keep identical curves (fcfs and round robin often agree) visible."""
    return {name: ["-", "--", ":", "-."][i % 4] for i, name in enumerate(names)}


def _at_point(df: pd.DataFrame, point: int | None) -> pd.DataFrame:
    if point is not None:
        return df[df["point"] == point]
    if "point" in df and df["point"].nunique() > 1:
        raise ValueError(f"the table holds sweep points {sorted(df['point'].unique())}: "
                         "choose one with point=")
    return df


def _counted(df: pd.DataFrame, cls: str | None, point: int | None) -> pd.DataFrame:
    """Rows of the measured window ([warmup, horizon)), of one class if asked (``all``:
    every task, as in the summary)."""
    rows = _at_point(df[df["counted"]], point)
    return rows if cls in (None, "all") else rows[rows["class"] == cls]


def _thin(n: int, limit: int = 4000) -> np.ndarray:
    """Indices that keep a sorted sample's shape: even in the body, dense in the tail."""
    if n <= limit:
        return np.arange(n)
    body = np.linspace(0, n - 1, limit // 2).astype(int)
    tail = n - np.geomspace(1, n, limit // 2).astype(int)
    return np.unique(np.concatenate([body, tail, [n - 1]]))


def _distribution(ax: Axes, samples: dict[str, np.ndarray], tail: bool, what: str) -> None:
    """ECDF (or, with ``tail``, the fraction at or above x) of positive values, in ms.

    Zeros cannot sit on a log axis and NaN (a task that never finished) has no place on
    it; both still count in n, so a curve's height stays the fraction of *all* samples
    (an ECDF with unfinished tasks never reaches 1), and the legend says how many."""
    if not samples:  # (e.g. a class whose only task arrived before the warmup ended)
        ax.text(0.5, 0.5, f"no {what} in the measured window", transform=ax.transAxes,
                ha="center", va="center", color="grey")
        ax.set_xticks([])
        ax.set_yticks([])
        return
    colours, dashes = _colours(list(samples)), _dashes(list(samples))
    for name, values in samples.items():
        x = np.sort(values[~np.isnan(values)]) / MS
        n = len(values)
        positive = x > 0
        zeros = len(x) - positive.sum()
        label = f"{name} (n={n:,}"
        if zeros:
            label = (f"{name} (none of {n:,} {what} waited" if zeros == n
                     else f"{name} ({zeros / n:.0%} of {n:,} {what} did not wait")
        if n > len(x):
            label += f", {n - len(x):,} unfinished"
        label += ")"
        if not positive.any():
            ax.plot([], [], color=colours[name], ls=dashes[name], label=label)
            continue
        i = np.arange(len(x))
        y = (n - i) / n if tail else (i + 1) / n
        keep = _thin(len(x))
        keep = keep[positive[keep]]
        ax.plot(x[keep], y[keep], color=colours[name], ls=dashes[name], lw=1.6, label=label,
                drawstyle="steps-pre" if tail else "steps-post")
    ax.set_xscale("log")
    plain_log_ticks(ax.xaxis)
    most = max((len(v) for v in samples.values()), default=0)
    guides = {0.5: "p50", 0.99: "p99"}
    if tail:
        ax.set_yscale("log")
        plain_log_ticks(ax.yaxis)  # (mathtext is off: 10^k would show as its source)
        guides = {1e-2: "p99", 1e-3: "p99.9"} if most >= 1000 else {1e-2: "p99"}
    for level, text in guides.items():
        ax.axhline(level, color="grey", lw=0.6, ls=":")
        ax.annotate(text, (1, level), xycoords=("axes fraction", "data"), xytext=(2, 0),
                    textcoords="offset points", va="center", fontsize=8, color="grey")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8, title="scheduler", title_fontsize=8)


# --- distributions ------------------------------------------------------------------------


@_plain_text
def latency_cdf(tasks: pd.DataFrame, ax: Axes | None = None, cls: str | None = None,
                point: int | None = None) -> Axes:
    """Latency ECDF per scheduler on a log time axis: the body and the shoulder at once."""
    ax = _axes(ax)
    rows = _counted(tasks, cls, point)
    _distribution(ax, {name: _latency(rows, name) for name in _schedulers(rows)}, False,
                  "tasks")
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("latency, arrival to finish (ms, log scale)")
    ax.set_ylabel("fraction of tasks finished within x")
    ax.set_title(f"Task latency{_of(cls)}")
    return ax


@_plain_text
def latency_tail(tasks: pd.DataFrame, ax: Axes | None = None, cls: str | None = None,
                 point: int | None = None) -> Axes:
    """Latency CCDF, log-log: the tail an ECDF flattens into its top pixel."""
    ax = _axes(ax)
    rows = _counted(tasks, cls, point)
    _distribution(ax, {name: _latency(rows, name) for name in _schedulers(rows)}, True,
                  "tasks")
    ax.set_xlabel("latency, arrival to finish (ms, log scale)")
    ax.set_ylabel("fraction of tasks at least this slow (log scale)")
    ax.set_title(f"Latency tail{_of(cls)}")
    return ax


@_plain_text
def wake_delay(wakeups: pd.DataFrame, ax: Axes | None = None, cls: str | None = None,
               point: int | None = None) -> Axes:
    """Wake-up delay tail, log-log: how long a task that could continue waited to run.

    Drawn as a tail because most wake-ups wait for nothing and the story is in the rest."""
    ax = _axes(ax)
    rows = _counted(wakeups, cls, point)
    _distribution(ax, {name: rows.loc[rows["scheduler"] == name, "delay_ns"].to_numpy(float)
                       for name in _schedulers(rows)}, True, "wake-ups")
    ax.set_xlabel("wake-up delay: ready (timer, I/O, arrival) to running (ms, log scale)")
    ax.set_ylabel("fraction of wake-ups delayed at least x (log scale)")
    ax.set_title(f"Wake-up delay{_of(cls)}")
    return ax


def _latency(rows: pd.DataFrame, name: str) -> np.ndarray:
    """Latencies of finished tasks (unfinished ones have none)."""
    latency = rows.loc[rows["scheduler"] == name, "latency_ns"]
    return latency.to_numpy(dtype=float, na_value=np.nan)


TITLE_CHARS = 56  # a title line longer than this overruns a sweep panel at 110 dpi


def _of(cls: str | None) -> str:
    return "" if cls in (None, "all") else f" of class '{cls}'"


# --- sweeps and summaries -----------------------------------------------------------------


@_plain_text
def sweep_curves(summary: pd.DataFrame, x: str, ax: Axes | None = None,
                 metrics: Sequence[str] = ("latency_p50_ms", "latency_p99_ms"),
                 cls: str = "all") -> Axes:
    """Percentiles against a swept key per scheduler, with 95 % confidence bands.

    ``x`` is the key as the grid writes it (``schedulers.g.switch_interval``) or its
    column (``schedulers.g.switch_interval_ms``); values that are not numbers (``fifo``,
    ``[cpu]``) sit at even steps in grid order. When another swept key varies too, each
    of its values gets its own curve (same colour per scheduler, its own marker), since a
    mean over it would be a curve that no configuration produces. ``summary`` is either
    per replication (the band is a t-interval over replications) or an aggregate with
    ``<metric>_mean``, ``_ci_low`` and ``_ci_high`` columns."""
    column = swept_column(summary, x)
    ax = _axes(ax)
    rows = summary[summary["class"] == cls] if "class" in summary else summary
    others = [c for c in _swept_columns(rows) if c != column and rows[c].nunique() > 1]
    numeric = pd.api.types.is_numeric_dtype(rows[column])
    if not numeric:  # even steps, grid order, the values as tick labels
        labels = list(pd.unique(rows[column].astype(str)))
        rows = rows.assign(**{column: rows[column].astype(str).map(
            {v: i for i, v in enumerate(labels)})})
        ax.set_xticks(range(len(labels)), labels)
    names = _schedulers(rows)
    colours = _colours(names)
    styles = ["-", "--", ":", "-."]
    markers = ["o", "s", "^", "D", "v", "P", "X", "*"]
    curves = rows.groupby(["scheduler", *others], sort=False) if others else \
        ((name, rows[rows["scheduler"] == name]) for name in names)
    split: list[tuple[str, str]] = []
    drawn: list[np.ndarray] = []  # the curves' values: they set the y range, not the bands
    below = False  # a band reaches zero or below
    for key, part in curves:
        name = key[0] if isinstance(key, tuple) else key
        marker = "o"
        if others:
            label = ", ".join(f"{c} = {_shown(v)}" for c, v in zip(others, key[1:], strict=True))
            if label not in [s for s, _ in split]:
                split.append((label, markers[len(split) % len(markers)]))
            marker = dict(split)[label]
        for metric, style in zip(metrics, styles, strict=False):
            mean, low, high = _band(part, metric, column)
            ax.plot(mean.index, mean.to_numpy(), style, color=colours[name], marker=marker,
                    ms=3)
            drawn.append(mean.to_numpy(float))
            if low is not None:
                ax.fill_between(mean.index, low, high, color=colours[name], alpha=0.15, lw=0)
                below |= bool((low <= 0).any())  # a log axis draws it to its bottom edge
    ax.set_yscale("log")
    cut = _fit_to_curves(ax, drawn) or below
    plain_log_ticks(ax.yaxis)
    ax.grid(True, which="major", alpha=0.3)
    ax.set_xlabel("offered load (CPU work per second / cores)" if column == "load"
                  else _axis_label(column))
    quantity = _quantity(metrics)
    unit = "ms, " if all(m.endswith("_ms") for m in metrics) else ""
    ax.set_ylabel(f"{quantity or ', '.join(metrics)} ({unit}log scale)")
    reps = int(rows["replication"].nunique()) if "replication" in rows else 0
    band = (f"bands: 95 % CI over {reps} replications" if reps > 1
            else "bands: 95 % CI" if f"{metrics[0]}_ci_low" in rows else "one replication")
    if cut:
        band += ", cut at the edges"
    what = (_metric_label(metrics[0]) if len(metrics) == 1
            else f"{quantity} percentiles" if quantity
            else ", ".join(_metric_label(m) for m in metrics))
    against = "load" if column == "load" else _axis_label(column).split(" (")[0]
    head = f"{what[0].upper()}{what[1:]} against {against}"
    # (a long swept key and a class on one line overran the panel: the class gets its own)
    of = _of(cls)
    if of and len(head + of) > TITLE_CHARS:
        of = "\n" + of.strip()
    ax.set_title(f"{head}{of}\n({band})")
    by_scheduler = ax.legend([Line2D([], [], color=colours[n]) for n in names], names,
                             title="scheduler", fontsize=8, title_fontsize=8, loc="upper left")
    keys = [(Line2D([], [], color="black", ls=s), _metric_label(m))
            for s, m in zip(styles, metrics, strict=False) if len(metrics) > 1]
    keys += [(Line2D([], [], color="black", marker=m, ls=""), label) for label, m in split]
    if keys:
        ax.add_artist(by_scheduler)
        ax.legend(*zip(*keys, strict=True), fontsize=8, loc="lower right")
    return ax


@_plain_text
def load_curves(summary: pd.DataFrame, ax: Axes | None = None,
                metrics: Sequence[str] = ("latency_p50_ms", "latency_p99_ms"),
                x: str = "load", cls: str = "all") -> Axes:
    """Percentiles against offered load per scheduler, with 95 % confidence bands: the
    sweep curves of a sweep over ``load`` (``sweep_curves``)."""
    if x not in summary:
        raise ValueError(f"load_curves needs a swept '{x}' column; the table has none")
    return sweep_curves(summary, x, ax=ax, metrics=metrics, cls=cls)


def latency_row(summary: pd.DataFrame, x: str, cls: str, row: Sequence[Axes]) -> None:
    """p50 and p99 against ``x`` side by side, on one y range: each panel keeps to its own
    curves (``sweep_curves``), then both take the range that holds both panels' (a p50
    curve under a fifth of the p99s stays in sight, as it did not on a shared axis that
    the p99 panel's range set)."""
    for ax, metric in zip(row, ("latency_p50_ms", "latency_p99_ms"), strict=True):
        sweep_curves(summary, x, ax=ax, metrics=[metric], cls=cls)
    low = min(ax.get_ylim()[0] for ax in row)
    high = max(ax.get_ylim()[1] for ax in row)
    for ax in row:
        ax.set_ylim(low, high)


def _swept_columns(summary: pd.DataFrame) -> list[str]:
    """The columns of swept keys: neither the contract's nor an aggregate's statistics."""
    stats = ("_mean", "_ci_low", "_ci_high")
    return [c for c in summary.columns if c not in SUMMARY_COLUMNS
            and c != "replications" and not c.endswith(stats)]


def swept_column(summary: pd.DataFrame, key: str) -> str:
    """The column of swept ``key``: itself, or with the unit its values carry (``_ms``,
    ``_per_s``)."""
    for column in (key, f"{key}_ms", f"{key}_per_s"):
        if column in _swept_columns(summary):
            return column
    raise ValueError(f"no swept key {key!r} in the table; its swept columns: "
                     f"{_swept_columns(summary) or 'none'}")


def _axis_label(column: str) -> str:
    """``schedulers.g.switch_interval_ms`` -> ``schedulers.g.switch_interval (ms)``."""
    for suffix, unit in (("_ms", "ms"), ("_per_s", "per s")):
        if column.endswith(suffix):
            return f"{column.removesuffix(suffix)} ({unit})"
    return column


def _shown(value) -> str:
    """A swept value in a label: ``0.8``, ``1000``, ``[cpu]`` (never ``1e+03``)."""
    return format_number(value) if isinstance(value, float) else str(value)


def _fit_to_curves(ax: Axes, drawn: list[np.ndarray], room: float = 5.0) -> bool:
    """Keep the log axis within ``room`` times the curves' own range: a t-band over few
    replications can reach zero or below (off a log axis) or far above, and would
    otherwise set the range and squash the curves. True if a band was cut."""
    values = np.concatenate(drawn) if drawn else np.array([])
    values = values[np.isfinite(values) & (values > 0)]
    if not len(values):
        return False
    low, high = values.min() / room, values.max() * room
    bottom, top = ax.get_ylim()
    if bottom >= low and top <= high:
        return False
    ax.set_ylim(max(bottom, low), min(top, high))
    return True


def _band(part: pd.DataFrame, metric: str, x: str):
    """Mean per x and the 95 % interval (None when there is nothing to spread over)."""
    if f"{metric}_mean" in part:
        part = part.sort_values(x).set_index(x)
        return part[f"{metric}_mean"], part[f"{metric}_ci_low"], part[f"{metric}_ci_high"]
    stats = part.groupby(x)[metric].agg(["mean", "std", "count"])
    if stats["count"].max() < 2:
        return stats["mean"], None, None
    from .outputs import t_quantile  # here: outputs may well import this module

    # the interval of aggregate.csv: a 95 % t-interval over replications
    t = np.array([t_quantile(0.975, n - 1) if n > 1 else np.nan for n in stats["count"]])
    half = t * stats["std"].fillna(0) / np.sqrt(stats["count"])
    return stats["mean"], stats["mean"] - half, stats["mean"] + half


METRIC = re.compile(r"(\w+?)_(p\d+|mean|max)(?:_ms)?")  # latency_p99_ms: quantity, statistic


def _metric_label(metric: str) -> str:
    """``latency_p99_ms`` -> ``p99 latency``."""
    match = METRIC.fullmatch(metric)
    return f"{match[2]} {match[1].replace('_', ' ')}" if match else metric


def _quantity(metrics: Sequence[str]) -> str:
    """What several statistics of one quantity measure (``wake delay`` for its p50 and
    p99), or "" when they are of different quantities."""
    names = {match[1] if (match := METRIC.fullmatch(m)) else m for m in metrics}
    return names.pop().replace("_", " ") if len(names) == 1 else ""


def _per_scheduler(rows: pd.DataFrame, column: str, by: list[str]) -> pd.DataFrame:
    """Mean over replications with the range (min, max), in the order rows appear."""
    return rows.groupby(by, sort=False, observed=True)[column].agg(["mean", "min", "max"])


@_plain_text
def jain_index(summary: pd.DataFrame, ax: Axes | None = None,
               point: int | None = None, cls: str = "all") -> Axes:
    """Jain's index of 1/slowdown per scheduler (over the tasks of ``cls``): 1 when every
    task is slowed alike."""
    ax = _axes(ax, (5, 4))
    rows = _at_point(summary[summary["class"] == cls], point)
    stats = _per_scheduler(rows, "jain", ["scheduler"])
    names = list(stats.index)
    colours = _colours(names)
    bars = ax.bar(names, stats["mean"], color=[colours[n] for n in names],
                  yerr=_range(stats), capsize=3)
    ax.bar_label(bars, fmt="%.3f", fontsize=8, padding=2)
    ax.axhline(1, color="grey", lw=0.6, ls=":")
    ax.annotate("perfectly fair", (0, 1), xycoords=("axes fraction", "data"), xytext=(3, 3),
                textcoords="offset points", fontsize=8, color="grey")
    ax.set_ylim(0, 1.15)
    ax.set_ylabel("Jain's index of 1/slowdown")
    ax.set_title(f"Fairness across tasks{_of(cls)}" + _replications(rows))
    ax.tick_params(axis="x", labelrotation=30)
    for label in ax.get_xticklabels():
        label.set_horizontalalignment("right")
    return ax


@_plain_text
def slowdown_by_class(summary: pd.DataFrame, ax: Axes | None = None,
                      point: int | None = None, stat: str = "slowdown_mean",
                      cls: str | Sequence[str] | None = None) -> Axes:
    """Slowdown (latency / demand) per task class (every class and ``all``, or ``cls``),
    one bar per scheduler, from 1 up.

    A log axis from 1 ("as if alone on the machine") shows a 2x and a 200x on one chart."""
    ax = _axes(ax)
    rows = _at_point(summary, point)
    if cls is not None:
        rows = rows[rows["class"].isin([cls] if isinstance(cls, str) else list(cls))]
    stats = _per_scheduler(rows, stat, ["class", "scheduler"])
    classes = list(pd.unique(rows["class"]))
    names = _schedulers(rows)
    colours = _colours(names)
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        part = stats.xs(name, level="scheduler").reindex(classes)
        where = np.arange(len(classes)) + (i - (len(names) - 1) / 2) * width
        bars = ax.bar(where, part["mean"] - 1, width, bottom=1, color=colours[name],
                      label=name, yerr=_range(part), capsize=2)
        ax.bar_label(bars, labels=[f"{v:.0f}" if v >= 100 else f"{v:.3g}" for v in part["mean"]],
                     fontsize=7, padding=1)
    ax.set_yscale("log")
    plain_log_ticks(ax.yaxis)
    ax.set_ylim(bottom=1)
    ax.set_xticks(np.arange(len(classes)), [f"class '{c}'" if c != "all" else "all tasks"
                                            for c in classes])
    ax.set_ylabel(f"{_metric_label(stat)} (latency / demand, log)")
    ax.set_title("Slowdown per task class" + _replications(rows))
    ax.legend(title="scheduler", fontsize=8, title_fontsize=8)
    ax.grid(True, axis="y", which="both", alpha=0.3)
    return ax


def _range(stats: pd.DataFrame) -> np.ndarray | None:
    """Error bars from the mean to the min and max over replications (none for one)."""
    if (stats["min"] == stats["max"]).all():
        return None
    return np.vstack([stats["mean"] - stats["min"], stats["max"] - stats["mean"]])


def _replications(rows: pd.DataFrame) -> str:
    reps = rows["replication"].nunique() if "replication" in rows else 1
    return f"\n(mean of {reps} runs; whiskers: range)" if reps > 1 else ""


# --- timeline -----------------------------------------------------------------------------


def _lane_key(lane: str) -> list:
    """Natural order: 'thread 2' before 'thread 10'."""
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", lane)]


def _ns(value: int | str) -> int:
    return parse_duration(value) if isinstance(value, str) else int(value)


@_plain_text
def timeline(trace: pd.DataFrame, window: tuple[int | str, int | str] | None = None,
             scheduler: str | None = None, ax: Axes | None = None) -> Axes:
    """What every core, thread, P or worker did in a window: one lane each, coloured by
    state, running segments labelled with their task id where the label fits.

    ``window`` is (start, end) in ns or as durations (``("100ms", "160ms")``); the whole
    trace by default. A trace of several schedulers needs ``scheduler=``."""
    names = _schedulers(trace)
    if scheduler is None and len(names) > 1:
        raise ValueError(f"the trace holds schedulers {names}: choose one with scheduler=")
    rows = trace if scheduler is None else trace[trace["scheduler"] == scheduler]
    scheduler = scheduler or (names[0] if names else "")
    lo, hi = ((int(rows["start_ns"].min()), int(rows["end_ns"].max())) if window is None
              else (_ns(window[0]), _ns(window[1])))
    lanes = sorted(pd.unique(rows["lane"]), key=_lane_key)
    ax = _axes(ax, (9, 0.8 + 0.35 * len(lanes)))
    y_of = {lane: i for i, lane in enumerate(lanes)}
    seen = rows[(rows["end_ns"] > lo) & (rows["start_ns"] < hi)]
    start = seen["start_ns"].clip(lower=lo).to_numpy() / MS
    end = seen["end_ns"].clip(upper=hi).to_numpy() / MS
    y = seen["lane"].map(y_of).to_numpy()
    for state, colour in STATE_COLOURS.items():
        mask = (seen["state"] == state).to_numpy()
        if mask.any():
            ax.barh(y[mask], end[mask] - start[mask], left=start[mask], height=0.8,
                    color=colour, label=STATE_LABELS[state], edgecolor="white",
                    linewidth=0.4)  # the edges tell back-to-back segments apart
    _label_tasks(ax, seen, start, end, y, (hi - lo) / MS)
    ax.set_xlim(lo / MS, hi / MS)
    ax.set_ylim(len(lanes) - 0.5, -0.5)  # first lane on top
    ax.set_yticks(range(len(lanes)), lanes)
    ax.set_xlabel("simulated time (ms)")
    ax.set_title(f"{scheduler}: what each lane does, {lo / MS:g} to {hi / MS:g} ms "
                 "(numbers: task ids; blank: idle)")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, title="state",
                  title_fontsize=8)
    return ax


def _label_tasks(ax: Axes, seen: pd.DataFrame, start, end, y, span_ms: float) -> None:
    """Task ids on running segments wide enough to hold them."""
    px_per_ms = ax.get_window_extent().width / span_ms if span_ms > 0 else 0
    char_px = 7 * 0.65 * ax.figure.dpi / 72  # a digit at 7 pt
    tasks = seen["task"].to_numpy()
    running = (seen["state"] == "running").to_numpy() & (tasks >= 0)
    for i in np.flatnonzero(running):
        text = str(int(tasks[i]))
        if (end[i] - start[i]) * px_per_ms >= (len(text) + 1) * char_px:
            ax.text((start[i] + end[i]) / 2, y[i], text, ha="center", va="center",
                    fontsize=7, color="white", clip_on=True)


def default_window(tasks: pd.DataFrame, trace: pd.DataFrame,
                   widest: int = 200 * MS) -> tuple[int, int]:
    """A window worth looking at: around the slowest counted task of a traced scheduler
    (its arrival to its finish, with a margin), at most ``widest`` ns wide."""
    first, last = int(trace["start_ns"].min()), int(trace["end_ns"].max())
    rows = tasks[tasks["counted"] & tasks["scheduler"].isin(_schedulers(trace))
                 & tasks["finish_ns"].notna()]
    if rows.empty:
        return first, min(last, first + widest // 2)
    worst = rows.iloc[int(np.argmax(rows["latency_ns"].to_numpy(dtype="int64")))]
    arrival, finish = int(worst["arrival_ns"]), int(worst["finish_ns"])
    margin = max((finish - arrival) // 4, MS)
    lo = max(first, arrival - margin)
    return lo, min(last, finish + margin, lo + widest)


# --- the standard set ---------------------------------------------------------------------


def _figure(size=(7, 4.5)) -> tuple[Figure, Axes]:
    fig = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def _swept(summary: pd.DataFrame, point: int) -> list[str]:
    """The swept values of one point (``load = 0.8``), for titles of a sweep's charts."""
    row = summary[summary["point"] == point].iloc[0]
    return [f"{c} = {row[c]:g}" if isinstance(row[c], float) else f"{c} = {row[c]}"
            for c in summary.columns if c not in SUMMARY_COLUMNS]


def shown_classes(summary: pd.DataFrame, classes: Sequence[str] | None = None) -> list[str]:
    """The classes the standard charts show: ``classes`` if given, else every class then
    ``all`` (only ``all`` when the workload has one class: the two would be the same)."""
    if classes:
        return list(classes)
    names = [c for c in pd.unique(summary["class"]) if c != "all"]
    return ["all"] if len(names) <= 1 else [*names, "all"]


def _facets(n: int, size=(7, 4.5), ncols: int = 3) -> tuple[Figure, list[Axes]]:
    """A figure of ``n`` panels, at most ``ncols`` a row, each of ``size``."""
    cols = min(n, ncols)
    rows = -(-n // cols)
    fig = Figure(figsize=(size[0] * cols, size[1] * rows), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, list(axes[:n])


@_plain_text
def standard_plots(summary: pd.DataFrame, tasks: pd.DataFrame, wakeups: pd.DataFrame,
                   folder: str | Path, trace: pd.DataFrame | None = None, *,
                   window: tuple[int | str, int | str] | None = None,
                   classes: Sequence[str] | None = None) -> list[Path]:
    """Write the standard charts of a run into ``folder``; return the paths written.

    Each chart has a panel per class of ``classes`` (``all``: every task), by default
    every class and ``all`` (only ``all`` for a workload of one class): with 1 % heavy
    requests the ``all`` tail is the heavy class's, and a class's own panel shows its own.

    A sweep's distributions show its last point (the highest load of a load sweep);
    ``load_curves.png`` appears when ``load`` takes several values, ``sweep_curves.png``
    when another swept key does (a row per such key and class), ``timeline.png``
    when a trace is given (one panel per traced scheduler, ``default_window`` unless
    ``window`` says otherwise)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    point = int(tasks["point"].max()) if len(tasks) else 0
    swept = _swept(summary, point) if len(summary) else []
    reps = summary.loc[summary["point"] == point, "replication"].nunique()
    pooled = swept + ([f"{reps} replications pooled"] if reps > 1 else [])
    context = f"\n({', '.join(pooled)})" if pooled else ""
    written: list[Path] = []

    def save(fig: Figure, name: str) -> None:
        path = folder / name
        fig.savefig(path, dpi=120)
        written.append(path)

    shown = shown_classes(summary, classes)
    for name, draw, data in (("latency_cdf.png", latency_cdf, tasks),
                             ("latency_tail.png", latency_tail, tasks),
                             ("wake_delay.png", wake_delay, wakeups)):
        fig, axes = _facets(len(shown))
        for ax, cls in zip(axes, shown, strict=True):
            draw(data, ax=ax, point=point, cls=cls)
            ax.set_title(ax.get_title() + context)
        save(fig, name)

    names = summary["scheduler"].nunique()
    fig = Figure(figsize=(4 + 1.2 * names, 4.5), layout="constrained")
    FigureCanvasAgg(fig)
    left, right = fig.subplots(1, 2, width_ratios=[1, 2])
    jain_index(summary, ax=left, point=point, cls=shown[0] if len(shown) == 1 else "all")
    slowdown_by_class(summary, ax=right, point=point, cls=shown)
    if swept:
        fig.suptitle(", ".join(swept))
    save(fig, "fairness.png")

    if "load" in summary and summary["load"].nunique() > 1:
        fig = Figure(figsize=(12, 5 * len(shown)), layout="constrained")
        FigureCanvasAgg(fig)
        rows = fig.subplots(len(shown), 2, squeeze=False)
        for cls, row in zip(shown, rows, strict=True):
            latency_row(summary, "load", cls, row)
        save(fig, "load_curves.png")

    if trace is not None and len(trace):
        lo, hi = window or default_window(tasks, trace)
        traced = _schedulers(trace)
        lanes = [trace.loc[trace["scheduler"] == s, "lane"].nunique() for s in traced]
        fig = Figure(figsize=(10, 0.6 * len(traced) + 0.3 * sum(lanes) + 0.6),
                     layout="constrained")
        FigureCanvasAgg(fig)
        axes = fig.subplots(len(traced), 1, sharex=True, squeeze=False,
                            height_ratios=[n + 2 for n in lanes])[:, 0]
        states: dict[str, object] = {}
        for ax, name in zip(axes, traced, strict=True):
            timeline(trace, (lo, hi), scheduler=name, ax=ax)
            handles, labels = ax.get_legend_handles_labels()
            states.update(zip(labels, handles, strict=True))
            if ax.get_legend():
                ax.get_legend().remove()  # one legend for every panel, at the bottom
            ax.set_title("")
            ax.set_title(name, loc="left", fontsize=10)
            if ax is not axes[-1]:
                ax.set_xlabel("")
        if states:
            fig.legend(states.values(), states.keys(), loc="outside lower center",
                       fontsize=8, ncols=len(states))
        fig.suptitle(f"What each core, thread, P or worker does, {_ns(lo) / MS:g} to "
                     f"{_ns(hi) / MS:g} ms (numbers: task ids; blank: idle)")
        save(fig, "timeline.png")

    keys = [c for c in _swept_columns(summary) if c != "load" and summary[c].nunique() > 1]
    if keys:  # a row of p50 and p99 per swept key other than load and class shown
        panels = [(key, cls) for key in keys for cls in shown]
        fig = Figure(figsize=(12, 5 * len(panels)), layout="constrained")
        FigureCanvasAgg(fig)
        rows = fig.subplots(len(panels), 2, squeeze=False)
        for (key, cls), row in zip(panels, rows, strict=True):
            latency_row(summary, key, cls, row)
        save(fig, "sweep_curves.png")
    return written
