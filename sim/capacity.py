"""What the open classes offer each bottleneck, before anything runs.

A run can be over capacity somewhere other than the cores: one asyncio loop serves its
tasks one step at a time (and a ``block`` phase holds it while no core is busy), a GIL runs
one thread's Python code at a time, a pool has so many threads. ``bottlenecks`` computes,
for every scheduler, the work offered per second to each of them by the open classes
(poisson and periodic, at the rates ``load`` resolves to, spawned children included),
divided by its capacity; at or above 1 its queue grows without bound until ``horizon``.
Batch and closed classes never count: a burst of work that drains is a normal scenario.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd

from .config import Config
from .models.base import SchedulerOptions
from .phases import BLOCK, CPU, IO, NATIVE, SLEEP, SPAWN
from .workload import load_factor, open_rate, templates_of, topological

TIMED = (CPU, IO, SLEEP, BLOCK, NATIVE)
#: A server occupied this share of the window or more is (near) saturated: its queue grows.
SATURATED = 0.95
OFFLOAD = {"block": BLOCK, "native": NATIVE, "cpu": CPU}
# a phase that says ``offload: true``, counted apart: (its kind, FLAGGED)
FLAGGED = "offload: true"


@dataclass(frozen=True)
class Bottleneck:
    """One resource of one scheduler: offered work per second / its capacity."""

    scheduler: str
    resource: str  # what it is, for the message: "one event loop", "the GIL", ...
    what: str  # which work counts, for the message
    load: float

    def message(self, where: str = "") -> str:
        if self.scheduler == "*":
            return (f"warning: {where}open classes offer {self.load:.2f} of the cores' "
                    "capacity: queues grow without bound until horizon; the drain may hit "
                    "drain_limit")
        return (f"warning: {where}scheduler {self.scheduler!r}: open classes offer "
                f"{self.load:.2f} of the capacity of {self.resource} ({self.what}): its queue "
                "grows without bound until horizon; the drain may hit drain_limit")


def open_rates(cfg: Config) -> dict[str, float]:
    """The rate (per second) of every open class after ``load`` scales it."""
    factor = load_factor(cfg, templates_of(cfg))
    return {name: open_rate(cls) * factor for name, cls in cfg.workload.items()
            if open_rate(cls)}


def offered_by_kind(cfg: Config) -> dict:
    """Per phase kind: the open classes' expected work per second (ns/s), children included;
    the phases that say ``offload: true`` under ``(kind, FLAGGED)``, not under their kind."""
    templates = templates_of(cfg)
    keys = [*TIMED, *((k, FLAGGED) for k in TIMED)]
    tree = [dict.fromkeys(keys, 0.0) for _ in templates]  # per class: its task and children
    for c in reversed(topological(templates)):  # children before their parents
        t = templates[c]
        flags = t.offloaded or (False,) * len(t.kinds)
        for kind, law, target, flag in zip(t.kinds, t.laws, t.targets, flags, strict=True):
            if kind in TIMED:
                tree[c][(kind, FLAGGED) if flag else kind] += law.mean
            elif kind == SPAWN:
                for k in keys:
                    tree[c][k] += tree[target][k]
    rates = open_rates(cfg)
    return {k: sum(rates.get(name, 0.0) * tree[c][k] for c, name in enumerate(cfg.workload))
            for k in keys}


def _work(offered: dict, kinds) -> float:
    """Work per second, in seconds, of the given keys (a kind: its phases that do not say
    ``offload: true``; ``(kind, FLAGGED)``: those that do)."""
    return sum(offered[k] for k in kinds) / 1e9


def every(kinds) -> list:
    """The keys of every phase of the given kinds, flagged or not."""
    return [*kinds, *((k, FLAGGED) for k in kinds)]


def _pooled(offload: set[int]) -> list:
    """What a runtime's pool runs: every phase of the kinds its ``offload`` names, and the
    other kinds' phases that say ``offload: true``."""
    return [*every(offload), *((k, FLAGGED) for k in (CPU, NATIVE, BLOCK) if k not in offload)]


