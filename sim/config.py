"""The config: YAML in, a validated and resolved ``Config`` out.

Everything a user can get wrong is caught here and reported as one ``ConfigError`` whose
message names the key path (``schedulers.go.gomaxprocs: ...``); the CLI turns it into
exit status 2 before anything is written.
"""

from __future__ import annotations

import ast
import difflib
import itertools
import math
import re
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import (
    BaseModel,
    Discriminator,
    Field,
    PrivateAttr,
    Tag,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)

from .distributions import Const
from .machine import Machine
from .models import MODELS
from .schema import (
    MAX_CLIENTS,
    MAX_REPLICATIONS,
    MAX_SEED,
    MAX_TASKS,
    Count,
    Dist,
    Load,
    Rate,
    StrictModel,
    Time,
)
from .schema import At as _At
from .units import MAX_PHASES, MAX_TIME, format_duration, quote

PHASE_KINDS = ("cpu", "io", "sleep", "block", "native")
DEFAULT_OUTPUT_DIR = "results"


class ConfigError(ValueError):
    """Bad input: the message names the key path. The CLI exits 2 on it."""


# --- phases -------------------------------------------------------------------------------


# ``offload: true`` on a cpu, native or block phase: the runtime runs that phase on its
# pool (asyncio: run_in_executor; tokio: spawn_blocking), as the scheduler option
# ``offload: [KIND]`` does for every phase of the kind; the thread-per-task models (Go,
# threads, the reference disciplines) run it where they run the task (docs/config.md).
class _Offloadable(StrictModel):
    """A phase that may say ``offload: true`` (written out only when it does)."""

    offload: bool = False

    @model_serializer(mode="wrap")
    def _written(self, handler):
        out = handler(self)
        if not out.pop("offload", False):
            return out
        return {**out, "offload": True}  # after the phase's kind


class CpuPhase(_Offloadable):
    cpu: Dist


class IoPhase(StrictModel):
    io: Dist


class SleepPhase(StrictModel):
    sleep: Dist


class BlockPhase(_Offloadable):
    block: Dist


class NativePhase(_Offloadable):
    native: Dist


class SpawnPhase(StrictModel):
    spawn: str


class RepeatPhase(StrictModel):
    repeat: Count(MAX_PHASES)  # a class flattens to at most MAX_PHASES phases in all
    phases: list[Phase] = Field(min_length=1)


_PHASE_TAGS = {*PHASE_KINDS, "spawn", "repeat"}


def _phase_tag(value: Any) -> str | None:
    if isinstance(value, StrictModel):  # serialising a validated phase: its kind's field
        return "phase:" + next(f for f in type(value).model_fields if f in _PHASE_TAGS)
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
    name: str = "sim"  # a label, and the folder results/<name>: one safe path component
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

    @field_validator("name")
    @classmethod
    def _label(cls, name: str) -> str:
        """The name is a folder name under results/, never a path: ``..`` or ``a/b`` would
        write (and replace) elsewhere, ``.x`` would clash with hidden temporary folders, a
        control character would garble messages; ``output:`` is the key for a path."""
        if not name:
            raise ValueError("must not be empty")
        if len(name) > MAX_NAME:
            raise ValueError(f"at most {MAX_NAME} characters")
        if "/" in name or "\\" in name:
            raise ValueError("a label, not a path: no / or \\ (use output: for a path)")
        if name.startswith("."):
            raise ValueError("must not start with '.' (it names a folder; use output: for a path)")
        if not name.isprintable():
            raise ValueError(f"{quote(name)} has a control character")
        return name

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
                raise _At(key_path("workload", name, "arrival", "batch", "at"),
                          "must be before horizon")
            for path, target in _spawns(cls.phases, key_path("workload", name, "phases")):
                if target not in self.workload:
                    raise _At(path, f"spawns unknown class {quote(target)}")
        _check_spawn_cycles(self.workload)
        targets = {t for c in self.workload.values() for _, t in _spawns(c.phases, "")}
        for name, cls in self.workload.items():
            if cls.arrival == "spawned" and name not in targets:
                raise _At(key_path("workload", name, "arrival"),
                          "class is 'spawned' but no phase spawns it")
        for name, spec in self.schedulers.items():
            spec.check(self, key_path("schedulers", name))
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
            set_path(raw, split_key(key), value, raw)
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
            raise _At(key_path("workload", name, "phases"), f"a task would have more than "
                      f"{MAX_PHASES:,} phases once repeat is unrolled; use fewer repeats")
        total += count
        if total > MAX_ALL_PHASES:
            raise _At(key_path("workload", name, "phases"), f"the classes would have more than "
                      f"{MAX_ALL_PHASES:,} phases in all once repeat is unrolled")


