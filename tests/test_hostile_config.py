"""Hostile configs: bytes, depth, aliases, odd keys and names end as one ``ConfigError`` line."""

import os
import subprocess
import sys
import time

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.config import MAX_YAML_DEPTH, MAX_YAML_NODES, ConfigError, load_config, validate
from sim.sweep import point_configs

BASE = """
name: t
horizon: 1s
workload:
  api:
    arrival: {poisson: 100/s}
    phases: [{cpu: 1ms}, {io: 2ms}]
schedulers:
  fcfs: {model: fcfs}
"""


def write(tmp_path, text: str | bytes, name: str = "c.yaml"):
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def refused(path, overrides=(), match: str = "") -> str:
    """The one-line message of the ``ConfigError`` that loading must raise, within 1 s."""
    start = time.perf_counter()
    with pytest.raises(ConfigError) as info:
        load_config(path, list(overrides))
    assert time.perf_counter() - start < 1.0
    message = str(info.value)
    assert len(message.splitlines()) == 1, message
    assert match in message
    return message


def with_base(**changes) -> str:
    raw = yaml.safe_load(BASE)
    raw.update(changes)
    return yaml.safe_dump(raw)


# --- 1. bytes and files ------------------------------------------------------------------


def test_non_utf8_bytes_name_the_file_and_the_line(tmp_path):
    path = write(tmp_path, BASE.encode() + b"seed: \xff\xfe\n")
    message = refused(path, match=str(path))
    assert "UTF-8" in message and "line 10" in message


def test_a_directory_is_not_a_config(tmp_path):
    refused(tmp_path, match=str(tmp_path))


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_config(tmp_path):
    path = write(tmp_path, BASE)
    path.chmod(0)
    refused(path, match="cannot read config")


def test_a_path_through_a_file_or_a_dangling_link(tmp_path):
    refused(write(tmp_path, BASE) / "sub.yaml", match="cannot read config")
    (tmp_path / "link.yaml").symlink_to(tmp_path / "nowhere.yaml")
    refused(tmp_path / "link.yaml", match="cannot read config")


def test_a_byte_order_mark_is_fine(tmp_path):
    assert load_config(write(tmp_path, b"\xef\xbb\xbf" + BASE.encode())).name == "t"


def test_a_huge_config_is_refused_before_parsing(tmp_path):
    path = write(tmp_path, BASE + "#" * (2 << 20) + "\n")
    refused(path, match="larger than")


# --- 2. depth ----------------------------------------------------------------------------


def test_100k_deep_yaml_in_a_file_or_an_override(tmp_path):
    deep = "[" * 100_000 + "]" * 100_000
    refused(write(tmp_path, BASE + f"extra: {deep}\n"), match=f"deeper than {MAX_YAML_DEPTH}")
    refused(write(tmp_path, BASE), [f"horizon={deep}"], match="deeper than")
    refused(write(tmp_path, BASE + "extra: " + "{a: " * 50_000 + "}" * 50_000 + "\n"),
            match="deeper than")


def test_depth_through_aliases_counts_too(tmp_path):
    levels = ["a0: &a0 [1]"] + [f"a{i}: &a{i} {'[' * 50}*a{i - 1}{']' * 50}"
                                for i in range(1, 5)]
    refused(write(tmp_path, BASE + "\n".join(levels) + "\n"), match="deeper than")


def test_a_reasonable_depth_is_fine(tmp_path):
    nested = "[" * 20 + "]" * 20
    refused(write(tmp_path, BASE + f"extra: {nested}\n"), match="extra: unknown key")


# --- 3. keys that are not names --------------------------------------------------------------


def test_a_list_as_a_key_names_its_line(tmp_path):
    refused(write(tmp_path, BASE + "? [1, 2]\n: x\n"), match="line 10")
    refused(write(tmp_path, BASE + "{a: 1}: x\n"), match="line 10")
    refused(write(tmp_path, BASE + "x: {<<: {[1]: 2}}\n"), match="line 10")  # via a merge


