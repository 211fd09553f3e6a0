"""The task set: drawn once per seed, replayed unchanged under every scheduler.

Tasks are rows of numpy arrays, not Python objects: a class's phase kinds are one small
template, and every task's phase arguments (a duration in ns, or for ``spawn`` the id of
the child task) sit in one flat int64 array. Closed clients and spawned children are drawn
in advance too, so that every scheduler sees the same durations for the same task id; only
their arrival times come out of the run.
"""

from __future__ import annotations

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
)
from .distributions import Const, Distribution
from .phases import BLOCK, CPU, IO, KIND_NAMES, NATIVE, SLEEP, SPAWN, YIELD

_TIMED = {CpuPhase: CPU, IoPhase: IO, SleepPhase: SLEEP, BlockPhase: BLOCK, NativePhase: NATIVE}
NO_ARRIVAL = -1


@dataclass(frozen=True)
class Template:
    """A class's flattened phases: kinds, and per phase a distribution or a spawn target."""

    kinds: tuple[int, ...]
    laws: tuple[Distribution | None, ...]
    targets: tuple[int, ...]  # class index for spawn phases, else -1


def flatten(phases: list, class_index: dict[str, int]) -> Template:
    kinds: list[int] = []
    laws: list[Distribution | None] = []
    targets: list[int] = []

    def walk(items: list) -> None:
        for phase in items:
            if isinstance(phase, RepeatPhase):
                for _ in range(phase.repeat):
                    walk(phase.phases)
            elif isinstance(phase, SpawnPhase):
                kinds.append(SPAWN), laws.append(None), targets.append(class_index[phase.spawn])
            elif phase == "yield":
                kinds.append(YIELD), laws.append(None), targets.append(-1)
            else:
                kind = _TIMED[type(phase)]
                kinds.append(kind), laws.append(getattr(phase, KIND_NAMES[kind]))
                targets.append(-1)

    walk(phases)
    return Template(tuple(kinds), tuple(laws), tuple(targets))


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


def task_work(template: Template, templates: list[Template]) -> float:
    """Expected cpu + native work of one task of this template and all it spawns (ns)."""
    total = 0.0
    for kind, law, target in zip(template.kinds, template.laws, template.targets, strict=True):
        if kind in (CPU, NATIVE):
            total += law.mean
        elif kind == SPAWN:
            total += task_work(templates[target], templates)
    return total


def _spawn_count(template: Template, templates: list[Template]) -> int:
    return sum(1 + _spawn_count(templates[t], templates) for t in template.targets if t >= 0)


def load_factor(cfg: Config, templates: list[Template]) -> float:
    """The factor on open classes' rates that makes offered work per core equal ``load``."""
    if cfg.load is None:
        return 1.0
    offered = _open_work_per_s(cfg, templates, 1.0)
    if offered <= 0:
        raise ConfigError("load: needs at least one open class (poisson or periodic) "
                          "whose tasks do cpu or native work")
    return cfg.load * cfg.machine.cores / offered


def _open_work_per_s(cfg: Config, templates: list[Template], factor: float) -> float:
    total = 0.0
    for (_, cls), template in zip(cfg.workload.items(), templates, strict=True):
        rate = _open_rate(cls)
        if rate:
            total += rate * factor * task_work(template, templates) / 1e9
    return total


def _open_rate(cls: TaskClass) -> float:
    if isinstance(cls.arrival, Poisson):
        return cls.arrival.poisson
    if isinstance(cls.arrival, Periodic):
        return 1e9 / cls.arrival.periodic
    return 0.0


def offered_load(cfg: Config) -> float:
    """Offered cpu + native work of the open classes per second, per core (after ``load``)."""
    templates = _templates(cfg)
    factor = load_factor(cfg, templates)
    return _open_work_per_s(cfg, templates, factor) / cfg.machine.cores


def _templates(cfg: Config) -> list[Template]:
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
    """Accumulates tasks class by class, assigning ids in creation order."""

    def __init__(self, templates: list[Template], max_tasks: int):
        self.templates = templates
        self.max_tasks = max_tasks
        self.count = 0
        self.parts: list[dict[str, np.ndarray]] = []

    def add(self, cls: int, durations: np.ndarray, arrival: np.ndarray,
            think: np.ndarray | None = None) -> np.ndarray:
        n = len(arrival)
        if self.count + n > self.max_tasks:
            raise ConfigError(f"max_tasks: this run would create more than {self.max_tasks} "
                              "tasks; shorten horizon, lower the rates or raise max_tasks")
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


