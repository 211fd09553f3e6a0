"""The gil_threads model: exact GIL timelines (docs/runtime-notes/gil.md section 3), the
asyncio executor's cpu offload, M/M/1 on one core, and invariants under hypothesis.

Times are in ms unless said; I is the switch interval (5 ms unless said). Task ids follow the
order of the workload's classes, so the first class's thread takes the GIL first at t=0.
"""

from contextlib import contextmanager
from unittest import mock

import numpy as np
import pytest
from helpers import (
    MS,
    US,
    check_invariants,
    config,
    counted,
    finish_times,
    one,
    replications,
    run_scheduler,
    within_ci,
)
from hypothesis import given
from hypothesis import strategies as st

from sim.machine import OS, Machine
from sim.models import MODELS
from sim.models.base import Engine
from sim.models.gil_threads import Gil, GilThreads
from sim.recorder import Recorder
from sim.runner import model_rng
from sim.workload import generate


def cpu_threads(*bursts_ms, cores=1, **options):
    """One thread per burst, all ready at 0: classes t0, t1, ... (task ids 0, 1, ...)."""
    work = {f"t{i}": one([{"cpu": f"{b}ms"}]) for i, b in enumerate(bursts_ms)}
    return config(work, {"t": {"model": "gil_threads", **options}}, machine={"cores": cores})


@contextmanager
def probe():
    """Log every stretch of core time (Recorder.busy) with the phase it belongs to and who
    held the GIL meanwhile: (task, t0, t1, kind, GIL holder's task or -1, holder since)."""
    log, models = [], []

    class Probe(GilThreads):
        def __init__(self, engine, options):
            super().__init__(engine, options)
            models.append(self)

    busy = Recorder.busy

    def logged(rec, task, t0, t1, *lane):
        model = models[-1]
        engine, gil = model.engine, model.gil
        kind = engine.kinds[task][engine.pc[task] - 1]
        holder = gil.holder.task if gil.holder is not None else -1
        log.append((task, t0, t1, kind, holder, gil.held_since))
        busy(rec, task, t0, t1, *lane)

    with mock.patch.dict(MODELS, {"gil_threads": Probe}), \
            mock.patch.object(Recorder, "busy", logged):
        yield log


def slices(cfg, name="t"):
    """Who ran Python when: [(task, start_ms, end_ms)], adjacent pieces of one task merged."""
    with probe() as log:
        run_scheduler(cfg, name)
    merged = []
    for task, t0, t1, *_ in sorted(log, key=lambda x: x[1]):
        if merged and merged[-1][0] == task and merged[-1][2] == t0:
            merged[-1][2] = t1
        else:
            merged.append([task, t0, t1])
    return [(t, a / MS, b / MS) for t, a, b in merged]


def by_task(cfg, name="t"):
    return run_scheduler(cfg, name)[0].set_index("task_id")


# --- exact timelines ----------------------------------------------------------------------


def test_two_cpu_threads_alternate_in_slices_of_exactly_one_interval():
    """A holds from 0; B's wait began under A, so its first timeout (5) asks for a drop. A
    drops at once and, FORCE_SWITCHING, waits only after B has the GIL: a fresh waiter whose
    timeout at 10 asks again. Bursts 12 = 2*5 + 2: A[0,5) B[5,10) A[10,15) B[15,20) A[20,22)
    B[22,24); with 20 ms bursts A ends at 2*4*5 - 5 = 35 (its last slice [30,35)), B at 40."""
    cfg = cpu_threads(12, 12)
    assert slices(cfg) == [(0, 0, 5), (1, 5, 10), (0, 10, 15), (1, 15, 20),
                           (0, 20, 22), (1, 22, 24)]
    tasks = by_task(cfg)
    assert tasks["finish_ns"].tolist() == [22 * MS, 24 * MS]
    assert tasks["wait_ns"].tolist() == [10 * MS, 12 * MS]  # latency - 12
    assert tasks["preemptions"].tolist() == [2, 2]  # forced drops: A at 5, 15; B at 10, 20
    assert tasks["gil_handoffs"].tolist() == [2, 3]  # A takes at 10, 20; B at 5, 15, 22
    assert finish_times(cpu_threads(20, 20), "t") == {0: 35 * MS, 1: 40 * MS}


