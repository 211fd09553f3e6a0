"""The ``tokio`` model: exact micro-scenarios, queueing theory, invariants.

Micro-scenarios: integer-ns finish times worked out by hand from ``MT/worker.rs``. Unless
a test says otherwise, ``machine.cores`` = workers, every overhead is zero, and arrivals at
0 come in through the driver and the inject queue (``accept: block_on``). A worker's first
tick finds nothing; as it parks, its driver poll finds the connections, so the first task
is polled at tick 2.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from helpers import (
    MS,
    US,
    Probe,
    check_invariants,
    config,
    counted,
    finish_times,
    one,
    run_scheduler,
    spans,
    within_ci,
)
from hypothesis import given
from hypothesis import strategies as st

from sim.config import ConfigError
from sim.metrics import task_table, wakeup_table
from sim.models import MODELS
from sim.models.base import Engine
from sim.recorder import Recorder
from sim.runner import model_rng
from sim.workload import generate

CHILD = {"arrival": "spawned", "phases": [{"cpu": "1ms"}]}
# A hang inside a hypothesis test: hypothesis catches the signal timeout's exception and
# replays the example with no timer left, so there the timeout ends the whole run instead
# (its stack dump names the test).
HANG = pytest.mark.timeout(300, method="thread")


def at(time: str, *phases) -> dict:
    return {"arrival": {"batch": {"count": 1, "at": time}}, "phases": list(phases)}


def finishes(workload: dict, cores: int = 1, machine: dict | None = None,
             **options) -> dict[int, int]:
    cfg = config(workload, {"tokio": {"model": "tokio", **options}},
                 machine={"cores": cores, **(machine or {})})
    return finish_times(cfg, "tokio")


# --- the LIFO slot and the queues ---------------------------------------------------------


def test_lifo_slot_runs_the_newest_spawn_first():
    """Each spawn takes the LIFO slot and pushes the previous occupant to the queue's tail."""
    work = {"a": at("0s", {"spawn": "c"}, {"spawn": "c"}, {"spawn": "c"}, {"cpu": "1ms"}),
            "c": CHILD}
    # one worker: slot = c3, queue = [c1, c2]. a 0-1ms; its run_task then polls the slot:
    # c3 1-2ms; the next ticks pop the queue: c1 2-3ms, c2 3-4ms (ids: a 0, c1..c3 1..3)
    assert finishes(work) == {0: 1 * MS, 3: 2 * MS, 1: 3 * MS, 2: 4 * MS}


def test_a_task_in_the_lifo_slot_waits_for_the_burst_even_with_an_idle_worker():
    """The slot is never stolen, and filling an empty slot notifies nobody."""
    work = {"a": at("0s", {"spawn": "c"}, {"cpu": "50ms"}), "c": CHILD}
    # two workers, two cores. c sits in the slot of a's worker while a computes 0-50ms;
    # the other worker stays parked. c is the first LIFO poll after a: 50-51ms.
    assert finishes(work, cores=2) == {0: 50 * MS, 1: 51 * MS}
    # without the slot, c goes to the run queue with a notify: stolen, 0-1ms
    assert finishes(work, cores=2, lifo_slot=False) == {0: 50 * MS, 1: 1 * MS}
    # a second spawn displaces c1 to the queue (notify): the idle worker steals it, 0-1ms;
    # c2 is now the one stuck behind the burst: 50-51ms
    work["a"] = at("0s", {"spawn": "c"}, {"spawn": "c"}, {"cpu": "50ms"})
    assert finishes(work, cores=2) == {0: 50 * MS, 1: 1 * MS, 2: 51 * MS}


def test_lifo_polls_are_capped_at_three_per_tick():
    """The 3rd LIFO poll disables the slot: what it spawns goes to the queue (stealable)."""
    work = {"a": at("0s", {"spawn": "b"}, {"cpu": "10ms"})}
    for name, child in zip("bcd", "cde", strict=True):
        work[name] = {"arrival": "spawned", "phases": [{"spawn": child}, {"cpu": "10ms"}]}
    work["e"] = {"arrival": "spawned", "phases": [{"cpu": "10ms"}]}
    # ids a..e = 0..4. a 0-10ms, then in the same run_task the LIFO polls b 10-20,
    # c 20-30, d 30-40 (the 3rd). d's spawn of e goes to the run queue and wakes the other
    # worker, which steals e: 30-40ms.
    assert finishes(work, cores=2) == {0: 10 * MS, 1: 20 * MS, 2: 30 * MS, 3: 40 * MS,
                                       4: 40 * MS}
    # with a cap of 4, e is the 4th LIFO poll on the same worker: 40-50ms
    assert finishes(work, cores=2, lifo_polls=4)[4] == 50 * MS


def test_a_full_local_queue_sends_its_newest_half_to_the_inject_queue():
    """``push_overflow`` (tokio >= 1.52): the oldest half stays, the newest half and the
    pushed task go to the inject queue."""
    work = {"a": at("0s", {"repeat": 6, "phases": [{"spawn": "c"}]}, {"cpu": "1ms"}),
            "c": CHILD}
    # local queue of 4. Spawns c1..c6 (ids 1..6): c6 ends in the slot; pushing c5 finds
    # [c1, c2, c3, c4] full: c3, c4, c5 go to the inject queue, [c1, c2] stay.
    # tick 2: a 0-1, c6 1-2 (LIFO); tick 3 (% 3: inject first) c3 2-3; tick 4 c1 3-4;
    # tick 5 c2 4-5; tick 6 (inject first) c4 5-6; tick 7 (local empty: inject) c5 6-7.
    assert finishes(work, local_queue=4, global_queue_interval=3) == {
        0: 1 * MS, 6: 2 * MS, 3: 3 * MS, 1: 4 * MS, 2: 5 * MS, 4: 6 * MS, 5: 7 * MS}