def _spawns(phases: list[Any], path: str):
    """(key path, target) of every spawn phase, repeats' included, in order; a loop with
    its own stack, not recursion."""
    stack = [(path, enumerate(phases))]
    while stack:
        where, items = stack[-1]
        for i, phase in items:
            if isinstance(phase, SpawnPhase):
                yield f"{where}.{i}.spawn", phase.spawn
            elif isinstance(phase, RepeatPhase):
                stack.append((f"{where}.{i}.phases", enumerate(phase.phases)))
                break
        else:
            stack.pop()


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
                    raise _At(key_path("workload", child, "phases"),
                              f"spawn cycle {' -> '.join(cycle)}: "
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

# A config is a few kilobytes; these bounds refuse, at once, what could only be an accident
# or an attack (a 100k-deep ``[[[[``, a "billion laughs" of aliases of aliases, /dev/zero).
MAX_CONFIG_BYTES = 1 << 20  # the file
MAX_YAML_DEPTH = 100  # nesting, aliases followed
MAX_YAML_NODES = 100_000  # keys and values, every alias counted as a copy of what it names
MAX_NUMBER_CHARS = 100  # an integer's spelling (base-60 ``1:0:0:...`` costs quadratic time)
MAX_SWEEP_RUNS = 100_000  # grid points x replications x schedulers
MAX_NAME = 100  # the name is a folder name (most file systems allow 255 bytes)
MAX_CALL_PIECES = 8  # a distribution has at most 4 arguments: the pieces a comma cut


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader for configs: keys are names (their source text) and unique, nesting and
    expanded size are bounded while the document is composed, before anything is built.

    Each composed node's expanded size and depth are remembered (``sizes``, by node id), so
    an alias costs one look-up however often it is repeated, and an alias of the node that
    contains it (a cycle) is the one alias whose size is not known yet.
    """

    def __init__(self, text: str, source: str):
        super().__init__(text)
        self.text, self.source, self.nesting, self.composed = text, source, 0, 0
        self.sizes: dict[int, tuple[int, int]] = {}

    def refuse(self, node_or_event: Any, problem: str) -> ConfigError:
        line = node_or_event.start_mark.line + 1
        return ConfigError(_one_line(f"{self.source}: {problem} (line {line})"))

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            node = super().compose_node(parent, index)
            if id(node) not in self.sizes:
                raise self.refuse(event, f"the alias *{event.anchor} is inside the node it names")
            return node
        self.nesting += 1
        self.composed += 1
        if self.nesting > MAX_YAML_DEPTH:
            raise self.refuse(event, f"YAML nested deeper than {MAX_YAML_DEPTH} levels")
        if self.composed > MAX_YAML_NODES:
            raise self.refuse(event, f"YAML of more than {MAX_YAML_NODES:,} values")
        node = super().compose_node(parent, index)
        self.nesting -= 1
        if getattr(node, "flow_style", False):
            self.rejoin_calls(node)
        if isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        else:
            children = node.value if isinstance(node, yaml.SequenceNode) else []
        size = 1 + sum(self.sizes[id(c)][0] for c in children)
        depth = 1 + max((self.sizes[id(c)][1] for c in children), default=0)
        if depth > MAX_YAML_DEPTH:
            raise self.refuse(node, f"YAML nested deeper than {MAX_YAML_DEPTH} levels once "
                              "aliases are followed")
        if size > MAX_YAML_NODES:
            raise self.refuse(node, f"YAML of more than {MAX_YAML_NODES:,} values once aliases "
                              "are followed")
        self.sizes[id(node)] = (size, depth)
        return node

    def rejoin_calls(self, node: yaml.MappingNode | yaml.SequenceNode) -> None:
        """In ``{...}`` or ``[...]`` YAML ends an unquoted value at a comma, so
        ``{io: lognormal(20ms, 0.5)}`` composes as ``io: 'lognormal(20ms'`` and a key
        ``0.5)`` with no value. A value left with an open parenthesis takes back the pieces
        that follow it (keys without a value; list items), up to the one that closes it,
        as the source text they were cut from. Nothing else could be meant: a cut piece
        is never a valid value or class name."""
        mapping = isinstance(node, yaml.MappingNode)
        entries = node.value
        pieces = [key if _empty(value) else None for key, value in entries] if mapping \
            else entries
        kept, i = [], 0
        while i < len(entries):
            value = entries[i][1] if mapping else entries[i]
            taken = _pieces_to_close(value, pieces[i + 1:i + 1 + MAX_CALL_PIECES]) \
                if _open_call(value) else 0
            if taken:
                value = self.joined(value, pieces[i + taken])
            kept.append((entries[i][0], value) if mapping else value)
            i += 1 + taken
        node.value = kept

    def joined(self, start: yaml.ScalarNode, last: yaml.ScalarNode) -> yaml.ScalarNode:
        """The string from ``start`` to ``last`` as written (one value)."""
        node = yaml.ScalarNode("tag:yaml.org,2002:str",
                               self.text[start.start_mark.index:last.end_mark.index],
                               start.start_mark, last.end_mark, style="'")
        self.sizes[id(node)] = (1, 1)
        return node

    def construct_object(self, node: Any, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except ConfigError:
            raise
        except (ValueError, OverflowError) as exc:  # e.g. the date 2001-02-30
            raise self.refuse(node, f"cannot read {quote(node.value)}: {exc}") from None


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False):
    """Keys as their source text: a class ``no:`` is named 'no', not False (YAML 1.1), and
    ``1:`` is '1'; a list or mapping as a key is refused, and so is a key given twice
    (``<<`` merges may still be overridden)."""
    seen: set[str] = set()
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        _check_key(loader, key_node)
        if key_node.value in seen:
            line = key_node.start_mark.line + 1
            raise ConfigError(_one_line(f"{key_path(key_node.value)}: duplicate key "
                                        f"(line {line})"))
        seen.add(key_node.value)
    loader.flatten_mapping(node)
    for key_node, _ in node.value:
        _check_key(loader, key_node)
    return {k.value: v.value if k.value == "spawn" and _plain_scalar(v) else
            loader.construct_object(v, deep=deep) for k, v in node.value}


def _open_call(node: yaml.Node) -> bool:
    """An unquoted value with more ``(`` than ``)``: a call that a comma cut short."""
    return _plain_scalar(node) and node.value.count("(") > node.value.count(")")


def _empty(node: yaml.Node) -> bool:
    return _plain_scalar(node) and node.value == ""


def _pieces_to_close(start: yaml.ScalarNode, pieces: list) -> int:
    """How many of ``pieces`` (unquoted scalars written after ``start``; None stops) the
    call that ``start`` opens spans, its closing parenthesis in the last; 0 if they never
    close it (one pass: a long flow list costs its length)."""
    depth = start.value.count("(") - start.value.count(")")
    end = start.end_mark.index
    for count, piece in enumerate(pieces, 1):
        if piece is None or not _plain_scalar(piece) or piece.start_mark.index < end:
            return 0  # (not a cut piece; or an alias of a value written before)
        depth += piece.value.count("(") - piece.value.count(")")
        end = piece.end_mark.index
        if depth <= 0:
            return count
    return 0


def _plain_scalar(node: yaml.Node) -> bool:
    """An unquoted scalar: a class name it holds is its source text, as a key is
    (``spawn: on`` spawns class 'on', not True)."""
    return isinstance(node, yaml.ScalarNode) and node.style is None


def _check_key(loader: _UniqueKeyLoader, key_node: yaml.Node) -> None:
    if not isinstance(key_node, yaml.ScalarNode):
        raise loader.refuse(key_node, "a key must be a name, not a list or a mapping")


def _construct_int(loader: _UniqueKeyLoader, node: yaml.ScalarNode) -> int:
    if len(node.value) > MAX_NUMBER_CHARS:
        raise loader.refuse(node, f"a number of {len(node.value):,} characters (at most "
                            f"{MAX_NUMBER_CHARS})")
    return loader.construct_yaml_int(node)


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping
)
_UniqueKeyLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)


def parse_yaml(text: str, source: str = "config") -> Any:
    """YAML text to plain data within the bounds above; any problem is one ConfigError line.

    The result shares nothing: an alias becomes a copy, so an override changes one place.
    """
    try:
        return _unshare(_load(text, source))
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow
        line = text.count("\n", 0, exc.position) + 1
        problem = str(exc).splitlines()[0]
        raise ConfigError(_one_line(f"{source}: malformed YAML (line {line}): {problem}")) \
            from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(_one_line(f"{source}: malformed YAML{where}: {problem}")) from None


def _load(text: str, source: str) -> Any:
    loader = _UniqueKeyLoader(text, source)  # the reader checks every character here
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def _unshare(value: Any) -> Any:
    """A copy of the loaded tree in which no list or map appears twice (depth and size are
    bounded by the loader, so the recursion and the copy are too)."""
    if isinstance(value, dict):
        return {key: _unshare(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_unshare(item) for item in value]
    return value


def _one_line(text: str) -> str:
    """A message prints as one line: line breaks and other unprintable characters escaped."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