# On a machine with OS delays (Const laws: every wait ends exactly L = 100 us late, every
# woken thread runs exactly W = 20 us after its wake-up, by another thread or through its
# socket: a request's arrival, an io's completion). Times in us.
OS_DELAYS = {"profile": "ideal", "timer_lateness": "100us", "wake_latency": "20us",
             "net_wake_latency": "20us"}


def us(got):
    return [(t, round(a * 1000), round(b * 1000)) for t, a, b in got]


def test_forced_switches_wait_a_timer_lateness_and_two_wake_ups():
    """I = 5 ms, bursts 12 ms. Both workers are woken by submit and run at W = 20: A takes
    the GIL, B waits from 20; its wait times out at 5020 and returns L late, at 5120: the
    switch number is unchanged, so it asks for a drop (and waits again). A drops at once:
    drop_gil signals B, which runs W later (5140; the GIL is free meanwhile), and A,
    FORCE_SWITCHING, waits on switch_cond until B has the GIL: woken at 5140, it runs at
    5160 and waits from then, asking at 5160 + I + L = 10260. So every forced slice after
    the first is I + L + W = 5120 us and the GIL idles W at each switch:
    A[20,5120) B[5140,10260) A[10280,15400) B[15420,20540) A[20560,22340) B[22360,24120)."""
    cfg = config({f"t{i}": one([{"cpu": "12ms"}]) for i in range(2)},
                 {"t": {"model": "gil_threads"}}, machine=OS_DELAYS)
    assert us(slices(cfg)) == [(0, 20, 5120), (1, 5140, 10260), (0, 10280, 15400),
                               (1, 15420, 20540), (0, 20560, 22340), (1, 22360, 24120)]
    tasks = by_task(cfg)
    assert tasks["finish_ns"].tolist() == [22_340 * US, 24_120 * US]
    assert tasks["preemptions"].tolist() == [2, 2]
    assert tasks["gil_handoffs"].tolist() == [2, 3]


def test_a_signalled_waiter_overtaken_starts_a_new_full_interval_wait():
    """A computes 2 ms, yields (time.sleep(0)), computes 10 ms; B computes 1 ms. A holds
    the GIL from 20, B waits from 20 (its timeout would ask at 5120). At 2020 A's drop_gil
    signals B, which would run at 2040; but A's zero sleep returns at once and its take_gil
    finds the GIL free: A takes it back first. B runs at 2040, finds it held and starts a
    new full-interval wait (not a timed-out one: its saved switch number is the current
    one, and the GIL never changed hands), which asks at 2040 + I + L = 7140, not at 5120.
    B[7160,8160) (signalled at 7140); A, woken on switch_cond at 7180, waits and is
    signalled by B's release at 8160: it runs its last 4880 us from 8180 to 13060."""
    cfg = config({"a": one([{"cpu": "2ms"}, "yield", {"cpu": "10ms"}]),
                  "b": one([{"cpu": "1ms"}])}, {"t": {"model": "gil_threads"}},
                 machine=OS_DELAYS)
    assert us(slices(cfg)) == [(0, 20, 7140), (1, 7160, 8160), (0, 8180, 13060)]
    assert finish_times(cfg, "t") == {0: 13_060 * US, 1: 8_160 * US}
    # on the ideal machine B runs at A's yield (its signal is at once)
    cfg = config({"a": one([{"cpu": "2ms"}, "yield", {"cpu": "10ms"}]),
                  "b": one([{"cpu": "1ms"}])}, {"t": {"model": "gil_threads"}})
    assert slices(cfg) == [(0, 0, 2), (1, 2, 3), (0, 3, 13)]


def test_a_release_with_a_drop_requested_waits_until_the_gil_changed_hands():
    """FORCE_SWITCHING in drop_gil applies to any drop with the request set. A: cpu 1 ms,
    cpu 4.1 ms, io 1 ms; B: cpu 1 ms. A holds from 20 and its second burst ends at 5120,
    the instant B's wait (from 20) returns late and asks for a drop: A's next bytecode
    is the read, whose drop_gil signals B (it runs at 5140) and, the request set and the
    GIL not yet taken, waits on switch_cond: woken by B's take_gil, A runs at 5160 and only
    then starts the read, which completes at 6160; A runs at 6180 (W) and ends. B[5140,
    6140). Without the wait the read would have begun at 5120 and A ended at 6140."""
    cfg = config({"a": one([{"cpu": "1ms"}, {"cpu": "4100us"}, {"io": "1ms"}]),
                  "b": one([{"cpu": "1ms"}])}, {"t": {"model": "gil_threads"}},
                 machine=OS_DELAYS)
    assert us(slices(cfg)) == [(0, 20, 5120), (1, 5140, 6140)]
    tasks, wakeups, *_ = run_scheduler(cfg, "t")
    assert tasks["finish_ns"].tolist() == [6_180 * US, 6_140 * US]
    assert (0, 6_160 * US, 6_180 * US) in list(zip(wakeups["task_id"], wakeups["ready_ns"],
                                                   wakeups["run_ns"], strict=True))


