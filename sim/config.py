"""The config: YAML in, a validated and resolved ``Config`` out (DESIGN section 2).

Everything a user can get wrong is caught here and reported as one ``ConfigError`` whose
message names the key path (``schedulers.go.gomaxprocs: ...``); the CLI turns it into
exit status 2 before anything is written.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import (
    Discriminator,
    Field,
    PrivateAttr,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from .distributions import Const
from .models import MODELS
from .schema import (
    MAX_CLIENTS,
    MAX_CORES,
    MAX_REPLICATIONS,
    MAX_SEED,
    MAX_TASKS,
    Count,
    Dist,
    Duration,
    Load,
    Rate,
    StrictModel,
    Time,
)
from .units import MAX_PHASES, MAX_TIME, format_duration

PHASE_KINDS = ("cpu", "io", "sleep", "block", "native")
DEFAULT_OUTPUT_DIR = "results"


class ConfigError(ValueError):
    """Bad input: the message names the key path. The CLI exits 2 on it."""


# --- phases -------------------------------------------------------------------------------


class CpuPhase(StrictModel):
    cpu: Dist


class IoPhase(StrictModel):
    io: Dist


class SleepPhase(StrictModel):
    sleep: Dist


class BlockPhase(StrictModel):
    block: Dist


class NativePhase(StrictModel):
    native: Dist


class SpawnPhase(StrictModel):
    spawn: str


class RepeatPhase(StrictModel):
    repeat: Count(MAX_PHASES)  # a class flattens to at most MAX_PHASES phases in all
    phases: list[Phase] = Field(min_length=1)


_PHASE_TAGS = {*PHASE_KINDS, "spawn", "repeat"}


def _phase_tag(value: Any) -> str | None:
    if isinstance(value, StrictModel):  # serialising a validated phase
        return "phase:" + next(iter(type(value).model_fields))
    if value == "yield":
        return "phase:yield"
    if isinstance(value, dict):
        keys = set(value) & _PHASE_TAGS
        if "repeat" in keys:
            return "phase:repeat"
        if len(keys) == 1:
            return "phase:" + keys.pop()
    return None


Phase = Annotated[
    Annotated[CpuPhase, Tag("phase:cpu")]
    | Annotated[IoPhase, Tag("phase:io")]
    | Annotated[SleepPhase, Tag("phase:sleep")]
    | Annotated[BlockPhase, Tag("phase:block")]
    | Annotated[NativePhase, Tag("phase:native")]
    | Annotated[SpawnPhase, Tag("phase:spawn")]
    | Annotated[RepeatPhase, Tag("phase:repeat")]
    | Annotated[Literal["yield"], Tag("phase:yield")],
    Discriminator(
        _phase_tag,
        custom_error_type="phase",
        custom_error_message="a phase is one of {cpu|io|sleep|block|native: DURATION}, "
        "{spawn: CLASS}, {repeat: N, phases: [...]} or the word yield",
    ),
]
RepeatPhase.model_rebuild()


# --- arrivals -----------------------------------------------------------------------------


class Poisson(StrictModel):
    poisson: Rate


class ClosedSpec(StrictModel):
    clients: Count(MAX_CLIENTS)
    think: Dist = Field(default_factory=lambda: Const(0))


class Closed(StrictModel):
    closed: ClosedSpec


class BatchSpec(StrictModel):
    count: Count(MAX_TASKS)
    at: Time = 0


class Batch(StrictModel):
    batch: BatchSpec


class Periodic(StrictModel):
    periodic: Time
    offset: Time = 0

    @field_validator("periodic")
    @classmethod
    def _positive(cls, value: int) -> int:
        if value <= 0:
            raise ValueError("the period must be positive")
        return value


def _arrival_tag(value: Any) -> str | None:
    if isinstance(value, StrictModel):
        return "arrival:" + next(iter(type(value).model_fields))
    if value == "spawned":
        return "arrival:spawned"
    if isinstance(value, dict):
        for key in ("poisson", "closed", "batch", "periodic"):
            if key in value:
                return "arrival:" + key
    return None


Arrival = Annotated[
    Annotated[Poisson, Tag("arrival:poisson")]
    | Annotated[Closed, Tag("arrival:closed")]
    | Annotated[Batch, Tag("arrival:batch")]
    | Annotated[Periodic, Tag("arrival:periodic")]
    | Annotated[Literal["spawned"], Tag("arrival:spawned")],
    Discriminator(
        _arrival_tag,
        custom_error_type="arrival",
        custom_error_message="an arrival is {poisson: RATE}, {closed: {clients, think}}, "
        "{batch: {count, at}}, {periodic: PERIOD, offset: T} or the word spawned",
    ),
]


class TaskClass(StrictModel):
    arrival: Arrival
    phases: list[Phase] = Field(min_length=1)


# --- machine, schedulers, sweep -----------------------------------------------------------


class Machine(StrictModel):
    cores: Count(MAX_CORES) = 1
    # Linux CFS gives each runnable thread a slice of sched_latency / nr_running, at least
    # sched_min_granularity (3 ms on an 8-core box: kernel/sched/fair.c); we use 3 ms.
    os_time_slice: Duration = 3_000_000

    @field_validator("os_time_slice")
    @classmethod
    def _positive(cls, value: int) -> int:
        if value <= 0:
            raise ValueError("must be positive")
        return value


def _model_tag(value: Any) -> str | None:
    model = value.get("model") if isinstance(value, dict) else getattr(value, "model", None)
    return f"model:{model}" if model in MODELS else None


_SCHEDULER_MEMBERS = tuple(
    Annotated[cls.Options, Tag(f"model:{name}")] for name, cls in MODELS.items()
)
SchedulerSpec = Annotated[
    Union[_SCHEDULER_MEMBERS],  # noqa: UP007 - a union built from the registry
    Discriminator(
        _model_tag,
        custom_error_type="model",
        custom_error_message="unknown or missing model; known models: " + ", ".join(MODELS),
    ),
]


class Sweep(StrictModel):
    grid: dict[str, list[Any]] = Field(default_factory=dict)
    replications: Count(MAX_REPLICATIONS) = 1

    @field_validator("grid")
    @classmethod
    def _non_empty(cls, grid: dict[str, list[Any]]) -> dict[str, list[Any]]:
        for key, values in grid.items():
            if not values:
                raise ValueError(f"{key}: needs at least one value")
        return grid


class Config(StrictModel):
    name: str = "sim"
    seed: Count(MAX_SEED, low=0) = 1
    horizon: Time = 10_000_000_000  # horizon + drain_limit <= MAX_TIME (2e9 s, sim.units)
    warmup: Time = 0
    machine: Machine = Field(default_factory=Machine)
    workload: dict[str, TaskClass] = Field(min_length=1)
    schedulers: dict[str, SchedulerSpec] = Field(min_length=1)
    load: Load | None = None  # above 0, at most MAX_LOAD (100)
    max_tasks: Count(MAX_TASKS) = 5_000_000  # decided from the config, before any allocation
    drain_limit: Time = 600_000_000_000
    output: str | None = None
    sweep: Sweep | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Config:
        if self.horizon <= 0:
            raise _At("horizon", "must be positive")
        if self.warmup >= self.horizon:
            raise _At("warmup", "must be shorter than horizon")
        _check_sizes(self)
        for name, cls in self.workload.items():
            if name == "all":
                raise _At("workload.all", "'all' is reserved for the overall rows of summary.csv")
            if isinstance(cls.arrival, Batch) and cls.arrival.batch.at >= self.horizon:
                raise _At(f"workload.{name}.arrival.batch.at", "must be before horizon")
            for path, target in _spawns(cls.phases, f"workload.{name}.phases"):
                if target not in self.workload:
                    raise _At(path, f"spawns unknown class {target!r}")
        _check_spawn_cycles(self.workload)
        targets = {t for c in self.workload.values() for _, t in _spawns(c.phases, "")}
        for name, cls in self.workload.items():
            if cls.arrival == "spawned" and name not in targets:
                raise _At(f"workload.{name}.arrival",
                          "class is 'spawned' but no phase spawns it")
        for name, spec in self.schedulers.items():
            spec.check(self, f"schedulers.{name}")
        return self

    _base_dir: str | None = PrivateAttr(default=None)

    @property
    def base_dir(self) -> Path | None:
        """The config file's folder: relative paths (``empirical(...)``) start there."""
        return Path(self._base_dir) if self._base_dir else None

    def at_point(self, values: dict[str, Any]) -> Config:
        """This config with a sweep point's values set (dotted keys)."""
        if not values:
            return self
        raw = self.to_dict()
        raw["sweep"] = None
        for key, value in values.items():
            set_path(raw, key.split("."), value, raw)
        try:
            return validate(raw, self.base_dir)
        except ConfigError as exc:
            raise ConfigError(f"sweep point {values}: {exc}") from None

    @property
    def output_dir(self) -> Path:
        return Path(self.output) if self.output else Path(DEFAULT_OUTPUT_DIR) / self.name

    def to_dict(self) -> dict[str, Any]:
        """The resolved config, defaults included, in the spelling a user writes."""
        return self.model_dump(mode="json")

    def sweep_points(self) -> list[dict[str, Any]]:
        """The grid's points in ``itertools.product`` order of its keys."""
        if not self.sweep or not self.sweep.grid:
            return [{}]
        keys = list(self.sweep.grid)
        return [dict(zip(keys, combo, strict=True))
                for combo in itertools.product(*self.sweep.grid.values())]


