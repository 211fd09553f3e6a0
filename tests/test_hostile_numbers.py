"""Hostile numbers (issue 14): NaN, inf, overflow, sub-nanosecond durations, booleans read as
counts, absurd sizes. Each is refused where the config is read, with the key path, and
nothing big is allocated before the refusal."""

import time
import tracemalloc

import numpy as np
import pytest
import yaml

from sim.cli import main
from sim.config import ConfigError, load_config, validate
from sim.distributions import Distribution, parse_distribution
from sim.models.base import FOREVER
from sim.units import (
    MAX_DURATION,
    MAX_PHASES,
    MAX_TIME,
    TIME_LIMIT,
    UnitError,
    format_duration,
    parse_duration,
)
from sim.workload import _trees, check_size, generate, topological

BASE = """
name: hostile
horizon: 1s
machine: {cores: 2}
workload:
  api:
    arrival: {poisson: 100/s}
    phases: [{cpu: exp(0.4ms)}, {io: exp(3ms)}]
schedulers:
  fcfs: {model: fcfs}
  threads: {model: gil_threads}
  tokio: {model: tokio}
"""


@pytest.fixture
def base(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(BASE)
    return path


def refused(path, *overrides: str) -> str:
    """The one-line message of a config refused at load or at its size check."""
    with pytest.raises(ConfigError) as info:
        check_size(load_config(path, list(overrides)))
    message = str(info.value)
    assert len(message.splitlines()) == 1
    return message


def raw(**top) -> dict:
    return {**yaml.safe_load(BASE), **top}


# --- 1. NaN and inf ------------------------------------------------------------------------


@pytest.mark.parametrize("value", [
    "pareto(3ms, nan)", "lognormal(3ms, nan)", "pareto(3ms, inf)", "pareto(3ms, 1.5, max=inf)",
    "bimodal(1ms, 2ms, nan)", "bimodal(1ms, nanms, 0.5)", ".nan", ".inf", "-.inf", "nanms",
    "infs", "1e400s", "uniform(1ms, 1e400s)", "exp(1e10s)", "lognormal(3ms, 1e300)",
    "const(1e400ms)", "pareto(3ms, 1e400)",
])
def test_nan_inf_and_overflowing_phases_are_refused_with_the_key(base, value):
    message = refused(base, f"workload.api.phases.1.io={value}")
    assert message.startswith("workload.api.phases.1.io: ")


@pytest.mark.parametrize("rate", ["1e400/s", "nan/s", "inf/s", "2e9/s"])
def test_nan_inf_and_huge_rates_are_refused(base, rate):
    message = refused(base, f"workload.api.arrival.poisson={rate}")
    assert message.startswith("workload.api.arrival.poisson: ")


def test_a_huge_rate_under_load_is_refused_by_check_and_by_the_run(base):
    with pytest.raises(ConfigError, match="workload.api.arrival.poisson"):
        load_config(base, ["workload.api.arrival.poisson=1e400/s", "load=0.5"])
    with pytest.raises(ConfigError, match="workload.api.arrival.poisson"):
        validate(raw(load=0.5, workload={"api": {"arrival": {"poisson": "1e400/s"},
                                                 "phases": [{"cpu": "1ms"}]}}))


def test_nan_as_a_duration_does_not_suggest_nanms():
    with pytest.raises(UnitError) as info:
        parse_duration(float("nan"))
    assert "nanms" not in str(info.value)


@pytest.mark.parametrize("row", ["nan", "inf", "-inf", "1e400", "NaN"])
def test_an_empirical_csv_with_nan_or_inf_is_refused_naming_file_and_line(tmp_path, row):
    (tmp_path / "d.csv").write_text(f"ms\n1\n2\n{row}\n3\n")
    with pytest.raises(UnitError) as info:
        parse_distribution("empirical(d.csv)", tmp_path)
    message = str(info.value)
    assert "d.csv, line 4:" in message and repr(row) in message


def test_an_empirical_error_echoes_the_cell_not_the_file(tmp_path):
    (tmp_path / "d.csv").write_text("ms\n1\n" + "x" * 50_000 + ",y\n" + "2\n" * 10_000)
    with pytest.raises(UnitError) as info:
        parse_distribution("empirical(d.csv)", tmp_path)
    assert "line 3" in str(info.value) and len(str(info.value)) < 400


def test_empirical_reads_csv_with_a_bom_quotes_and_blank_lines(tmp_path):
    (tmp_path / "d.csv").write_bytes(b'\xef\xbb\xbfms,note\n1,"a, b"\n\n"2",c\n')
    law = parse_distribution("empirical(d.csv)", tmp_path)
    assert law.values.tolist() == [1e6, 2e6]


def test_empirical_refuses_bytes_that_are_not_utf8(tmp_path):
    (tmp_path / "d.csv").write_bytes(b"ms\n1\n\xff\xfe2\n")
    with pytest.raises(UnitError, match="d.csv: not UTF-8"):
        parse_distribution("empirical(d.csv)", tmp_path)


# --- 2. int64 and the models' "never" -----------------------------------------------------


def test_time_bounds_leave_room_below_forever():
    assert TIME_LIMIT == FOREVER
    assert MAX_TIME + MAX_PHASES * MAX_DURATION < FOREVER < 2**63


def test_a_per_task_sum_cannot_overflow(base):
    # 5e9 s fits in int64 (5e18 ns), twice it does not: one duration is bounded instead
    message = refused(base, "workload.api.phases=[{cpu: 5e9s}, {cpu: 5e9s}]")
    assert message.startswith("workload.api.phases.0.cpu: duration '5e9s' is too long")


def test_the_longest_task_allowed_fits_with_room():
    cfg = validate(raw(workload={"big": {
        "arrival": {"batch": {"count": 1, "at": 0}},
        "phases": [{"repeat": MAX_PHASES, "phases": [{"cpu": format_duration(MAX_DURATION)}]}],
    }}))
    demand = int(generate(cfg).demand[0])
    assert demand == MAX_PHASES * MAX_DURATION
    assert MAX_TIME + demand < FOREVER


@pytest.mark.parametrize("overrides,key", [
    (["horizon=1e400s"], "horizon"),
    (["horizon=3e9s"], "horizon"),
    (["drain_limit=1e400s"], "drain_limit"),
    (["horizon=1.5e9s", "drain_limit=1e9s"], "drain_limit"),
    (["schedulers.threads.switch_interval=1e5s"], "schedulers.threads.switch_interval"),
    (["machine.os_time_slice=5e9s"], "machine.os_time_slice"),
])
def test_horizon_drain_and_options_must_fit(base, overrides, key):
    batch = "workload.api.arrival={batch: {count: 1}}"  # so that max_tasks is not what refuses
    assert refused(base, batch, *overrides).startswith(f"{key}: ")


class _Wild(Distribution):
    spec, mean, variance = "wild", 0.0, 0.0

    def draw(self, rng, n):
        return np.array([np.nan, np.inf, -np.inf, -5.0, 1e30, 2.6, 7.0])


def test_sample_is_never_negative_and_never_wraps():
    draws = _Wild().sample(np.random.default_rng(1), 7)
    assert draws.tolist() == [0, MAX_DURATION, 0, 0, MAX_DURATION, 3, 7]


@pytest.mark.parametrize("spec", ["lognormal(10000s, 100)", "exp(10000s)", "pareto(10000s, 2.01)",
                                  "pareto(1ns, 1.001, max=10000s)"])
def test_extreme_allowed_laws_draw_in_range(spec):
    draws = parse_distribution(spec).sample(np.random.default_rng(2), 200_000)
    assert draws.min() >= 0 and draws.max() <= MAX_DURATION


def test_a_large_pareto_alpha_has_finite_moments():
    law = parse_distribution("pareto(3ms, 60, max=1s)")  # low**alpha overflowed a float
    assert law.mean == 3e6 and 0 <= law.variance < 1e12


# --- 3. durations and booleans ------------------------------------------------------------


@pytest.mark.parametrize("text,ns", [
    ("-0s", 0), ("-0.0ms", 0), ("0e5s", 0), ("0.5ns", 1), ("1.5ns", 2), ("2.5ns", 3),
    ("1.4ns", 1), ("1234.567890123s", 1_234_567_890_123), ("+3ms", 3_000_000),
])
def test_durations_round_to_the_nearest_ns_halves_up(text, ns):
    assert parse_duration(text) == ns


@pytest.mark.parametrize("text", ["1e-400s", "0.4ns", "1e-10s", "0.0000001ms"])
def test_a_nonzero_duration_below_half_a_ns_is_refused(text):
    with pytest.raises(UnitError, match="below 1 ns, the simulator's resolution"):
        parse_duration(text)


@pytest.mark.parametrize("ns", [1, 999, 1_001, 1_234_567_890_123, MAX_TIME - 1, MAX_DURATION])
def test_durations_are_written_back_exactly(ns):
    assert parse_duration(format_duration(ns)) == ns


@pytest.mark.parametrize("spec", ["lognormal(3ms, 0.1234567891)", "pareto(3ms, 2.123456789)",
                                  "bimodal(1ms, 9ms, 0.123456789)"])
def test_distribution_parameters_are_written_back_exactly(spec):
    assert str(parse_distribution(spec)) == spec


def test_a_resolved_config_round_trips_long_odd_durations(base):
    cfg = load_config(base, ["horizon=1234.567890123s"])
    assert validate(cfg.to_dict()).horizon == cfg.horizon == 1_234_567_890_123


@pytest.mark.parametrize("override", [
    "machine.cores=true", "load=true", "seed=true", "max_tasks=yes", "seed=no",
    "schedulers.threads.threads=true", "schedulers.tokio.workers=true",
    "schedulers.tokio.global_queue_interval=true", "machine.cores=2.0", "machine.cores='2'",
    "workload.api.arrival={closed: {clients: true}}",
    "workload.api.phases=[{repeat: true, phases: [{cpu: 1ms}]}]",
])
def test_booleans_and_non_integers_are_not_counts(base, override):
    key = override.split("=")[0].removesuffix(".phases").removesuffix(".arrival")
    message = refused(base, override)
    assert message.startswith(key) and ("expected a" in message), message


# --- 4. load ------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf", "true", "0", "-1", "1e400", "101"])
def test_load_must_be_a_finite_fraction(base, value):
    assert refused(base, f"load={value}").startswith("load: ")


def test_load_as_a_percentage_string_says_what_to_write(base):
    message = refused(base, "load='90%'")
    assert message == ("load: a fraction of the cores' capacity, not a percentage: write 0.9 "
                       "for 90 %, got '90%'")
    assert refused(base, "load=fast") == ("load: expected a number such as 0.9 (a fraction "
                                          "of the cores' capacity), got 'fast'")


# --- 5. upper bounds ----------------------------------------------------------------------


@pytest.mark.parametrize("key", [
    "machine.cores", "schedulers.threads.threads", "schedulers.tokio.workers",
    "schedulers.tokio.blocking_threads", "schedulers.tokio.event_interval",
    "schedulers.tokio.local_queue", "max_tasks",
])
def test_counts_of_a_billion_are_refused(base, key):
    message = refused(base, f"{key}=1000000000")
    assert message.startswith(f"{key}: must be from ") and "got 1,000,000,000" in message


@pytest.mark.parametrize("scheduler,key", [
    ({"model": "asyncio", "loops": 10**9}, "loops"),
    ({"model": "asyncio", "executor_threads": 10**9}, "executor_threads"),
    ({"model": "go", "gomaxprocs": 10**9}, "gomaxprocs"),
    ({"model": "go", "steal_tries": 10**9}, "steal_tries"),
])
def test_model_counts_of_a_billion_are_refused(scheduler, key):
    with pytest.raises(ConfigError, match=f"schedulers.x.{key}: must be from 1 to"):
        validate(raw(schedulers={"x": scheduler}))


def test_batch_count_and_replications_are_bounded():
    with pytest.raises(ConfigError, match="workload.b.arrival.batch.count: must be"):
        validate(raw(workload={"b": {"arrival": {"batch": {"count": 10**12}},
                                     "phases": [{"cpu": "1ms"}]}}))
    with pytest.raises(ConfigError, match="sweep.replications: must be"):
        validate(raw(sweep={"replications": 10**9}))


# --- 6. sizes decided before anything is allocated ----------------------------------------


def small_peak(action) -> int:
    """Peak bytes allocated by ``action`` (which must raise ConfigError)."""
    tracemalloc.start()
    try:
        with pytest.raises(ConfigError) as info:
            action()
        return tracemalloc.get_traced_memory()[1], str(info.value)
    finally:
        tracemalloc.stop()


def test_a_huge_repeat_is_refused_from_the_counts():
    one = {"arrival": {"poisson": "1/s"}, "phases": [{"repeat": 1_000_000,
                                                      "phases": [{"cpu": "1ms"}]}]}
    with pytest.raises(ConfigError, match="workload.a.phases.0.repeat: must be from 1 to"):
        validate(raw(workload={"a": one}))
    nested = {"arrival": {"poisson": "1/s"}, "phases": [{"repeat": 1000, "phases": [
        {"repeat": 1000, "phases": [{"repeat": 1000, "phases": [{"cpu": "1ms"}]}]}]}]}
    peak, message = small_peak(lambda: validate(raw(workload={"a": nested})))
    assert message.startswith("workload.a.phases: a task would have more than 100,000 phases")
    assert peak < 20 * 2**20


def test_tasks_times_phases_is_bounded():
    many = {"arrival": {"poisson": "500000/s"},
            "phases": [{"repeat": 1000, "phases": [{"cpu": "1ns"}]}]}
    peak, message = small_peak(lambda: check_size(validate(raw(workload={"a": many}))))
    assert message.startswith("workload: this run would draw about 500,000,000 phases")
    assert peak < 50 * 2**20


def test_a_million_closed_clients_are_refused_from_the_config():
    closed = {"arrival": {"closed": {"clients": 1_000_000}}, "phases": [{"cpu": "1ms"}]}
    with pytest.raises(ConfigError, match="workload.c.arrival.closed.clients: must be from 1"):
        validate(raw(workload={"c": closed}))


def test_closed_clients_are_counted_before_they_are_drawn():
    closed = {"arrival": {"closed": {"clients": 10_000}}, "phases": [{"cpu": "1ms"}]}
    cfg = validate(raw(workload={"c": closed}, horizon="10s"))
    started = time.perf_counter()
    peak, message = small_peak(lambda: generate(cfg))
    assert message.startswith("max_tasks: this run would create about 100,010,000 tasks")
    assert peak < 20 * 2**20 and time.perf_counter() - started < 5


def test_closed_clients_with_zero_think_and_zero_demand_are_refused():
    closed = {"arrival": {"closed": {"clients": 3}}, "phases": [{"cpu": 0}, {"io": 0}]}
    cfg = validate(raw(workload={"c": closed}))
    peak, message = small_peak(lambda: check_size(cfg))
    assert message.startswith("workload.c.arrival.closed.think: zero think time and zero")


def test_closed_estimate_admits_a_small_closed_class():
    closed = {"arrival": {"closed": {"clients": 4, "think": "exp(10ms)"}},
              "phases": [{"cpu": "exp(1ms)"}]}
    cfg = validate(raw(workload={"c": closed}))
    check_size(cfg)
    assert 0 < generate(cfg).n < 4 * (1 + 1e9 / 11e6)


def test_the_cli_refuses_a_huge_rate_with_load_at_check(base, capsys):
    assert main([str(base), "workload.api.arrival.poisson=1e400/s", "load=0.5", "--check"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: workload.api.arrival.poisson: ") and err.count("\n") == 1


@pytest.mark.parametrize("override", [
    "workload.api.phases.0.cpu=nan", "workload.api.phases.0.cpu=.nan",
    "workload.api.phases.1.io=pareto(3ms, nan)", "horizon=1e400s", "machine.cores=true",
])
def test_the_cli_answers_hostile_numbers_in_one_line(override, capsys):
    assert main(["configs/quickstart.yaml", override, "--check"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {override.split('=')[0]}: ") and err.count("\n") == 1


# --- 7. spawn trees -----------------------------------------------------------------------


def tree(width: int, depth: int, **top) -> dict:
    """Class l0 (1/s) spawns ``width`` tasks of l1, each ``width`` of l2, ... to l{depth-1}."""
    workload = {f"l{i}": {"arrival": "spawned" if i else {"poisson": "1/s"},
                          "phases": [{"cpu": "1ms"}] + [{"spawn": f"l{i + 1}"}] * width
                          * (i < depth - 1)} for i in range(depth)}
    return raw(workload=workload, **top)


def test_a_wide_spawn_tree_is_counted_in_linear_time():
    cfg = validate(tree(10, 8, max_tasks=20_000_000, horizon="10s"))  # 11,111,111 a root
    started = time.perf_counter()
    with pytest.raises(ConfigError, match="about 111,111,110 tasks"):
        check_size(cfg)
    assert time.perf_counter() - started < 1


def test_a_spawn_tree_past_float_range_is_refused():
    with pytest.raises(ConfigError, match="workload.l0.phases: one task and the tasks it spawns"):
        check_size(validate(tree(10, 400)))
    with pytest.raises(ConfigError, match="workload.l0.phases"):
        check_size(validate(tree(10, 400, load=0.5)))


@pytest.mark.parametrize("backwards", [False, True])
def test_a_1500_class_spawn_chain_validates_counts_and_generates(backwards):
    chain = tree(1, 1500, horizon="10s")
    if backwards:  # the leaf first: a recursive walk up the parents would go 1500 deep
        chain["workload"] = dict(reversed(chain["workload"].items()))
    cfg = validate(chain)
    check_size(cfg)
    workload = generate(cfg)
    assert workload.n == 1500 * len(workload.open_order) > 0


def test_a_spawned_task_follows_its_parent_in_task_order():
    cfg = validate(tree(2, 3, horizon="100ms"))
    w = generate(cfg)
    for task in range(w.n):
        for kind, arg in w.phases(task):
            if kind == "spawn":
                assert arg > task and w.task_class[arg] == w.task_class[task] + 1


def test_trees_and_topological_order_on_a_diamond():
    cfg = validate(raw(workload={
        "d": {"arrival": "spawned", "phases": [{"cpu": "1ms"}]},
        "b": {"arrival": "spawned", "phases": [{"spawn": "d"}, {"cpu": "2ms"}]},
        "c": {"arrival": "spawned", "phases": [{"spawn": "d"}, {"spawn": "d"}]},
        "a": {"arrival": {"poisson": "1/s"}, "phases": [{"spawn": "b"}, {"spawn": "c"}]},
    }))
    from sim.workload import templates_of
    templates = templates_of(cfg)
    order = topological(templates)
    assert order.index(3) < order.index(1) < order.index(0)
    assert order.index(2) < order.index(0)
    tasks, work = _trees(templates)
    assert tasks == [1, 2, 3, 6] and work == [1e6, 3e6, 2e6, 5e6]