def test_sleep_ends_a_timer_lateness_late_and_io_a_wake_latency_late():
    """One thread: sleep 1 ms, io 1 ms, cpu 1 ms. Its worker runs W after submit (20); the
    sleep is due at 1020 and returns L late (1120); the read completes at 2120 and the
    thread runs W later (2140); done at 3140. Each wake-up's delay counts from when the
    task could run (the due time, the completion), so the waits are W, L and W."""
    cfg = config({"s": one([{"sleep": "1ms"}, {"io": "1ms"}, {"cpu": "1ms"}])},
                 {"t": {"model": "gil_threads"}}, machine=OS_DELAYS)
    tasks, wakeups, *_ = run_scheduler(cfg, "t")
    assert tasks["finish_ns"].tolist() == [3_140 * US]
    assert tasks["wait_ns"].tolist() == [140 * US]
    assert list(zip(wakeups["ready_ns"], wakeups["run_ns"], strict=True)) == [
        (0, 20 * US), (1_020 * US, 1_120 * US), (2_120 * US, 2_140 * US)]


def test_a_socket_wakes_a_thread_net_wake_latency_late_another_thread_wake_latency_late():
    """net_wake_latency N = 90 us, wake_latency W = 20 us, one thread. A request's thread,
    blocked reading its connection, runs N after the arrival (90); its io completes at
    1090 and it runs N later (1180); its blocking call returns at 2180 and it runs W later
    (2200); it spawns c and sleeps 1 ms (to 3200). B, a second request at 0, found no idle
    thread: it waited in the queue, and the thread took it at once when it finished A, N
    paying for nothing (B 3200-4200), then c (4200-5200). With two threads, c's idle worker
    is woken by the submit's condvar: it runs W after the spawn (2220)."""
    work = {"a": one([{"io": "1ms"}, {"block": "1ms"}, {"spawn": "c"}, {"sleep": "1ms"}]),
            "b": one([{"cpu": "1ms"}]),
            "c": {"arrival": "spawned", "phases": [{"cpu": "1ms"}]}}
    machine = {"profile": "ideal", "wake_latency": "20us", "net_wake_latency": "90us"}
    cfg = config(work, {"t": {"model": "gil_threads", "threads": 1}}, machine=machine)
    tasks, wakeups, *_ = run_scheduler(cfg, "t")
    assert tasks["finish_ns"].tolist() == [3_200 * US, 4_200 * US, 5_200 * US]
    assert sorted(zip(wakeups["task_id"], wakeups["ready_ns"], wakeups["run_ns"],
                      strict=True)) == [
        (0, 0, 90 * US), (0, 1_090 * US, 1_180 * US), (0, 2_180 * US, 2_200 * US),
        (0, 3_200 * US, 3_200 * US), (1, 0, 3_200 * US), (2, 2_200 * US, 4_200 * US)]
    cfg = config(work, {"t": {"model": "gil_threads", "threads": 2}}, machine=machine)
    tasks, wakeups, *_ = run_scheduler(cfg, "t")
    c = wakeups[wakeups["task_id"] == 2]
    assert list(zip(c["ready_ns"], c["run_ns"], strict=True)) == [(2_200 * US, 2_220 * US)]


@pytest.mark.parametrize("threads", [1, 2])
def test_a_socket_wakes_a_thread_by_the_law_for_the_time_it_has_been_parked(threads):
    """net_wake_latency {0: 20 us, 2 ms: 70 us}: A arrives at 0 (its thread parked 0: 20
    us); its 2 ms read wakes it parked 2 ms (70 us), and it finishes at 3.09 ms; B at 5 ms
    wakes the thread parked since then, 1.91 ms (20 us); C at 9 ms, 2.98 ms (70 us). With
    two threads the one that blocked last takes the request (the other, parked since 0,
    would pay 70 us for B)."""
    work = {"A": one([{"io": "2ms"}, {"cpu": "1ms"}]), "B": one([{"cpu": "1ms"}], at="5ms"),
            "C": one([{"cpu": "1ms"}], at="9ms")}
    machine = {"profile": "ideal", "net_wake_latency": {"0": "20us", "2ms": "70us"}}
    cfg = config(work, {"t": {"model": "gil_threads", "threads": threads}}, machine=machine)
    tasks, wakeups, *_ = run_scheduler(cfg, "t")
    assert sorted(zip(wakeups["task_id"], wakeups["ready_ns"], wakeups["run_ns"],
                      strict=True)) == [
        (0, 0, 20 * US), (0, 2_020 * US, 2_090 * US), (1, 5 * MS, 5_020 * US),
        (2, 9 * MS, 9_070 * US)]


