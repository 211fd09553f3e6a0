"""Schedulers against a baseline, on the same tasks (``--baseline``, ``comparison.csv``).

Every scheduler of a run replays the same task set, so a ratio to the baseline's figure is
paired: it compares schedulers, not task draws. Per scheduler x point x class, the ratio of
p50 and p99 latency and of throughput to the baseline's, at each replication (same seed,
same tasks); over R > 1 replications the estimate is the geometric mean of the R ratios and
its 95 % interval the Student t-interval on their logarithms, exp(mean ± t(R-1) s / sqrt(R))
(ratios multiply, so they are averaged as logarithms; the interval of a ratio is then never
negative and 1/x of the reverse comparison's). One replication: the ratio, no interval.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .metrics import SUMMARY_COLUMNS

#: summary column -> the name of its ratio in comparison.csv
RATIOS = {"latency_p50_ms": "latency_p50", "latency_p99_ms": "latency_p99",
          "throughput_per_s": "throughput"}
KEYS = ["point", "replication", "class"]


def comparison(summary: pd.DataFrame, baseline: str, confidence: float = 0.95) -> pd.DataFrame:
    """Per scheduler x point x class (in the summary's order): ``<ratio>_ratio``, and
    ``_ci_low``, ``_ci_high`` (NaN with one replication), for each of ``RATIOS``. A ratio
    whose figures are not both positive (no task finished) is NaN and left out."""
    from .outputs import t_quantile  # (outputs imports this module)

    swept = [c for c in summary.columns if c not in SUMMARY_COLUMNS]
    base = summary[summary["scheduler"] == baseline].set_index(KEYS)[list(RATIOS)]
    joined = summary.merge(base, how="left", left_on=KEYS, right_index=True,
                           suffixes=("", "_base"))
    logs = pd.DataFrame({"scheduler": joined["scheduler"], "point": joined["point"],
                         "class": joined["class"]})
    for column, name in RATIOS.items():
        value, ref = joined[column].to_numpy(float), joined[f"{column}_base"].to_numpy(float)
        with np.errstate(divide="ignore", invalid="ignore"):
            ok = (value > 0) & (ref > 0) & np.isfinite(value) & np.isfinite(ref)
            logs[name] = np.where(ok, np.log(value / np.where(ok, ref, 1)), np.nan)
    groups = logs.groupby(["scheduler", "point", "class"], sort=False)
    out = groups.size().rename("replications").reset_index()
    first = summary.groupby(["scheduler", "point", "class"], sort=False)[swept].first()
    out = out.join(first, on=["scheduler", "point", "class"])
    out.insert(1, "baseline", baseline)
    out = out[["scheduler", "baseline", "point", *swept, "class", "replications"]]
    stats = groups[list(RATIOS.values())].agg(["mean", "std", "count"])
    for name in RATIOS.values():
        mean = stats[(name, "mean")].to_numpy(float)
        count = stats[(name, "count")].to_numpy()
        t = np.array([t_quantile(0.5 + confidence / 2, n - 1) if n > 1 else np.nan
                      for n in count])
        half = t * stats[(name, "std")].to_numpy(float) / np.sqrt(np.maximum(count, 1))
        out[f"{name}_ratio"] = np.exp(mean)
        out[f"{name}_ratio_ci_low"] = np.exp(mean - half)
        out[f"{name}_ratio_ci_high"] = np.exp(mean + half)
    return out


#: below this many replications a ratio's t-interval is wide enough to need saying so
FEW_REPLICATIONS = 5


def few_replications_note(comparison_: pd.DataFrame, confidence: float = 0.95) -> list[str]:
    """One line when the ratios' intervals rest on 2 to ``FEW_REPLICATIONS - 1``
    replications (at the fewest): Student's t with so few degrees of freedom puts the
    bounds many standard errors out (12.7 at two replications), and an interval such as
    [0.00, 3353] reads like a fault when it is the arithmetic."""
    from .outputs import t_quantile

    fewest = int(comparison_["replications"].min()) if len(comparison_) else 0
    if not 2 <= fewest < FEW_REPLICATIONS:
        return []
    t = t_quantile(0.5 + confidence / 2, fewest - 1)
    wide = t_quantile(0.5 + confidence / 2, FEW_REPLICATIONS - 1)
    return [f"note: the ratios' {confidence:.0%} intervals rest on {fewest} replications: "
            f"Student's t with {fewest - 1} degree{'s' if fewest > 2 else ''} of freedom "
            f"puts their bounds {t:.1f} standard errors out ({wide:.1f} at "
            f"{FEW_REPLICATIONS}), so they are wide; more replications "
            "(sweep.replications) narrow them"]


#: comparison column -> its terminal header (the baseline's name is appended)
SHOWN = {"latency_p50": "p50", "latency_p99": "p99", "throughput": "tput"}


def ratio_labels(comparison_: pd.DataFrame, rows: pd.DataFrame) -> pd.DataFrame:
    """For the terminal: one text column per ratio (``0.52x``, or ``0.52x [0.48, 0.57]``
    with an interval), aligned with ``rows`` (which have scheduler, point and class)."""
    baseline = comparison_["baseline"].iloc[0] if len(comparison_) else ""
    labels = comparison_[["scheduler", "point", "class"]].copy()
    for name, short in SHOWN.items():
        ratio, low, high = (comparison_[f"{name}_ratio{s}"].to_numpy(float)
                            for s in ("", "_ci_low", "_ci_high"))
        labels[f"{short} vs {baseline}"] = [_label(r, lo, hi)
                                            for r, lo, hi in zip(ratio, low, high, strict=True)]
    keys = rows[["scheduler", "point", "class"]].astype({"class": str})
    merged = keys.merge(labels.astype({"class": str}), on=["scheduler", "point", "class"],
                        how="left")
    return merged.drop(columns=["scheduler", "point", "class"]).fillna("")


def _label(ratio: float, low: float, high: float) -> str:
    if np.isnan(ratio):
        return "-"
    if np.isnan(low):
        return f"{ratio:.2f}x"
    return f"{ratio:.2f}x [{low:.2f}, {high:.2f}]"
