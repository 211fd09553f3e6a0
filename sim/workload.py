"""The task set: drawn once per seed, replayed unchanged under every scheduler.

Tasks are rows of numpy arrays, not Python objects: a class's phase kinds are one small
template, and every task's phase arguments (a duration in ns, or for ``spawn`` the id of
the child task) sit in one flat int64 array. Closed clients and spawned children are drawn
in advance too, so that every scheduler sees the same durations for the same task id; only
their arrival times come out of the run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .config import (
    Batch,
    BlockPhase,
    Closed,
    Config,
    ConfigError,
    CpuPhase,
    IoPhase,
    NativePhase,
    Periodic,
    Poisson,
    RepeatPhase,
    SleepPhase,
    SpawnPhase,
    TaskClass,
    key_path,
)
from .distributions import Const, Distribution
from .phases import BLOCK, CPU, IO, KIND_NAMES, NATIVE, SLEEP, SPAWN, YIELD

_TIMED = {CpuPhase: CPU, IoPhase: IO, SleepPhase: SLEEP, BlockPhase: BLOCK, NativePhase: NATIVE}
NO_ARRIVAL = -1
# Phase arguments of a run in all (tasks x their phases): the engine holds each as a Python
# int in a list, about 40 bytes, so the bound keeps that near 4 GB.
MAX_PHASE_ARGS = 100_000_000


@dataclass(frozen=True)
class Template:
    """A class's flattened phases: kinds, and per phase a distribution or a spawn target."""

    kinds: tuple[int, ...]
    laws: tuple[Distribution | None, ...]
    targets: tuple[int, ...]  # class index for spawn phases, else -1
    offloaded: tuple[bool, ...] = ()  # per phase: ``offload: true`` (empty: none is)


def flatten(phases: list, class_index: dict[str, int]) -> Template:
    kinds: list[int] = []
    laws: list[Distribution | None] = []
    targets: list[int] = []
    offloaded: list[bool] = []

    def walk(items: list) -> None:
        for phase in items:
            if isinstance(phase, RepeatPhase):
                for _ in range(phase.repeat):
                    walk(phase.phases)
            elif isinstance(phase, SpawnPhase):
                kinds.append(SPAWN), laws.append(None), targets.append(class_index[phase.spawn])
                offloaded.append(False)
            elif phase == "yield":
                kinds.append(YIELD), laws.append(None), targets.append(-1)
                offloaded.append(False)
            else:
                kind = _TIMED[type(phase)]
                kinds.append(kind), laws.append(getattr(phase, KIND_NAMES[kind]))
                targets.append(-1)
                offloaded.append(getattr(phase, "offload", False))

    walk(phases)
    return Template(tuple(kinds), tuple(laws), tuple(targets),
                    tuple(offloaded) if any(offloaded) else ())


@dataclass
class Workload:
    """One run's tasks. ``arrival`` is -1 where the run decides it (closed, spawned)."""

    classes: list[str]
    templates: list[Template]
    task_class: np.ndarray  # int32 [n]
    arrival: np.ndarray  # int64 [n]
    offset: np.ndarray  # int64 [n]: first phase argument of each task in ``args``
    args: np.ndarray  # int64: durations (ns), or child task id for spawn phases
    demand: np.ndarray  # int64 [n]: sum of the task's phase durations
    cpu: np.ndarray  # int64 [n]: its cpu + native time
    think: np.ndarray  # int64 [n]: think time before a closed task is issued
    next_in_client: np.ndarray  # int64 [n]: the client's next task, or -1
    client_first: np.ndarray  # int64 [clients]: each closed client's first task
    open_order: np.ndarray  # int64: tasks with a known arrival, in arrival order
    horizon: int
    warmup: int

    @property
    def n(self) -> int:
        return len(self.task_class)

    def phases(self, task: int) -> list[tuple[str, int]]:
        """The task's phases as (kind name, argument): for reading and tests, not the hot path."""
        template = self.templates[self.task_class[task]]
        start = self.offset[task]
        return [(KIND_NAMES[k], int(self.args[start + i])) for i, k in enumerate(template.kinds)]


