"""What waking a parked thread costs the waker (``machine.signal_cost``): every model
charges it where its running thread wakes a parked one and goes on computing, as the
task's overhead. Exact timelines on the ideal machine with a constant cost, each against
the same scenario without it (derivations in each case's comment)."""

from __future__ import annotations

import pytest
from helpers import MS, US, check_invariants, config, one, run_scheduler

CHILD = {"arrival": "spawned", "phases": [{"cpu": "1ms"}]}

# name, workload, scheduler, cores, other machine keys,
# [(finish, overhead) per task id] without the cost, then with 10 us
CASES = [
    # A and B compute 10 ms on 2 threads; wake-ups take 20 us. At 5 ms B's timeout asks A
    # to drop; A drops (B runs at 5.02) and waits on switch_cond; B takes the GIL and
    # signals A (10 us before its own work); A, woken at 5.04, waits until 10.04 and asks
    # B, which drops (4.99 ms left); A runs at 10.06, pays 10 us and ends at 15.07; B runs
    # again at 15.09 (A's release) and ends at 20.08. Without the cost: 15.06 and 20.06.
    ("gil_threads: the new GIL holder signals switch_cond",
     {"a": one([{"cpu": "10ms"}]), "b": one([{"cpu": "10ms"}])},
     {"model": "gil_threads", "threads": 2}, 1, {"wake_latency": "20us"},
     [(15_060 * US, 0), (20_060 * US, 0)], [(15_070 * US, 10 * US), (20_080 * US, 10 * US)]),
    # A computes 1 ms holding the GIL while B waits for it, then calls 1 ms of native code:
    # drop_gil wakes B, which costs A 10 us before its call: A's native code ends at 2.01.
    ("gil_threads: a drop into native code wakes a waiter",
     {"a": one([{"cpu": "1ms"}, {"native": "1ms"}]), "b": one([{"cpu": "1ms"}])},
     {"model": "gil_threads", "threads": 2}, 2, {},
     [(2 * MS, 0), (2 * MS, 0)], [(2_010 * US, 10 * US), (2 * MS, 0)]),
    # P spawns at 1 ms: submit wakes the idle worker, 10 us of P's before its next 1 ms;
    # the child takes the GIL at P's end.
    ("gil_threads: a spawn wakes an idle worker",
     {"p": one([{"cpu": "1ms"}, {"spawn": "c"}, {"cpu": "1ms"}]), "c": CHILD},
     {"model": "gil_threads", "threads": 2}, 1, {},
     [(2 * MS, 0), (3 * MS, 0)], [(2_010 * US, 10 * US), (3_010 * US, 0)]),
    # run_in_executor wakes the idle executor thread at 0: the loop pays 10 us with its
    # next step (the same task's, after its 1 ms in the executor), before its 1 ms sleep.
    ("asyncio: run_in_executor wakes an idle worker",
     {"a": one([{"cpu": "1ms"}, {"sleep": "1ms"}])},
     {"model": "asyncio", "offload": ["cpu"]}, 2, {},
     [(2 * MS, 0)], [(2_010 * US, 10 * US)]),
    # newproc's wakep starts an M for the idle P1 (which steals the child at 0): the
    # parent's M pays 10 us before its 1 ms.
    ("go: a spawn starts an M",
     {"p": one([{"spawn": "c"}, {"cpu": "1ms"}]), "c": CHILD},
     {"model": "go", "gomaxprocs": 2}, 2, {},
     [(1 * MS, 0), (1 * MS, 0)], [(1_010 * US, 10 * US), (1 * MS, 0)]),
    # 3 Ps: the first spawn starts a spinning M (10 us of the parent's), which finds the
    # first child and, resetspinning, starts the last M for P2 (10 us before the child);
    # that M finds nothing and stops; the second spawn, at 10 us, starts it again (10 us
    # more of the parent's) and it runs the second child from 10 us.
    ("go: a spinning M that finds work starts another",
     {"p": one([{"spawn": "c"}, {"spawn": "c"}, {"cpu": "1ms"}]), "c": CHILD},
     {"model": "go", "gomaxprocs": 3}, 3, {},
     [(1 * MS, 0)] * 3, [(1_020 * US, 20 * US), (1_010 * US, 10 * US), (1_010 * US, 0)]),
    # At 1 ms the parent spawns two children: the second pushes the first out of the LIFO
    # slot into the queue, which unparks worker 1 (10 us of the parent's); worker 1 steals
    # the first child at 1 ms; the second runs after the parent, on worker 0.
    ("tokio: a spawn unparks a worker",
     {"p": one([{"sleep": "1ms"}, {"spawn": "c"}, {"spawn": "c"}, {"cpu": "1ms"}]),
      "c": CHILD},
     {"model": "tokio", "workers": 2}, 2, {},
     [(2 * MS, 0), (2 * MS, 0), (3 * MS, 0)],
     [(2_010 * US, 10 * US), (2 * MS, 0), (3_010 * US, 0)]),
    # 3 workers: the unparked worker, the last searcher, finds the first child and
    # unparks the third (10 us before polling it), which finds nothing and parks; the
    # third spawn, at 1.01 ms, unparks it again (10 us more of the parent's).
    ("tokio: the last searcher to find work unparks another",
     {"p": one([{"sleep": "1ms"}, {"spawn": "c"}, {"spawn": "c"}, {"spawn": "c"},
                {"cpu": "1ms"}]), "c": CHILD},
     {"model": "tokio", "workers": 3}, 3, {},
     [(2 * MS, 0)] * 3 + [(3 * MS, 0)],
     [(2_020 * US, 20 * US), (2_010 * US, 10 * US), (2_010 * US, 0), (3_020 * US, 0)]),
]