def test_an_idle_worker_steals_half_and_runs_the_newest_stolen_task():
    work = {"a": at("0s", {"repeat": 5, "phases": [{"spawn": "c"}]}, {"cpu": "10ms"}),
            "c": CHILD}
    # slot = c5, queue = [c1..c4]; the first displacement wakes the other worker (the
    # later notifies see it searching). It steals ceil(4/2) = 2, runs the newer, c2, 0-1ms,
    # then c1 1-2ms; then steals 1 of [c3, c4]: c3 2-3ms; then c4 3-4ms.
    # a 0-10ms, then c5 from its slot 10-11ms.
    assert finishes(work, cores=2) == {0: 10 * MS, 2: 1 * MS, 1: 2 * MS, 3: 3 * MS,
                                       4: 4 * MS, 5: 11 * MS}


# --- coop budget, yield, driver, blocking pool ----------------------------------------------


@pytest.mark.parametrize(("budget", "ready", "a_done", "c_done"), [
    (128, 128, 1 * MS, 2 * MS),
    (128, 129, 2 * MS, 1 * MS),
    (4, 5, 2 * MS, 1 * MS),
])
def test_coop_budget_forces_a_yield_after_128_ready_polls(budget, ready, a_done, c_done):
    """An ``io`` of length 0 is ready at once: the await returns but spends budget."""
    work = {"a": at("0s", {"spawn": "c"}, {"repeat": ready, "phases": [{"io": 0}]},
                    {"cpu": "1ms"}),
            "c": CHILD}
    # one worker; c is in the LIFO slot. ready = budget: every poll succeeds, a computes
    # 0-1ms, then c has no budget left: to the back of the queue, next tick 1-2ms.
    # ready = budget + 1: the last io finds no budget: a is deferred (pending); c (no
    # budget) goes to the queue and runs 0-1ms; with nothing left the worker polls the
    # driver (park_yield), which wakes a into the slot: fresh budget, a computes 1-2ms.
    assert finishes(work, coop_budget=budget) == {0: a_done, 1: c_done}


@pytest.mark.parametrize(("interval", "y_done"), [(61, 59 * MS), (10, 8 * MS)])
def test_yield_waits_for_the_next_driver_poll(interval, y_done):
    """``yield_now`` defers the waker until the worker's next park: here the maintenance
    tick, not the back of the queue."""
    work = {"y": at("0s", "yield", {"cpu": "1ms"}),
            "m": {"arrival": {"batch": {"count": 100, "at": "0s"}}, "phases": [{"cpu": "1ms"}]}}
    # one worker: all 101 tasks come from the inject queue at tick 2; y (id 0) runs first
    # and yields. Ticks 3, 4, ... run m tasks, 1ms each. Maintenance at tick `interval`
    # (after interval - 3 of them) wakes y into the LIFO slot: it computes for 1ms.
    # (asyncio's sleep(0) would put y behind all 100: 101ms.)
    done = finishes(work, event_interval=interval)
    assert done[0] == y_done
    assert max(done.values()) == 101 * MS


def test_a_sleep_fires_on_the_timer_wheel_tick():
    """Deadlines round up to 1ms ticks; the parked driver sleeps whole ticks from now's."""
    cfg = config({"a": at("0s", {"cpu": "300us"}, {"sleep": "2ms"}, {"cpu": "1ms"})},
                 {"tokio": {"model": "tokio"}})
    tasks, wakeups, _, _ = run_scheduler(cfg, "tokio")
    # deadline 2.3ms -> tick 3; the idle worker parks on the driver at 0.3ms (tick 0) for
    # 3 - 0 ticks: it wakes at 3.3ms and a computes 3.3-4.3ms, its wake 1ms late
    assert tasks["finish_ns"].tolist() == [4300 * US]
    assert wakeups["delay_ns"].tolist() == [0, 1 * MS]


def test_io_readiness_waits_for_a_driver_poll():
    work = {"a": at("0s", {"io": "1ms"}, {"cpu": "1ms"}), "b": at("0s", {"cpu": "5ms"})}
    # one worker: a registers its io and b computes 0-5ms; a's data is there at 1ms but
    # nobody polls the driver until b is done and the worker parks: a 5-6ms
    assert finishes(work) == {0: 6 * MS, 1: 5 * MS}


def test_spawn_blocking_frees_the_worker():
    work = {"a": at("0s", {"block": "10ms"}, {"cpu": "1ms"}), "b": at("0s", {"cpu": "1ms"})}
    # one worker, one core; the worker takes a, then b, from the inject queue.
    # a's blocking call holds the worker 0-10ms, a computes 10-11, b 11-12ms
    assert finishes(work) == {0: 11 * MS, 1: 12 * MS}
    # offloaded: a waits on a pool thread 0-10ms while b runs 0-1ms; at 10ms the pool
    # thread wakes a through the inject queue and notifies the parked worker: a 10-11ms
    assert finishes(work, offload=["block"]) == {0: 11 * MS, 1: 1 * MS}