def _parents(templates: list[Template]) -> list[list[int]]:
    """Each class's spawning classes, in class order."""
    parents: list[list[int]] = [[] for _ in templates]
    for p, template in enumerate(templates):
        for child in sorted({t for t in template.targets if t >= 0}):
            parents[child].append(p)
    return parents


def topological(templates: list[Template]) -> list[int]:
    """Classes with every spawning class before the classes it spawns (a depth-first walk
    up the parents, in class order; iterative, so a long spawn chain cannot overflow the
    stack)."""
    parents = _parents(templates)
    order: list[int] = []
    seen = [False] * len(templates)
    for root in range(len(templates)):
        if seen[root]:
            continue
        seen[root] = True
        stack = [(root, iter(parents[root]))]
        while stack:
            c, pending = stack[-1]
            for p in pending:
                if not seen[p]:
                    seen[p] = True
                    stack.append((p, iter(parents[p])))
                    break
            else:
                stack.pop()
                order.append(c)
    return order


def _trees(templates: list[Template]) -> tuple[list[float], list[float]]:
    """Per class, what one of its tasks brings with everything it spawns, transitively: the
    number of tasks (itself included) and their expected cpu + native work (ns). Children
    come first, so each class is summed once: linear in classes and phases. Floats, so a
    deep wide tree gives inf (compared as such) rather than a huge integer."""
    tasks, work = [1.0] * len(templates), [0.0] * len(templates)
    for c in reversed(topological(templates)):
        t = templates[c]
        for kind, law, target in zip(t.kinds, t.laws, t.targets, strict=True):
            if kind in (CPU, NATIVE):
                work[c] += law.mean
            elif kind == SPAWN:
                tasks[c] += tasks[target]
                work[c] += work[target]
    return tasks, work


def load_factor(cfg: Config, templates: list[Template]) -> float:
    """The factor on open classes' rates that makes offered work per core equal ``load``."""
    if cfg.load is None:
        return 1.0
    offered = _open_work_per_s(cfg, templates, 1.0)
    if offered <= 0:
        raise ConfigError("load: needs at least one open class (poisson or periodic) "
                          "whose tasks do cpu or native work")
    factor = cfg.load * cfg.machine.cores / offered
    if not 0 < factor < math.inf:
        raise ConfigError(f"load: the open classes offer {offered:.3g} ns of work per second; "
                          "no rate can scale that to the load asked for")
    return factor


def _open_work_per_s(cfg: Config, templates: list[Template], factor: float) -> float:
    _, work = _trees(templates)
    total = 0.0
    for c, cls in enumerate(cfg.workload.values()):
        rate = open_rate(cls)
        if rate:
            total += rate * factor * work[c] / 1e9
    return total


def open_rate(cls: TaskClass) -> float:
    """Arrivals per second of an open class as written (before ``load``); 0 for closed."""
    if isinstance(cls.arrival, Poisson):
        return cls.arrival.poisson
    if isinstance(cls.arrival, Periodic):
        return 1e9 / cls.arrival.periodic
    return 0.0


def offered_load(cfg: Config) -> float:
    """Offered cpu + native work of the open classes per second, per core (after ``load``)."""
    templates = templates_of(cfg)
    factor = load_factor(cfg, templates)
    return _open_work_per_s(cfg, templates, factor) / cfg.machine.cores


def templates_of(cfg: Config) -> list[Template]:
    """Each class's phases unrolled (repeats expanded, spawn targets as class indices)."""
    index = {name: i for i, name in enumerate(cfg.workload)}
    return [flatten(cls.phases, index) for cls in cfg.workload.values()]


