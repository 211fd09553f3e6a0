"""Config reading: units, distributions, overrides, and every kind of bad input."""

import warnings

import numpy as np
import pytest
import yaml
from helpers import MS, US

from sim.cli import main
from sim.config import ConfigError, load_config, parse_yaml, validate
from sim.distributions import Const, parse_distribution
from sim.units import UnitError, format_duration, parse_duration, parse_rate
from sim.workload import generate

BASE = """
name: t
horizon: 2s
warmup: 100ms
machine: {cores: 2}
workload:
  api:
    arrival: {poisson: 100/s}
    phases:
      - cpu: exp(1ms)
      - repeat: 2
        phases: [{io: 2ms}, yield]
  child:
    arrival: spawned
    phases: [{cpu: 1ms}]
  batchy:
    arrival: {batch: {count: 3, at: 1s}}
    phases: [{spawn: child}, {native: 1ms}, {block: 1ms}, {sleep: 1ms}]
schedulers:
  a: {model: asyncio}
  rr: {model: round_robin, quantum: 2ms}
"""


@pytest.fixture
def base(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(BASE)
    return path


@pytest.mark.parametrize("text,ns", [
    ("5ms", 5 * MS), ("0.4ms", 400_000), ("1.5s", 1_500_000_000), ("250us", 250_000),
    ("7ns", 7), (0, 0), ("0", 0), ("1e-3s", MS),
])
def test_durations(text, ns):
    assert parse_duration(text) == ns


@pytest.mark.parametrize("text", ["5", 5, "-1ms", "5 parsecs", "ms", True, None, "1m"])
def test_bad_durations(text):
    with pytest.raises(UnitError):
        parse_duration(text)


def test_min_is_a_minute_and_m_is_no_unit():
    assert parse_duration("1.5min") == 90 * 10**9
    assert parse_rate("30/min") == 0.5
    with pytest.raises(UnitError) as info:
        parse_duration("1m")
    assert str(info.value) == ("cannot read duration '1m': 'm' is not a unit (minutes or "
                               "milli-?); units: ns, us, ms, s, min (1min is a minute, 1ms a "
                               "millisecond)")
    with pytest.raises(UnitError, match=r"'m' is not a unit .* \(/min is per minute"):
        parse_rate("3/m")


@pytest.mark.parametrize("parse,text,message", [
    (parse_duration, "5 sec", "cannot read duration '5 sec': unknown unit 'sec'; units: ns, "
                              "us, ms, s, min, e.g. '5ms'"),
    (parse_duration, "2h", "cannot read duration '2h': unknown unit 'h'; units: ns, us, ms, s, "
                           "min, e.g. '5ms'"),
    (parse_rate, "3/hour", "cannot read rate '3/hour': unknown unit 'hour'; units: ns, us, ms, "
                           "s, min, e.g. '400/s'"),
    (parse_duration, "5/s", "cannot read duration '5/s': expected a number and a unit, e.g. "
                            "'5ms'"),
    (parse_duration, "soon", "cannot read duration 'soon': expected a number and a unit, e.g. "
                             "'5ms'"),
])
def test_an_unknown_unit_is_named_with_the_units_there_are(parse, text, message):
    with pytest.raises(UnitError) as info:
        parse(text)
    assert str(info.value) == message


def test_rates_and_formatting_round_trip():
    assert parse_rate("400/s") == 400.0
    assert parse_rate("2.5/ms") == 2500.0
    for ns in (0, 1, 999, 1_000, 1_500, 3 * MS, 400_000, 10**10):
        assert parse_duration(format_duration(ns)) == ns


@pytest.mark.parametrize("spec,mean,var", [
    ("exp(2ms)", 2e6, 4e12),
    ("uniform(1ms, 3ms)", 2e6, (2e6) ** 2 / 12),
    ("lognormal(2ms, 0.5)", 2e6, (1e6) ** 2),
    ("bimodal(1ms, 11ms, 0.1)", 2e6, 0.9 * 1e12 + 0.1 * 121e12 - 4e12),
    ("pareto(2ms, 3)", 2e6, (4e6 / 3) ** 2 * 3 / (4 * 1)),
    ("const(2ms)", 2e6, 0.0),
])
def test_distributions_know_their_moments_and_sample_them(spec, mean, var):
    law = parse_distribution(spec)
    assert law.mean == pytest.approx(mean)
    assert law.variance == pytest.approx(var)
    draws = law.sample(np.random.default_rng(7), 400_000).astype(float)
    assert draws.mean() == pytest.approx(mean, rel=0.02)
    if spec.startswith("pareto"):
        return  # infinite fourth moment: the sample variance converges too slowly
    assert draws.var() == pytest.approx(var, rel=0.05, abs=1.0)


@pytest.mark.parametrize("spec, says", [
    ("exponential(3ms)", "unknown distribution 'exponential' (did you mean exp(...)?)"),
    ("log(3ms, 0.5)", "unknown distribution 'log' (did you mean lognormal(...)?)"),
    ("normal(3ms)", "unknown distribution 'normal'; expected one of const, exp,"),
    ("lognormal(2ms, 1ms)", "lognormal's cv must be a finite number (standard deviation / "
                            "mean, e.g. 0.5), got '1ms'"),
    ("bimodal(1ms, 9ms, 10%)", "bimodal's p_long must be a finite number (the chance of the "
                               "long value, e.g. 0.1), got '10%'"),
    ("pareto(3ms, 2ms)", "pareto's alpha must be a finite number (the tail index, e.g. "
                         "2.5), got '2ms'"),
])
def test_a_mistyped_distribution_says_what_was_meant(spec, says):
    """Found as a user: `exponential(300us)` and `lognormal(2ms, 1ms)` (a cv in ms)."""
    with pytest.raises(UnitError) as error:
        parse_distribution(spec)
    assert str(error.value).startswith(says)


def test_bounded_pareto_keeps_its_mean():
    law = parse_distribution("pareto(3ms, 1.5, max=1s)")
    assert law.mean == 3e6
    draws = law.sample(np.random.default_rng(3), 400_000)
    assert draws.max() <= 1e9
    assert draws.mean() == pytest.approx(3e6, rel=0.03)


def test_empirical_reads_a_csv_relative_to_the_config(tmp_path):
    (tmp_path / "d.csv").write_text("ms\n1\n2\n3\n")
    (tmp_path / "c.yaml").write_text(BASE.replace("exp(1ms)", "empirical(d.csv)"))
    cfg = load_config(tmp_path / "c.yaml")
    law = cfg.workload["api"].phases[0].cpu
    assert law.mean == 2e6
    assert set(law.sample(np.random.default_rng(1), 100)) == {1 * MS, 2 * MS, 3 * MS}


def test_resolved_config_round_trips(base):
    cfg = load_config(base)
    again = validate(yaml.safe_load(yaml.safe_dump(cfg.to_dict())))
    assert again.to_dict() == cfg.to_dict()
    assert cfg.schedulers["a"].slow_callback == 100 * MS  # defaults are filled in


def test_overrides(base):
    cfg = load_config(base, ["horizon=5s", "schedulers.rr.quantum=1ms",
                             "workload.api.phases.0.cpu=2ms", "schedulers.a.loops=2"])
    assert cfg.horizon == 5_000_000_000
    assert cfg.schedulers["rr"].quantum == MS
    assert load_config(base, ["schedulers.rr.quantum=1ns"]).schedulers["rr"].quantum == 1
    assert cfg.workload["api"].phases[0].cpu.mean == 2 * MS
    assert cfg.schedulers["a"].loops == 2  # an option at its default can be overridden


@pytest.mark.parametrize("override,where", [
    ("horizon", "expected key=value"),
    ("nope=1", "nope: no such key"),
    ("schedulers.new.model=fcfs", "schedulers.new.model: no such key"),
    ("workload.api.phases.9.cpu=1ms", "workload.api.phases.9.cpu: no such key"),
    ("schedulers.rr.quantum=-2ms", "schedulers.rr.quantum"),
    ("schedulers.rr.quantum=0", "schedulers.rr.quantum: must be positive"),
    ("machine.cores=[1", "malformed YAML"),
    ("workload.api.arival={poisson: 1/s}",
     "workload.api.arival: no such key in the config; did you mean workload.api.arrival? "
     "(override"),
    ("schedulers.rr.quantun=1ms", "schedulers.rr.quantun: no such key in the config; did you "
                                  "mean schedulers.rr.quantum?"),
    ("schedulers.r.quantum=1ms", "schedulers.r.quantum: no such key in the config; did you "
                                 "mean schedulers.rr.quantum?"),
    # nothing close: the names there, a model's options (round_robin has no offload)
    ("zzz=1", "zzz: no such key in the config; known keys: name, seed, horizon, warmup, "
              "machine, workload, schedulers, load, max_tasks, drain_limit, output, sweep "
              "(override 'zzz=1')"),
    ("schedulers.rr.offload=[cpu]", "schedulers.rr.offload: no such key in the config; "
                                    "known keys at schedulers.rr: model, quantum"),
])
def test_bad_overrides(base, override, where):
    with pytest.raises(ConfigError) as info:
        load_config(base, [override])
    assert where in str(info.value)


BAD = [
    ("horizon: 2s\nhorizon: 3s", "horizon: duplicate key"),
    ("machine: {cores: 0}", "machine.cores"),
    ("machine: {cores: 2, turbo: true}", "machine.turbo: unknown key"),
    ("machine: {profile: bogus}",
     "machine.profile: expected linux, ideal or a YAML file such as machine.yaml, got 'bogus'"),
    ("machine: {profile: none.yaml}", "machine.profile: cannot read 'none.yaml' (No such file"),
    ("machine: {timer_lateness: exp(nan)}", "machine.timer_lateness: "),
    ("machine: {timer_lateness: {}}", "machine.timer_lateness: give 1 to 16 wait lengths, "
     "each with its law, e.g. {0: pareto(70us, 5), 5ms: pareto(150us, 5)}, got 0"),
    ("machine: {timer_lateness: {0: 10us, soon: 1us}}", "machine.timer_lateness.soon: a wait "
     "length: cannot read duration 'soon'"),
    ("machine: {timer_lateness: {0: 10us, -1ms: 1us}}", "machine.timer_lateness.-1ms: a wait "
     "length: duration '-1ms' is negative"),
    ("machine: {timer_lateness: {1ms: 10us, 1000us: 20us}}", "machine.timer_lateness.1ms: "
     "the same wait length as 1000us (1ms)"),  # (the test writes the keys sorted)
    ("machine: {timer_lateness: {" + ", ".join(f"{i}ms: 1us" for i in range(17)) + "}}",
     "machine.timer_lateness: give 1 to 16 wait lengths, each with its law, e.g. "),
    ("machine: {timer_lateness: {0: 10us, 2ms: nope(1)}}", "machine.timer_lateness.2ms: unknown "
     "distribution 'nope'"),
    ("machine: {timer_lateness: {0: 10us, 2ms: -1us}}", "machine.timer_lateness.2ms: duration "
     "'-1us' is negative"),
    ("machine: {wake_latency: -1us}", "machine.wake_latency: "),
    ("machine: {net_wake_latency: -1us}", "machine.net_wake_latency: duration '-1us' is "
     "negative"),
    ("machine: {net_wake_latency: soon}", "machine.net_wake_latency: cannot read duration"),
    ("machine: {net_wake_latency: {}}", "machine.net_wake_latency: give 1 to 16 times "
     "parked, each with its law, e.g. {0: pareto(70us, 5), 5ms: pareto(150us, 5)}, got 0"),
    ("machine: {net_wake_latency: {0: 10us, later: 1us}}", "machine.net_wake_latency.later: a "
     "time parked: cannot read duration 'later'"),
    ("machine: {net_wake_latency: {1ms: 10us, 1000us: 20us}}", "machine.net_wake_latency.1ms: "
     "the same time parked as 1000us (1ms)"),
    ("machine: {net_wake_latency: {0: 10us, 2ms: -1us}}", "machine.net_wake_latency.2ms: "
     "duration '-1us' is negative"),
    ("machine: {signal_cost: {0: 5us, 5ms: nan}}", "machine.signal_cost.5ms: "),
    ("machine: {signal_cost: {0: 5us, 1e400s: 1us}}", "machine.signal_cost.1e400s: a time "
     "parked: "),
    ("machine: {tick_origin: -1ms}", "machine.tick_origin: duration '-1ms' is negative"),
    ("machine: {tick_origin: soon}", "machine.tick_origin: cannot read duration 'soon'"),
    ("horizon: 10", "horizon: duration 10 needs a unit"),
    ("horizon: -1s", "horizon: duration '-1s' is negative"),
    ("warmup: 5s", "warmup: must be shorter than horizon"),
    ("schedulers: {x: {model: erlang}}",
     "schedulers.x.model: unknown model 'erlang'; known models: asyncio, gil_threads, go, "),
    ("schedulers: {x: {model: tokyo}}",
     "schedulers.x.model: unknown model 'tokyo' (did you mean tokio?); known models: "),
    ("schedulers: {x: {quantum: 1ms}}",
     "schedulers.x.model: required key is missing; known models: asyncio, "),
    ("schedulers: {x: fcfs}",
     "schedulers.x: expected a mapping such as {model: fcfs}, got 'fcfs'; known models: "),
    ("schedulers: {x: {model: asyncio, lops: 2}}",
     "schedulers.x.lops: unknown key; did you mean loops?"),
    ("workload: {a: {arival: {poisson: 1/s}, phases: [{cpu: 1ms}]}}",
     "workload.a.arival: unknown key; did you mean arrival?"),
    ("workload: {a: {arrival: {poison: 1/s}, phases: [{cpu: 1ms}]}}",
     "workload.a.arrival: unknown arrival 'poison' (did you mean poisson?); an arrival is "),
    ("workload: {a: {arrival: {poisson: 1/s}, phases: [{cpuu: 1ms}]}}",
     "workload.a.phases.0: unknown phase 'cpuu' (did you mean cpu?); a phase is one of "),
    ("machine: {cores: 2, zzz: 1}", "machine.zzz: unknown key; known keys: profile, cores, "),
    ("horizn: 1s", "horizn: unknown key; did you mean horizon?"),
    ("horizon: 1m", "horizon: cannot read duration '1m': 'm' is not a unit"),
    ("load: 90%", "load: a fraction of the cores' capacity, not a percentage: write 0.9 for "
                  "90 %, got '90%'"),
    ("sweep: {grid: {schedulers.rr.quantun: [1ms]}}",
     "sweep.grid.schedulers.rr.quantun: no such key in the config; did you mean "
     "schedulers.rr.quantum?"),
    ("schedulers: {x: {model: fcfs, quantum: 1ms}}", "schedulers.x.quantum: unknown key"),
    ("workload: {all: {arrival: {poisson: 1/s}, phases: [{cpu: 1ms}]}}", "workload.all"),
    ("workload: {a: {arrival: {poisson: 1/s}, phases: [{cpu: -1ms}]}}",
     "workload.a.phases.0.cpu"),
    ("workload: {a: {arrival: {poisson: 1/s}, phases: [{cpu: exp(1ms}]}}",
     "workload.a.phases.0.cpu"),
    ("workload: {a: {arrival: {poisson: 1/s}, phases: [{io: 1ms, offload: true}]}}",
     "workload.a.phases.0.offload: only a cpu, native or block phase can be offloaded"),
    ("workload: {a: {arrival: {poisson: 1/s}, phases: [{cpu: 1ms, offload: 3}]}}",
     "workload.a.phases.0.offload"),
    ("workload: {a: {arrival: {poisson: 1/s}, phases: [{walk: 1ms}]}}",
     "workload.a.phases.0: unknown phase 'walk'; a phase is one of"),
    ("workload: {a: {arrival: {poisson: 1/s}, phases: [{spawn: b}]}}",
     "workload.a.phases.0.spawn: spawns unknown class 'b'"),
    ("workload: {a: {arrival: spawned, phases: [{spawn: a}]}}", "spawn cycle a -> a"),
    ("workload: {a: {arrival: {poisson: fast}, phases: [{cpu: 1ms}]}}",
     "workload.a.arrival.poisson"),
    ("workload: {a: {arrival: {batch: {count: 1, at: 9s}}, phases: [{cpu: 1ms}]}}",
     "workload.a.arrival.batch.at: must be before horizon"),
    ("workload: {}", "workload"),
    ("sweep: {grid: {machine.cpus: [1, 2]}}", "sweep.grid.machine.cpus: no such key"),
    ("sweep: {machine.cores: [1, 2]}",  # (found as a user: the grid: level left out)
     "sweep['machine.cores']: unknown key; known keys: grid, replications; a swept key goes "
     "under grid: sweep: {grid: {machine.cores: [...]}}"),
    ("sweep: {replication: 3}", "sweep.replication: unknown key; did you mean replications?"),
    ("sweep: {grid: {machine.cores: [1, 0]}}", "machine.cores"),
    ("schedulers: {a: {model: asyncio, offload: [io]}}", "schedulers.a.offload"),
    ("[1, 2", "malformed YAML"),
    ("- just a list", "expected a mapping"),
]


@pytest.mark.parametrize("patch,message", BAD)
def test_bad_input_names_the_key(tmp_path, patch, message):
    raw = yaml.safe_load(BASE)
    try:
        extra = parse_yaml(patch)
    except ConfigError as exc:
        assert message in str(exc)
        return
    path = tmp_path / "c.yaml"
    if isinstance(extra, dict):
        raw.update(extra)
        text = yaml.safe_dump(raw)
        if "duplicate" in message:
            text = patch + "\n" + yaml.safe_dump({k: v for k, v in raw.items() if k != "horizon"})
        path.write_text(text)
    else:
        path.write_text(patch)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert message in str(info.value)


def test_the_machine_profile_fills_what_is_not_given(base):
    """linux (the default) draws the tick origin; ideal starts the grid at 0; a key given
    beside the profile wins; the resolved values are what --check prints."""
    assert load_config(base).machine.tick_origin == "random"
    assert load_config(base, ["machine.profile=ideal"]).machine.tick_origin == 0
    cfg = load_config(base, ["machine.profile=ideal", "machine.tick_origin=300us"])
    assert cfg.machine.tick_origin == 300_000
    assert cfg.to_dict()["machine"] == {"profile": "ideal", "cores": cfg.machine.cores,
                                        "os_time_slice": "3ms", "tick_origin": "300us",
                                        "timer_lateness": "0", "busy_timer_lateness": "0",
                                        "wake_latency": "0", "net_wake_latency": "0",
                                        "signal_cost": "0",
                                        "asyncio_iteration_cost": "0",
                                        "asyncio_handle_cost": "0",
                                        "asyncio_step_overhead": "0", "asyncio_wake_cost": "0",
                                        "asyncio_message_cost": "0",
                                        "gil_threads_message_cost": "0",
                                        "go_message_cost": "0", "tokio_message_cost": "0",
                                        "asyncio_busy_message_cost": "0",
                                        "go_sysmon_round_cost": "0",
                                        "go_netpoll_entry": "0"}
    linux = load_config(base).machine
    assert linux.go_netpoll_entry == 750
    assert {length: str(law) for length, law in linux.wake_latency.items()} == {
        20 * US: "pareto(20.1us, 3.59)", 200 * US: "pareto(35.8us, 2.9)",
        MS: "pareto(42.1us, 2.86)", 2 * MS: "pareto(59.5us, 1.77, max=2.5006ms)",
        5 * MS: "pareto(65.5us, 2.49)", 10 * MS: "pareto(86.8us, 2, max=4.5181ms)",
        20 * MS: "pareto(91.5us, 2.29)"}
    assert {length: str(law) for length, law in linux.net_wake_latency.items()} == {
        20 * US: "pareto(29.3us, 4.17)", 200 * US: "pareto(39.7us, 3.8)",
        MS: "pareto(49.2us, 3.33)", 2 * MS: "pareto(56.8us, 3.11)",
        5 * MS: "pareto(77us, 3.34)", 10 * MS: "pareto(101.4us, 3.32)",
        20 * MS: "pareto(116us, 4.55)"}
    assert {length: str(law) for length, law in linux.timer_lateness.items()} == {
        20 * US: "pareto(90.2us, 5.12)", MS: "pareto(110.6us, 2.68)",
        2 * MS: "pareto(113.4us, 3.13)", 5 * MS: "pareto(151.6us, 1.99, max=3.7993ms)",
        10 * MS: "pareto(180.1us, 1.91, max=6.9848ms)"}


def test_a_profile_file_fills_keys_before_linux(base):
    """A profile file (relative to the config) gives its keys; linux gives the rest; the
    config's own keys win over both."""
    (base.parent / "m.yaml").write_text("timer_lateness: exp(50us)\ntick_origin: 0\n"
                                        "net_wake_latency: 90us\n")
    cfg = load_config(base, ["machine.profile=m.yaml", "machine.tick_origin=1us"]).machine
    assert (str(cfg.timer_lateness), cfg.tick_origin) == ("exp(50us)", 1000)
    assert cfg.net_wake_latency == Const(90_000)
    assert str(cfg.wake_latency[20 * US]) == "pareto(20.1us, 3.59)"  # (linux's)


def test_timer_lateness_by_wait_length_validates_sorted_and_check_prints_it(base, capsys):
    """{length: law}: lengths read as durations and sorted; --check writes each length
    and its law; 16 lengths are allowed; a profile file can set it too."""
    base.write_text(base.read_text().replace(
        "machine: {cores: 2}", "machine: {cores: 2, timer_lateness: {5ms: 300us, "
                               "0: 'pareto(70us, 5)', 1000us: exp(100us)}}"))
    cfg = load_config(base)
    assert cfg.machine.timer_lateness == {0: parse_distribution("pareto(70us, 5)"),
                                          MS: parse_distribution("exp(100us)"),
                                          5 * MS: Const(300_000)}
    assert main([str(base), "--check"]) == 0
    shown = yaml.safe_load(capsys.readouterr().out)["machine"]["timer_lateness"]
    assert list(shown.items()) == [("0", "pareto(70us, 5)"), ("1ms", "exp(100us)"),
                                   ("5ms", "300us")]
    many = {f"{i}ms": f"{i}us" for i in range(16)}
    assert len(load_config(base, [f"machine.timer_lateness={many}"]).machine
               .timer_lateness) == 16
    base.write_text(BASE)  # (a config's own key wins over its profile's)
    (base.parent / "m.yaml").write_text("timer_lateness:\n  20us: 70us\n  2ms: 150us\n")
    cfg = load_config(base, ["machine.profile=m.yaml"]).machine
    assert cfg.timer_lateness == {20_000: Const(70_000), 2 * MS: Const(150_000)}
    assert str(cfg.wake_latency[MS]) == "pareto(42.1us, 2.86)"  # (linux fills the rest)


def test_net_wake_latency_by_time_parked_validates_sorted_and_check_prints_it(base, capsys):
    """net_wake_latency takes {time parked: law} as timer_lateness takes wait lengths."""
    base.write_text(base.read_text().replace(
        "machine: {cores: 2}", "machine: {cores: 2, net_wake_latency: {3ms: 80us, "
                               "0: 'pareto(40us, 5)'}}"))
    cfg = load_config(base)
    assert cfg.machine.net_wake_latency == {0: parse_distribution("pareto(40us, 5)"),
                                            3 * MS: Const(80_000)}
    assert main([str(base), "--check"]) == 0
    shown = yaml.safe_load(capsys.readouterr().out)["machine"]["net_wake_latency"]
    assert list(shown.items()) == [("0", "pareto(40us, 5)"), ("3ms", "80us")]


@pytest.mark.parametrize("text,message", [
    ("timer_lateness: nope(1)\n", "'m.yaml': timer_lateness: unknown distribution 'nope'"),
    ("timer_lateness: {0: 10us, 1ms: soon}\n",
     "'m.yaml': timer_lateness.1ms: cannot read duration 'soon'"),
    ("timer_lateness: {1ms: 10us, 0.001s: 20us}\n",
     "'m.yaml': timer_lateness.0.001s: the same wait length as 1ms (1ms)"),
    ("net_wake_latency: -5us\n", "'m.yaml': net_wake_latency: duration '-5us' is negative"),
    ("turbo: 1\n", "'m.yaml': turbo: unknown key"),
    ("profile: ideal\n", "without a profile of its own"),
    ("- 1\n", "must be a mapping of machine keys"),
    ("a: [\n", "m.yaml: malformed YAML (line 2, column 1)"),
])
def test_a_bad_profile_file_is_one_message_naming_it(base, text, message):
    (base.parent / "m.yaml").write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(base, ["machine.profile=m.yaml"])
    assert str(info.value).startswith("machine.profile: ") and message in str(info.value)


def test_a_phase_says_offload_and_the_resolved_config_keeps_it(base):
    """``offload: true`` reaches the class's template (per phase, repeats unrolled); the
    resolved config writes it only where it is true."""
    text = base.read_text().replace("phases: [{io: 2ms}, yield]",
                                    "phases: [{native: 1ms, offload: true}, yield]")
    assert text != base.read_text()
    base.write_text(text)
    cfg = load_config(base)
    phases = cfg.to_dict()["workload"]["api"]["phases"]
    assert phases[0] == {"cpu": "exp(1ms)"}
    assert phases[1]["phases"] == [{"native": "1ms", "offload": True}, "yield"]
    templates = generate(cfg).templates
    assert templates[0].offloaded == (False, True, False, True, False)
    with warnings.catch_warnings():  # each phase serialises as its kind (offload is no tag)
        warnings.simplefilter("error")
        assert validate(cfg.to_dict()).to_dict() == cfg.to_dict()
    assert templates[1].offloaded == ()  # no phase of the class says it