def test_an_accept_loop_on_a_worker_leaves_the_other_worker_asleep():
    work = {"a": at("1ms", {"cpu": "10ms"}), "b": at("2ms", {"cpu": "1ms"})}
    # two workers, both parked by 1ms: one on the driver, one on its condvar.
    # block_on: accepted tasks go to the inject queue with a notify; the worker that runs
    # a was searching, so it wakes the other, which parks on the driver again and sees b
    # at 2ms: b 2-3ms
    assert finishes(work, cores=2) == {0: 11 * MS, 1: 3 * MS}
    # worker: the driver's worker finds a in its own slot and runs it without waking
    # anyone (a driver wake is not "searching"); the other sleeps on its condvar and
    # nobody polls the driver until a is done: b 11-12ms
    assert finishes(work, cores=2, accept="worker") == {0: 11 * MS, 1: 12 * MS}



@pytest.mark.parametrize(("eager", "req_done"), [(False, 52 * MS), (True, 6 * MS)])
def test_a_long_poll_leaves_the_driver_unpolled_unless_handed_off(eager, req_done):
    """tokio#4730: worker A, back from the driver with the hog's readiness (1 ms), polls it
    for 50 ms; B sleeps on its condvar, so the request's readiness at 5 ms waits for A's
    next park (51 ms). With eager_driver_handoff (1.52) A first notifies B, which parks on
    the free driver and runs the request at 5 ms."""
    cfg = config({"hog": one([{"io": "1ms"}, {"cpu": "50ms"}]),
                  "req": one([{"io": "5ms"}, {"cpu": "1ms"}])},
                 {"t": {"model": "tokio", "workers": 2, "eager_driver_handoff": eager}},
                 machine={"cores": 2})
    assert finish_times(cfg, "t") == {0: 51 * MS, 1: req_done}

def test_options_are_checked():
    with pytest.raises(ConfigError, match="schedulers.tokio.local_queue"):
        finishes({"a": at("0s", {"cpu": "1ms"})}, local_queue=3)
    with pytest.raises(ConfigError, match="schedulers.tokio.global_queue_interval"):
        finishes({"a": at("0s", {"cpu": "1ms"})}, global_queue_interval=0)


# --- theory -----------------------------------------------------------------------------------

SEEDS = range(10)


def erlang_c_latency(c: int, lam: float, mean: float) -> float:
    """M/M/c mean response time: P(wait) / (c mu - lambda) + 1 / mu."""
    a = lam * mean
    top = a**c / math.factorial(c) / (1 - a / c)
    p_wait = top / (sum(a**k / math.factorial(k) for k in range(c)) + top)
    return p_wait / (c / mean - lam) + mean


def mean_latency_ms(cfg, name: str, seed: int) -> float:
    return counted(run_scheduler(cfg, name, seed)[0])["latency_ns"].astype(float).mean() / MS


@pytest.mark.parametrize("workers", [2, 4])
def test_mmc_mean_latency_matches_erlang_c(workers):
    """Poisson arrivals, one exponential cpu burst: the workers are an M/M/c queue."""
    lam = 0.7 * workers  # per ms, mean burst 1ms: load 0.7
    cfg = config({"r": {"arrival": {"poisson": f"{lam * 1000}/s"},
                        "phases": [{"cpu": "exp(1ms)"}]}},
                 {"tokio": {"model": "tokio", "workers": workers}},
                 machine={"cores": workers}, horizon="3s", warmup="200ms")
    means = np.array([mean_latency_ms(cfg, "tokio", s) for s in SEEDS])
    assert within_ci(means, erlang_c_latency(workers, lam, 1.0))


def test_one_worker_matches_one_asyncio_loop():
    """One worker, single-burst tasks: both serve in near-arrival order without idling;
    the per-replication difference of mean latencies is centred on 0."""
    cfg = config({"r": {"arrival": {"poisson": "700/s"}, "phases": [{"cpu": "exp(1ms)"}]}},
                 {"tokio": {"model": "tokio"}, "asyncio": {"model": "asyncio"}},
                 horizon="3s", warmup="200ms")
    diff = np.array([mean_latency_ms(cfg, "tokio", s) - mean_latency_ms(cfg, "asyncio", s)
                     for s in SEEDS])
    assert within_ci(diff, 0.0)
    assert abs(diff.mean()) < 0.02 * erlang_c_latency(1, 0.7, 1.0)


# --- invariants -----------------------------------------------------------------------------


def run_model(cfg, name: str = "tokio", seed: int = 0):
    """Like ``helpers.run_scheduler`` but keep the engine (and its model)."""
    workload = generate(cfg, seed)
    rec = Recorder(workload.task_class.tolist(), len(workload.classes), cfg.warmup, cfg.horizon)
    engine = Engine(workload, rec, cfg, MODELS["tokio"], cfg.schedulers[name],
                    model_rng(seed, name))
    engine.run()
    return task_table(rec, workload), rec, workload, engine


DURATION = st.sampled_from([0, "50us", "300us", "1ms", "2500us"])
TIMED = st.sampled_from(["cpu", "io", "sleep", "block", "native"])


