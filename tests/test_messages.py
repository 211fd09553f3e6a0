"""A socket message's cost to each runtime (sim/messages.py): where the bursts go in the
workload a model runs, and exact timings per model on the ideal machine."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import MS, US, check_invariants, config, one, run_scheduler

from sim.machine import MESSAGE_COSTS, PROFILES
from sim.messages import charge_messages
from sim.phases import CPU, IO, SPAWN
from sim.workload import generate

RUNTIMES = {"asyncio": {"model": "asyncio"}, "gil_threads": {"model": "gil_threads"},
            "go": {"model": "go"}, "tokio": {"model": "tokio"}}


def _workload():
    return config({
        "req": {"arrival": {"batch": {"count": 2}},
                "phases": [{"cpu": "1ms"}, {"io": "2ms"}, {"spawn": "child"}, {"io": "3ms"}]},
        "child": {"arrival": "spawned", "phases": [{"io": "4ms"}, {"cpu": "5ms"}]},
    }, {"fcfs": {"model": "fcfs"}})


def test_a_burst_goes_before_an_arriving_tasks_first_phase_and_after_every_io():
    """Into the cpu phase there if there is one, else as a cpu phase of its own."""
    cfg = _workload()
    workload = generate(cfg, 1)
    charged, overhead = charge_messages(workload, [True, False], 7 * US)
    req, child = charged.templates
    assert req.kinds == (CPU, IO, CPU, SPAWN, IO, CPU)
    assert child.kinds == (IO, CPU)  # spawned: no arrival; its io's burst joins its cpu
    for task in range(workload.n):
        mine, theirs = charged.phases(task), workload.phases(task)
        if workload.task_class[task] == 0:
            assert mine == [("cpu", 1 * MS + 7 * US), theirs[1], ("cpu", 7 * US), theirs[2],
                            theirs[3], ("cpu", 7 * US)]
            assert overhead[task] == 21 * US
        else:
            assert mine == [theirs[0], ("cpu", 5 * MS + 7 * US)]
            assert overhead[task] == 7 * US
    # the spawn phases still name the same children; demand and cpu stay the workload's
    assert np.array_equal(charged.demand, workload.demand)
    assert np.array_equal(charged.cpu, workload.cpu)
    assert charge_messages(workload, [True, False], 0)[0].templates == workload.templates


def test_an_offloaded_cpu_phase_stays_offloaded_and_the_burst_stays_on_the_thread():
    cfg = config({"req": one([{"io": "1ms"}, {"cpu": "2ms", "offload": True},
                              {"io": "1ms"}, {"io": "1ms"}])}, {"fcfs": {"model": "fcfs"}})
    workload = generate(cfg, 1)
    charged, overhead = charge_messages(workload, [True], 5 * US)
    assert charged.templates[0].kinds == (CPU, IO, CPU, CPU, IO, CPU, IO, CPU)
    assert charged.templates[0].offloaded == (False, False, False, True, False, False,
                                              False, False)
    assert charged.phases(0) == [("cpu", 5 * US), ("io", MS), ("cpu", 5 * US),
                                 ("cpu", 2 * MS), ("io", MS), ("cpu", 5 * US), ("io", MS),
                                 ("cpu", 5 * US)]
    assert overhead.tolist() == [20 * US]


@pytest.mark.parametrize("scheduler", RUNTIMES)
def test_each_message_costs_the_runtime_its_time(scheduler):
    """One request on the ideal machine: cpu 1 ms, io 1 ms, cpu 1 ms. With a 50 us message
    cost it ends 100 us later (its arrival and its io's reply); asyncio's loop reads them
    in the readiness callbacks (a wait), the others run them as the task's overhead."""
    phases = [{"cpu": "1ms"}, {"io": "1ms"}, {"cpu": "1ms"}]
    plain = config({"req": one(phases, "1ms")}, {scheduler: RUNTIMES[scheduler]})
    costly = config({"req": one(phases, "1ms")},
                    {scheduler: {**RUNTIMES[scheduler], "message_cost": "50us"}})
    assert run_scheduler(plain, scheduler)[0]["finish_ns"].tolist() == [4 * MS]
    tasks, _, rec, workload = run_scheduler(costly, scheduler)
    assert tasks["finish_ns"].tolist() == [4 * MS + 100 * US]
    charged = 0 if scheduler == "asyncio" else 100 * US
    assert tasks["overhead_ns"].tolist() == [charged]
    assert tasks["wait_ns"].tolist() == [100 * US - charged]
    check_invariants(tasks, rec, workload, 1)


@pytest.mark.parametrize("scheduler", RUNTIMES)
def test_the_machine_key_is_the_default_and_the_option_overrides_it(scheduler):
    phases = [{"io": "1ms"}]
    machine = {f"{scheduler}_message_cost": "30us"}
    by_machine = config({"req": one(phases)}, {scheduler: RUNTIMES[scheduler]},
                        machine=machine)
    assert run_scheduler(by_machine, scheduler)[0]["finish_ns"].tolist() == [1 * MS + 60 * US]
    by_option = config({"req": one(phases)},
                       {scheduler: {**RUNTIMES[scheduler], "message_cost": "0"}},
                       machine=machine)
    assert run_scheduler(by_option, scheduler)[0]["finish_ns"].tolist() == [1 * MS]


def test_asyncio_reads_a_message_on_the_loop_while_nothing_else_runs_there():
    """A arrives at 0 and computes 2 ms; B arrives at 1 ms, while A's step holds the loop.
    The loop reads A's request (40 us) before A's step, B's after A's step ends (2.04 ms),
    and B's step runs in the next iteration, from 2.08 ms."""
    cfg = config({"a": one([{"cpu": "2ms"}]), "b": one([{"cpu": "1ms"}], "1ms")},
                 {"asyncio": {"model": "asyncio", "message_cost": "40us"}})
    tasks = run_scheduler(cfg, "asyncio")[0]
    finish = dict(zip(tasks["class"].astype(str), tasks["finish_ns"].tolist(), strict=True))
    assert finish == {"a": 40 * US + 2 * MS, "b": 80 * US + 3 * MS}


def test_asyncio_pays_message_cost_after_a_park_and_busy_message_cost_else():
    """message_cost 65 us (the first message after a select that slept), busy 40 us. A
    arrives at 0 at a parked loop: its read costs 65 us, its step runs 2 ms; B arrives at
    1 ms, while A's step holds the loop: read busy (40 us) after it (2.065-2.105 ms), its
    step 1 ms. C and D arrive together at 10 ms: one select, C's read 65 us, D's 40 us,
    then their steps. E's io reply at 21.065 ms finds the loop parked again: 65 us."""
    work = {"a": one([{"cpu": "2ms"}]), "b": one([{"cpu": "1ms"}], "1ms"),
            "cd": {"arrival": {"batch": {"count": 2, "at": "10ms"}},
                   "phases": [{"cpu": "1ms"}]},
            "e": one([{"io": "1ms"}, {"cpu": "1ms"}], "20ms")}
    expected = [65 * US + 2 * MS, 105 * US + 3 * MS, 10 * MS + 105 * US + 1 * MS,
                10 * MS + 105 * US + 2 * MS, 20 * MS + 65 * US + 1 * MS + 65 * US + 1 * MS]
    by_option = config(work, {"asyncio": {"model": "asyncio", "message_cost": "65us",
                                          "busy_message_cost": "40us"}})
    by_machine = config(work, {"asyncio": {"model": "asyncio"}}, machine={
        "asyncio_message_cost": "65us", "asyncio_busy_message_cost": "40us"})
    for cfg in (by_option, by_machine):
        assert run_scheduler(cfg, "asyncio")[0]["finish_ns"].tolist() == expected
    # message_cost alone is every message's (the machine's busy cost does not apply)
    one_cost = config(work, {"asyncio": {"model": "asyncio", "message_cost": "65us"}},
                      machine={"asyncio_busy_message_cost": "40us"})
    assert run_scheduler(one_cost, "asyncio")[0]["finish_ns"].tolist()[:2] == [
        65 * US + 2 * MS, 130 * US + 3 * MS]


def test_textbook_disciplines_pay_nothing_and_ideal_costs_nothing():
    assert all(PROFILES["ideal"][key] == "0" for key in MESSAGE_COSTS)
    work = {"req": one([{"io": "1ms"}, {"cpu": "1ms"}])}
    finish = [run_scheduler(config(work, {"fcfs": {"model": "fcfs"}}, machine={
        "profile": "linux", **{key: cost for key in MESSAGE_COSTS}}), "fcfs")[0]["finish_ns"]
        .tolist() for cost in ("0", "1ms")]
    assert finish[0] == finish[1]
