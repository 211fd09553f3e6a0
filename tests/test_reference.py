"""Reference disciplines: exact micro-scenarios."""

import pytest
from helpers import MS, config, finish_times, one, run_scheduler

from sim.config import ConfigError

BATCH3 = {"arrival": {"batch": {"count": 3}}, "phases": [{"cpu": "10ms"}]}


def test_fcfs_serves_in_arrival_order():
    cfg = config({"w": BATCH3}, {"f": {"model": "fcfs"}})
    assert finish_times(cfg, "f") == {0: 10 * MS, 1: 20 * MS, 2: 30 * MS}


def test_round_robin_slices_by_quantum():
    """Three 10 ms bursts, quantum 4 ms: 0-4 A, 4-8 B, 8-12 C, 12-16 A, 16-20 B, 20-24 C,
    24-26 A, 26-28 B, 28-30 C."""
    cfg = config({"w": BATCH3}, {"rr": {"model": "round_robin", "quantum": "4ms"}})
    assert finish_times(cfg, "rr") == {0: 26 * MS, 1: 28 * MS, 2: 30 * MS}
    assert run_scheduler(cfg, "rr")[0]["preemptions"].tolist() == [2, 2, 2]


def test_shortest_remaining_preempts_for_a_shorter_burst_and_serves_the_shortest_next():
    """One core. A (10 ms) at 0, B (2 ms) at 3 ms, C (5 ms) at 4 ms. At 3 ms A has 7 ms left
    and B 2: B takes the core (A's one preemption) and ends at 5. C arrived at 4 with 5 ms
    against B's 1 ms left: it waits. At 5 C (5) runs before A (7): C ends at 10, A at 17.
    (FCFS: A 10, B 12, C 17.)"""
    work = {"a": one([{"cpu": "10ms"}]), "b": one([{"cpu": "2ms"}], at="3ms"),
            "c": one([{"cpu": "5ms"}], at="4ms")}
    cfg = config(work, {"s": {"model": "shortest_remaining"}})
    tasks = run_scheduler(cfg, "s")[0]
    assert finish_times(cfg, "s") == {0: 17 * MS, 1: 5 * MS, 2: 10 * MS}
    assert tasks["preemptions"].tolist() == [1, 0, 0]
    assert tasks["wait_ns"].tolist() == [7 * MS, 0, 1 * MS]  # A: 3-5 and 5-10


def test_shortest_remaining_takes_the_core_with_the_most_work_left():
    """Two cores: A (10 ms) and B (8 ms) at 0; C (3 ms) at 2 ms. A has 8 ms left, B 6: C
    takes A's core, 2-5 ms; A resumes at 5 and ends at 13; B is never touched (8)."""
    work = {"a": one([{"cpu": "10ms"}]), "b": one([{"cpu": "8ms"}]),
            "c": one([{"cpu": "3ms"}], at="2ms")}
    cfg = config(work, {"s": {"model": "shortest_remaining"}}, machine={"cores": 2})
    assert finish_times(cfg, "s") == {0: 13 * MS, 1: 8 * MS, 2: 5 * MS}


def test_processor_sharing_shares_equally():
    """Bursts of 10, 20 and 30 ms under PS: all three share until 30 ms (10 each), then two
    share until 50 ms, then the last runs alone until 60 ms."""
    work = {"w": {"arrival": {"batch": {"count": 1}}, "phases": [{"cpu": "10ms"}]},
            "x": {"arrival": {"batch": {"count": 1}}, "phases": [{"cpu": "20ms"}]},
            "y": {"arrival": {"batch": {"count": 1}}, "phases": [{"cpu": "30ms"}]}}
    cfg = config(work, {"ps": {"model": "processor_sharing"}})
    assert finish_times(cfg, "ps") == {0: 30 * MS, 1: 50 * MS, 2: 60 * MS}