@st.composite
def phases(draw, spawn: bool):
    kinds = st.one_of(st.tuples(TIMED, DURATION), st.just(("yield", None)),
                      *([st.just(("spawn", None))] if spawn else []))
    out = []
    for kind, dur in draw(st.lists(kinds, min_size=1, max_size=6)):
        out.append("yield" if kind == "yield" else {"spawn": "kid"} if kind == "spawn"
                   else {kind: dur})
    if draw(st.booleans()):
        out = [{"repeat": draw(st.integers(2, 4)), "phases": out}]
    return out


@st.composite
def scenarios(draw):
    cores = draw(st.integers(1, 3))
    options = {
        "model": "tokio",
        "workers": draw(st.sampled_from([None, 1, 2, 3])),
        "lifo_slot": draw(st.booleans()),
        "global_queue_interval": draw(st.sampled_from(["auto", 1, 2, 5])),
        "event_interval": draw(st.sampled_from([1, 3, 61])),
        "coop_budget": draw(st.sampled_from([1, 3, 128])),
        "blocking_threads": draw(st.sampled_from([1, 2, 512])),
        "offload": draw(st.sampled_from([[], ["block"], ["native"], ["block", "native"]])),
        "lifo_polls": draw(st.sampled_from([1, 3])),
        "local_queue": draw(st.sampled_from([2, 4, 256])),
        "accept": draw(st.sampled_from(["block_on", "worker"])),
        "eager_driver_handoff": draw(st.booleans()),
    }
    arrival = st.one_of(
        st.builds(lambda n, t: {"batch": {"count": n, "at": f"{t}ms"}},
                  st.integers(1, 12), st.integers(0, 20)),
        st.just({"poisson": "300/s"}), st.just({"periodic": "7ms"}),
        st.just({"closed": {"clients": 2, "think": "exp(1ms)"}}))
    workload = {"root": {"arrival": draw(arrival), "phases": draw(phases(spawn=True))},
                "other": {"arrival": draw(arrival), "phases": draw(phases(spawn=False))},
                "kid": {"arrival": "spawned", "phases": draw(phases(spawn=False))}}
    if not any("spawn" in str(p) for p in workload["root"]["phases"]):
        workload["root"]["phases"].append({"spawn": "kid"})
    return cores, options, workload


@HANG
@given(scenarios(), st.integers(0, 3))
def test_invariants_on_random_workloads(scenario, seed):
    cores, options, workload = scenario
    cfg = config(workload, {"tokio": options}, machine={"cores": cores}, horizon="30ms")
    tasks, rec, work, engine = run_model(cfg, seed=seed)
    check_invariants(tasks, rec, work, cores)  # every task finished, wait is exact, ...
    assert engine.outstanding == 0  # ... and finished exactly once
    model = engine.model
    assert model.peak <= model.n  # never more workers running tasks than workers
    assert model.active == 0 and not model.inject and not model.driver.events
    # the same seed gives the same run
    again = run_model(cfg, seed=seed)[0]
    assert again["finish_ns"].equals(tasks["finish_ns"])



class PlainTokio(MODELS["tokio"]):
    """Every burst through ``Cores``, even with no more workers than cores."""

    bursts_as_timers = False


def traced(cfg, model, seed: int):
    """Task table, wake-up table and trace of one run of ``model`` (a model class)."""
    workload = generate(cfg, seed)
    rec = Probe(workload.task_class.tolist(), len(workload.classes), cfg.warmup, cfg.horizon)
    engine = Engine(workload, rec, cfg, model, cfg.schedulers["tokio"],
                    model_rng(seed, "tokio"))
    rec.engine = engine
    engine.run()
    return task_table(rec, workload), wakeup_table(rec, workload), spans(rec), engine


@HANG
@given(scenarios(), st.integers(0, 3), st.sampled_from(["ideal", "linux"]))
def test_bursts_as_timers_give_the_results_of_the_cores(scenario, seed, profile):
    """The fast path (a burst is one timer when no worker can wait for a core) against the
    plain one (``Cores``), on workloads where it applies: identical tables and traces."""
    cores, options, workload = scenario
    options = {**options, "offload": [k for k in options["offload"] if k != "native"]}
    if options["workers"] is not None and options["workers"] > cores:
        options["workers"] = cores
    cfg = config(workload, {"tokio": options}, machine={"cores": cores, "profile": profile},
                 horizon="30ms")
    fast = traced(cfg, MODELS["tokio"], seed)
    plain = traced(cfg, PlainTokio, seed)
    assert fast[3].model.direct and not plain[3].model.direct
    for a, b in zip(fast[:3], plain[:3], strict=True):
        pd.testing.assert_frame_equal(a, b)


# --- mutation-tested: an odd steal, the driver's whole-tick sleeps -------------------------


def test_an_odd_steal_takes_the_larger_half():
    """``steal_into``: n - n / 2 of an odd queue. Six spawns: slot = c6, queue = [c1..c5].
    The idle worker steals 5 - 5/2 = 3 (c1, c2, c3), runs the newest, c3, 0-1ms, then its
    own queue: c1 1-2, c2 2-3ms; then steals 1 of [c4, c5]: c4 3-4; then c5 4-5ms. a
    computes 0-10ms, then c6 from its slot 10-11ms. Stealing the smaller half (2) would run
    c2 first, then c1, then c3."""
    work = {"a": at("0s", {"repeat": 6, "phases": [{"spawn": "c"}]}, {"cpu": "10ms"}),
            "c": CHILD}
    assert finishes(work, cores=2) == {0: 10 * MS, 3: 1 * MS, 1: 2 * MS, 2: 3 * MS,
                                       4: 4 * MS, 5: 5 * MS, 6: 11 * MS}