def test_values_python_cannot_hold_name_their_line(tmp_path):
    refused(write(tmp_path, BASE + "seed: 2001-02-30\n"), match="line 10")
    refused(write(tmp_path, BASE + "seed: " + "9" * 5000 + "\n"), match="line 10")
    refused(write(tmp_path, BASE + "seed: 1" + ":0" * 100_000 + "\n"), match="line 10")


def test_an_unquoted_distribution_in_flow_style_reads_as_written(tmp_path):
    """YAML's ``{...}`` and ``[...]`` end an unquoted value at a comma, which cut
    ``lognormal(20ms, 0.5)`` into ``'lognormal(20ms'`` and a key ``0.5)``: the loader puts
    the pieces back as written (in a mapping, a list, over lines, and twice in one mapping,
    where the cut keys were duplicates)."""
    text = BASE.replace("[{cpu: 1ms}, {io: 2ms}]",
                        "[{cpu: bimodal(1ms, 10ms,\n      0.1)}, {io: lognormal(20ms,0.5)}]")
    text += ("machine: {cores: 2, timer_lateness: uniform(1us, 2us), "
             "wake_latency: uniform(1us, 2us)}\n"
             "sweep: {grid: {workload.api.phases.1.io: [exp(2ms), uniform(1ms, 3ms)]}}\n")
    cfg = load_config(write(tmp_path, text))
    cpu, io = cfg.workload["api"].phases[0].cpu, cfg.workload["api"].phases[1].io
    assert (cpu.mean, io.mean) == (1.9e6, 20e6)
    lateness, wake = cfg.machine.timer_lateness, cfg.machine.wake_latency
    assert lateness == wake and lateness.mean == 1.5e3
    assert cfg.sweep.grid["workload.api.phases.1.io"] == ["exp(2ms)", "uniform(1ms, 3ms)"]


def test_a_distribution_left_open_says_so(tmp_path):
    text = BASE.replace("{io: 2ms}", "{io: lognormal(20ms, 0.5}")
    refused(write(tmp_path, text), match="workload.api.phases.1.io: 'lognormal(20ms': a '(' "
            "is not closed")
    block = BASE.replace("phases: [{cpu: 1ms}, {io: 2ms}]",
                         "phases:\n      - cpu: 1ms\n      - io: uniform(1ms, 2ms")
    refused(write(tmp_path, block),
            match="workload.api.phases.1.io: 'uniform(1ms, 2ms': a '(' is not closed")


# --- 4. billion laughs -------------------------------------------------------------------


def laughs(levels: int = 12, leaf: str = '"ha"', wrap: str = "{}") -> str:
    """One YAML value of ``10 ** levels`` leaves, anchors defined inline: level i is level
    i - 1 written out once, then nine aliases of it."""
    value = "[" + ", ".join([leaf] * 10) + "]"
    for i in range(levels):
        item = wrap.format(f"&l{i} {value}")
        value = "[" + ", ".join([item] + [wrap.format(f"*l{i}")] * 9) + "]"
    return value


def test_billion_laughs_in_the_grid_is_refused_at_once(tmp_path):
    text = BASE + f"sweep: {{grid: {{load: {laughs()}}}}}\n"
    refused(write(tmp_path, text), match=f"more than {MAX_YAML_NODES:,}")


def test_billion_laughs_in_phases_is_refused_at_once(tmp_path):
    phases = laughs(leaf="{cpu: 1ms}", wrap="{{repeat: 2, phases: {}}}")
    text = BASE.replace("[{cpu: 1ms}, {io: 2ms}]", phases)
    refused(write(tmp_path, text), match="aliases")


def test_an_alias_of_itself_is_refused(tmp_path):
    refused(write(tmp_path, BASE + "extra: &e [1, *e]\n"), match="line 10")


