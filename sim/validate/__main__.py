"""python -m sim.validate [SCENARIO ...] [--out DIR] [--repeat N]"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .harness import default_nice, run_validation
from .runners import Toolchains, probe
from .scenarios import SCENARIOS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sim.validate",
        description="Run scenarios on the real runtimes and on the simulator; write "
                    "validation.csv (real, simulated, tolerance, agree) and validation.png.")
    parser.add_argument("scenarios", nargs="*", metavar="SCENARIO",
                        help="default: all of them (--list shows them)")
    parser.add_argument("--out", type=Path, default=Path("results/validation"))
    parser.add_argument("--repeat", type=int, default=5,
                        help="real runs per scenario; the tolerance is their spread")
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    parser.add_argument("--calibrate", action="store_true",
                        help="only probe the machine (timer lateness, a short sleep's "
                             "overshoot, asyncio's step cost) and print what is calibrated")
    parser.add_argument("--go", default="go", help="the go command (default: from PATH)")
    parser.add_argument("--cargo", default="cargo", help="the cargo command")
    parser.add_argument("--crates", default="/usr/share/cargo/registry",
                        help="Debian's crate directory (librust-tokio-dev)")
    parser.add_argument("--nice", type=int, default=default_nice(),
                        help="niceness of the real runs (default -15 as root, else 0)")
    args = parser.parse_args(argv)
    if args.list:
        for name, scenario in SCENARIOS.items():
            print(f"{name:22s} {scenario.runtime:8s} {scenario.about}")
        return 0
    unknown = [s for s in args.scenarios if s not in SCENARIOS]
    if unknown or args.repeat < 1:
        print(f"error: unknown scenario {', '.join(unknown)}; known: {', '.join(SCENARIOS)}"
              if unknown else "error: --repeat must be at least 1", file=sys.stderr)
        return 2
    tools = Toolchains(build_dir=args.out / "build", go=args.go, cargo=args.cargo,
                       crates=args.crates, nice=args.nice)
    if args.calibrate:
        found = probe(tools)
        print(json.dumps(found, indent=1))
        print(f"asyncio's step (a sleep(0) round trip per task; the model's step_overhead "
              f"+ iteration_cost / 10): {found['asyncio_step'] / 1000:g}us; "
              f"a 20 us usleep's overshoot (Go's sysmon; the machine's timer_lateness): "
              f"{found['sleep_20us_p50'] / 1000:g}us; "
              f"timer lateness (the tolerances' floor): mean "
              f"{found['lateness_mean'] / 1e6:.3f}ms, p50 {found['lateness_p50'] / 1e6:.3f}ms,"
              f" p99 {found['lateness_p99'] / 1e6:.3f}ms; a CPU-bound thread loses its core "
              f"for > 0.5 ms {found['spin_gaps_per_s']:.1f} times a second (longest "
              f"{found['spin_gap_max'] / 1e6:.1f} ms)")
        return 0
    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    table = run_validation(args.scenarios or list(SCENARIOS), args.out, args.repeat, tools,
                           log=log)
    with_real = table[table["agree"] != "skipped"]
    print(table.drop(columns=["note"]).to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print(f"\n{(with_real['agree'] == 'yes').sum()}/{len(with_real)} figures agree, "
          f"{(table['agree'] == 'skipped').sum()} skipped; written to {args.out}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