def test_a_steal_of_three_leaves_one():
    """Four spawns: slot = c4, queue = [c1, c2, c3]: the thief takes c1, c2 and runs c2
    0-1ms, c1 1-2ms, then the last one, c3, 2-3ms."""
    work = {"a": at("0s", {"repeat": 4, "phases": [{"spawn": "c"}]}, {"cpu": "10ms"}),
            "c": CHILD}
    assert finishes(work, cores=2) == {0: 10 * MS, 2: 1 * MS, 1: 2 * MS, 3: 3 * MS,
                                       4: 11 * MS}


@pytest.mark.timeout(20)
def test_the_parked_driver_sleeps_whole_ticks_to_a_rounded_up_deadline():
    """One worker. A 0.3ms sleep at 0 has its deadline on tick 1: the driver sleeps 1 tick
    and a runs 1-1.1ms; a 1.5ms sleep from 1.1ms (due 2.6) lands on tick 3, and the driver
    parked at tick 1 sleeps 2 ticks: 3.1-3.2ms. A sleep rounded down to the current tick
    would wake at once with the timer not due and sleep 0 again, forever at one instant:
    the timeout mark turns that hang into this test's failure."""
    cfg = config({"a": at("0s", {"sleep": "300us"}, {"cpu": "100us"}, {"sleep": "1.5ms"},
                          {"cpu": "100us"})}, {"tokio": {"model": "tokio"}})
    tasks, wakeups, _, _ = run_scheduler(cfg, "tokio")
    assert wakeups["ready_ns"].tolist() == [0, 300 * US, 2600 * US]
    assert wakeups["run_ns"].tolist() == [0, 1 * MS, 3100 * US]
    assert tasks["finish_ns"].tolist() == [3200 * US]


def test_the_wheel_ticks_from_the_machines_tick_origin():
    """The scenario above with ticks at 0.4 + k ms (``tick_origin: 400us``; the last tick
    before the run is at -0.6). The 0.3 ms sleep is due before the first tick, at 0.4: tick
    0; the driver parked at tick -1 sleeps 1 tick, to 1 ms, and a runs 1-1.1 ms. The 1.5 ms
    sleep from 1.1 (due 2.6) lands on tick 3 (3.4 ms); parked in tick 0 the driver sleeps 3
    ticks: 4.1-4.2 ms, a millisecond later than with the grid at 0."""
    cfg = config({"a": at("0s", {"sleep": "300us"}, {"cpu": "100us"}, {"sleep": "1.5ms"},
                          {"cpu": "100us"})}, {"tokio": {"model": "tokio"}},
                 machine={"tick_origin": "400us"})
    tasks, wakeups, _, _ = run_scheduler(cfg, "tokio")
    assert wakeups["ready_ns"].tolist() == [0, 300 * US, 2600 * US]
    assert wakeups["run_ns"].tolist() == [0, 1 * MS, 4100 * US]
    assert tasks["finish_ns"].tolist() == [4200 * US]


def test_a_linux_machine_draws_the_tick_origin_per_run():
    """Under ``linux`` each seed puts the grid elsewhere (phase p): a 2.5 ms sleep at 0 on
    an idle runtime is due on tick 3 (at p + 3 ms) when p < 0.5 ms, else on tick 2; the
    driver, parked in tick -1, sleeps 4 or 3 whole ticks from 0. So it wakes at 3 ms with
    the grid at 0 (the ideal machine, every seed) and at 3 or 4 ms, half the seeds each
    way, under linux (its timer lateness and message cost set to 0 here: the origin
    alone)."""
    work = {"a": at("0s", {"sleep": "2500us"})}
    runs = {}
    for profile in ("ideal", "linux"):
        cfg = config(work, {"tokio": {"model": "tokio"}},
                     machine={"profile": profile, "timer_lateness": "0",
                              "tokio_message_cost": "0"})
        runs[profile] = [int(run_scheduler(cfg, "tokio", seed)[1]["run_ns"].iloc[-1])
                         for seed in range(1, 21)]
    assert set(runs["ideal"]) == {3 * MS}
    assert set(runs["linux"]) == {3 * MS, 4 * MS}
    assert 5 <= runs["linux"].count(4 * MS) <= 15


# --- the machine's delays (sim/machine.py): exact, with constant laws ---------------------

# (a wake-up through a socket as long as one by another thread)
OS = {"profile": "ideal", "timer_lateness": "100us", "wake_latency": "20us",
      "net_wake_latency": "20us"}


def test_a_driver_park_that_ends_by_its_timeout_is_late():
    """The idle worker parks on the driver until the timer's tick (``time/mod.rs``
    ``park_internal``): epoll_wait's timeout ends 100 us late."""
    work = {"a": at("0s", {"sleep": "2500us"}, {"cpu": "1ms"})}
    # deadline 2.5 ms -> tick 3; parked at 0 for 3 ticks: the park ends at 3.1 ms and a
    # computes 3.1-4.1 ms (4 ms on the ideal machine)
    assert finishes(work) == {0: 4 * MS}
    assert finishes(work, machine=OS) == {0: 4100 * US}