def test_ordinary_aliases_and_merges_still_work(tmp_path):
    text = """
name: t
horizon: 1s
workload:
  api: &api
    arrival: {poisson: 100/s}
    phases: &p [{cpu: 1ms}, {io: 2ms}]
  other: {<<: *api, arrival: {poisson: 5/s}}
  b: {arrival: {poisson: 1/s}, phases: *p}
schedulers:
  fcfs: {model: fcfs}
"""
    cfg = load_config(write(tmp_path, text))
    assert cfg.workload["other"].phases == cfg.workload["api"].phases
    assert cfg.workload["other"].arrival.poisson == 5
    assert cfg.workload["b"].phases == cfg.workload["api"].phases


# --- 5. an override changes one node -------------------------------------------------------


def test_an_override_does_not_follow_an_alias(tmp_path):
    text = BASE.replace("[{cpu: 1ms}, {io: 2ms}]", "&p [{cpu: 1ms}, {io: 2ms}]")
    text = text.replace("schedulers:", "  b: {arrival: {poisson: 1/s}, phases: *p}\nschedulers:")
    cfg = load_config(write(tmp_path, text), ["workload.api.phases.0.cpu=5ms"])
    assert cfg.workload["api"].phases[0].cpu.mean == 5e6
    assert cfg.workload["b"].phases[0].cpu.mean == 1e6


# --- 6. keys are strings ---------------------------------------------------------------------


def test_yaml_11_booleans_and_numbers_are_names_as_keys(tmp_path):
    text = BASE.replace("  api:", "  no:").replace("  fcfs:", "  on:") + (
        "  off: {model: fcfs}\n  1: {model: round_robin}\n")
    cfg = load_config(write(tmp_path, text), ["workload.no.phases.0.cpu=3ms",
                                              "schedulers.1.quantum=4ms"])
    assert list(cfg.workload) == ["no"] and list(cfg.schedulers) == ["on", "off", "1"]
    assert cfg.workload["no"].phases[0].cpu.mean == 3e6
    assert cfg.schedulers["1"].quantum == 4_000_000
    assert cfg.seed == 1 and load_config(write(tmp_path, BASE + "seed: 7\n")).seed == 7


def test_yes_and_true_are_two_names(tmp_path):
    text = BASE.replace("  fcfs:", "  yes:") + "  true: {model: fcfs}\n"
    assert list(load_config(write(tmp_path, text)).schedulers) == ["yes", "true"]


def test_a_spawn_names_a_class_by_its_text_in_the_file_and_in_an_override(tmp_path):
    """``spawn: on`` spawns class 'on' (not True), as ``on:`` names it; quoted names too."""
    kids = "".join(f"  {k}: {{arrival: spawned, phases: [{{cpu: 1ms}}]}}\n"
                   for k in ("on", "1", "null", "yes"))
    text = BASE.replace("{io: 2ms}", "{spawn: on}, {spawn: 1}, {spawn: null}, {spawn: 'yes'}")
    text = text.replace("schedulers:", kids + "schedulers:")
    cfg = load_config(write(tmp_path, text))
    assert [p.spawn for p in cfg.workload["api"].phases[1:]] == ["on", "1", "null", "yes"]
    cfg = load_config(write(tmp_path, text), ["workload.api.phases.4.spawn=yes"])
    assert cfg.workload["api"].phases[4].spawn == "yes"


# --- 7. key paths in messages ------------------------------------------------------------


@pytest.mark.parametrize("name,shown", [
    ("a:b", "workload.a:b.phases.0.cpu"),
    ("'no:'", "workload.no:.phases.0.cpu"),
    ("phase:cpu", "workload.phase:cpu.phases.0.cpu"),
    ("'a.b'", "workload['a.b'].phases.0.cpu"),
    ('"x\\ny"', "workload['x\\ny'].phases.0.cpu"),
])
def test_names_show_verbatim_in_key_paths(tmp_path, name, shown):
    text = BASE.replace("  api:", f"  {name}:").replace("{cpu: 1ms}", "{cpu: -1ms}")
    message = refused(write(tmp_path, text))
    assert message.startswith(shown + ":"), message