@pytest.mark.parametrize("holds,runs_at", [("1ms", 1010 * US), ("3ms", 3060 * US)])
def test_the_signalled_gil_waiter_runs_by_the_law_for_its_time_parked(holds, runs_at):
    """wake_latency {0: 10 us, 2 ms: 60 us}, two threads: B waits for the GIL from 0 (its
    5 ms timed wait does not end); A computes ``holds`` and drops the GIL, signalling B,
    parked that long: B runs 10 us (1 ms) or 60 us (3 ms) later, and computes 1 ms."""
    work = {"A": one([{"cpu": holds}]), "B": one([{"cpu": "1ms"}])}
    machine = {"profile": "ideal", "wake_latency": {"0": "10us", "2ms": "60us"}}
    cfg = config(work, {"t": {"model": "gil_threads", "threads": 2}}, machine=machine)
    tasks = run_scheduler(cfg, "t")[0]
    assert tasks["finish_ns"].tolist() == [int(holds.removesuffix("ms")) * MS, runs_at + MS]


@pytest.mark.parametrize("interval", [1, 5])
def test_the_convoy_on_a_real_machine_waits_an_interval_two_latenesses_and_a_wake_up(
        interval):
    """The convoy with a sleep: each return of the sleeper (task 1) is L late (the sleep),
    then its take_gil waits I and returns L late (the timed wait), and the hog's drop_gil
    signal makes it run W later: I + 2L + W per return (real CPython 3.11 on this machine,
    docs/validation.md: 5.25 ms at p50 for I = 5). Its arrival: W (submit) + I + L + W."""
    i = interval * MS
    cfg = config({"hog": one([{"cpu": "100ms"}]),
                  "io": one([{"repeat": 3, "phases": [{"sleep": "2ms"}, {"cpu": "1ms"}]}])},
                 {"t": {"model": "gil_threads", "switch_interval": f"{interval}ms"}},
                 machine=OS_DELAYS)
    tasks, wakeups, *_ = run_scheduler(cfg, "t")
    io = wakeups[wakeups["task_id"] == 1]
    assert (io["run_ns"] - io["ready_ns"]).tolist() == [i + 140 * US] + [i + 220 * US] * 3
    assert tasks.set_index("task_id").loc[1, "finish_ns"] == 9 * MS + 4 * i + 800 * US


def test_the_switch_interval_sets_the_slice():
    """sys.setswitchinterval(0.001): 1 ms slices; bursts 2.5 = 2*1 + 0.5 end at
    2*2*1 + 0.5 = 4.5 and 5."""
    assert finish_times(cpu_threads(2.5, 2.5, switch_interval="1ms"), "t") == {
        0: 4500 * US, 1: 5 * MS}


@pytest.mark.parametrize("interval", [1, 5])
def test_an_io_thread_beside_a_cpu_thread_waits_one_interval_per_return(interval):
    """The convoy effect. The hog (task 0) holds the GIL from 0. The I/O thread (task 1)
    needs the GIL to start (arrival) and after each of its three 2 ms reads: each time it is
    the only waiter, its timeout one interval later asks for a drop and the hog gives way at
    once; each 1 ms of Python is then done before the hog's own wait (begun at the drop)
    times out. I=5: runs at 5, read [5,7), GIL at 12, cpu [12,13), read [13,15), GIL at 20,
    cpu [20,21), read [21,23), GIL at 28, cpu [28,29): done at 29 = 9 + 4*I."""
    i = interval * MS
    cfg = config({"hog": one([{"cpu": "100ms"}]),
                  "io": one([{"repeat": 3, "phases": [{"io": "2ms"}, {"cpu": "1ms"}]}])},
                 {"t": {"model": "gil_threads", "switch_interval": f"{interval}ms"}})
    tasks, wakeups, *_ = run_scheduler(cfg, "t")
    tasks = tasks.set_index("task_id")
    assert tasks.loc[1, "finish_ns"] == 9 * MS + 4 * i
    assert tasks.loc[1, "wait_ns"] == 4 * i
    # every wake-up of the I/O thread (arrival, then each read's return) waits exactly I
    io = wakeups[wakeups["task_id"] == 1]
    assert (io["delay_ns"] == i).all() and len(io) == 4
    # the hog lost 3 ms of GIL to the I/O thread's Python and nothing else
    assert tasks.loc[0, "finish_ns"] == 103 * MS
    assert tasks.loc[1, "gil_handoffs"] == 4