class _At(ValueError):
    def __init__(self, path: str, message: str):
        super().__init__(f"{path}: {message}")
        self.path, self.message = path, message


MAX_ALL_PHASES = 1_000_000  # flattened phases of all classes together (templates' memory)


def phase_count(phases: list[Any]) -> int:
    """How many phases ``phases`` flattens to, by arithmetic on the repeat counts (nothing
    is unrolled); past ``MAX_PHASES`` it stops counting at ``MAX_PHASES + 1``."""
    total = 0
    for phase in phases:
        total += phase.repeat * phase_count(phase.phases) if isinstance(phase, RepeatPhase) else 1
        total = min(total, MAX_PHASES + 1)
    return total


def _check_sizes(cfg: Config) -> None:
    """Refuse what int64 or memory cannot hold, before anything is flattened or drawn:
    simulated times stay below 2^62 ns, a task's phases below ``MAX_PHASES`` (so its
    demand fits, ``sim.units``), all classes' phases below ``MAX_ALL_PHASES``."""
    if cfg.horizon + cfg.drain_limit > MAX_TIME:
        raise _At("drain_limit", f"horizon + drain_limit must be at most "
                  f"{format_duration(MAX_TIME)} (about 63 years): simulated times stay below "
                  "2^62 ns, the models' 'never'")
    total = 0
    for name, cls in cfg.workload.items():
        count = phase_count(cls.phases)
        if count > MAX_PHASES:
            raise _At(f"workload.{name}.phases", f"a task would have more than {MAX_PHASES:,} "
                      "phases once repeat is unrolled; use fewer repeats")
        total += count
        if total > MAX_ALL_PHASES:
            raise _At(f"workload.{name}.phases", f"the classes would have more than "
                      f"{MAX_ALL_PHASES:,} phases in all once repeat is unrolled")


