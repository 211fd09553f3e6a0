"""``python -m sim CONFIG [key=value ...]``: run, print a table, write results.

Bad input ends with one line naming the key path and exit status 2, before anything is
written; a run that fails for another reason exits 1.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .config import ConfigError, load_config
from .models import MODELS
from .outputs import dump_config, table, write_results
from .runner import run
from .workload import check_size, offered_load

EXIT_BAD_INPUT = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's own errors: one line, exit 2
        self.exit(EXIT_BAD_INPUT, f"error: {message} (see python -m sim --help)\n")


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m sim", description=__doc__.split("\n")[0])
    p.add_argument("config", nargs="?", help="the YAML config (see configs/)")
    p.add_argument("overrides", nargs="*", metavar="key=value",
                   help="dotted overrides, e.g. horizon=5s schedulers.rr.quantum=2ms")
    p.add_argument("--out", type=Path, help="output folder (default: the config's output)")
    p.add_argument("--check", action="store_true",
                   help="validate and print the resolved config without running")
    p.add_argument("--list-models", action="store_true", help="list models and their options")
    p.add_argument("--quiet", action="store_true", help="no table and no progress bar")
    return p


def list_models() -> str:
    lines = []
    for name, cls in MODELS.items():
        doc = (cls.__doc__ or "").strip().split("\n")[0]
        lines.append(f"{name}: {doc}")
        defaults = cls.Options(model=name).model_dump(mode="json")
        for field, info in cls.Options.model_fields.items():
            if field != "model":
                note = f": {info.description}" if info.description else ""
                lines.append(f"    {field} (default {defaults[field]}){note}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_intermixed_args(argv)
    if args.list_models:
        print(list_models())
        return 0
    if not args.config:
        print("error: give a config file, e.g. python -m sim configs/quickstart.yaml",
              file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        cfg = load_config(args.config, args.overrides)
        check_size(cfg)
        load = offered_load(cfg)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.check:
        print(dump_config(cfg), end="")
        return 0
    if load >= 1:
        print(f"warning: open classes offer {load:.2f} of the cores' capacity: queues grow "
              "without bound until horizon; the drain may hit drain_limit", file=sys.stderr)
    out = args.out or cfg.output_dir
    try:
        result = run(cfg, progress=None if not args.quiet else False)
    except ConfigError as exc:  # a sweep point whose values make no valid config
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    write_results(cfg, result, out)
    if not args.quiet:
        print(table(result.summary))
        print(f"\nresults in {out}/")
    return 0