@pytest.mark.parametrize("name, workload, scheduler, cores, machine, free, paid", CASES,
                         ids=[case[0] for case in CASES])
def test_waking_a_parked_thread_costs_the_waker(name, workload, scheduler, cores, machine,
                                                 free, paid):
    for cost, expected in (("0", free), ("10us", paid)):
        cfg = config(workload, {"s": scheduler},
                     machine={"cores": cores, "signal_cost": cost, **machine})
        tasks, _, rec, work = run_scheduler(cfg, "s")
        check_invariants(tasks, rec, work, cores)
        got = list(zip(tasks["finish_ns"].astype("int64").tolist(),
                       tasks["overhead_ns"].tolist(), strict=True))
        assert got == expected, (name, cost)


def test_the_cost_follows_the_woken_threads_time_parked():
    """signal_cost {0: 5 us, 2 ms: 30 us}, 2 threads, 1 core. P spawns at 1 ms (the idle
    worker parked 1 ms: 5 us), sleeps 1 ms from 1.005 (the child runs 1.005-2.005), spawns
    at 2.005 (the worker parked 0: 5 us), sleeps 3 ms from 2.010 (the child runs to 3.010)
    and spawns at 5.010 (the worker parked 2 ms: 30 us), then computes to 6.040; the last
    child runs after it, to 7.040."""
    parent = one([{"cpu": "1ms"}, {"spawn": "c"}, {"sleep": "1ms"}, {"spawn": "c"},
                  {"sleep": "3ms"}, {"spawn": "c"}, {"cpu": "1ms"}])
    cfg = config({"p": parent, "c": CHILD}, {"s": {"model": "gil_threads", "threads": 2}},
                 machine={"cores": 1, "signal_cost": {"0": "5us", "2ms": "30us"}})
    tasks = run_scheduler(cfg, "s")[0]
    assert tasks["overhead_ns"].tolist() == [40 * US, 0, 0, 0]
    assert tasks["finish_ns"].astype("int64").tolist() == [6_040 * US, 2_005 * US,
                                                           3_010 * US, 7_040 * US]


def test_the_linux_profile_charges_the_measured_cost_and_ideal_none():
    """linux's signal_cost is the law per time parked fitted to machine_delays.c; ideal's
    is 0, so that every exact timeline on it stays as it was."""
    from sim.machine import LINUX_SIGNAL_COST, Machine

    linux, ideal = Machine(), Machine(profile="ideal")
    assert {k: str(v) for k, v in linux.signal_cost.items()} == {
        k: str(Machine.model_validate({"profile": "ideal", "signal_cost": v}).signal_cost)
        for k, v in zip(linux.signal_cost, LINUX_SIGNAL_COST.values(), strict=True)}
    assert list(linux.signal_cost) == [20 * US, 1 * MS, 2 * MS, 5 * MS, 10 * MS, 20 * MS]
    assert str(ideal.signal_cost) == "0"
