"""Charts: each draws what its data says (lines, bars, lanes) with labelled axes."""

import matplotlib
import matplotlib.colors
import matplotlib.image
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from helpers import MS, config
from matplotlib.colors import to_hex
from matplotlib.figure import Figure

from sim import plots, run

matplotlib.use("Agg")  # no display in CI; pyplot is only used by the ax=None path


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def result():
    """A hog among tickers: asyncio delays wake-ups, processor sharing does not."""
    cfg = config(
        {"ticker": {"arrival": {"periodic": "5ms"},
                    "phases": [{"sleep": "1ms"}, {"cpu": "50us"}]},
         "hog": {"arrival": {"periodic": "100ms", "offset": "20ms"},
                 "phases": [{"cpu": "20ms"}]}},
        {"asyncio": {"model": "asyncio"}, "ps": {"model": "processor_sharing"}},
        horizon="300ms", warmup="10ms")
    return run(cfg, progress=False)


def labelled(ax):
    return ax.get_xlabel() and ax.get_ylabel() and ax.get_title()


def test_latency_cdf_one_curve_per_scheduler_on_a_log_axis(result):
    ax = plots.latency_cdf(result.tasks)
    lines = [line for line in ax.get_lines() if line.get_label().split()[0] in ("asyncio", "ps")]
    assert [line.get_label().split()[0] for line in lines] == ["asyncio", "ps"]
    assert ax.get_xscale() == "log" and labelled(ax)
    counted = result.tasks[result.tasks["counted"] & (result.tasks["scheduler"] == "ps")]
    x, y = lines[1].get_data()
    assert y[-1] == 1 and x[-1] == pytest.approx(counted["latency_ns"].max() / MS)
    assert f"n={len(counted)}" in lines[1].get_label()


def test_latency_tail_is_log_log_and_ends_at_one_task(result):
    ax = plots.latency_tail(result.tasks, cls="ticker")
    assert (ax.get_xscale(), ax.get_yscale()) == ("log", "log") and labelled(ax)
    line = next(line for line in ax.get_lines() if line.get_label().startswith("asyncio"))
    n = int((result.tasks["counted"] & (result.tasks["class"] == "ticker")
             & (result.tasks["scheduler"] == "asyncio")).sum())
    assert line.get_ydata()[0] == 1 and line.get_ydata()[-1] == pytest.approx(1 / n)
    assert "ticker" in ax.get_title()
    ax.figure.canvas.draw()  # tick labels are made at draw time
    shown = [t.get_text() for t in ax.get_yticklabels() + ax.get_xticklabels()]
    assert "0.01" in shown and not any("$" in t or "mathdefault" in t for t in shown)


def test_wake_delay_says_when_no_wake_up_waited(result):
    ax = plots.wake_delay(result.wakeups)
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert labels[0].startswith("asyncio (") and "did not wait" in labels[0]
    assert labels[1].startswith("ps (none of")
    assert labelled(ax)


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("chart", [plots.latency_cdf, plots.latency_tail, plots.wake_delay])
def test_a_class_with_nothing_in_the_window_says_so_without_a_warning(result, chart):
    """configs/gil_convoy.yaml's cruncher arrives at 0, before the warmup ends: its panels
    have no sample (matplotlib warned 'No artists with labels' three times a run)."""
    data = result.wakeups if chart is plots.wake_delay else result.tasks
    ax = chart(data[~data["counted"]], cls="ticker")
    assert ax.get_legend() is None and not ax.get_lines()
    assert [t.get_text() for t in ax.texts] == [
        f"no {'wake-ups' if chart is plots.wake_delay else 'tasks'} in the measured window"]
    ax.figure.canvas.draw()
    assert not ax.get_xticklabels() and not ax.get_yticklabels()


def test_unfinished_tasks_keep_the_ecdf_below_one(result):
    tasks = result.tasks[result.tasks["scheduler"] == "ps"].copy()
    cut = tasks.index[tasks["counted"]][-2:]
    tasks.loc[cut, ["finish_ns", "latency_ns"]] = pd.NA  # as if the drain limit had cut them
    line = plots.latency_cdf(tasks).get_lines()[0]
    n = int(tasks["counted"].sum())
    assert line.get_ydata()[-1] == pytest.approx(1 - 2 / n)
    assert "2 unfinished" in line.get_label()


def test_several_sweep_points_need_a_choice(result):
    two = pd.concat([result.tasks, result.tasks.assign(point=1)])
    with pytest.raises(ValueError, match="point="):
        plots.latency_cdf(two)
    assert len(plots.latency_cdf(two, point=1).get_lines()) >= 2