_PLAIN_NAME = re.compile(r"[^\s.'\"\[\]\\]+")


def key_path(*parts: Any) -> str:
    """``workload.api.phases.0``; a name that is empty or holds a dot, a quote, a bracket, a
    backslash, white space or an unprintable character is shown quoted in brackets, as
    ``workload['a.b'].phases`` (Python's repr, so one line), and any other name verbatim;
    a name longer than 40 characters is cut short (a message is one readable line)."""
    path = ""
    for part in map(str, parts):
        if len(part) > 40:
            path += f"[{quote(part)}]"
        elif _PLAIN_NAME.fullmatch(part) and part.isprintable():
            path += f".{part}" if path else part
        else:
            path += f"[{part!r}]"
    return path


_KEY_PART = re.compile(r"""\[('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")\]|([^.\[\]]+)""")


def split_key(key: str) -> list[str]:
    """A key path as ``key_path`` writes it, back into its names: ``workload['a.b'].phases.0``
    is ['workload', 'a.b', 'phases', '0'] (a bracketed name is a Python string literal)."""
    parts: list[str] = []
    i = 0
    while i < len(key):
        if parts and key[i] == "." and i + 1 < len(key):
            i += 1
        match = _KEY_PART.match(key, i)
        if not match or (match[2] and parts and key[i - 1] != "."):
            raise ConfigError(_one_line(
                f"{quote(key)}: cannot read this key: names joined by dots, a name that "
                "holds a dot or a bracket written ['a.b']"))
        parts.append(ast.literal_eval(match[1]) if match[1] else match[2])
        i = match.end()
    return parts