def _spawns(phases: list[Any], path: str):
    for i, phase in enumerate(phases):
        if isinstance(phase, SpawnPhase):
            yield f"{path}.{i}.spawn", phase.spawn
        elif isinstance(phase, RepeatPhase):
            yield from _spawns(phase.phases, f"{path}.{i}.phases")


def _check_spawn_cycles(workload: dict[str, TaskClass]) -> None:
    """A depth-first walk of the spawn graph with its own stack (a chain of thousands of
    classes must not overflow Python's); a cycle is named, shortened past 8 classes."""
    children = {name: sorted({t for _, t in _spawns(c.phases, "")})
                for name, c in workload.items()}
    state: dict[str, int] = {}  # 1: on the trail, 2: done
    for root in workload:
        if root in state:
            continue
        state[root], trail, pending = 1, [root], [iter(children[root])]
        while pending:
            for child in pending[-1]:
                if state.get(child) == 1:
                    cycle = [*trail[trail.index(child):], child]
                    if len(cycle) > 8:
                        cycle = [*cycle[:3], f"... ({len(cycle) - 1} classes)", *cycle[-2:]]
                    raise _At(f"workload.{child}.phases", f"spawn cycle {' -> '.join(cycle)}: "
                              "every task would spawn tasks forever")
                if child not in state:
                    state[child] = 1
                    trail.append(child)
                    pending.append(iter(children[child]))
                    break
            else:
                state[trail.pop()] = 2
                pending.pop()


