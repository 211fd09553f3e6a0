"""Queueing theory: the models against closed forms, over independent replications.

Each check runs R replications (seeds 1..R), takes one statistic per replication (mean
or p99 latency of the counted tasks) and asks whether the theoretical value lies in the
99.9 % t-interval of those R values: the tolerance is the measured spread between
replications, not a per-task standard error.
"""

import math

import numpy as np
import pytest
from helpers import config, counted, replications, run_scheduler, within_ci
from scipy import stats

SEEDS = range(1, 11)
MEAN_S = 1e-3  # mean service time, seconds


def single_burst(rate: float, burst: str, scheduler: dict, cores: int = 1, **extra):
    return config({"w": {"arrival": {"poisson": f"{rate}/s"}, "phases": [{"cpu": burst}]},
                   **extra},
                  {"s": scheduler}, machine={"cores": cores}, horizon="12s", warmup="2s")


def latency_stat(cfg, stat):
    def one(seed):
        tasks = counted(run_scheduler(cfg, "s", seed)[0])
        latency = tasks["latency"].astype(float) / 1e9
        return latency.mean() if stat == "mean" else latency.quantile(0.99)
    return replications(one, SEEDS)


@pytest.mark.parametrize("model", ["asyncio", "fcfs"])
def test_mm1_mean_and_p99(model):
    """M/M/1 at rho 0.7: sojourn ~ Exp(mu - lambda): mean 1/(mu-lambda), p99 ln(100) x that."""
    lam, mu = 700.0, 1 / MEAN_S
    cfg = single_burst(lam, "exp(1ms)", {"model": model})
    assert within_ci(latency_stat(cfg, "mean"), 1 / (mu - lam))
    assert within_ci(latency_stat(cfg, "p99"), math.log(100) / (mu - lam))


@pytest.mark.parametrize("model", ["asyncio", "fcfs"])
def test_mg1_pollaczek_khinchine(model):
    """M/G/1 with lognormal service (mean 1 ms, cv 2): E[T] = E[S] + lambda E[S^2] / 2(1-rho)."""
    lam, cv = 500.0, 2.0
    es2 = (1 + cv**2) * MEAN_S**2
    rho = lam * MEAN_S
    expected = MEAN_S + lam * es2 / (2 * (1 - rho))
    cfg = single_burst(lam, "lognormal(1ms, 2)", {"model": model})
    assert within_ci(latency_stat(cfg, "mean"), expected)


def test_processor_sharing_is_size_proportional():
    """M/G/1-PS: E[T | x] = x / (1 - rho) for every job size x (here 0.5 ms and 5 ms)."""
    rate_small, rate_large = 800.0, 60.0  # rho = 0.4 + 0.3 = 0.7
    rho = rate_small * 0.5e-3 + rate_large * 5e-3
    classes = {"small": (rate_small, "0.5ms"), "large": (rate_large, "5ms")}
    cfg = config({name: {"arrival": {"poisson": f"{rate}/s"}, "phases": [{"cpu": size}]}
                  for name, (rate, size) in classes.items()},
                 {"s": {"model": "processor_sharing"}}, horizon="12s", warmup="2s")
    per_class = {}
    for seed in SEEDS:
        tasks = counted(run_scheduler(cfg, "s", seed)[0])
        for name, group in tasks.groupby("class", observed=True):
            per_class.setdefault(name, []).append(group["latency"].astype(float).mean() / 1e9)
    assert within_ci(np.asarray(per_class["small"]), 0.5e-3 / (1 - rho))
    assert within_ci(np.asarray(per_class["large"]), 5e-3 / (1 - rho))


def erlang_c_sojourn(lam: float, mu: float, c: int) -> float:
    """Mean sojourn time in M/M/c (Erlang C)."""
    a = lam / mu
    rho = a / c
    tail = a**c / math.factorial(c) / (1 - rho)
    p_wait = tail / (sum(a**k / math.factorial(k) for k in range(c)) + tail)
    return p_wait / (c * mu - lam) + 1 / mu


@pytest.mark.parametrize("cores", [2, 4])
def test_fcfs_on_c_cores_matches_erlang_c(cores):
    lam, mu = 0.8 * cores / MEAN_S, 1 / MEAN_S
    cfg = single_burst(lam, "exp(1ms)", {"model": "fcfs"}, cores=cores)
    assert within_ci(latency_stat(cfg, "mean"), erlang_c_sojourn(lam, mu, cores))


def test_the_checks_can_fail():
    """The interval is not vacuously wide: its half-width is under 10 % of the M/M/1 mean,
    and targets 15 % off fail."""
    lam, mu = 700.0, 1 / MEAN_S
    cfg = single_burst(lam, "exp(1ms)", {"model": "fcfs"})
    values = latency_stat(cfg, "mean")
    assert not within_ci(values, 1.15 / (mu - lam))
    assert not within_ci(values, 0.85 / (mu - lam))
    half = stats.t.ppf(0.9995, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
    assert half / values.mean() < 0.10