def sweep_summary():
    """Two schedulers, loads 0.5 and 0.9, three replications with known spread."""
    rows = []
    for scheduler, base in (("a", 10.0), ("b", 20.0)):
        for load in (0.5, 0.9):
            for rep, delta in enumerate((-1.0, 0.0, 1.0)):
                rows.append({"scheduler": scheduler, "class": "all", "replication": rep,
                             "load": load, "latency_p50_ms": base * load + delta,
                             "latency_p99_ms": 4 * base * load + delta})
    return pd.DataFrame(rows)


def test_load_curves_draw_means_and_t_bands():
    ax = plots.load_curves(sweep_summary())
    lines = ax.get_lines()
    assert len(lines) == 4  # (p50, p99) x 2 schedulers
    np.testing.assert_allclose(lines[0].get_ydata(), [5.0, 9.0])
    assert list(lines[0].get_xdata()) == [0.5, 0.9]
    band = ax.collections[0].get_paths()[0].vertices[:, 1]
    half = 4.302653 * 1.0 / np.sqrt(3)  # t(0.975, 2) x std / sqrt(n)
    assert band.min() == pytest.approx(5.0 - half) and band.max() == pytest.approx(9.0 + half)
    assert ax.get_yscale() == "log" and labelled(ax) and "3 replications" in ax.get_title()


def test_a_band_past_the_curves_is_cut_at_the_axis_and_the_title_says_so():
    """Two replications far apart: the t-band (t = 12.7) runs below zero, which a log axis
    cannot show; the axis keeps to five times the curves' own range either way."""
    rows = pd.DataFrame({"scheduler": "a", "class": "all", "replication": [0, 1, 0, 1],
                         "load": [0.5, 0.5, 0.9, 0.9], "latency_p99_ms": [1.0, 9.0, 10.0, 30.0]})
    ax = plots.load_curves(rows, metrics=["latency_p99_ms"])
    assert ax.get_ylim()[0] >= 5.0 / 5 and ax.get_ylim()[1] == pytest.approx(20.0 * 5)
    assert "cut at the edges" in ax.get_title()
    assert "cut" not in plots.load_curves(sweep_summary()).get_title()  # narrow bands
    # a band below zero within the curves' range: drawn to the axis' bottom edge, cut too
    rows["latency_p99_ms"] = [5.87, 7.13, 4.0, 4.02]  # mean 6.5, t-half 8.0 at load 0.5
    ax = plots.load_curves(rows, metrics=["latency_p99_ms"])
    assert ax.get_ylim()[0] > 6.5 / 5 and "cut at the edges" in ax.get_title()


def test_load_curves_read_an_aggregate():
    agg = pd.DataFrame({"scheduler": ["a", "a"], "class": ["all", "all"], "load": [0.9, 0.5],
                        "latency_p99_ms_mean": [8.0, 4.0], "latency_p99_ms_ci_low": [7.0, 3.0],
                        "latency_p99_ms_ci_high": [9.0, 5.0]})
    ax = plots.load_curves(agg, metrics=["latency_p99_ms"])
    assert list(ax.get_lines()[0].get_ydata()) == [4.0, 8.0]
    assert ax.collections[0].get_paths()[0].vertices[:, 1].max() == 9.0


def key_summary():
    """Two schedulers, switch interval 1 and 5 ms at loads 0.5 and 0.9, two replications."""
    rows = []
    for scheduler, base in (("a", 10.0), ("b", 20.0)):
        for load in (0.5, 0.9):
            for interval in (1.0, 5.0):
                for rep, delta in enumerate((-1.0, 1.0)):
                    rows.append({"scheduler": scheduler, "class": "all", "replication": rep,
                                 "load": load, "schedulers.g.switch_interval_ms": interval,
                                 "latency_p50_ms": base * load + interval + delta,
                                 "latency_p99_ms": 4 * base * load + interval + delta})
    return pd.DataFrame(rows)