# --- loading --------------------------------------------------------------------------------


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys instead of keeping the last one."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False):
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            line = key_node.start_mark.line + 1
            raise ConfigError(f"{key}: duplicate key (line {line})")
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping
)


def parse_yaml(text: str, source: str = "config") -> Any:
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{source}: malformed YAML{where}: {problem}") from None


def _format_loc(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if not (isinstance(p, str) and ":" in p)]
    return ".".join(parts) or "config"


def _message(error: dict[str, Any]) -> str:
    msg = error["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix):]
    if error["type"] == "extra_forbidden":
        msg = "unknown key"
    elif error["type"] == "missing":
        msg = "required key is missing"
    return msg


def validate(raw: Any, base_dir: Path | None = None) -> Config:
    """Validate a config mapping; raise ``ConfigError`` naming the first bad key path."""
    if not isinstance(raw, dict):
        raise ConfigError("config: expected a mapping of keys (name, horizon, workload, ...)")
    try:
        cfg = Config.model_validate(raw, context={"base_dir": str(base_dir or Path.cwd())})
    except ValidationError as exc:
        error = exc.errors()[0]
        ctx_error = (error.get("ctx") or {}).get("error")
        if isinstance(ctx_error, _At):
            raise ConfigError(str(ctx_error)) from None
        raise ConfigError(f"{_format_loc(error['loc'])}: {_message(error)}") from None
    cfg._base_dir = str(base_dir) if base_dir else None
    _check_sweep(cfg)
    return cfg


def _check_sweep(cfg: Config) -> None:
    """Every grid key must exist and every grid value must make a valid config."""
    if not cfg.sweep:
        return
    resolved = cfg.to_dict()
    for key, values in cfg.sweep.grid.items():
        if key.startswith("sweep") or not _lookup(resolved, key.split("."))[0]:
            raise ConfigError(f"sweep.grid.{key}: no such key in the config")
        for value in values:
            cfg.at_point({key: value})


def _split_override(text: str) -> tuple[list[str], Any]:
    if "=" not in text:
        raise ConfigError(f"override {text!r}: expected key=value, e.g. horizon=5s")
    key, value = text.split("=", 1)
    if not key.strip():
        raise ConfigError(f"override {text!r}: empty key")
    return key.strip().split("."), parse_yaml(value, f"override {key}")


def _lookup(tree: Any, path: list[str]) -> tuple[bool, Any]:
    node = tree
    for part in path:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return False, None
    return True, node


def set_path(raw: Any, path: list[str], value: Any, resolved: Any) -> None:
    """Set ``path`` in ``raw``, creating the maps that only the defaults had."""
    node, ref = raw, resolved
    for part in path[:-1]:
        key: Any = int(part) if isinstance(node, list) else part
        ref = ref[key]
        if isinstance(node, dict) and part not in node:
            node[part] = {} if isinstance(ref, dict) else list(ref)
        node = node[key]
    last = path[-1]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value


def apply_overrides(raw: dict[str, Any], overrides: list[str], base_dir: Path | None) -> dict:
    """Apply dotted ``key=value`` overrides; a key that the schema lacks is an error."""
    if not overrides:
        return raw
    resolved = validate(raw, base_dir).to_dict()
    for text in overrides:
        path, value = _split_override(text)
        exists, _ = _lookup(resolved, path)
        if not exists:
            raise ConfigError(f"{'.'.join(path)}: no such key in the config (override {text!r})")
        set_path(raw, path, value, resolved)
    return raw


def load_config(path: str | Path, overrides: list[str] | None = None) -> Config:
    """Read, override and validate the config at ``path``."""
    file = Path(path)
    try:
        text = file.read_text()
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read config ({exc.strerror})") from None
    raw = parse_yaml(text, str(file))
    if not isinstance(raw, dict):
        raise ConfigError(f"{file}: expected a mapping of keys (name, horizon, workload, ...)")
    raw = apply_overrides(raw, list(overrides or []), file.parent)
    return validate(raw, file.parent)