def test_round_robin_with_a_quantum_above_every_burst_equals_fcfs_task_by_task():
    cfg = config({"w": {"arrival": {"poisson": "700/s"},
                        "phases": [{"cpu": "exp(1ms)"}, {"io": "exp(2ms)"}, {"cpu": "1ms"}]}},
                 {"f": {"model": "fcfs"}, "rr": {"model": "round_robin", "quantum": "1s"}},
                 machine={"cores": 2}, horizon="3s")
    a = run_scheduler(cfg, "f")[0]
    b = run_scheduler(cfg, "rr")[0]
    assert len(a) > 1000
    assert a["finish_ns"].tolist() == b["finish_ns"].tolist()
    assert a["wait_ns"].tolist() == b["wait_ns"].tolist()


def test_io_leaves_the_server_and_rejoins_at_the_back():
    """A: 5 ms cpu, 1 ms io, 5 ms cpu; B: 10 ms cpu. FCFS: A 0-5, B 5-15 (A back at 6
    queues behind B), A 15-20."""
    work = {"A": {"arrival": {"batch": {"count": 1}},
                  "phases": [{"cpu": "5ms"}, {"io": "1ms"}, {"cpu": "5ms"}]},
            "B": {"arrival": {"batch": {"count": 1}}, "phases": [{"cpu": "10ms"}]}}
    cfg = config(work, {"f": {"model": "fcfs"}})
    assert finish_times(cfg, "f") == {0: 20 * MS, 1: 15 * MS}
    wake = run_scheduler(cfg, "f")[1]
    assert wake[wake["task_id"] == 0]["delay_ns"].tolist() == [0, 9 * MS]


def test_processor_sharing_departs_a_task_due_as_another_enters():
    """A (10 ms) alone until 10 ms, when B (10 ms) arrives, the arrival first: A is due at
    that very instant and leaves then (a zero delay), not a nanosecond later at half a
    core; B then runs alone until 20 ms."""
    work = {"a": one([{"cpu": "10ms"}]), "b": one([{"cpu": "10ms"}], at="10ms")}
    cfg = config(work, {"ps": {"model": "processor_sharing"}})
    assert finish_times(cfg, "ps") == {0: 10 * MS, 1: 20 * MS}


def test_yield_goes_to_the_back_of_the_queue():
    work = {"A": {"arrival": {"batch": {"count": 1}},
                  "phases": [{"cpu": "5ms"}, "yield", {"cpu": "5ms"}]},
            "B": {"arrival": {"batch": {"count": 1}}, "phases": [{"cpu": "10ms"}]}}
    cfg = config(work, {"f": {"model": "fcfs"}})
    assert finish_times(cfg, "f") == {0: 20 * MS, 1: 15 * MS}


def test_a_thread_that_yields_is_behind_the_one_it_yields_to_before_that_one_runs():
    """A, B, C on one core, each cpu 1 ms, yield, yield, cpu 1 ms. A runs 0-1, B 1-2, C 2-3
    (each first yield sends its thread to the back). At 3 ms C yields: A takes the core and C
    is queued behind B at once, so the second yields go A -> B -> C -> A (each to the back
    before the next continues): A runs its last 1 ms 3-4, B 4-5, C 5-6. (When a thread's
    continuation ran inside the yielder's, before the yielder was queued, B ran first.)"""
    cfg = config({"w": {"arrival": {"batch": {"count": 3}},
                        "phases": [{"cpu": "1ms"}, "yield", "yield", {"cpu": "1ms"}]}},
                 {"f": {"model": "fcfs"}})
    assert finish_times(cfg, "f") == {0: 4 * MS, 1: 5 * MS, 2: 6 * MS}


OS_DELAYS = {"timer_lateness": "100us", "wake_latency": "50us", "net_wake_latency": "20us"}