def test_readiness_wakes_the_parked_driver_after_the_wake_latency():
    """I/O readiness handed to the worker parked in epoll is a wake-up through a socket
    (20 us), not a timeout; the next park, timed, is late (100 us)."""
    work = {"a": at("0s", {"io": "1ms"}, {"cpu": "1ms"}), "b": at("0s", {"sleep": "2500us"})}
    # one worker: a's data at 1 ms wakes the driver's worker at 1.02: a computes to 2.02.
    # Parked at 2.02 (tick 2) for 1 tick on b's timer (tick 3): 3.02 + 0.1 = 3.12 ms
    assert finishes(work) == {0: 2 * MS, 1: 3 * MS}
    assert finishes(work, machine=OS) == {0: 2020 * US, 1: 3120 * US}



def test_a_blocking_call_returns_to_a_thread_that_wakes_late():
    """A blocking call (5 ms from 0) returns at 5 ms: the kernel wakes its worker thread,
    which runs 20 us later; the task was ready from the return (a wake-up of 20 us)."""
    work = {"a": at("0s", {"block": "5ms"}, {"cpu": "1ms"})}
    assert finishes(work) == {0: 6 * MS}
    assert finishes(work, machine=OS) == {0: 6020 * US}
    cfg = config(work, {"tokio": {"model": "tokio"}}, machine={"cores": 1, **OS})
    wakeups = run_scheduler(cfg, "tokio")[1]
    assert wakeups[["ready_ns", "run_ns"]].values.tolist()[-1] == [5 * MS, 5020 * US]

def test_readiness_wakes_the_parked_driver_a_net_wake_latency_late_not_a_busy_one():
    """net_wake_latency 90 us, wake_latency 5 us, one worker (``accept: worker``). a's
    connection at 0.1 ms wakes the worker parked on the driver at 0.19 ms; a's 1 ms read
    parks it (ready at 1.19 ms) and the worker parks again, until b's connection at 0.5
    ms: it runs at 0.59 ms, and b computes to 3.59 ms. a's readiness came while the
    worker ran b: it waits for the worker's next driver poll (its park at 3.59 ms) and
    pays no wake-up: a computes 3.59-4.59 ms, then reads 1 ms with the worker parked: the
    readiness at 5.59 ms wakes it at 5.68, and a computes to 5.78 ms."""
    work = {"a": at("100us", {"io": "1ms"}, {"cpu": "1ms"}, {"io": "1ms"}, {"cpu": "100us"}),
            "b": at("500us", {"cpu": "3ms"})}
    machine = {"profile": "ideal", "wake_latency": "5us", "net_wake_latency": "90us"}
    cfg = config(work, {"tokio": {"model": "tokio", "workers": 1, "accept": "worker"}},
                 machine={"cores": 1, **machine})
    tasks, wakeups, *_ = run_scheduler(cfg, "tokio")
    assert sorted(wakeups[["task_id", "ready_ns", "run_ns"]].values.tolist()) == [
        [0, 100 * US, 190 * US], [0, 1190 * US, 3590 * US], [0, 5590 * US, 5680 * US],
        [1, 500 * US, 590 * US]]
    assert finish_times(cfg, "tokio") == {0: 5780 * US, 1: 3590 * US}


def test_readiness_wakes_the_parked_worker_by_the_law_for_the_time_it_has_been_parked():
    """net_wake_latency {0: 20 us, 2 ms: 70 us}, one worker: A's connection at 0 is there
    as the worker starts (no wake-up); A's 2 ms read parks it from 0, and the readiness at
    2 ms finds it parked 2 ms (70 us); A ends at 3.07 ms. B's connection at 5 ms finds it
    parked 1.93 ms (20 us); C's at 9 ms, 2.98 ms (70 us)."""
    work = {"A": at("0s", {"io": "2ms"}, {"cpu": "1ms"}), "B": at("5ms", {"cpu": "1ms"}),
            "C": at("9ms", {"cpu": "1ms"})}
    machine = {"profile": "ideal", "net_wake_latency": {"0": "20us", "2ms": "70us"}}
    cfg = config(work, {"tokio": {"model": "tokio", "workers": 1, "accept": "worker"}},
                 machine={"cores": 1, **machine})
    tasks, wakeups, *_ = run_scheduler(cfg, "tokio")
    assert sorted(wakeups[["task_id", "ready_ns", "run_ns"]].values.tolist()) == [
        [0, 0, 0], [0, 2 * MS, 2070 * US], [1, 5 * MS, 5020 * US], [2, 9 * MS, 9070 * US]]


def test_an_earlier_readiness_cuts_a_late_timeout_short():
    """A park whose timeout (1 ms) ends late (at 1.1 ms) returns at 1.07 ms when data
    arrive at 1.05 ms (+20 us): both the timer and the I/O are dispatched then."""
    work = {"a": at("0s", {"sleep": "1ms"}), "b": at("0s", {"io": "1050us"})}
    assert finishes(work, machine=OS) == {0: 1070 * US, 1: 1070 * US}