def test_three_cpu_threads_round_robin_in_slices_of_exactly_one_interval():
    """N >= 3: after a forced switch at T the old holder is the only fresh waiter (the others'
    waits began before T, so their next timeout asks nothing); it asks at exactly T + I.
    Every forced slice is I, and FIFO hands the GIL to the oldest waiter: strict round
    robin. Bursts 12 = 2*5 + 2: thread j ends at N*2*5 + (j+1)*2."""
    assert slices(cpu_threads(12, 12, 12)) == [
        (0, 0, 5), (1, 5, 10), (2, 10, 15), (0, 15, 20), (1, 20, 25), (2, 25, 30),
        (0, 30, 32), (1, 32, 34), (2, 34, 36)]
    assert finish_times(cpu_threads(12, 12, 12, 12), "t") == {
        0: 42 * MS, 1: 44 * MS, 2: 46 * MS, 3: 48 * MS}


def test_after_a_voluntary_release_the_next_holder_runs_up_to_two_intervals():
    """A=12, B=C=30. The round robin runs to A's end at 32 (A[30,32)); B takes the GIL. C's
    wait began at 30, before B took it: its timeout at 35 is stale and asks nothing; it asks
    at 40. So B[32,40) is 8 ms (= 30 + 2*5 - 32); then 5 ms slices: C[40,45) B[45,50)
    C[50,55) B[55,60) C[60,65), B ends its 30 ms at 67 and C at 72."""
    got = slices(cpu_threads(12, 30, 30))
    assert got[6:9] == [(0, 30, 32), (1, 32, 40), (2, 40, 45)]
    assert [b - a for _, a, b in got] == [5] * 6 + [2, 8] + [5] * 5 + [2, 5]
    assert finish_times(cpu_threads(12, 30, 30), "t") == {0: 32 * MS, 1: 67 * MS, 2: 72 * MS}


def test_random_wake_order_keeps_forced_slices_at_one_interval():
    """wake_order random (seeded): the next holder is any waiter but the dropper, so the order
    is not a round robin, yet every slice up to the first task's end is exactly I, and
    the GIL never idles (the last thread ends at 4 * 12)."""
    cfg = cpu_threads(12, 12, 12, 12, wake_order="random")
    got = slices(cfg)
    first_end = min(finish_times(cfg, "t").values()) / MS
    assert all(b - a == 5 for _, a, b in got if b < first_end)
    assert max(b for *_, b in got) == 48
    assert [t for t, *_ in got[:8]] != [0, 1, 2, 3, 0, 1, 2, 3]
    assert all(x[0] != y[0] for x, y in zip(got, got[1:], strict=False))
    assert slices(cfg) == got  # the model's own seeded stream: reproducible


def test_free_threaded_cpu_threads_run_in_parallel_up_to_the_cores():
    """No GIL: two 12 ms threads on two cores end together at 12. On one core the OS time
    slice (3 ms) shares it: A[0,3) B[3,6) A[6,9) B[9,12) A[12,15) B[15,18) A[18,21) B[21,24)."""
    assert finish_times(cpu_threads(12, 12, cores=2, free_threaded=True), "t") == {
        0: 12 * MS, 1: 12 * MS}
    assert finish_times(cpu_threads(12, 12, free_threaded=True), "t") == {
        0: 21 * MS, 1: 24 * MS}
    # with the GIL the second core does not help: the same 22 / 24 as on one core
    assert finish_times(cpu_threads(12, 12, cores=2), "t") == {0: 22 * MS, 1: 24 * MS}