def test_a_task_back_from_io_runs_a_net_wake_latency_later_from_block_a_wake_latency():
    """One core, the OS's delays fixed: A computes 1 ms, waits on I/O 2 ms (done at 3 ms,
    its thread, woken by the socket, runs at 3.02 ms), computes 1 ms (4.02), sleeps 2 ms
    (due 6.02, runs at 6.12), computes 1 ms (7.12), blocks 1 ms (returns at 8.12, runs at
    8.17), computes 1 ms: 9.17 ms. Each delay is waiting, from the completion, the due time
    or the return (the wake-ups' delays: 20, 100 and 50 us). Processor sharing, alone, the
    same."""
    work = {"a": one([{"cpu": "1ms"}, {"io": "2ms"}, {"cpu": "1ms"}, {"sleep": "2ms"},
                      {"cpu": "1ms"}, {"block": "1ms"}, {"cpu": "1ms"}])}
    for model in ("fcfs", "processor_sharing"):
        cfg = config(work, {"s": {"model": model}}, machine=OS_DELAYS)
        tasks, wakeups = run_scheduler(cfg, "s")[:2]
        assert tasks["finish_ns"].tolist() == [9 * MS + 170_000]
        assert tasks["wait_ns"].tolist() == [170_000]
        assert wakeups["delay_ns"].tolist() == [0, 20_000, 100_000, 50_000]  # (arrival first)


def test_a_task_back_from_io_pays_the_net_wake_law_for_the_time_its_thread_was_parked():
    """net_wake_latency {0: 20 us, 2 ms: 70 us}: the task's thread is parked for its io, 1
    ms (20 us: back at 2.02 ms) then 2 ms (70 us: back at 5.09 ms), 1 ms of cpu around."""
    work = {"a": one([{"cpu": "1ms"}, {"io": "1ms"}, {"cpu": "1ms"}, {"io": "2ms"},
                      {"cpu": "1ms"}])}
    for model in ("fcfs", "round_robin", "processor_sharing"):
        cfg = config(work, {"s": {"model": model}}, machine={
            "net_wake_latency": {"0": "20us", "2ms": "70us"}})
        tasks, wakeups = run_scheduler(cfg, "s")[:2]
        assert wakeups["delay_ns"].tolist() == [0, 20_000, 70_000], model
        assert tasks["finish_ns"].tolist() == [6 * MS + 90_000], model


def test_while_a_woken_thread_waits_for_the_os_a_queued_one_takes_the_core():
    """One core, FCFS: A computes 1 ms, I/O 1 ms, computes 1 ms; B arrives at 1.99 ms with
    1 ms. A's I/O ends at 2 ms, but its thread runs only at 2.02: B, on the core since 1.99,
    keeps it until 2.99, then A: 3.99 ms."""
    work = {"a": one([{"cpu": "1ms"}, {"io": "1ms"}, {"cpu": "1ms"}]),
            "b": one([{"cpu": "1ms"}], at="1.99ms")}
    cfg = config(work, {"f": {"model": "fcfs"}}, machine=OS_DELAYS)
    assert finish_times(cfg, "f") == {0: 3_990_000, 1: 2_990_000}


def test_class_priority_preempts_a_later_class_and_serves_the_first_class_first():
    """One core, order [hi, mid]: lo (no rank: last) 10 ms at 0; mid 4 ms at 1 ms takes lo's
    core (lo has 9 left); hi 2 ms at 2 ms takes mid's (mid has 3 left): hi 2-4, mid 4-7,
    lo 7-16. A second lo at 3 ms waits behind the first (FIFO within a class): 16-26."""
    work = {"lo": one([{"cpu": "10ms"}]), "mid": one([{"cpu": "4ms"}], at="1ms"),
            "hi": one([{"cpu": "2ms"}], at="2ms"), "lo2": one([{"cpu": "10ms"}], at="3ms")}
    cfg = config(work, {"p": {"model": "class_priority", "order": ["hi", "mid"]}})
    tasks = run_scheduler(cfg, "p")[0]
    assert finish_times(cfg, "p") == {0: 16 * MS, 1: 7 * MS, 2: 4 * MS, 3: 26 * MS}
    assert tasks["preemptions"].tolist() == [1, 1, 0, 0]


