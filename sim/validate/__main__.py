"""python -m sim.validate [SCENARIO ...] [--out DIR] [--repeat N] [--seeds M] [--profile FILE]
python -m sim.validate --calibrate [--write machine.yaml]"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from ..cli import how_stopped, sigterm_as_interrupt
from ..config import ConfigError, validate
from . import calibrate
from .harness import calibrate_machine, default_nice, run_validation
from .runners import Toolchains
from .scenarios import SCENARIOS

# a scenario's real runs take 1-7 s each and its simulated ones 0.1-1 s: beyond these a
# run takes hours (a typo, not a plan)
MAX_REPEAT, MAX_SEEDS = 100, 1000
# real runs at which the verdict's chance failures fall to ~3 % of figures at worst (a
# right model whose seeds do not move the figure; docs/validation.md)
DECISIVE_REPEAT = 20


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m sim.validate",
        description="Run scenarios on the real runtimes and on the simulator; write "
                    "validation.csv (real, simulated, both ranges, tolerance, agree), "
                    "validation.md, validation.png and validation_runs.csv (every run's "
                    "value).")
    parser.add_argument("scenarios", nargs="*", metavar="SCENARIO",
                        help="default: all of them (--list shows them)")
    parser.add_argument("--out", type=Path, default=Path("results/validation"))
    parser.add_argument("--repeat", type=int, default=5,
                        help="real runs per scenario, in rounds (each round runs every "
                        "scenario once); at 5 a right model fails a few figures by chance, "
                        "at 20 about one in thirty at worst")
    parser.add_argument("--seeds", type=int, default=20,
                        help="simulated runs per scenario, one seed each")
    parser.add_argument("--profile", default=None,
                        help="the machine profile the simulator runs on: a YAML file "
                             "(--calibrate --write makes one), linux or ideal; default: "
                             "measure this machine now (written to OUT/machine.yaml)")
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    parser.add_argument("--calibrate", action="store_true",
                        help="only measure this machine (timer lateness by wait length, "
                             "wake-ups by time parked through a condvar (and the signal's "
                             "cost to the waker) and a socket, Go's "
                             "usleep overshoot, asyncio's loop costs, each installed "
                             "runtime's cost per socket message; about 5-6 min with "
                             "building the Go and Tokio servers) and print its profile")
    parser.add_argument("--write", type=Path, metavar="FILE",
                        help="with --calibrate: write the profile to FILE (atomically)")
    parser.add_argument("--go", default="go", help="the go command (default: from PATH)")
    parser.add_argument("--cargo", default="cargo", help="the cargo command")
    parser.add_argument("--crates", default="/usr/share/cargo/registry",
                        help="Debian's crate directory (librust-tokio-dev)")
    parser.add_argument("--nice", type=int, default=default_nice(),
                        help="niceness of the real runs (default -15 as root, else 0)")
    return parser.parse_args(argv)


def problem(args: argparse.Namespace) -> str | None:
    """What is wrong with the arguments (checked before anything runs), or None."""
    unknown = [s for s in args.scenarios if s not in SCENARIOS]
    if unknown:
        return f"unknown scenario {', '.join(unknown)}; known: {', '.join(SCENARIOS)}"
    for flag, value, most in (("--repeat", args.repeat, MAX_REPEAT),
                              ("--seeds", args.seeds, MAX_SEEDS)):
        if not 1 <= value <= most:
            return f"{flag} must be 1 to {most:,}, got {value:,}"
    if not -20 <= args.nice <= 19:  # (setpriority's range)
        return f"--nice must be -20 to 19, got {args.nice:,}"
    if args.write is not None:
        if not args.calibrate:
            return "--write goes with --calibrate"
        why = calibrate.writable(args.write)
        if why:
            return f"cannot write {args.write}: {why}"
    if args.profile is not None:
        if args.calibrate:
            return "--profile is for validation runs, not --calibrate"
        try:  # the profile as a config would load it (an error names the file and the key)
            validate({"horizon": "1s", "machine": {"profile": args.profile},
                      "workload": {"t": {"arrival": {"batch": {"count": 1}},
                                         "phases": [{"cpu": "1ms"}]}},
                      "schedulers": {"f": {"model": "fcfs"}}})
        except ConfigError as exc:
            return str(exc)
    return None


def main(argv: list[str] | None = None) -> int:
    """The command; Ctrl-C ends it with one line and status 130, SIGTERM with 143: the
    real program in hand is killed and no result is half-written (each file of OUT is
    written whole; what a stopped run leaves there is the machine profile and the
    servers' builds)."""
    try:
        with sigterm_as_interrupt():
            return _main(argv)
    except KeyboardInterrupt as stop:
        how, status = how_stopped(stop)
        print(f"{how}: no results written; rerun the command to start again",
              file=sys.stderr)
        return status


def _main(argv: list[str] | None) -> int:
    args = parse(argv)
    if args.list:
        for name, scenario in SCENARIOS.items():
            print(f"{name:22s} {scenario.runtime:8s} {scenario.about}")
        return 0
    why = problem(args)
    if why:
        print(f"error: {why}", file=sys.stderr)
        return 2

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    tools = Toolchains(build_dir=args.out / "build", go=args.go, cargo=args.cargo,
                       crates=args.crates, nice=args.nice)
    if args.calibrate:
        with tempfile.TemporaryDirectory(prefix="sim-calibrate-build-") as build:
            tools.build_dir = Path(build)  # (the runtimes' servers; nothing is kept)
            found = calibrate_machine(tools, log)
        log(calibrate.summary(found))
        name = args.write.name if args.write else "machine.yaml"
        text = calibrate.profile_text(found, name)
        if args.write is None:
            print(text, end="")
            return 0
        try:
            calibrate.write_atomic(args.write, text)
        except OSError as exc:
            print(f"error: cannot write {args.write}: {exc.strerror or exc}", file=sys.stderr)
            return 2
        print(f"wrote {args.write}")
        return 0
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        print(f"error: cannot write {args.out}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    table = run_validation(args.scenarios or list(SCENARIOS), args.out, args.repeat,
                           args.seeds, tools, args.profile, log=log)
    judged = table[~table["agree"].isin(["skipped", "uninformative"])]
    print(table.drop(columns=["note"]).to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print(f"\n{(judged['agree'] == 'yes').sum()}/{len(judged)} figures agree, "
          f"{(table['agree'] == 'uninformative').sum()} uninformative, "
          f"{(table['agree'] == 'skipped').sum()} skipped; written to {args.out}/")
    if args.repeat < DECISIVE_REPEAT and len(judged):
        log(f"note: on {args.repeat} real run{'s' if args.repeat > 1 else ''} a scenario, a "
            "model right on average fails some figures by chance, different ones from run "
            f"to run; --repeat {DECISIVE_REPEAT} makes that about one figure in thirty at "
            "worst (docs/validation.md, \"How a figure is judged\")")
    return 0


if __name__ == "__main__":
    sys.exit(main())