def test_native_code_runs_without_the_gil_and_takes_it_back_on_return():
    """Two cores. A calls 10 ms of C code that releases the GIL; B computes 20 ms of Python
    meanwhile, in parallel. A returns at 10 and waits for the GIL: asks at 15, runs its 1 ms
    [15,16); B gets the GIL back at 16 and ends its last 5 ms at 21."""
    cfg = config({"a": one([{"native": "10ms"}, {"cpu": "1ms"}]), "b": one([{"cpu": "20ms"}])},
                 {"t": {"model": "gil_threads"}}, machine={"cores": 2})
    tasks, wakeups, *_ = run_scheduler(cfg, "t")
    assert dict(zip(tasks["task_id"], tasks["finish_ns"], strict=True)) == {0: 16 * MS, 1: 21 * MS}
    assert (0, 10 * MS, 15 * MS) in list(zip(wakeups["task_id"], wakeups["ready_ns"],
                                             wakeups["run_ns"], strict=True))


def test_a_holder_descheduled_by_the_os_keeps_the_gil_until_it_runs_again():
    """One core, 3 ms OS slices. N (task 0) computes 20 ms natively (no GIL); B (1) holds the
    GIL for 10 ms of Python; C (2) arrives at 2 and waits for the GIL. The OS alternates N and
    B: N[0,3) B[3,6) N[6,9). C's timeout at 7 asks for a drop while B is off the core: B
    answers when the OS runs it again at 9 (C takes the GIL, B waits; N keeps the core,
    [9,12)); C gets the core at 12 and ends at 13; B takes the GIL back and alternates with
    N: N[13,16) B[16,19) N[19,22) B[22,25) N[25,28) B[28,29), N[29,31)."""
    cfg = config({"n": one([{"native": "20ms"}]), "b": one([{"cpu": "10ms"}]),
                  "c": one([{"cpu": "1ms"}], at="2ms")}, {"t": {"model": "gil_threads"}})
    assert slices(cfg) == [(0, 0, 3), (1, 3, 6), (0, 6, 12), (2, 12, 13), (0, 13, 16),
                           (1, 16, 19), (0, 19, 22), (1, 22, 25), (0, 25, 28), (1, 28, 29),
                           (0, 29, 31)]
    assert finish_times(cfg, "t") == {0: 31 * MS, 1: 29 * MS, 2: 13 * MS}


def test_yield_hands_the_gil_to_a_waiting_thread():
    """A yields (time.sleep(0)) after 2 ms while B waits: B runs [2,3), then A [3,5)."""
    cfg = config({"a": one([{"cpu": "2ms"}, "yield", {"cpu": "2ms"}]),
                  "b": one([{"cpu": "1ms"}])}, {"t": {"model": "gil_threads"}})
    assert finish_times(cfg, "t") == {0: 5 * MS, 1: 3 * MS}


def test_tasks_wait_for_a_free_pool_thread_in_fifo_order():
    """threads: 1 - a thread blocked in I/O still belongs to its task; the second task waits
    for it (counted as wait). A worker that finds work queued keeps the GIL."""
    cfg = config({"w": {"arrival": {"batch": {"count": 3}}, "phases": [{"io": "10ms"}]}},
                 {"t": {"model": "gil_threads", "threads": 1}})
    tasks = by_task(cfg)
    assert tasks["finish_ns"].tolist() == [10 * MS, 20 * MS, 30 * MS]
    assert tasks["wait_ns"].tolist() == [0, 10 * MS, 20 * MS]


def test_a_spawned_task_is_submitted_to_the_pool():
    """The child (spawned at 1) waits for the GIL its parent holds until the parent ends at 3."""
    cfg = config({"parent": one([{"cpu": "1ms"}, {"spawn": "child"}, {"cpu": "2ms"}]),
                  "child": {"arrival": "spawned", "phases": [{"cpu": "5ms"}]}},
                 {"t": {"model": "gil_threads"}})
    assert finish_times(cfg, "t") == {0: 3 * MS, 1: 8 * MS}


def test_trace_shows_each_thread_waiting_for_the_gil():
    """--trace: each pool thread is a lane; the I/O thread's lane alternates gil_wait, io and
    running exactly as in the convoy timeline above (I = 5)."""
    cfg = config({"hog": one([{"cpu": "20ms"}]),
                  "io": one([{"repeat": 2, "phases": [{"io": "2ms"}, {"cpu": "1ms"}]}])},
                 {"t": {"model": "gil_threads"}})
    workload = generate(cfg, cfg.seed)
    rec = Recorder(workload.task_class.tolist(), len(workload.classes), cfg.warmup, cfg.horizon)
    rec.tracing = True
    Engine(workload, rec, cfg, GilThreads, cfg.schedulers["t"], model_rng(1, "t")).run()
    lane = sorted((s, t0 / MS, t1 / MS) for name, task, s, t0, t1 in rec.trace_rows
                  if name == "thread 1")
    assert lane == sorted([("gil_wait", 0, 5), ("io", 5, 7), ("gil_wait", 7, 12),
                           ("running", 12, 13), ("io", 13, 15), ("gil_wait", 15, 20),
                           ("running", 20, 21)])