def test_a_long_name_is_cut_short_in_a_message(tmp_path):
    """A 1,000-character class name (YAML's longest plain key is 1,024) or a 50,000-character
    override key is not echoed whole."""
    text = BASE.replace("  api:", f"  {'x' * 1000}:").replace("{cpu: 1ms}", "{cpu: -1ms}")
    assert len(refused(write(tmp_path, text), match="workload['xxx")) < 200
    message = refused(write(tmp_path, BASE), [f"workload.{'x' * 50_000}.phases=1"], "no such")
    assert len(message) < 200, message


def test_an_override_takes_a_key_path_as_messages_write_it(tmp_path):
    """A class named 'a.b' is ``workload['a.b']`` in messages, and an override or a grid key
    written that way reaches it; a key that cannot be read is one line."""
    text = BASE.replace("  api:", "  'a.b':")
    cfg = load_config(write(tmp_path, text), ["workload['a.b'].phases.0.cpu=3ms"])
    assert cfg.workload["a.b"].phases[0].cpu.mean == 3e6
    grid = text + "sweep: {grid: {\"workload['a.b'].phases.0.cpu\": [1ms, 2ms]}}\n"
    assert len(point_configs(load_config(write(tmp_path, grid)))) == 2
    for key in ("workload..a", "workload['a.b'", "workload['a.b']phases", ".horizon"):
        refused(write(tmp_path, text), [f"{key}=1"], "cannot read this key")


def test_an_override_repairs_a_value_the_file_writes(tmp_path):
    """A file invalid on its own runs with an override of the bad value; an override of
    another key (or of a key only the defaults have) reports the file's own error."""
    path = write(tmp_path, BASE.replace("horizon: 1s", "horizon: -5s"))
    assert load_config(path, ["horizon=2s"]).horizon == 2_000_000_000
    refused(path, ["seed=3"], "horizon: duration '-5s' is negative")
    refused(path, ["schedulers.fcfs.model=go"], "horizon: duration '-5s' is negative")
    refused(path, ["drain_limit=1s"], "horizon: duration '-5s' is negative")  # default-only
    refused(path, ["horizon=-1s"], "horizon: duration '-1s' is negative")


def test_a_scheduler_named_like_a_tag(tmp_path):
    text = BASE.replace("  fcfs: {model: fcfs}", "  'model:fcfs': {model: fcfs, quantum: 1ms}")
    refused(write(tmp_path, text), match="schedulers.model:fcfs.quantum: unknown key")


def test_a_spawn_of_an_unknown_class_shows_a_dotted_name(tmp_path):
    text = BASE.replace("  api:", "  'a.b':").replace("{io: 2ms}", "{spawn: nope}")
    refused(write(tmp_path, text), match="workload['a.b'].phases.1.spawn: spawns unknown")


# --- 8. override indexes ---------------------------------------------------------------------


@pytest.mark.parametrize("index", ["²", "١", "1\u0301", "9" * 5000, "-1", " 1"])
def test_an_override_index_must_be_ascii_digits(tmp_path, index):
    refused(write(tmp_path, BASE), [f"workload.api.phases.{index}.cpu=1ms"],
            match="no such key")


def test_an_override_into_a_yaml_set(tmp_path):
    path = write(tmp_path, BASE.replace("[{cpu: 1ms}, {io: 2ms}]", "!!set {yield}"))
    refused(path, ["workload.api.phases.0=yield"], match="cannot be set")


# --- 9. seed in a grid -------------------------------------------------------------------------


def test_seed_in_a_grid_is_refused(tmp_path):
    path = write(tmp_path, with_base(sweep={"grid": {"seed": [1, 2]}}))
    refused(path, match="sweep.grid.seed: ")
    refused(path, match="use sweep.replications for independent seeds")