def test_each_unpark_of_a_parked_worker_pays_the_wake_latency():
    """A chain of three wake-ups: readiness to the driver's worker, its notify of the
    worker on the condvar, that worker's notify of the driver's worker."""
    work = {"a": at("1ms", {"spawn": "c"}, {"spawn": "c"}, {"cpu": "50ms"}), "c": CHILD}
    # two workers, parked by 1 ms: w0 on the driver, w1 on its condvar (the newest
    # sleeper). a's connection at 1 ms wakes w0 at 1.02; the accept loop's spawn puts a in
    # the inject queue and notifies w1 (1.04); w0 finds nothing of its own and parks on
    # the driver again. w1 runs a at 1.04: c1 to the slot, c2 displaces it to the queue
    # with a notify of w0 (Unparker::unpark -> the driver's waker): w0 runs at 1.06 and
    # steals c1, 1.06-2.06 ms; a 1.04-51.04, then c2 from the slot to 52.04 ms.
    assert finishes(work, cores=2) == {0: 51 * MS, 1: 2 * MS, 2: 52 * MS}
    assert finishes(work, cores=2, machine=OS) == {0: 51040 * US, 1: 2060 * US,
                                                   2: 52040 * US}


def test_an_idle_blocking_thread_is_signalled():
    """``spawn_blocking`` wakes an idle pool thread with ``notify_one`` (20 us); a new
    thread starts at once (thread creation costs nothing)."""
    work = {"a": at("0s", {"block": "10ms"}, {"cpu": "1ms"}),
            "c": at("20ms", {"block": "10ms"}, {"cpu": "1ms"})}
    # a: a new pool thread 0-10 ms; its completion (inject + notify) wakes the driver's
    # worker at 10.02: a 10.02-11.02. c's connection at 20 ms: the worker runs at 20.02;
    # the idle pool thread runs c's call at 20.04-30.04; the worker, woken, at 30.06:
    # c 30.06-31.06 ms
    assert finishes(work, offload=["block"]) == {0: 11 * MS, 1: 31 * MS}
    assert finishes(work, offload=["block"], machine=OS) == {0: 11020 * US, 1: 31060 * US}


def test_a_poll_that_hands_a_call_to_spawn_blocking_does_not_end_the_wake_up():
    """c's connection at 20 ms: the worker polls c at 20.02 ms only to hand its call to the
    signalled pool thread, which starts it at 20.04: c's wake-up runs from its arrival to
    the call's start (40 us); the call's return wakes c again (30.04 -> 30.06 ms)."""
    work = {"a": at("0s", {"block": "10ms"}, {"cpu": "1ms"}),
            "c": at("20ms", {"block": "10ms"}, {"cpu": "1ms"})}
    cfg = config(work, {"tokio": {"model": "tokio", "offload": ["block"]}},
                 machine={"cores": 1, **OS})
    wakeups = run_scheduler(cfg, "tokio")[1]
    c = wakeups[wakeups["task_id"] == 1]
    assert c[["ready_ns", "run_ns"]].values.tolist() == [[20 * MS, 20040 * US],
                                                         [30040 * US, 30060 * US]]


def test_a_phase_that_says_offload_runs_on_the_blocking_pool():
    """``{cpu: 60ms, offload: true}`` is Rust code in ``spawn_blocking``: a pool thread
    computes it on the second core while the one worker serves b (1-2 ms; without the flag
    b waits for the worker to 60 ms); on one core the pool thread and the worker share it
    in OS time slices (b waits for the 3 ms slice).
    ``{block: 10ms, offload: true}`` is what ``offload: [block]`` does for every call."""
    work = {"a": at("0s", {"cpu": "60ms", "offload": True}), "b": at("1ms", {"cpu": "1ms"})}
    assert finishes(work, cores=2, workers=1) == {0: 60 * MS, 1: 2 * MS}
    assert finishes(work, cores=1) == {0: 61 * MS, 1: 4 * MS}
    # b's wake-up ends when its burst starts, the worker's thread on the core (3 ms), not
    # when the worker polls it (1 ms)
    one_core = config(work, {"tokio": {"model": "tokio"}}, machine={"cores": 1})
    wakeups = run_scheduler(one_core, "tokio")[1]
    assert wakeups[wakeups["task_id"] == 1][["ready_ns", "run_ns"]].values.tolist() == [
        [1 * MS, 3 * MS]]
    plain = {"a": at("0s", {"cpu": "60ms"}), "b": at("1ms", {"cpu": "1ms"})}
    assert finishes(plain, cores=2, workers=1) == {0: 60 * MS, 1: 61 * MS}  # on the worker
    calls = {"a": at("0s", {"block": "10ms", "offload": True}, {"cpu": "1ms"}),
             "b": at("0s", {"cpu": "1ms"})}
    assert finishes(calls) == {0: 11 * MS, 1: 1 * MS}


# --- tokio 1.24's behaviours, as options -------------------------------------------------


def test_coop_exhaustion_wakes_the_task_at_once_in_tokio_1_24():
    """``coop_exhausted: wake`` (1.24 ``poll_proceed``: ``wake_by_ref``; the harness then
    calls ``yield_now``): the task goes to the run queue's tail at once, not to the
    deferred wakers."""
    work = {"a": at("0s", {"spawn": "c"}, {"repeat": 129, "phases": [{"io": 0}]},
                    {"cpu": "1ms"}),
            "c": CHILD}
    # one worker: the 129th io finds no budget. defer: c runs 0-1ms, a waits for the
    # park (1-2ms). wake: a is queued first, then c (no budget for the LIFO poll): a 0-1ms
    # with a fresh budget, c 1-2ms
    assert finishes(work) == {0: 2 * MS, 1: 1 * MS}
    assert finishes(work, coop_exhausted="wake") == {0: 1 * MS, 1: 2 * MS}