def _is_tag(loc: tuple[Any, ...], i: int) -> bool:
    """Whether ``loc[i]`` is a union tag of ours: ``phase:cpu`` after a list index,
    ``arrival:poisson`` after ``arrival``, ``model:go`` after a scheduler's name."""
    part, before = loc[i], loc[i - 1] if i else None
    return isinstance(part, str) and (
        (part.startswith("phase:") and isinstance(before, int))
        or (part.startswith("arrival:") and before == "arrival")
        or (part.startswith("model:") and i == 2 and loc[0] == "schedulers"))


def _format_loc(loc: tuple[Any, ...]) -> str:
    """pydantic's error location as a key path, our union tags left out, names verbatim."""
    return key_path(*(p for i, p in enumerate(loc) if not _is_tag(loc, i))) or "config"


def closest(word: str, known: Any) -> str | None:
    """The known name closest to a misspelt one (difflib's ratio at least 0.6), or None."""
    close = difflib.get_close_matches(word, [str(k) for k in known], n=1, cutoff=0.6)
    return close[0] if close else None


def did_you_mean(word: str, known: Any) -> str:
    """``'; did you mean arrival?'``, or nothing when no known name is close."""
    best = closest(word, known)
    return f"; did you mean {best}?" if best else ""


def _strip(kind: Any) -> Any:
    """A field's type without ``Annotated`` and ``| None``."""
    while True:
        if get_origin(kind) is Annotated:
            kind = get_args(kind)[0]
        elif get_origin(kind) in (Union, type(int | None)) and type(None) in get_args(kind):
            others = [a for a in get_args(kind) if a is not type(None)]
            kind = others[0] if len(others) == 1 else Union[tuple(others)]  # noqa: UP007
        else:
            return kind


