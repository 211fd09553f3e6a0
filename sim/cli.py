"""``python -m sim CONFIG [key=value ...]``: run, print a table, write results.

Bad input ends with one line naming the key path and exit status 2, before anything is
written; a run that fails for another reason exits 1. A config with a ``sweep:`` block
runs as a sweep (``sim.sweep``): in parallel, resumable, and exit 1 if any run failed.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import textwrap
from contextlib import contextmanager
from pathlib import Path

from .capacity import occupancy_warnings, overload_warnings, overloads, rates_lines
from .compare import comparison, few_replications_note
from .config import ConfigError, load_config
from .folders import RUN, SWEEP, OutputError, atomic_write, check_output
from .metrics import thin_tail_notes
from .models import MODELS
from .outputs import draw_plots, dump_config, sweep_table, table, write_results
from .runner import run
from .sweep import EXECUTORS, ExecutorError, point_configs, require_dask, run_sweep
from .units import quote

EXIT_BAD_INPUT = 2
EXIT_FAILED_RUNS = 1
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports it
EXIT_TERMINATED = 143  # 128 + SIGTERM


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {quote(text)}")
    return int(text)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's own errors: one line, exit 2
        self.exit(EXIT_BAD_INPUT, f"error: {message} (see python -m sim --help)\n")


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m sim", description=__doc__.split("\n")[0])
    p.add_argument("config", nargs="?", help="the YAML config (see configs/)")
    p.add_argument("overrides", nargs="*", metavar="key=value",
                   help="dotted overrides, e.g. horizon=5s schedulers.rr.quantum=2ms")
    p.add_argument("--out", type=Path, help="output folder (default: the config's output); "
                   "sim replaces only a folder it wrote, of the same kind (run or sweep)")
    p.add_argument("--force", action="store_true",
                   help="replace the output folder whole even if it holds other files or "
                        "another kind of results (never a file, a device or a link)")
    p.add_argument("--check", action="store_true",
                   help="validate and print the resolved config without running")
    p.add_argument("--list-models", action="store_true", help="list models and their options")
    p.add_argument("--quiet", action="store_true", help="no table and no progress bar")
    p.add_argument("--trace", action="store_true",
                   help="record who ran where and when: trace.parquet and plots/timeline.png")
    p.add_argument("--no-plots", action="store_true", help="do not draw output/plots/*.png")
    p.add_argument("--class", dest="classes", action="append", metavar="NAME",
                   help="show only this task class in the table and the charts (repeatable; "
                        "'all' is every task)")
    p.add_argument("--baseline", metavar="SCHEDULER",
                   help="add each scheduler's p50, p99 and throughput relative to this one, "
                        "on the same tasks, to the table and to comparison.csv")
    sweep = p.add_argument_group("sweeps (configs with a sweep: block)")
    sweep.add_argument("--jobs", type=_positive, default=_cores(),
                       help="runs at a time (default: the core count; 1 runs in process; "
                            "with dask and no address: the local cluster's workers)")
    sweep.add_argument("--executor", choices=EXECUTORS, default="local",
                       help="local processes, or a Dask distributed cluster")
    sweep.add_argument("--scheduler-address", metavar="tcp://HOST:PORT",
                       help="the Dask scheduler (default: start a LocalCluster)")
    return p


def list_models(width: int = 100) -> str:
    """Every model with its summary, and every option with its type, default and what it
    means: read from the option fields themselves (as docs/models.md is)."""
    from .docgen import model_summary, type_name

    wrap = textwrap.TextWrapper(width=width, initial_indent="      ",
                                subsequent_indent="      ", break_on_hyphens=False)
    lines = []
    for name, cls in MODELS.items():
        lines += textwrap.wrap(f"{name}: {model_summary(cls).replace('``', '')}", width,
                               subsequent_indent="    ", break_on_hyphens=False)
        defaults = cls.Options(model=name).model_dump(mode="json")
        for field, info in cls.Options.model_fields.items():
            if field == "model":
                continue
            default = defaults[field]
            shown = "null" if default is None else str(default).lower() \
                if isinstance(default, bool) else str(default)
            lines.append(f"  {field}: {type_name(info.annotation, info.metadata)}, "
                         f"default {shown}")
            lines += wrap.wrap(info.description.rstrip(".") + ".")
        lines.append("")
    return "\n".join(lines).rstrip("\n")


def _end_bar() -> str:
    """A line break to end a progress bar's line, where a terminal shows one."""
    return "\n" if sys.stderr.isatty() else ""