def test_a_sweep_of_too_many_runs_is_refused_at_once(tmp_path):
    grid = {"load": [0.1 * i for i in range(1, 10)], "horizon": [f"{i}s" for i in range(1, 50)],
            "warmup": [f"{i}ms" for i in range(50)], "machine.cores": list(range(1, 50))}
    refused(write(tmp_path, with_base(sweep={"grid": grid})), match="runs")
    loads = {"load": [0.01 * i for i in range(1, 31)]}
    refused(write(tmp_path, with_base(sweep={"grid": loads, "replications": 5000})),
            match="150,000 runs")


# --- 10. name is a label -----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["", ".", "..", "../configs", "a/b", "a\\b", "a\x00b", "a\nb",
                                  "tab\there", ".hidden", "x" * 101, "/abs"])
def test_name_must_be_one_safe_path_component(tmp_path, name):
    message = refused(write(tmp_path, with_base(name=name)))
    assert message.startswith("name: "), message


@pytest.mark.parametrize("name", ["sweep_load", "run 2 (v3)", "größe-α", "a.b", "x" * 100])
def test_ordinary_names_pass(tmp_path, name):
    assert load_config(write(tmp_path, with_base(name=name))).name == name


def test_output_stays_a_path(tmp_path):
    cfg = load_config(write(tmp_path, with_base(output="../elsewhere/out")))
    assert str(cfg.output_dir) == "../elsewhere/out"


# --- 11. a long spawn chain -------------------------------------------------------------------


def chain(n: int, cycle: bool = False) -> dict:
    raw = yaml.safe_load(BASE)
    raw["workload"] = {f"c{i}": {"arrival": "spawned" if i else {"poisson": "1/s"},
                                 "phases": [{"cpu": "1ms"}, {"spawn": f"c{i + 1}"}]}
                       for i in range(n - 1)}
    raw["workload"][f"c{n - 1}"] = {"arrival": "spawned", "phases": [{"cpu": "1ms"}]}
    if cycle:
        raw["workload"][f"c{n - 1}"]["phases"].append({"spawn": "c1"})
    return raw


def test_a_spawn_chain_of_1500_classes_validates(tmp_path):
    assert len(validate(chain(1500)).workload) == 1500
    assert len(load_config(write(tmp_path, yaml.safe_dump(chain(1500)))).workload) == 1500


def test_a_long_spawn_cycle_is_one_short_line():
    with pytest.raises(ConfigError) as info:
        validate(chain(1500, cycle=True))
    message = str(info.value)
    assert "spawn cycle c1 -> c2 -> " in message and len(message) < 300


def test_a_spawned_class_nobody_spawns():
    raw = chain(3)
    raw["workload"]["c1"]["phases"] = [{"cpu": "1ms"}]
    with pytest.raises(ConfigError, match="workload.c2.arrival: class is 'spawned'"):
        validate(raw)


# --- 12. anything thrown at the loader ---------------------------------------------------------


def one_line_or_config(path, overrides=()) -> None:
    """Loading gives a Config or a one-line ConfigError; nothing else escapes."""
    try:
        load_config(path, list(overrides))
    except ConfigError as exc:
        assert len(str(exc).splitlines()) == 1, str(exc)


huge_numbers = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.integers(1, 9000).map(lambda n: "9" * n),
    st.sampled_from(["1e400", "-1e400", ".nan", ".inf", "1e-400", "0x" + "f" * 5000,
                     "1" + ":0" * 3000, "2001-02-30", "1e400s", "1e308ms", "5e9s",
                     "exp(1e10s)", "pareto(3ms, nan)", "uniform(1ms, 1e400s)"]),
)
names = st.one_of(st.sampled_from(["no", "yes", "on", "off", "1", "~", "a:b", "a.b", "<<",
                                   "phase:cpu", "model:go", "all", "..", "", "x\ny"]),
                  st.text(max_size=6))


TOP = ["name", "seed", "horizon", "warmup", "load", "max_tasks", "drain_limit", "machine",
       "sweep"]