def _tag(member: Any) -> str | None:
    """The ``Tag`` of a member of one of our tagged unions."""
    if get_origin(member) is Annotated:
        return next((m.tag for m in get_args(member)[1:] if isinstance(m, Tag)), None)
    return None


def known_keys(loc: tuple[Any, ...]) -> list[str]:
    """The keys the schema allows at ``loc`` (pydantic's error location, union tags
    included): the options of ``schedulers.x`` under its model, a phase's keys, ..."""
    kind: Any = Config
    for part in loc:
        kind = _strip(kind)
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            field = kind.model_fields.get(part) if isinstance(part, str) else None
            if field is None:
                return []
            kind = field.annotation
        elif get_origin(kind) is list and isinstance(part, int):
            kind = get_args(kind)[0]
        elif get_origin(kind) is dict:
            kind = get_args(kind)[1]
        elif get_origin(kind) in (Union, type(int | None)):
            kind = next((m for m in get_args(kind) if _tag(m) == part), None)
        else:
            return []
    kind = _strip(kind)
    return list(kind.model_fields) if isinstance(kind, type) and issubclass(kind, BaseModel) \
        else []


def _union_message(error: dict[str, Any], kinds: tuple[str, ...], what: str) -> str:
    """A phase or an arrival of no known kind: the word that is not one, and the closest."""
    value = error["input"]
    words = [k for k in value if k not in kinds] if isinstance(value, dict) else []
    if len(words) == 1:
        best = closest(words[0], kinds)
        also = f" (did you mean {best}?)" if best else ""
        return f"unknown {what} {quote(words[0])}{also}; {error['msg']}"
    return error["msg"]


def _model_message(value: Any) -> str:
    """An unknown or missing model: the value given, the closest and every known one."""
    known = "known models: " + ", ".join(MODELS)
    if not isinstance(value, dict):
        return f"expected a mapping such as {{model: fcfs}}, got {quote(value)}; {known}"
    if "model" not in value:
        return f"model: required key is missing; {known}"
    model = value["model"]
    best = closest(model, MODELS) if isinstance(model, str) else None
    also = f" (did you mean {best}?)" if best else ""
    return f"model: unknown model {quote(model)}{also}; {known}"