def _open_arrivals(cls: TaskClass, factor: float, horizon: int, rng) -> np.ndarray:
    arrival = cls.arrival
    if isinstance(arrival, Poisson):
        rate_per_ns = arrival.poisson * factor / 1e9
        if rate_per_ns <= 0:
            return np.empty(0, dtype=np.int64)
        expected = rate_per_ns * horizon
        chunks, last = [], 0.0
        while last < horizon:
            size = int(expected + 6 * np.sqrt(expected) + 16)
            times = last + np.cumsum(rng.exponential(1 / rate_per_ns, size))
            chunks.append(times)
            last = times[-1]
        times = np.concatenate(chunks)
        return np.floor(times[times < horizon]).astype(np.int64)
    if isinstance(arrival, Periodic):
        period = arrival.periodic / factor
        count = max(0, int(np.ceil((horizon - arrival.offset) / period)))
        times = np.floor(arrival.offset + period * np.arange(count)).astype(np.int64)
        return times[times < horizon]
    if isinstance(arrival, Batch):
        return np.full(arrival.batch.count, arrival.batch.at, dtype=np.int64)
    return np.empty(0, dtype=np.int64)


class _Builder:
    """Accumulates tasks class by class, assigning ids in creation order. ``limit`` is a
    safety net only: ``check_size`` admits a run from its expected size, and the draws
    scatter around that, so the net sits at twice ``max_tasks``."""

    def __init__(self, templates: list[Template], limit: int):
        self.templates = templates
        self.limit = limit
        self.count = 0
        self.parts: list[dict[str, np.ndarray]] = []

    def add(self, cls: int, durations: np.ndarray, arrival: np.ndarray,
            think: np.ndarray | None = None) -> np.ndarray:
        n = len(arrival)
        if self.count + n > self.limit:
            raise ConfigError(f"max_tasks: this run drew more than {self.limit:,} tasks, twice "
                              "max_tasks, though its expected size was below max_tasks; "
                              "shorten horizon or lower the rates")
        ids = np.arange(self.count, self.count + n, dtype=np.int64)
        self.count += n
        self.parts.append({"ids": ids, "class": cls, "cls": np.full(n, cls, dtype=np.int32),
                           "arrival": arrival.astype(np.int64), "durations": durations,
                           "think": np.zeros(n, np.int64) if think is None else think})
        return ids


def _draw(template: Template, n: int, rng) -> np.ndarray:
    """An [n, phases] matrix of phase arguments (spawn children filled in later)."""
    out = np.zeros((n, len(template.kinds)), dtype=np.int64)
    for j, law in enumerate(template.laws):
        if law is not None:
            out[:, j] = law.sample(rng, n)
    return out


def _closed_client(template: Template, timed: list[int], think: Distribution, horizon: int,
                   rng, limit: int) -> tuple[np.ndarray, np.ndarray]:
    """Draw a client's tasks until even an idle machine could not issue the next one
    before ``horizon`` (a task takes at least its demand, so this bounds every model).
    ``timed``: the template's phases that take time."""
    thinks, rows, elapsed = [], [], 0
    while True:
        chunk = 64
        t = think.sample(rng, chunk)
        d = _draw(template, chunk, rng)
        demand = d[:, timed].sum(axis=1)
        for i in range(chunk):
            issue = elapsed + int(t[i])
            if issue >= horizon:
                return np.asarray(thinks, dtype=np.int64), np.asarray(rows).reshape(
                    -1, len(template.kinds)).astype(np.int64)
            thinks.append(int(t[i]))
            rows.append(d[i])
            elapsed = issue + int(demand[i])
            if len(rows) > limit:
                raise ConfigError(f"max_tasks: a closed client drew more than {limit:,} "
                                  "tasks; raise think or shorten horizon")