deep = st.sampled_from([5, 99, 100, 101, 3000]).map(lambda n: "[" * n + "]" * n)


def values(anchors: list[str]):
    """A YAML value: a huge number, a deep list, or aliases (of aliases) of earlier values."""
    plain = st.one_of(huge_numbers, deep)
    if anchors:
        refs = st.lists(st.sampled_from(anchors), min_size=1, max_size=12)
        plain = st.one_of(plain, st.sampled_from(anchors).map(lambda a: f"*{a}"),
                          refs.map(lambda rs: "[" + ", ".join(f"*{a}" for a in rs) + "]"))
    return st.one_of(plain, plain.map(lambda v: f"{{cores: {v}}}"),
                     plain.map(lambda v: f"{{grid: {{load: {v}}}}}"),
                     plain.map(lambda v: f"{{replications: {v}}}"))


@st.composite
def documents(draw) -> str:
    """A config whose top-level values (and phases) are hostile, anchored and aliased."""
    lines, anchors = [], []
    for i, key in enumerate(draw(st.lists(st.sampled_from(TOP), unique=True, max_size=4))):
        lines.append(f"{key}: &a{i} {draw(values(anchors))}")
        anchors.append(f"a{i}")
    phases = draw(st.one_of(st.just("[{cpu: 1ms}, {io: 2ms}]"), values(anchors)))
    lines += ["workload:", "  api:", "    arrival: {poisson: 100/s}", f"    phases: {phases}",
              "schedulers:", "  fcfs: {model: fcfs}"]
    return "\n".join(lines) + "\n"


@settings(deadline=2000)
@given(data=st.binary(max_size=300))
def test_random_bytes(tmp_path_factory, data):
    one_line_or_config(write(tmp_path_factory.mktemp("b"), data))
    one_line_or_config(write(tmp_path_factory.mktemp("b"), BASE.encode() + data))


@settings(deadline=2000)
@given(text=documents())
def test_random_documents_with_aliases_depth_and_numbers(tmp_path_factory, text):
    one_line_or_config(write(tmp_path_factory.mktemp("d"), text))


@settings(deadline=2000)
@given(key=st.one_of(st.sampled_from(["horizon", "seed", "name", "workload.api.phases.0.cpu",
                                      "workload.api.phases.1", "machine.cores", "sweep",
                                      "workload.api.phases.²", "schedulers.fcfs"]),
                     st.lists(names, min_size=1, max_size=4).map(".".join)),
       value=st.one_of(huge_numbers, st.text(max_size=20),
                       st.integers(0, 3000).map(lambda n: "[" * n + "]" * n),
                       st.sampled_from(["&a [*a]", "{? [1]: 2}", "[&x 1, *x, *y]", "\x00"])))
def test_random_overrides(tmp_path_factory, key, value):
    one_line_or_config(write(tmp_path_factory.mktemp("o"), BASE), [f"{key}={value}"])


NASTY = {
    "bytes": b"\xff\xfe\x00garbage",
    "deep": ("horizon: " + "[" * 100_000 + "]" * 100_000 + "\n").encode(),
    "laughs": (BASE + f"sweep: {{grid: {{load: {laughs()}}}}}\n").encode(),
    "key": (BASE + "? [1, 2]\n: x\n").encode(),
    "name": with_base(name="../configs").encode(),
    "grid_seed": with_base(sweep={"grid": {"seed": [1, 2]}}).encode(),
}


@pytest.mark.parametrize("case", sorted(NASTY))
def test_the_cli_answers_a_nasty_config_with_one_line(tmp_path, case):
    path = write(tmp_path, NASTY[case])
    out = tmp_path / "x"
    for extra in (["--check"], ["--out", str(out)]):
        proc = subprocess.run([sys.executable, "-m", "sim", str(path), *extra],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 2, proc.stderr
        assert "Traceback" not in proc.stderr
        assert len(proc.stderr.splitlines()) == 1 and proc.stderr.startswith("error: ")
        assert not out.exists()