def test_sweep_curves_against_any_key_one_curve_per_value_of_the_others():
    """x by the grid's key or its column; the other varying key (load) splits the curves:
    a mean over it would be a curve no configuration produces."""
    summary = key_summary()
    for x in ("schedulers.g.switch_interval", "schedulers.g.switch_interval_ms"):
        ax = plots.sweep_curves(summary, x=x, metrics=["latency_p50_ms"])
        lines = ax.get_lines()
        assert len(lines) == 4  # 2 schedulers x 2 loads
        assert [list(line.get_xdata()) for line in lines] == [[1.0, 5.0]] * 4
        np.testing.assert_allclose([line.get_ydata() for line in lines],
                                   [[6, 10], [10, 14], [11, 15], [19, 23]])
        half = 12.706205 * np.sqrt(2) / np.sqrt(2)  # t(0.975, 1) x std / sqrt(n)
        band = ax.collections[0].get_paths()[0].vertices[:, 1]
        assert band.min() == pytest.approx(6 - half, rel=1e-6)
        assert ax.get_xlabel() == "schedulers.g.switch_interval (ms)"
        assert ax.get_title() == ("P50 latency against schedulers.g.switch_interval\n"
                                  "(bands: 95 % CI over 2 replications, cut at the edges)")
        assert ax.get_ylim()[0] == pytest.approx(6 / 5)  # the band reaches below zero
        legend = [t.get_text() for t in ax.get_legend().get_texts()]
        assert legend == ["load = 0.5", "load = 0.9"]
    one_load = summary[summary["load"] == 0.5]
    ax = plots.sweep_curves(one_load, x="schedulers.g.switch_interval")
    assert len(ax.get_lines()) == 4
    assert ax.get_title().startswith("Latency percentiles against schedulers.g.switch_interval")
    assert ax.get_ylabel() == "latency (ms, log scale)"
    wake = one_load.rename(columns={"latency_p50_ms": "wake_delay_p50_ms",
                                    "latency_p99_ms": "wake_delay_p99_ms"})
    ax = plots.sweep_curves(wake, x="schedulers.g.switch_interval",
                            metrics=["wake_delay_p50_ms", "wake_delay_p99_ms"])
    assert ax.get_title().startswith("Wake delay percentiles against")
    assert ax.get_ylabel() == "wake delay (ms, log scale)"
    mixed = one_load.assign(jain=0.9)
    ax = plots.sweep_curves(mixed, x="schedulers.g.switch_interval",
                            metrics=["latency_p99_ms", "jain"])
    assert ax.get_title().startswith("P99 latency, jain against")
    assert ax.get_ylabel() == "latency_p99_ms, jain (log scale)"
    with pytest.raises(ValueError, match="no swept key 'quantum'.*switch_interval_ms"):
        plots.sweep_curves(summary, x="quantum")
    # a class beside a long key goes to a line of its own, which keeps the title in its panel
    api = summary.assign(**{"class": "api"})
    long = api.rename(columns={"schedulers.g.switch_interval_ms":
                               "schedulers.threads.switch_interval_ms"})
    title = plots.sweep_curves(long, x="schedulers.threads.switch_interval",
                               metrics=["latency_p99_ms"], cls="api").get_title()
    assert title == ("P99 latency against schedulers.threads.switch_interval\n"
                     "of class 'api'\n(bands: 95 % CI over 2 replications)")
    short = plots.sweep_curves(api.rename(columns={"schedulers.g.switch_interval_ms":
                                                   "quantum_ms"}),
                               x="quantum", metrics=["latency_p99_ms"], cls="api").get_title()
    assert short.startswith("P99 latency against quantum of class 'api'\n")
    longer = summary.rename(columns={"schedulers.g.switch_interval_ms":
                                     "schedulers.tokio_spawn_blocking.switch_interval_ms"})
    assert "\n\n" not in plots.sweep_curves(  # a long key and no class: no empty line
        longer, x="schedulers.tokio_spawn_blocking.switch_interval").get_title()


def test_a_rows_p50_and_p99_panels_share_one_range_that_holds_every_curve():
    """p50 at 10-20 ms, p99 at 300-900 ms: each panel fits its own curves, and the row's
    range holds both (a shared axis that the p99 panel set cut the p50 curve off)."""
    rows = pd.DataFrame({"scheduler": "a", "class": "all", "replication": 0,
                         "load": [0.5, 0.9], "latency_p50_ms": [10.0, 20.0],
                         "latency_p99_ms": [300.0, 900.0]})
    fig = Figure()
    row = fig.subplots(1, 2)
    plots.latency_row(rows, "load", "all", row)
    assert row[0].get_ylim() == row[1].get_ylim()
    low, high = row[0].get_ylim()
    for ax in row:
        values = np.concatenate([line.get_ydata() for line in ax.get_lines()])
        assert low < values.min() and values.max() < high