# --- asyncio's executor shares the GIL ------------------------------------------------------


def test_offloaded_cpu_phases_share_the_gil_while_native_ones_run_in_parallel():
    """Two cores, two 10 ms phases sent to run_in_executor. Python code (cpu): the executor
    threads share the GIL and alternate in 5 ms slices: [0,5) [5,10) [10,15) [15,20), ends
    15 and 20. C code (native) releases it: both end at 10."""
    def run(kind):
        work = {"w": {"arrival": {"batch": {"count": 2}}, "phases": [{kind: "10ms"}]}}
        cfg = config(work, {"a": {"model": "asyncio", "offload": ["cpu", "native"]}},
                     machine={"cores": 2})
        return finish_times(cfg, "a")
    assert run("cpu") == {0: 15 * MS, 1: 20 * MS}
    assert run("native") == {0: 10 * MS, 1: 10 * MS}


def test_the_loop_thread_shares_the_gil_with_executor_threads():
    """Two cores, offload [cpu]. The hog's 20 ms of Python go to an executor thread E.
    With a 1 ms step overhead (Python on the loop thread): the hog's step [0,1) and the I/O
    task's first step [1,2) hold the GIL, E waits; the loop sleeps in select at 2 and E takes
    the GIL. The I/O task's read returns at 4; its step needs the GIL: asks at 9, runs
    [9,10), ends at 10; E resumes [10,23) and the hog's last step runs [23,24)."""
    cfg = config({"hog": one([{"cpu": "20ms"}]), "io": one([{"io": "2ms"}])},
                 {"a": {"model": "asyncio", "offload": ["cpu"], "step_overhead": "1ms"}},
                 machine={"cores": 2})
    assert finish_times(cfg, "a") == {0: 24 * MS, 1: 10 * MS}
    # native code on the loop runs beside E without the GIL (0-4 on the other core), but
    # the loop takes the GIL back on return: it waits from 4, asks at 9, ends its step at 9
    cfg = config({"hog": one([{"cpu": "20ms"}]), "nat": one([{"native": "4ms"}])},
                 {"a": {"model": "asyncio", "offload": ["cpu"]}}, machine={"cores": 2})
    tasks, wakeups, *_ = run_scheduler(cfg, "a")
    assert dict(zip(tasks["task_id"], tasks["finish_ns"], strict=True)) == {0: 20 * MS, 1: 9 * MS}
    assert (1, 4 * MS, 9 * MS) in list(zip(wakeups["task_id"], wakeups["ready_ns"],
                                           wakeups["run_ns"], strict=True))


# --- theory ---------------------------------------------------------------------------------


def test_mm1_mean_latency_and_no_cpu_without_the_gil():
    """One core, Poisson arrivals at 700/s, Exp(1 ms) bursts: the GIL's order is blind to
    job sizes and never idles the core while work waits, so the mean latency is M/M/1's,
    1 / (mu - lambda) = 1 / 300 s. Every burst of core time is spent holding the GIL."""
    lam, mu = 700.0, 1000.0
    cfg = config({"w": {"arrival": {"poisson": f"{lam}/s"}, "phases": [{"cpu": "exp(1ms)"}]}},
                 {"t": {"model": "gil_threads"}}, horizon="6s", warmup="1s")

    def mean(seed):
        with probe() as log:
            tasks = run_scheduler(cfg, "t", seed)[0]
        assert all(holder == task and since <= t0 for task, t0, _, _, holder, since in log)
        return counted(tasks)["latency_ns"].astype(float).mean() / 1e9

    means = replications(mean, range(1, 11))
    assert within_ci(means, 1 / (mu - lam))


# --- invariants -----------------------------------------------------------------------------

durations = st.sampled_from(["0", "50us", "1ms", "3ms", "exp(1ms)", "uniform(0, 7ms)"])
timed = st.sampled_from(["cpu", "cpu", "io", "sleep", "block", "native"])
phases = st.lists(st.one_of(st.builds(lambda k, d: {k: d}, timed, durations),
                            st.just("yield")), min_size=1, max_size=6)