class Terminated(KeyboardInterrupt):
    """SIGTERM (``kill``, a container's stop, a batch system's time limit), taken as Ctrl-C
    is: the work in hand is stopped and nothing half-written is left."""


def _terminate(signum, frame) -> None:
    raise Terminated


def how_stopped(stop: KeyboardInterrupt) -> tuple[str, int]:
    """The word for a stop and the command's exit status: Ctrl-C 130, SIGTERM 143."""
    if isinstance(stop, Terminated):
        return "terminated", EXIT_TERMINATED
    return "interrupted", EXIT_INTERRUPTED


@contextmanager
def sigterm_as_interrupt():
    """While the command runs, SIGTERM stops it as Ctrl-C does (only the main thread may
    set a handler: elsewhere, as under some test runners, the default stays)."""
    try:
        previous = signal.signal(signal.SIGTERM, _terminate)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    """The command; Ctrl-C ends it with one line and status 130, SIGTERM with 143 (nothing
    half-written either way)."""
    try:
        with sigterm_as_interrupt():
            return _main(argv)
    except KeyboardInterrupt as stop:
        how, status = how_stopped(stop)
        print(f"{_end_bar()}{how}: nothing half-written is left; rerun the command to "
              "start again (a sweep resumes from its stored runs)", file=sys.stderr)
        return status