@pytest.mark.parametrize(("exhausted", "batch", "y_done"), [
    ("defer", True, 59 * MS), ("defer", False, 60 * MS),
    ("wake", True, 101 * MS), ("wake", False, 1 * MS)])
def test_where_a_task_out_of_budget_goes_and_how_the_inject_queue_is_taken(
        exhausted, batch, y_done):
    """y spends its budget beside 100 tasks in the inject queue (one worker)."""
    work = {"y": at("0s", {"repeat": 129, "phases": [{"io": 0}]}, {"cpu": "1ms"}),
            "m": {"arrival": {"batch": {"count": 100, "at": "0s"}}, "phases": [{"cpu": "1ms"}]}}
    # tick 2 takes y from the inject queue: with a batch (tokio >= 1.29), all 101 tasks
    # (101 // 1 + 1, at most 128), m1..m100 into the local queue; one by one (1.24), y
    # alone. defer: y waits for the maintenance park at tick 61, after m1..m58 (0-58ms):
    # batch, its slot is next (58-59ms); one by one, tick 61 takes the inject queue first
    # (m59, 58-59ms), then y from the slot, 59-60ms. wake: y goes to the local queue's
    # tail: batch, behind m1..m100 (100-101ms); one by one, alone there: y 0-1ms
    done = finishes(work, coop_exhausted=exhausted, inject_batch=batch)
    assert done[0] == y_done
    assert max(done.values()) == 101 * MS


def test_a_sleep_deadline_is_fixed_when_sleep_is_called():
    """``sleep(d)`` sets its deadline to now + d (``time/sleep.rs``); the entry is
    registered, its deadline rounded up to a tick, at its first poll that has budget."""
    work = {"a": at("0s", {"spawn": "c"}, {"repeat": 128, "phases": [{"io": 0}]},
                    {"sleep": "2500us"}, {"cpu": "1ms"}),
            "c": {"arrival": "spawned", "phases": [{"cpu": "5ms"}]}}
    # one worker: the 128 ios spend a's budget; the sleep, due at 2.5ms, is refused and a
    # deferred. c runs 0-5ms; the park at 5ms wakes a, whose sleep is past due (tick 3 has
    # elapsed): it fires at once and a computes 5-6ms (not 5 + 2.5 -> tick 8: 9ms)
    assert finishes(work) == {0: 6 * MS, 1: 5 * MS}


@pytest.mark.parametrize(("exhausted", "ideal", "late"), [
    ("defer", {0: 21 * MS, 1: 11 * MS}, {0: 21040 * US, 1: 11040 * US}),
    ("wake", {0: 11 * MS, 1: 11 * MS}, {0: 11040 * US, 1: 11060 * US})])
def test_a_task_out_of_budget_wakes_a_parked_worker_in_tokio_1_24(exhausted, ideal, late):
    """``yield_now`` schedules with ``is_yield``: the run queue and a notify (1.24); a
    deferred waker notifies nobody. The notified worker runs 20 us later."""
    work = {"a": at("1ms", {"spawn": "c"}, {"repeat": 129, "phases": [{"io": 0}]},
                    {"cpu": "10ms"}),
            "c": {"arrival": "spawned", "phases": [{"cpu": "10ms"}]}}
    # two workers, parked by 1ms. a's connection wakes w0 (1.02), whose notify wakes w1
    # (1.04); w1 runs a: c to the slot, then the 129th io. defer: c (no budget for the
    # LIFO poll) to the queue without a notify; w1 runs c 1.04-11.04, then a from the
    # park to 21.04. wake: a to the queue with a notify of w0 (parked on the driver again:
    # it runs at 1.06), then c; w1 runs a 1.04-11.04, w0 steals c 1.06-11.06
    assert finishes(work, cores=2, coop_exhausted=exhausted) == ideal
    assert finishes(work, cores=2, coop_exhausted=exhausted, machine=OS) == late


def test_a_driver_parks_lateness_is_the_law_of_the_park():
    """Timer lateness by wait length (Const laws: under 1 ms 10 us, 1-5 ms 100 us, from 5
    ms 300 us). The idle worker parks on the driver for whole ticks, until the timer's: a
    2.5 ms sleep from 0 (tick 3) is a 3 ms park, back 100 us late (3.1 ms); a computes to
    4.1 ms and sleeps 0.5 ms (due 4.6: tick 5), a 1-tick park from tick 4: 1 ms, 100 us
    late (5.2), the law of the park, not of the sleep; then 6 ms (due 11.2: tick 12), a 7
    ms park from tick 5, back 300 us late: 12.5 ms."""
    work = {"a": at("0s", {"sleep": "2500us"}, {"cpu": "1ms"}, {"sleep": "500us"},
                    {"sleep": "6ms"})}
    machine = {"profile": "ideal", "timer_lateness": {"0": "10us", "1ms": "100us",
                                                      "5ms": "300us"}}
    cfg = config(work, {"tokio": {"model": "tokio"}}, machine={"cores": 1, **machine})
    wakeups = run_scheduler(cfg, "tokio")[1]
    assert wakeups[["ready_ns", "run_ns"]].values.tolist() == [
        [0, 0], [2500 * US, 3100 * US], [4600 * US, 5200 * US], [11_200 * US, 12_500 * US]]