def scheduler_bottlenecks(name: str, options: SchedulerOptions, cores: int,
                          offered: dict) -> list[Bottleneck]:
    """The resources of one scheduler other than the cores, each with its offered load."""
    model = options.model
    out: list[Bottleneck] = []
    if model == "asyncio":
        offload = {OFFLOAD[k] for k in options.offload}
        on_loop = [k for k in (CPU, NATIVE, BLOCK) if k not in offload]
        pooled = _pooled(offload)
        loops = options.loops
        out.append(Bottleneck(name, "one event loop", f"cpu, native and block work not "
                              f"offloaded, per loop of {loops}", _work(offered, on_loop) / loops))
        python = [k for k in every([CPU]) if k in pooled]  # cpu on executor threads
        if options.executor == "thread" and _work(offered, python):
            out.append(Bottleneck(name, "the GIL", "cpu work, on the executor's threads, per "
                                  f"loop of {loops}", _work(offered, python) / loops))
        if _work(offered, pooled):
            threads = options.threads(cores)
            pool = "processes" if options.executor == "process" else "threads"
            out.append(Bottleneck(name, "the executor pool", f"offloaded work per loop of {loops},"
                                  f" {threads} {pool} each",
                                  _work(offered, pooled) / loops / threads))
    elif model == "gil_threads":
        if not options.free_threaded:
            out.append(Bottleneck(name, "the GIL", "cpu work", _work(offered, every([CPU]))))
        threads = options.threads
        out.append(Bottleneck(name, "the thread pool", f"every phase of a task holds one of "
                              f"{threads} threads", _work(offered, every(TIMED)) / threads))
    elif model == "tokio":
        offload = {OFFLOAD[k] for k in options.offload}
        workers = options.workers or cores
        on_worker = [k for k in (CPU, NATIVE, BLOCK) if k not in offload]
        pooled = _pooled(offload)
        out.append(Bottleneck(name, "the workers", f"cpu, native and block work not offloaded,"
                              f" over {workers} workers", _work(offered, on_worker) / workers))
        if _work(offered, pooled):
            out.append(Bottleneck(name, "the blocking pool", f"offloaded work over "
                                  f"{options.blocking_threads} threads",
                                  _work(offered, pooled) / options.blocking_threads))
    elif model == "go":
        procs = options.procs(cores)
        if procs < cores:  # (else the cores' own check covers the Ps)
            out.append(Bottleneck(name, "the Ps", f"cpu work over gomaxprocs {procs}",
                                  _work(offered, every([CPU])) / procs))
    return out


def bottlenecks(cfg: Config) -> list[Bottleneck]:
    """Every resource of ``cfg`` offered work at or above its capacity: the cores (scheduler
    ``*``: all of them), then each scheduler's loops, GIL, pools and workers."""
    offered = offered_by_kind(cfg)
    cores = cfg.machine.cores
    found = [Bottleneck("*", f"the {cores} cores", "cpu and native work",
                        _work(offered, every([CPU, NATIVE])) / cores)]
    for name, options in cfg.schedulers.items():
        found += scheduler_bottlenecks(name, options, cores, offered)
    return [b for b in found if b.load >= 1]


def overloads(configs: list[Config]) -> list[Bottleneck]:
    """Every resource over capacity at some point of ``configs``, at its highest load."""
    worst: dict[tuple[str, str], Bottleneck] = {}
    for cfg in configs:
        for b in bottlenecks(cfg):
            key = (b.scheduler, b.resource)
            if key not in worst or b.load > worst[key].load:
                worst[key] = b
    return list(worst.values())


def overload_warnings(found: list[Bottleneck], sweep: bool = False) -> list[str]:
    """One line per resource over capacity (``sweep``: at some of its points)."""
    return [b.message("at some sweep points " if sweep else "") for b in found]


def rates_lines(configs: list[Config]) -> list[str]:
    """For ``--check``: the open classes' rates (after ``load``) as YAML comments, per point."""
    lines = []
    for i, cfg in enumerate(configs):
        rates = ", ".join(f"{name} {_plain(rate)}/s" for name, rate in open_rates(cfg).items())
        where = f"point {i}: " if len(configs) > 1 else ""
        cores = _work(offered_by_kind(cfg), every([CPU, NATIVE])) / cfg.machine.cores
        lines.append(f"# {where}open class rates{' after load' if cfg.load is not None else ''}:"
                     f" {rates or 'none'} (cpu + native work: {_plain(cores)} of the cores)")
    return lines


def _plain(value: float) -> str:
    """A rate or a fraction for the terminal: thousands separators and up to 6 decimals,
    never ``1e+06``."""
    text = f"{value:,.6f}".rstrip("0")
    return text.removesuffix(".")


def occupancy_warnings(summary: pd.DataFrame, warned: Iterable[str] = (),
                       threshold: float = SATURATED) -> list[str]:
    """One line per scheduler whose busiest loop, worker, P or GIL was occupied (busy or
    blocked) at least ``threshold`` of the measured window while the cores were not (a
    machine that is busy throughout is the load's doing, not a hidden bottleneck's), at
    its highest over the runs; not for the schedulers in ``warned`` (already warned of
    before the run: one cause, one line)."""
    rows = summary[(summary["class"] == "all") & (summary["occupancy"] >= threshold)
                   & (summary["utilisation"] < threshold)]
    lines = []
    for name, runs in rows.groupby("scheduler", sort=False):
        if name in warned:
            continue
        worst = runs.loc[runs["occupancy"].idxmax()]
        lines.append(f"warning: scheduler {name!r}: its busiest loop, worker, P or GIL was "
                     f"occupied {worst['occupancy']:.0%} of the measured window while the "
                     f"cores were {worst['utilisation']:.0%} busy (the occupancy column: busy "
                     "or blocked in a call): a bottleneck the cores do not show")
    return lines