def _main(argv: list[str] | None) -> int:
    args = parser().parse_intermixed_args(argv)
    if args.list_models:
        print(list_models())
        return 0
    if not args.config:
        print("error: give a config file, e.g. python -m sim configs/quickstart.yaml",
              file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.scheduler_address and args.executor != "dask":
        print("error: --scheduler-address needs --executor dask", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        cfg = load_config(args.config, args.overrides)
        configs = point_configs(cfg)  # also refuses a point beyond max_tasks
        check_focus(cfg, args.classes, args.baseline)
        if args.classes:  # a class named twice is shown once
            args.classes = list(dict.fromkeys(args.classes))
        over = overloads(configs)
        if cfg.sweep and args.executor == "dask" and not args.check:
            require_dask()
    except (ConfigError, ExecutorError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.check:
        print(dump_config(cfg), end="")
        print("\n".join(rates_lines(configs)))
        return 0
    for line in overload_warnings(over, sweep=len(configs) > 1):
        print(line, file=sys.stderr)
    warned = {b.scheduler for b in over}
    out = args.out or cfg.output_dir
    if cfg.sweep and args.trace:
        print("error: --trace records the timeline of one run; run a point of the sweep "
              "alone (for example with sweep=null and its values as overrides)", file=sys.stderr)
        return EXIT_BAD_INPUT
    config = Path(args.config)
    try:  # before the run: a bad --out must not cost the user the run's time
        check_output(out, SWEEP if cfg.sweep else RUN, args.force, config)
        if cfg.sweep:
            return _sweep(cfg, configs, args, out, warned)
        result = run(cfg, progress=None if not args.quiet else False, trace=args.trace)
        compared = comparison(result.summary, args.baseline) if args.baseline else None
        write_results(cfg, result, out, plots=not args.no_plots, force=args.force,
                      config=config, classes=args.classes, comparison=compared)
    except (OutputError, ConfigError) as exc:  # (a size limit met inside the run, too)
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    _after_run(result.summary, warned, args.classes, compared)
    if not args.quiet:
        print(table(result.summary, args.classes, compared))
        print(f"\nresults in {out}/")
    return 0


def _after_run(summary, warned: set[str], classes: list[str] | None, compared) -> None:
    """What a finished run or sweep says on stderr: the occupancy warnings, the classes
    whose p99 rests on few tasks, the ratios' intervals over few replications."""
    for line in [*occupancy_warnings(summary, warned), *thin_tail_notes(summary, classes),
                 *(few_replications_note(compared) if compared is not None else [])]:
        print(line, file=sys.stderr)


def check_focus(cfg, classes: list[str] | None, baseline: str | None) -> None:
    """``--class`` names classes of the workload (or ``all``), ``--baseline`` a scheduler."""
    known = [*cfg.workload, "all"]
    for name in classes or []:
        if name not in known:
            raise ConfigError(f"--class {quote(name)}: no such class; the classes are "
                              f"{', '.join(known)}")
    if baseline is not None and baseline not in cfg.schedulers:
        raise ConfigError(f"--baseline {quote(baseline)}: no such scheduler; the schedulers "
                          f"are {', '.join(cfg.schedulers)}")


def _sweep_plots(summary, out: Path, classes: list[str] | None = None) -> None:
    """The standard charts of a sweep: distributions at its last point, load curves."""
    import pandas as pd

    last = [("point", "==", int(summary["point"].max()))]
    tasks = pd.read_parquet(out / "tasks.parquet", filters=last)
    wakeups = pd.read_parquet(out / "wakeups.parquet", filters=last)
    draw_plots(out / "plots", summary, tasks, wakeups, classes=classes)


def _sweep_comparison(summary, baseline: str | None, out: Path):
    """A sweep's ``comparison.csv`` (per point) against ``baseline``; without one, an
    earlier sweep's file is removed: it would describe another command."""
    path = out / "comparison.csv"
    if baseline is None or not len(summary):
        path.unlink(missing_ok=True)
        return None
    compared = comparison(summary, baseline)
    atomic_write(path, compared.to_csv(index=False).encode())
    return compared


def _sweep(cfg, configs, args, out: Path, warned: set[str]) -> int:
    """Run a sweep into ``out``; list the failed runs and exit 1 if there are any."""
    try:
        result = run_sweep(cfg, out, jobs=args.jobs, executor=args.executor,
                           address=args.scheduler_address,
                           progress=None if not args.quiet else False, configs=configs,
                           force=args.force, config=Path(args.config))
    except ExecutorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if not args.no_plots and len(result.summary):
        try:
            _sweep_plots(result.summary, out, args.classes)
        except KeyboardInterrupt as stop:
            how, status = how_stopped(stop)
            print(f"{_end_bar()}{how} while drawing the charts: the results in {out}/ are "
                  "complete; rerun the command to draw the charts", file=sys.stderr)
            return status
    compared = _sweep_comparison(result.summary, args.baseline, out)
    _after_run(result.summary, warned, args.classes, compared)
    if not args.quiet:
        if len(result.aggregate):
            print(sweep_table(result.aggregate, args.classes, compared))
        reused = f", {result.reused} reused from {out}/runs" if result.reused else ""
        if result.shared:  # (a scheduler a grid does not touch: the same run at every point)
            reused += f", {result.shared} the same as at another point"
        print(f"\nresults in {out}/ ({result.ran} runs run now{reused})")
    if result.failed:
        total = result.ran + result.reused + result.shared
        print(f"error: {len(result.failed)} of {total} runs failed (tracebacks in "
              f"{out}/runs/*.failed.json; the command reruns only what is missing):",
              file=sys.stderr)
        for run_ in result.failed:
            values = "".join(f" {k}={v}" for k, v in run_["values"].items())
            print(f"  {run_['scheduler']} point {run_['point']} replication "
                  f"{run_['replication']} seed {run_['seed']}{values}: {run_['error']}",
                  file=sys.stderr)
        return EXIT_FAILED_RUNS
    return 0