def test_sweep_curves_of_words_sit_at_even_steps_in_grid_order():
    rows = [{"scheduler": "g", "class": "all", "replication": 0,
             "schedulers.g.wake_order": order, "latency_p50_ms": value,
             "latency_p99_ms": value} for order, value in (("random", 2.0), ("fifo", 1.0))]
    ax = plots.sweep_curves(pd.DataFrame(rows), x="schedulers.g.wake_order",
                            metrics=["latency_p50_ms"])
    assert list(ax.get_lines()[0].get_xdata()) == [0, 1]
    assert list(ax.get_lines()[0].get_ydata()) == [2.0, 1.0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["random", "fifo"]


def test_load_curves_need_a_load_column(result):
    with pytest.raises(ValueError, match="load"):
        plots.load_curves(result.summary)


def test_jain_and_slowdown_bars_match_the_summary(result):
    summary = result.summary
    ax = plots.jain_index(summary)
    heights = [bar.get_height() for bar in ax.patches]
    assert heights == pytest.approx(summary.loc[summary["class"] == "all", "jain"].tolist())
    assert [t.get_text() for t in ax.get_xticklabels()] == ["asyncio", "ps"]
    assert ax.get_ylabel()
    ax = plots.slowdown_by_class(summary)
    tops = [bar.get_y() + bar.get_height() for bar in ax.patches]
    expected = [summary.loc[(summary["scheduler"] == s) & (summary["class"] == c),
                            "slowdown_mean"].item()
                for s in ("asyncio", "ps") for c in ("ticker", "hog", "all")]
    assert tops == pytest.approx(expected)
    assert ax.get_yscale() == "log" and ax.get_ylabel() and ax.get_legend()


TRACE = pd.DataFrame(
    [  # lane, task, state, start, end (ms here, ns below)
        ("thread 10", -1, "idle", 0, 10),
        ("thread 2", 7, "running", 0, 6),
        ("thread 2", 7, "gil_wait", 6, 8),
        ("thread 2", 7, "running", 8, 8.05),
        ("core 0", 7, "running", 0, 6),
        ("thread 1", 3, "io", 1, 4),
        ("thread 1", 3, "blocked", 4, 5),
        ("thread 1", 3, "runnable", 5, 12),
    ], columns=["lane", "task", "state", "start_ns", "end_ns"])
TRACE[["start_ns", "end_ns"]] = (TRACE[["start_ns", "end_ns"]] * MS).astype("int64")
TRACE["scheduler"] = "threads"


def test_timeline_lanes_and_states_match_the_trace():
    ax = plots.timeline(TRACE, window=(0, "10ms"))
    lanes = [t.get_text() for t in ax.get_yticklabels()]
    assert lanes == ["core 0", "thread 1", "thread 2", "thread 10"]  # natural order
    drawn = sorted((lanes[round(r.get_y() + r.get_height() / 2)], round(r.get_x(), 5),
                    round(r.get_x() + r.get_width(), 5), to_hex(r.get_facecolor()))
                   for r in ax.patches)
    colour = {s: c.lower() for s, c in plots.STATE_COLOURS.items()}
    assert drawn == sorted([
        ("core 0", 0, 6, colour["running"]),
        ("thread 1", 1, 4, colour["io"]),
        ("thread 1", 4, 5, colour["blocked"]),
        ("thread 1", 5, 10, colour["runnable"]),  # clipped to the window
        ("thread 2", 0, 6, colour["running"]),
        ("thread 2", 6, 8, colour["gil_wait"]),
        ("thread 2", 8, 8.05, colour["running"]),
    ])  # idle is left blank
    labels = sorted((t.get_text(), t.get_position()) for t in ax.texts)
    assert labels == [("7", (3, 0)), ("7", (3, 2))]  # the 0.05 ms one is too narrow
    assert ax.get_xlim() == (0, 10) and ax.get_xlabel() == "simulated time (ms)"
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == [plots.STATE_LABELS[s]
                      for s in ("running", "gil_wait", "runnable", "io", "blocked")]


def test_timeline_window_and_scheduler_choice():
    ax = plots.timeline(TRACE, window=("5.5ms", "7ms"))
    assert {to_hex(r.get_facecolor()) for r in ax.patches} == {
        plots.STATE_COLOURS[s].lower() for s in ("running", "gil_wait", "runnable")}
    assert min(r.get_x() for r in ax.patches) == 5.5
    two = pd.concat([TRACE, TRACE.assign(scheduler="go")])
    with pytest.raises(ValueError, match="scheduler="):
        plots.timeline(two)
    assert len(plots.timeline(two, scheduler="go").patches) == 7


def test_standard_plots_write_the_files_and_leave_no_figure_open(result, tmp_path):
    trace = TRACE.assign(scheduler="asyncio")
    sweep = pd.concat([result.summary.assign(load=0.5),
                       result.summary.assign(load=0.9, point=1)])
    tasks = pd.concat([result.tasks, result.tasks.assign(point=1)])
    wakeups = pd.concat([result.wakeups, result.wakeups.assign(point=1)])
    before = plt.get_fignums()
    written = plots.standard_plots(sweep, tasks, wakeups, tmp_path / "plots", trace=trace)
    assert [p.name for p in written] == ["latency_cdf.png", "latency_tail.png",
                                         "wake_delay.png", "fairness.png", "load_curves.png",
                                         "timeline.png"]
    for path in written:  # each file is the picture its function draws, not just bytes
        image = matplotlib.image.imread(path)[..., :3]
        assert image.shape[0] >= 250 and image.shape[1] >= 700  # 120 dpi: at least 6 in wide
        assert (image.min(axis=2) < 0.9).mean() > 0.02  # ink, not a blank page
    for name in ("latency_cdf.png", "latency_tail.png", "fairness.png"):
        assert _has_colour(tmp_path / "plots" / name, "C0")  # asyncio's curve or bar
        assert _has_colour(tmp_path / "plots" / name, "C1")  # processor sharing's
    assert not _has_colour(tmp_path / "plots" / "latency_cdf.png", "C2")  # no third
    assert plt.get_fignums() == before
    single = plots.standard_plots(result.summary, result.tasks, result.wakeups, tmp_path / "one")
    assert [p.name for p in single] == ["latency_cdf.png", "latency_tail.png",
                                        "wake_delay.png", "fairness.png"]


def _has_colour(path, colour: str, pixels: int = 20) -> bool:
    """Does the PNG hold at least ``pixels`` pixels of ``colour`` (anti-aliasing aside)?"""
    image = matplotlib.image.imread(path)[..., :3]
    target = np.array(matplotlib.colors.to_rgb(colour))
    return int((np.abs(image - target).max(axis=2) < 0.02).sum()) >= pixels


def test_default_window_frames_the_slowest_task(result):
    trace = TRACE.assign(scheduler="asyncio", end_ns=TRACE["end_ns"] + 300 * MS)
    lo, hi = plots.default_window(result.tasks, trace)
    tasks = result.tasks[result.tasks["counted"] & (result.tasks["scheduler"] == "asyncio")]
    worst = tasks.loc[tasks["latency_ns"].astype("int64").idxmax()]
    assert lo <= worst["arrival_ns"] and worst["finish_ns"] <= hi


def test_charts_take_a_class(result):
    """``cls=`` keeps one class's rows: Jain's bars are that class's, the slowdown bars only
    the classes asked for, the curves only that class's tasks."""
    summary = result.summary
    ax = plots.jain_index(summary, cls="ticker")
    assert [bar.get_height() for bar in ax.patches] == pytest.approx(
        summary.loc[summary["class"] == "ticker", "jain"].tolist())
    assert "ticker" in ax.get_title()
    ax = plots.slowdown_by_class(summary, cls=["hog"])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["class 'hog'"]
    assert len(ax.patches) == 2  # one bar per scheduler
    line = plots.latency_cdf(result.tasks, cls="hog").get_lines()[0]
    hogs = result.tasks[result.tasks["counted"] & (result.tasks["class"] == "hog")
                        & (result.tasks["scheduler"] == "asyncio")]
    assert f"n={len(hogs)}" in line.get_label()
    every = plots.latency_cdf(result.tasks, cls="all").get_lines()[0]
    assert every.get_label() == plots.latency_cdf(result.tasks).get_lines()[0].get_label()


def test_standard_plots_show_every_class_or_those_asked(result, tmp_path):
    """A panel per class and one for all tasks (3 panels, 7 in each at 120 dpi); with
    ``classes`` only those; a workload of one class has one panel."""
    assert plots.shown_classes(result.summary) == ["ticker", "hog", "all"]
    assert plots.shown_classes(result.summary, ["hog"]) == ["hog"]
    one = result.summary[result.summary["class"] != "hog"]
    assert plots.shown_classes(one) == ["all"]
    for classes, panels in ((None, 3), (["hog"], 1), (["hog", "all"], 2)):
        folder = tmp_path / str(panels)
        plots.standard_plots(result.summary, result.tasks, result.wakeups, folder,
                             classes=classes)
        for name in ("latency_cdf.png", "latency_tail.png", "wake_delay.png"):
            width = matplotlib.image.imread(folder / name).shape[1]
            assert width == 7 * 120 * panels, (name, classes)