def _message(error: dict[str, Any]) -> str:
    msg = error["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix):]
    if error["type"] == "extra_forbidden":
        key = error["loc"][-1]
        known = known_keys(error["loc"][:-1])
        best = closest(key, known) if isinstance(key, str) else None
        msg = ("unknown key" + (f"; did you mean {best}?" if best else
                                f"; known keys: {', '.join(known)}" if known else ""))
        if key == "offload" and "phases" in error["loc"]:
            msg = "only a cpu, native or block phase can be offloaded"
        elif error["loc"][:-1] == ("sweep",) and isinstance(key, str) and not best:
            msg += f"; a swept key goes under grid: sweep: {{grid: {{{key}: [...]}}}}"
    elif error["type"] == "missing":
        msg = "required key is missing"
    elif error["type"] == "phase":
        msg = _union_message(error, (*PHASE_KINDS, "spawn", "repeat"), "phase")
    elif error["type"] == "arrival":
        msg = _union_message(error, ("poisson", "closed", "batch", "periodic"), "arrival")
    return msg


def _first_error(errors: list[dict[str, Any]]) -> dict[str, Any]:
    """The error to report: the first, unless it is a missing key whose misspelling is
    an unknown key beside it (``arival``: say that, not that ``arrival`` is missing)."""
    first = errors[0]
    if first["type"] == "missing":
        for error in errors:
            if (error["type"] == "extra_forbidden" and error["loc"][:-1] == first["loc"][:-1]
                    and closest(str(error["loc"][-1]), [first["loc"][-1]])):
                return error
    return first


def validate(raw: Any, base_dir: Path | None = None) -> Config:
    """Validate a config mapping; raise ``ConfigError`` naming the first bad key path."""
    if not isinstance(raw, dict):
        raise ConfigError("config: expected a mapping of keys (name, horizon, workload, ...)")
    try:
        cfg = Config.model_validate(raw, context={"base_dir": str(base_dir or Path.cwd())})
    except ValidationError as exc:
        error = _first_error(exc.errors())
        ctx_error = (error.get("ctx") or {}).get("error")
        if isinstance(ctx_error, _At):
            raise ConfigError(_one_line(str(ctx_error))) from None
        message = _message(error)
        if error["type"] == "model":
            where = _format_loc(error["loc"])
            message = _model_message(error["input"])
            if message.startswith("model: "):  # the path names the model key itself
                where, message = f"{where}.model", message[len("model: "):]
            raise ConfigError(_one_line(f"{where}: {message}")) from None
        raise ConfigError(_one_line(f"{_format_loc(error['loc'])}: {message}")) from None
    cfg._base_dir = str(base_dir) if base_dir else None
    _check_sweep(cfg)
    return cfg


def _check_sweep(cfg: Config) -> None:
    """Every grid key must exist and every grid value make a valid config. The seed is no
    grid key (each run's seed derives from it), and the number of runs is bounded before
    any point is built."""
    if not cfg.sweep:
        return
    grid = cfg.sweep.grid
    if "seed" in grid:
        raise ConfigError("sweep.grid.seed: the seed cannot be swept (every run's seed is "
                          "drawn from it); use sweep.replications for independent seeds")
    points = math.prod(len(values) for values in grid.values())
    runs = points * cfg.sweep.replications * len(cfg.schedulers)
    if runs > MAX_SWEEP_RUNS:
        raise ConfigError(f"sweep: {points:,} points x {cfg.sweep.replications:,} replications "
                          f"x {len(cfg.schedulers)} schedulers = {runs:,} runs, more than "
                          f"{MAX_SWEEP_RUNS:,}")
    resolved = cfg.to_dict()
    for key, values in grid.items():
        if key.startswith("sweep") or not _lookup(resolved, split_key(key))[0]:
            raise ConfigError(_one_line(f"sweep.grid.{key}: no such key in the config"
                                        f"{_closest_path(resolved, split_key(key))}"))
        for value in {repr(value): value for value in values}.values():  # each once
            cfg.at_point({key: value})


def _split_override(text: str) -> tuple[list[str], Any]:
    if "=" not in text:
        raise ConfigError(_one_line(f"override {quote(text)}: expected key=value, e.g. "
                                    "horizon=5s"))
    key, value = text.split("=", 1)
    if not key.strip():
        raise ConfigError(_one_line(f"override {quote(text)}: empty key"))
    path = split_key(key.strip())
    parsed = parse_yaml(value, f"override {key_path(*path)}")
    if path[-1] == "spawn" and (parsed is None or isinstance(parsed, bool | int | float)):
        parsed = value.strip()  # a class name is its text, as a key is: spawn=on is 'on'
    return path, parsed


def _index(part: str) -> int | None:
    """A list index: ASCII digits only (``'²'.isdigit()`` is True but ``int('²')`` fails)."""
    return int(part) if part.isascii() and part.isdigit() and len(part) < 10 else None


def _lookup(tree: Any, path: list[str]) -> tuple[bool, Any]:
    node = tree
    for part in path:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and (i := _index(part)) is not None and i < len(node):
            node = node[i]
        else:
            return False, None
    return True, node


def _closest_path(tree: Any, path: list[str]) -> str:
    """``'; did you mean workload.api.arrival?'``: the path with its first name that is not
    in ``tree`` replaced by the closest one there; if none is close, the names there (a
    model's options: ``schedulers.threads.offload`` on a ``gil_threads``)."""
    node = tree
    for i, part in enumerate(path):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and (j := _index(part)) is not None and j < len(node):
            node = node[j]
        elif isinstance(node, dict) and (best := closest(part, node)):
            return f"; did you mean {key_path(*path[:i], best, *path[i + 1:])}?"
        elif isinstance(node, dict) and node:
            where = f" at {key_path(*path[:i])}" if i else ""
            return f"; known keys{where}: {', '.join(map(str, node))}"
        else:
            return ""
    return ""


def set_path(raw: Any, path: list[str], value: Any, resolved: Any) -> None:
    """Set ``path`` (found in ``resolved``) in ``raw``, creating the maps that only the
    defaults had."""
    node, ref = raw, resolved
    for part in path[:-1]:
        key = _step(node, part, path)
        ref = ref[key]
        if isinstance(node, dict) and part not in node:
            node[part] = {} if isinstance(ref, dict) else list(ref)
        node = node[key]
    node[_step(node, path[-1], path)] = value


def _step(node: Any, part: str, path: list[str]) -> Any:
    if isinstance(node, dict):
        return part
    if isinstance(node, list) and _index(part) is not None:
        return _index(part)
    raise ConfigError(_one_line(f"{key_path(*path)}: cannot be set: the file has a "
                                f"{type(node).__name__} on the way"))


def apply_overrides(raw: dict[str, Any], overrides: list[str], base_dir: Path | None) -> dict:
    """Apply dotted ``key=value`` overrides; a key that the schema lacks is an error.

    Keys are checked against the file's resolved config (so a default the file does not
    write can be set). A file invalid on its own can still be repaired by overriding a
    value it writes (``horizon=2s`` over a negative horizon); an override of any other key
    then reports the file's own error, the problem to fix first."""
    if not overrides:
        return raw
    try:
        resolved, invalid = validate(raw, base_dir).to_dict(), None
    except ConfigError as exc:
        resolved, invalid = raw, exc
    for text in overrides:
        path, value = _split_override(text)
        exists, _ = _lookup(resolved, path)
        if not exists:
            if invalid is not None:
                raise invalid
            raise ConfigError(_one_line(f"{key_path(*path)}: no such key in the config"
                                        f"{_closest_path(resolved, path)} "
                                        f"(override {quote(text)})"))
        set_path(raw, path, value, resolved)
    return raw


def load_config(path: str | Path, overrides: list[str] | None = None) -> Config:
    """Read, override and validate the config at ``path``: UTF-8 (a BOM allowed), at most
    ``MAX_CONFIG_BYTES``, so that /dev/zero or a data file given by mistake is refused."""
    file = Path(path)
    try:
        with file.open("rb") as stream:
            data = stream.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError(_one_line(f"{file}: cannot read config ({exc.strerror or exc})")) \
            from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(_one_line(f"{file}: larger than {MAX_CONFIG_BYTES >> 20} MiB; a "
                                    "config is a few kilobytes (data belongs in CSV files)"))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigError(_one_line(f"{file}: not UTF-8 text (byte {data[exc.start]:#04x} on "
                                    f"line {line})")) from None
    raw = parse_yaml(text, str(file))
    if not isinstance(raw, dict):
        raise ConfigError(_one_line(f"{file}: expected a mapping of keys (name, horizon, "
                                    "workload, ...)"))
    raw = apply_overrides(raw, list(overrides or []), file.parent)
    return validate(raw, file.parent)