def generate(cfg: Config, seed: int | None = None) -> Workload:
    """Draw the task set for ``seed`` (default: the config's seed)."""
    seed = cfg.seed if seed is None else seed
    templates, factor = _sized(cfg)
    classes = list(cfg.workload)
    streams = [s.spawn(3) for s in np.random.SeedSequence(seed).spawn(len(classes))]
    rngs = [[np.random.default_rng(s) for s in triple] for triple in streams]

    limit = 2 * cfg.max_tasks  # the estimate decides (check_size); this is a safety net
    builder = _Builder(templates, limit)
    # 1. open classes (each class's arrivals are already in time order)
    for c, cls in enumerate(cfg.workload.values()):
        times = _open_arrivals(cls, factor, cfg.horizon, rngs[c][0])
        builder.add(c, _draw(templates[c], len(times), rngs[c][1]), times)
    # 2. closed clients, drawn until they could no longer issue before horizon
    client_first: list[int] = []
    next_links: list[tuple[int, int]] = []
    for c, cls in enumerate(cfg.workload.values()):
        if not isinstance(cls.arrival, Closed):
            continue
        timed = [j for j, law in enumerate(templates[c].laws) if law is not None]
        for _ in range(cls.arrival.closed.clients):
            thinks, rows = _closed_client(templates[c], timed, cls.arrival.closed.think,
                                          cfg.horizon, rngs[c][1], limit)
            if not len(thinks):
                continue
            ids = builder.add(c, rows, np.full(len(thinks), NO_ARRIVAL), thinks)
            client_first.append(int(ids[0]))
            next_links.extend(zip(ids[:-1].tolist(), ids[1:].tolist(), strict=True))
    # 3. spawned children, parents before children; a child's ids follow its parents'
    #    (task id, phase) order
    by_class: list[list[dict]] = [[] for _ in classes]
    for part in builder.parts:
        by_class[part["class"]].append(part)
    columns = [{} for _ in classes]  # parent class -> {child class: its spawn phases}
    for p, template in enumerate(templates):
        for j, target in enumerate(template.targets):
            if target >= 0:
                columns[p].setdefault(target, []).append(j)
    parents = _parents(templates)
    for child in topological(templates):
        blocks = [(part, j) for p in parents[child] for part in by_class[p]
                  for j in columns[p][child]]
        tasks = np.concatenate([part["ids"] for part, _ in blocks] or [np.empty(0, np.int64)])
        if not len(tasks):
            continue
        phase = np.concatenate([np.full(len(part["ids"]), j) for part, j in blocks])
        ids = builder.add(child, _draw(templates[child], len(tasks), rngs[child][2]),
                          np.full(len(tasks), NO_ARRIVAL))
        by_class[child].append(builder.parts[-1])
        kids = np.empty(len(tasks), np.int64)
        kids[np.lexsort((phase, tasks))] = ids
        start = 0
        for part, j in blocks:
            part["durations"][:, j] = kids[start:start + len(part["ids"])]
            start += len(part["ids"])
    return _assemble(cfg, classes, templates, builder, client_first, next_links)


def check_size(cfg: Config) -> None:
    """Refuse (``ConfigError``) a run too big to allocate, from the config alone."""
    _sized(cfg)


def _sized(cfg: Config) -> tuple[list[Template], float]:
    """The templates and load factor of a run that fits: every class's spawn tree, the
    expected tasks (open, batch, closed and spawned) against ``max_tasks`` and their phases
    against ``MAX_PHASE_ARGS`` are checked before anything is drawn."""
    templates = templates_of(cfg)  # Config validation bounds the phases they unroll to
    tree, _ = _trees(templates)
    for c, (name, cls) in enumerate(cfg.workload.items()):
        if cls.arrival != "spawned" and not tree[c] <= cfg.max_tasks:
            where = key_path("workload", name, "phases")
            raise ConfigError(f"{where}: one task and the tasks it spawns, "
                              f"transitively, would be {_about(tree[c])} tasks, more than "
                              f"max_tasks={cfg.max_tasks:,}")
    factor = load_factor(cfg, templates)
    count = [_roots(cfg, name, cls, templates[c], factor)
             for c, (name, cls) in enumerate(cfg.workload.items())]
    for c in topological(templates):  # parents first: a class's count is final here
        for target in templates[c].targets:
            if target >= 0:
                count[target] += count[c]
    expected = sum(count)
    if not expected <= cfg.max_tasks:
        raise ConfigError(f"max_tasks: this run would create {_about(expected)} tasks, more "
                          f"than max_tasks={cfg.max_tasks:,}; shorten horizon, lower the "
                          "rates or raise max_tasks")
    args = sum(n * len(t.kinds) for n, t in zip(count, templates, strict=True))
    if not args <= MAX_PHASE_ARGS:
        raise ConfigError(f"workload: this run would draw {_about(args)} phases in all "
                          f"(tasks x their phases), more than {MAX_PHASE_ARGS:,}; shorten "
                          "horizon, lower the rates or use fewer phases")
    return templates, factor