def test_class_priority_takes_the_core_of_the_worst_ranked_holder():
    """Two cores: mid (8 ms) and lo (8 ms) at 0, hi (3 ms) at 2 ms takes lo's core, not
    mid's: hi 2-5, lo resumes 5-11, mid untouched (8)."""
    work = {"mid": one([{"cpu": "8ms"}]), "lo": one([{"cpu": "8ms"}]),
            "hi": one([{"cpu": "3ms"}], at="2ms")}
    cfg = config(work, {"p": {"model": "class_priority", "order": ["hi", "mid", "lo"]}},
                 machine={"cores": 2})
    assert finish_times(cfg, "p") == {0: 8 * MS, 1: 11 * MS, 2: 5 * MS}


@pytest.mark.parametrize("order,message", [
    (["a", "b"], "schedulers.p.order.1: no class 'b' in the workload (classes: a)"),
    (["a", "a"], "schedulers.p.order.1: 'a' is listed twice"),
])
def test_class_priority_order_names_the_workload_classes_once(order, message):
    with pytest.raises(ConfigError) as info:
        config({"a": one([{"cpu": "1ms"}])}, {"p": {"model": "class_priority", "order": order}})
    assert str(info.value).endswith(message)


SPAWNS_KID = {"main": {"arrival": {"batch": {"count": 1}},
                       "phases": [{"cpu": "2ms"}, {"spawn": "kid"}, {"cpu": "2ms"}]},
              "kid": {"arrival": "spawned", "phases": [{"cpu": "1ms"}]}}


@pytest.mark.parametrize("scheduler", [{"model": "class_priority", "order": ["kid", "main"]},
                                       {"model": "shortest_remaining"}])
def test_a_holder_starting_a_new_burst_gives_its_core_to_a_waiting_thread_that_outranks_it(
        scheduler):
    """One core: main computes 2 ms, spawns kid (1 ms: the better class, the shorter
    burst), then starts 2 ms more: kid runs first, 2-3 ms, main 3-5 ms (one preemption).
    FCFS: main 4, kid 5."""
    cfg = config(SPAWNS_KID, {"p": scheduler})
    tasks = run_scheduler(cfg, "p")[0]
    assert finish_times(cfg, "p") == {0: 5 * MS, 1: 3 * MS}
    assert tasks["preemptions"].tolist() == [1, 0]
    assert finish_times(config(SPAWNS_KID, {"f": {"model": "fcfs"}}), "f") == \
        {0: 4 * MS, 1: 5 * MS}


def test_class_priority_without_an_order_ranks_classes_as_the_workload_lists_them():
    """The first example's classes, listed hi, mid, lo, lo2: the same timings as
    order [hi, mid] except that lo now outranks lo2 (no matter: lo2 arrives later)."""
    work = {"hi": one([{"cpu": "2ms"}], at="2ms"), "mid": one([{"cpu": "4ms"}], at="1ms"),
            "lo": one([{"cpu": "10ms"}]), "lo2": one([{"cpu": "10ms"}], at="3ms")}
    cfg = config(work, {"p": {"model": "class_priority"}})
    assert finish_times(cfg, "p") == {0: 4 * MS, 1: 7 * MS, 2: 16 * MS, 3: 26 * MS}


def test_a_sleep_ends_late_by_the_law_of_its_length():
    """Timer lateness by wait length (Const laws: under 1 ms 10 us, 1-5 ms 100 us, from 5
    ms 300 us): sleeps of 0.5, 2 and 5 ms end 10, 100 and 300 us late (a length on a key
    takes that key's law), in every discipline."""
    work = {"a": one([{"sleep": "500us"}, {"sleep": "2ms"}, {"sleep": "5ms"},
                      {"cpu": "1ms"}])}
    machine = {"timer_lateness": {"0": "10us", "1ms": "100us", "5ms": "300us"}}
    for model in ("fcfs", "processor_sharing", "round_robin"):
        cfg = config(work, {"s": {"model": model}}, machine=machine)
        tasks, wakeups = run_scheduler(cfg, "s")[:2]
        assert wakeups["delay_ns"].tolist() == [0, 10_000, 100_000, 300_000]
        assert tasks["finish_ns"].tolist() == [8_910_000]