def _closed_client(template: Template, think: Distribution, horizon: int, rng,
                   limit: int) -> tuple[np.ndarray, np.ndarray]:
    """Draw a client's tasks until even an idle machine could not issue the next one
    before ``horizon`` (a task takes at least its demand, so this bounds every model)."""
    timed = [j for j, law in enumerate(template.laws) if law is not None]
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
                raise ConfigError("max_tasks: a closed class's clients would issue more "
                                  "tasks than max_tasks allows (zero think time and zero "
                                  "demand never end); raise think or max_tasks")


def _topological(templates: list[Template]) -> list[int]:
    order: list[int] = []
    seen: set[int] = set()

    def visit(c: int) -> None:
        if c in seen:
            return
        seen.add(c)
        for parent, t in enumerate(templates):
            if c in t.targets:
                visit(parent)
        order.append(c)

    for c in range(len(templates)):
        visit(c)
    return order


def generate(cfg: Config, seed: int | None = None) -> Workload:
    """Draw the task set for ``seed`` (default: the config's seed)."""
    seed = cfg.seed if seed is None else seed
    templates = _templates(cfg)
    factor = load_factor(cfg, templates)
    classes = list(cfg.workload)
    streams = [s.spawn(3) for s in np.random.SeedSequence(seed).spawn(len(classes))]
    rngs = [[np.random.default_rng(s) for s in triple] for triple in streams]
    _check_expected_count(cfg, templates, factor)

    builder = _Builder(templates, cfg.max_tasks)
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
        for _ in range(cls.arrival.closed.clients):
            thinks, rows = _closed_client(templates[c], cls.arrival.closed.think, cfg.horizon,
                                          rngs[c][1], cfg.max_tasks)
            if not len(thinks):
                continue
            ids = builder.add(c, rows, np.full(len(thinks), NO_ARRIVAL), thinks)
            client_first.append(int(ids[0]))
            next_links.extend(zip(ids[:-1].tolist(), ids[1:].tolist(), strict=True))
    # 3. spawned children, parents before children
    for child in _topological(templates):
        slots = [(int(task), j) for part in list(builder.parts)
                 for j, target in enumerate(templates[part["class"]].targets)
                 if target == child for task in part["ids"]]
        if not slots:
            continue
        slots.sort()
        ids = builder.add(child, _draw(templates[child], len(slots), rngs[child][2]),
                          np.full(len(slots), NO_ARRIVAL))
        for (task, j), kid in zip(slots, ids.tolist(), strict=True):
            part = _part_of(builder.parts, task)
            part["durations"][task - part["ids"][0], j] = kid
    return _assemble(cfg, classes, templates, builder, client_first, next_links)


def _part_of(parts: list[dict[str, np.ndarray]], task: int) -> dict[str, np.ndarray]:
    for part in parts:
        if len(part["ids"]) and part["ids"][0] <= task <= part["ids"][-1]:
            return part
    raise KeyError(task)


def check_size(cfg: Config) -> None:
    """Refuse (``ConfigError``) a run expected to create more than ``max_tasks`` tasks."""
    templates = _templates(cfg)
    _check_expected_count(cfg, templates, load_factor(cfg, templates))


def _check_expected_count(cfg: Config, templates: list[Template], factor: float) -> None:
    expected = 0.0
    for c, cls in enumerate(cfg.workload.values()):
        rate = _open_rate(cls) * (factor if not isinstance(cls.arrival, Batch) else 1)
        roots = rate * (cfg.horizon - getattr(cls.arrival, "offset", 0)) / 1e9
        if isinstance(cls.arrival, Batch):
            roots = cls.arrival.batch.count
        expected += roots * (1 + _spawn_count(templates[c], templates))
    if expected > cfg.max_tasks:
        raise ConfigError(f"max_tasks: this run would create about {expected:,.0f} tasks, more "
                          f"than max_tasks={cfg.max_tasks:,}; shorten horizon, lower the "
                          "rates or raise max_tasks")


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
    for part in parts:
        if not len(part["ids"]):
            continue
        template = templates[part["class"]]
        d = part["durations"]
        start = offset[part["ids"][0]]
        args[start:start + d.size] = d.ravel()
        timed = [j for j, k in enumerate(template.kinds) if k not in (YIELD, SPAWN)]
        busy = [j for j, k in enumerate(template.kinds) if k in (CPU, NATIVE)]
        demand[part["ids"]] = d[:, timed].sum(axis=1)
        cpu[part["ids"]] = d[:, busy].sum(axis=1)
    next_in_client = np.full(n, -1, np.int64)
    for a, b in next_links:
        next_in_client[a] = b
    known = np.flatnonzero(arrival >= 0)
    open_order = known[np.lexsort((known, arrival[known]))]
    return Workload(classes, templates, task_class, arrival, offset, args, demand, cpu, think,
                    next_in_client, np.asarray(client_first, np.int64), open_order,
                    cfg.horizon, cfg.warmup)


__all__ = ["Workload", "generate", "offered_load", "Const", "KIND_NAMES"]
