"""How a validation's verdicts rest on the real runs they were judged on.

    python -m sim.validate --repeat 20 --out OUT
    python3.11 docs/runtime-notes/verdict_subsets.py OUT [--k 5]

Reads OUT/validation.csv and OUT/validation_runs.csv and judges every figure again with
the validation's own rule (``sim.validate.harness.judge``, the same timer-lateness part)
on subsets of k of the N real runs (every subset, or 2,000 drawn when there are more):

- *simulated*: against the simulated seeds, as ``python -m sim.validate --repeat k``
  would have judged it had it run those k;
- *real against real*: against the N - k real runs left out, in the simulated side's
  place: how often the rule fails reality itself;
- *no spread*: against the left-out runs' median alone: how often the rule fails a model
  exactly right on average whose seeds do not move the figure (as the simulator's often
  do not, where the machine moves the real runs).

Then, per figure, the share of subsets in which it disagrees: near 1 is a gap the runs
agree on, a small share is the rule's chance.
"""

from __future__ import annotations

import argparse
import itertools
import math
from pathlib import Path

import numpy as np
import pandas as pd

from sim.validate.harness import judge, spread

MOST = 2000  # subsets judged at most (drawn at random beyond it)


def load(out: Path) -> pd.DataFrame:
    """A row per judged figure: its real and simulated runs and its timer-lateness part
    (the tolerance less both sides' spreads)."""
    table = pd.read_csv(out / "validation.csv")
    runs = pd.read_csv(out / "validation_runs.csv")
    values = runs.groupby(["scenario", "metric", "side"])["value"].agg(list).unstack("side")
    rows = table[table["agree"] != "skipped"].set_index(["scenario", "metric"])
    rows = rows[["tolerance"]].join(values)
    rows["floor"] = [t - spread(r) - spread(s) for t, r, s in
                     zip(rows["tolerance"], rows["real"], rows["simulated"], strict=True)]
    return rows[["real", "simulated", "floor"]]


def subsets(n: int, k: int, seed: int = 1) -> list[tuple[int, ...]]:
    if math.comb(n, k) <= MOST:
        return list(itertools.combinations(range(n), k))
    rng = np.random.default_rng(seed)
    return [tuple(sorted(rng.choice(n, k, replace=False))) for _ in range(MOST)]


def verdicts(rows: pd.DataFrame, k: int) -> dict[str, np.ndarray]:
    """Each way of judging: a figure by subset array of verdicts."""
    found: dict[str, list[list[str]]] = {"simulated": [], "real against real": [],
                                         "no spread": []}
    for real, simulated, least in rows.itertuples(index=False):
        real = np.asarray(real)
        picks = subsets(len(real), k)
        chosen = [list(real[list(pick)]) for pick in picks]
        rest = [list(np.delete(real, list(pick))) for pick in picks]
        found["simulated"].append([judge(c, simulated, least)["agree"] for c in chosen])
        found["real against real"].append(
            [judge(c, r, least)["agree"] for c, r in zip(chosen, rest, strict=True)])
        found["no spread"].append(
            [judge(c, [float(np.median(r))], least)["agree"]
             for c, r in zip(chosen, rest, strict=True)])
    return {way: np.array(v, dtype=object) for way, v in found.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--k", type=int, default=5, help="real runs in a subset (5)")
    args = parser.parse_args()
    missing = [name for name in ("validation.csv", "validation_runs.csv")
               if not (args.out / name).is_file()]
    if missing:
        raise SystemExit(f"{args.out} has no {' or '.join(missing)} (python -m sim.validate "
                         "--out DIR writes both)")
    rows = load(args.out)
    n = min(len(r) for r in rows["real"])
    if n <= args.k:
        raise SystemExit(f"{args.out} has {n} real runs a figure: --k must be fewer")
    rows["real"] = [r[:n] for r in rows["real"]]
    judged = verdicts(rows, args.k)
    print(f"{len(rows)} figures, {n} real runs each, judged on {args.k} of them "
          f"({len(subsets(n, args.k))} subsets)")
    for way, v in judged.items():
        no = (v == "no").sum(axis=0)
        informative = (v != "uninformative").sum(axis=0)
        print(f"  {way:18s} disagreeing p10/p50/p90 {np.percentile(no, [10, 50, 90])} "
              f"(min {no.min()}, max {no.max()}) of informative p50 {np.median(informative):g}")
    print("\nfigures disagreeing in any subset: share disagreeing (simulated / real "
          "against real / no spread), share uninformative; real and simulated medians")
    share = {way: (v == "no").mean(axis=1) for way, v in judged.items()}
    uninformative = (judged["simulated"] == "uninformative").mean(axis=1)
    for i, ((scenario, metric), row) in enumerate(rows.iterrows()):
        if any(s[i] for s in share.values()):
            print(f"  {scenario:20s} {metric:24s} "
                  + " / ".join(f"{s[i]:.2f}" for s in share.values())
                  + f"  {uninformative[i]:.2f}  {np.median(row['real']):.4g} / "
                    f"{np.median(row['simulated']):.4g}")


if __name__ == "__main__":
    main()