@given(main=phases, kid=phases, cores=st.integers(1, 3), threads=st.integers(1, 4),
       interval=st.sampled_from(["100us", "1ms", "5ms"]), free=st.booleans(),
       order=st.sampled_from(["fifo", "random"]),
       machine=st.sampled_from([{}, {"profile": "linux"}, OS_DELAYS]),
       seed=st.integers(0, 1000),
       arrival=st.sampled_from([{"poisson": "400/s"}, {"batch": {"count": 6, "at": "1ms"}},
                                {"closed": {"clients": 4, "think": "exp(1ms)"}}]))
def test_invariants(main, kid, cores, threads, interval, free, order, machine, seed, arrival):
    """At most one thread runs Python at a time (each piece of cpu time lies inside one GIL
    tenure of its own thread), never more threads compute than there are cores, every
    task finishes once, wait == latency - demand exactly."""
    work = {"main": {"arrival": arrival, "phases": [*main, {"spawn": "kid"}]},
            "kid": {"arrival": "spawned", "phases": kid}}
    options = {"model": "gil_threads", "threads": threads, "switch_interval": interval,
               "free_threaded": free, "wake_order": order}
    cfg = config(work, {"t": options}, machine={**machine, "cores": cores}, horizon="60ms",
                 seed=seed)
    with probe() as log:
        tasks, wakeups, rec, workload = run_scheduler(cfg, "t")
    check_invariants(tasks, rec, workload, cores)
    assert (wakeups["delay_ns"] >= 0).all()
    python = sorted((t0, t1) for task, t0, t1, kind, holder, since in log if kind == 0)
    if not free:
        assert all(holder == task and since <= t0
                   for task, t0, _, kind, holder, since in log if kind == 0)
        assert all(a[1] <= b[0] for a, b in zip(python, python[1:], strict=False))
    edges = sorted([(t0, 1) for _, t0, *_ in log] + [(t1, -1) for _, _, t1, *_ in log])
    assert np.cumsum([d for _, d in edges]).max(initial=0) <= cores
    assert tasks["gil_handoffs"].sum() == 0 or not free


def test_switch_interval_must_be_positive():
    with pytest.raises(ValueError, match="switch_interval"):
        cpu_threads(1, switch_interval="0")


def test_handoff_cost_is_gone():
    """The OS's wake latency and timer lateness replace it (issue 16)."""
    with pytest.raises(ValueError, match="handoff_cost"):
        cpu_threads(1, handoff_cost="100us")


def test_gil_rounds_the_interval_to_whole_microseconds():
    """sys.setswitchinterval stores whole microseconds; take_gil waits at least 1 us."""
    class Stub:
        rec = None
        os = OS(Machine(profile="ideal"), np.random.default_rng(0))
    assert Gil(Stub(), None, 1500).interval == 1 * US
    assert Gil(Stub(), None, 1).interval == 1 * US
    assert Gil(Stub(), None, 5 * MS).interval == 5 * MS


def test_a_timed_wait_takes_the_lateness_law_of_its_length():
    """Timer lateness by wait length (Const laws: under 1 ms 10 us, 1-5 ms 100 us, from 5
    ms 300 us), no wake latency, two cores. A computes 12 ms from 0 with the GIL; B's
    take_gil, a 5 ms timed wait, ends 300 us late (5300) and asks for a drop: A drops at
    once, B takes the GIL and sleeps 0.5 ms (due 5800), back 10 us late (5810); its next
    take_gil wait ends at 5810 + 5000 + 300: B[11110,12110), A to 13000. One law for all
    waits would have put both kinds 10 or both 300 us late."""
    machine = {"profile": "ideal", "cores": 2,
               "timer_lateness": {"0": "10us", "1ms": "100us", "5ms": "300us"}}
    cfg = config({"a": one([{"cpu": "12ms"}]), "b": one([{"sleep": "500us"}, {"cpu": "1ms"}])},
                 {"t": {"model": "gil_threads"}}, machine=machine)
    assert us(slices(cfg)) == [(0, 0, 11110), (1, 11110, 12110), (0, 12110, 13000)]
    wakeups = run_scheduler(cfg, "t")[1]
    assert wakeups[wakeups["task_id"] == 1][["ready_ns", "run_ns"]].values.tolist() == [
        [0, 5300 * US], [5800 * US, 11110 * US]]