def _about(count: float) -> str:
    """An expected count for a message (it may have overflowed to inf)."""
    if count < 1e15:
        return f"about {count:,.0f}"
    return f"about {count:.2g}" if math.isfinite(count) else "more than 1e308"


def _roots(cfg: Config, name: str, cls: TaskClass, template: Template, factor: float) -> float:
    """The tasks a class is expected to create itself (not counting what they spawn)."""
    arrival = cls.arrival
    if isinstance(arrival, Batch):
        return float(arrival.batch.count)
    if isinstance(arrival, Closed):
        demand = sum(law.mean for law in template.laws if law is not None)
        cycle = arrival.closed.think.mean + demand
        if cycle <= 0:
            where = key_path("workload", name, "arrival", "closed", "think")
            raise ConfigError(f"{where}: zero think time and "
                              "zero demand: each client would issue tasks without end")
        return arrival.closed.clients * (1 + cfg.horizon / cycle)  # a task at least per cycle
    span = max(0, cfg.horizon - getattr(arrival, "offset", 0))
    return open_rate(cls) * factor * span / 1e9


def _assemble(cfg, classes, templates, builder, client_first, next_links) -> Workload:
    parts = builder.parts
    n = builder.count
    task_class = np.zeros(n, np.int32)
    arrival = np.full(n, NO_ARRIVAL, np.int64)
    think = np.zeros(n, np.int64)
    width = np.zeros(n, np.int64)
    for part in parts:
        ids = part["ids"]
        task_class[ids] = part["cls"]
        arrival[ids] = part["arrival"]
        think[ids] = part["think"]
        width[ids] = part["durations"].shape[1]
    offset = np.zeros(n, np.int64)
    np.cumsum(width[:-1], out=offset[1:])
    args = np.zeros(int(width.sum()), np.int64)
    demand = np.zeros(n, np.int64)
    cpu = np.zeros(n, np.int64)
    timed = [[j for j, k in enumerate(t.kinds) if k not in (YIELD, SPAWN)] for t in templates]
    busy = [[j for j, k in enumerate(t.kinds) if k in (CPU, NATIVE)] for t in templates]
    for part in parts:
        if not len(part["ids"]):
            continue
        d = part["durations"]
        start = offset[part["ids"][0]]
        args[start:start + d.size] = d.ravel()
        demand[part["ids"]] = d[:, timed[part["class"]]].sum(axis=1)
        cpu[part["ids"]] = d[:, busy[part["class"]]].sum(axis=1)
    next_in_client = np.full(n, -1, np.int64)
    for a, b in next_links:
        next_in_client[a] = b
    known = np.flatnonzero(arrival >= 0)
    open_order = known[np.lexsort((known, arrival[known]))]
    return Workload(classes, templates, task_class, arrival, offset, args, demand, cpu, think,
                    next_in_client, np.asarray(client_first, np.int64), open_order,
                    cfg.horizon, cfg.warmup)


__all__ = ["Workload", "generate", "offered_load", "Const", "KIND_NAMES"]
