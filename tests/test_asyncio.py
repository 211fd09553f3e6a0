"""The asyncio model: exact timings of BaseEventLoop._run_once on hand-built scenarios."""

import pandas as pd
import pytest
from helpers import MS, US, config, finish_times, one, run_scheduler
from hypothesis import given
from hypothesis import strategies as st

import sim
from sim.metrics import task_table, wakeup_table
from sim.models import MODELS
from sim.models.asyncio_loop import Loop, RunAheadLoop, SkipQueueLoop, epoll_wait_ns
from sim.models.base import Engine
from sim.recorder import Recorder
from sim.runner import model_rng
from sim.workload import generate


def asyncio_cfg(workload, **options):
    return config(workload, {"a": {"model": "asyncio", **options}})


def wake_log(wakeups):
    return [(int(t), int(r), int(u)) for t, r, u in
            zip(wakeups["task_id"], wakeups["ready_ns"], wakeups["run_ns"], strict=True)]


def test_a_50ms_burst_delays_an_expired_1ms_timer_until_50ms():
    """The sleeper's timer expires at 1 ms but its step runs when the hog awaits, at 50 ms."""
    cfg = asyncio_cfg({"sleeper": one([{"sleep": "1ms"}]), "hog": one([{"cpu": "50ms"}])})
    tasks, wakeups, *_ = run_scheduler(cfg, "a")
    assert finish_times(cfg, "a") == {0: 50 * MS, 1: 50 * MS}
    # arrivals at 0 run at 0; the timer's wake-up: ready at 1 ms, run at 50 ms
    assert wake_log(wakeups) == [(0, 0, 0), (1, 0, 0), (0, 1 * MS, 50 * MS)]
    assert tasks.set_index("task_id").loc[0, "wait_ns"] == 49 * MS


def test_the_trace_shows_what_the_loop_ran():
    cfg = asyncio_cfg({"sleeper": one([{"sleep": "1ms"}, {"cpu": "2ms"}]),
                       "hog": one([{"cpu": "50ms"}])})
    trace = sim.run(cfg, progress=False, trace=True).trace
    rows = trace[["lane", "task", "state", "start_ns", "end_ns"]].values.tolist()
    assert rows == [["loop 0", 1, "running", 0, 50 * MS],
                    ["loop 0", 0, "running", 50 * MS, 52 * MS]]


def test_what_becomes_ready_during_an_iteration_runs_after_the_next_poll():
    """B's I/O completes at 2 ms while A computes; A's yield re-queues A at once (one pass),
    while B needs its readiness callback (iteration at 10 ms) and then its step (at 11 ms)."""
    cfg = asyncio_cfg({
        "B": one([{"io": "2ms"}, {"cpu": "1ms"}]),
        "A": one([{"cpu": "10ms"}, "yield", {"cpu": "1ms"}]),
    })
    tasks, wakeups, *_ = run_scheduler(cfg, "a")
    assert finish_times(cfg, "a") == {0: 12 * MS, 1: 11 * MS}
    assert (0, 2 * MS, 11 * MS) in wake_log(wakeups)


def test_spawned_task_runs_in_the_next_iteration_after_its_parent_step():
    """create_task is call_soon: the child runs right after the parent's step, before a
    sibling's I/O callback that became ready meanwhile."""
    cfg = asyncio_cfg({
        "parent": one([{"cpu": "1ms"}, {"spawn": "child"}, {"cpu": "2ms"}]),
        "child": {"arrival": "spawned", "phases": [{"cpu": "5ms"}]},
    })
    # ids: parent 0, child 1. Parent runs 0-3 ms (spawn at 1 ms); child runs 3-8 ms.
    tasks = run_scheduler(cfg, "a")[0].set_index("task_id")
    assert tasks.loc[1, "arrival_ns"] == 1 * MS
    assert finish_times(cfg, "a") == {0: 3 * MS, 1: 8 * MS}
    assert tasks.loc[1, "wait_ns"] == 2 * MS


def test_idle_loop_rounds_its_select_timeout_up_to_whole_milliseconds():
    """epoll_wait takes milliseconds: a 1.5 ms timer set at 0 on an idle loop fires at 2 ms
    (EpollSelector.select rounds up); with select_resolution 0 it fires at 1.5 ms."""
    work = {"t": one([{"sleep": "1.5ms"}, {"cpu": "100us"}])}
    assert finish_times(asyncio_cfg(work), "a") == {0: 2 * MS + 100 * US}
    exact = asyncio_cfg(work, select_resolution="0")
    assert finish_times(exact, "a") == {0: 1500 * US + 100 * US}


def test_epoll_waits_a_millisecond_more_where_cpythons_float_arithmetic_says_so():
    """EpollSelector.select(0.009): ceil(9.0) * 1e-3 = 0.009, whose ns are 9000000.000000001,
    rounded up to 9000001 ns and then to 10 ms. So a 9 ms (or 8.5 ms) sleep on an idle loop
    fires at 10 ms, 10 ms at 10 and 13 ms at 14; with select_resolution 0 on time."""
    assert [epoll_wait_ns(ms * US) // US for ms in (1500, 8500, 9000, 10000, 13000, 36000)] \
        == [2000, 10000, 10000, 10000, 14000, 37000]
    assert epoll_wait_ns(0) == 0
    work = {"t": one([{"sleep": "9ms"}, {"cpu": "100us"}]),
            "u": one([{"sleep": "10ms"}, {"cpu": "100us"}], at="20ms")}
    assert finish_times(asyncio_cfg(work), "a") == {0: 10100 * US, 1: 30100 * US}
    exact = asyncio_cfg(work, select_resolution="0")
    assert finish_times(exact, "a") == {0: 9100 * US, 1: 30100 * US}


def test_block_holds_the_loop_and_native_too():
    """A blocking call in a step holds the loop: the other task waits the full 20 ms."""
    cfg = asyncio_cfg({
        "blocker": one([{"block": "20ms"}, {"native": "5ms"}]),
        "other": one([{"cpu": "1ms"}]),
    })
    assert finish_times(cfg, "a") == {0: 25 * MS, 1: 26 * MS}


def test_offloading_block_to_the_executor_frees_the_loop():
    """run_in_executor: the blocker's step ends at 0; the result comes back through
    call_soon_threadsafe at 20 ms (callback iteration), then its step runs."""
    cfg = asyncio_cfg({
        "blocker": one([{"block": "20ms"}, {"cpu": "1ms"}]),
        "other": one([{"cpu": "1ms"}]),
    }, offload=["block"])
    assert finish_times(cfg, "a") == {0: 21 * MS, 1: 1 * MS}


def test_executor_threads_limit_offloaded_work():
    """Two offloaded 10 ms calls on one executor thread run one after the other."""
    cfg = config({"b": {"arrival": {"batch": {"count": 2}}, "phases": [{"block": "10ms"}]}},
                 {"a": {"model": "asyncio", "offload": ["block"], "executor_threads": 1}})
    assert sorted(finish_times(cfg, "a").values()) == [10 * MS, 20 * MS]


def test_zero_length_io_does_not_yield():
    """An await whose result is already there returns at once: the step goes on."""
    cfg = asyncio_cfg({
        "a": one([{"cpu": "1ms"}, {"io": "0"}, {"cpu": "1ms"}]),
        "b": one([{"cpu": "1ms"}]),
    })
    assert finish_times(cfg, "a") == {0: 2 * MS, 1: 3 * MS}


def test_slow_callbacks_are_counted_at_100ms():
    cfg = asyncio_cfg({"a": one([{"cpu": "100ms"}, {"sleep": "1ms"}, {"cpu": "99ms"}])})
    tasks = run_scheduler(cfg, "a")[0]
    assert tasks["slow_callbacks"].tolist() == [1]


def test_step_overhead_is_charged_per_step_and_excluded_from_wait():
    cfg = asyncio_cfg({"a": one([{"cpu": "1ms"}, {"sleep": "1ms"}, {"cpu": "1ms"}])},
                      step_overhead="10us", select_resolution="0")
    tasks = run_scheduler(cfg, "a")[0]
    # two steps: 10us + 1ms, sleep 1ms, 10us + 1ms
    assert tasks["finish_ns"].tolist() == [3 * MS + 20 * US]
    assert tasks["overhead_ns"].tolist() == [20 * US]
    assert tasks["wait_ns"].tolist() == [0]


def test_two_loops_take_arrivals_round_robin_and_run_in_parallel():
    cfg = config({"w": {"arrival": {"batch": {"count": 4}}, "phases": [{"cpu": "10ms"}]}},
                 {"a": {"model": "asyncio", "loops": 2}}, machine={"cores": 2})
    assert finish_times(cfg, "a") == {0: 10 * MS, 1: 10 * MS, 2: 20 * MS, 3: 20 * MS}


def test_more_loops_than_cores_share_the_core_by_os_time_slice():
    """Two loops on one core: the OS alternates them in 3 ms slices (os_time_slice)."""
    cfg = config({"w": {"arrival": {"batch": {"count": 2}}, "phases": [{"cpu": "10ms"}]}},
                 {"a": {"model": "asyncio", "loops": 2}})
    # slices: A 0-3, B 3-6, A 6-9, B 9-12, A 12-15, B 15-18, A 18-19, B 19-20
    assert finish_times(cfg, "a") == {0: 19 * MS, 1: 20 * MS}
    tasks = run_scheduler(cfg, "a")[0]
    assert tasks["preemptions"].tolist() == [3, 3]


# --- how many loop iterations a wake-up takes (mutation-tested) -----------------------------
#
# _run_once runs exactly the handles ready when it starts (its snapshot). A readiness or
# timer wake is two handles in two iterations: the future's callback, which call_soon's the
# task's __step, which runs in the next iteration. create_task and sleep(0) call_soon the
# step itself: one handle, and create_task appends it behind what is already ready.


@pytest.mark.parametrize("wait", [
    {"io": "2ms"},  # readiness: the fd's callback at the 10 ms poll
    {"sleep": "2ms"},  # a timer: its handle at the 10 ms poll
])
def test_a_wake_takes_two_iterations_and_a_yield_one(wait):
    """B waits 2 ms while A computes 0-10 ms; A then yields twice.

    0: the arrivals' callbacks, then the steps: B starts its wait; A computes to 10 ms and
    yields (its step is ready at once). Poll at 10: ready = [A, B's callback].
    10: A computes to 11 and yields: ready = [B's callback, A]; the callback call_soon's B's
    step: ready = [A, B]. 11: A computes to 12 and ends; B's step computes 12-13.
    A one-iteration wake would run B 11-12 before A's last step (A at 13); a two-iteration
    sleep(0) would put A's step behind B's (the same swap)."""
    cfg = asyncio_cfg({
        "B": one([wait, {"cpu": "1ms"}]),
        "A": one([{"cpu": "10ms"}, "yield", {"cpu": "1ms"}, "yield", {"cpu": "1ms"}]),
    })
    tasks, wakeups, *_ = run_scheduler(cfg, "a")
    assert finish_times(cfg, "a") == {0: 13 * MS, 1: 12 * MS}
    assert (0, 2 * MS, 12 * MS) in wake_log(wakeups)


def test_an_arrival_during_a_step_takes_two_iterations_too():
    """The accept callback of a connection arriving at 2 ms is a readiness callback: the
    same timeline as the I/O wake above (B's step at 12 ms, after A's second yield)."""
    cfg = asyncio_cfg({
        "B": one([{"cpu": "1ms"}], at="2ms"),
        "A": one([{"cpu": "10ms"}, "yield", {"cpu": "1ms"}, "yield", {"cpu": "1ms"}]),
    })
    tasks, wakeups, *_ = run_scheduler(cfg, "a")
    assert finish_times(cfg, "a") == {0: 13 * MS, 1: 12 * MS}
    assert (0, 2 * MS, 12 * MS) in wake_log(wakeups)


def test_an_executor_result_is_a_callback_then_a_step():
    """run_in_executor: B's blocking call ends at 2 ms on an executor thread while A
    computes; call_soon_threadsafe appends B's callback to ready at once (no select).

    10: A yields: ready = [B's callback, A]; the poll's snapshot runs the callback (B's step
    queued behind A) and A 10-11, which yields again: ready = [B, A]. 11: B 11-12, then A
    12-13. A callback that ran B's step itself would run B at 10 and A at 11 and 12."""
    cfg = asyncio_cfg({
        "B": one([{"block": "2ms"}, {"cpu": "1ms"}]),
        "A": one([{"cpu": "10ms"}, "yield", {"cpu": "1ms"}, "yield", {"cpu": "1ms"}]),
    }, offload=["block"])
    assert finish_times(cfg, "a") == {0: 12 * MS, 1: 13 * MS}


def test_create_task_appends_the_child_behind_the_ready_sibling():
    """P and S arrive at 0: their callbacks, then ready = [P, S]. P's create_task appends C:
    [S, C]; P computes 0-1, S 1-3 (same iteration), C 3-7 (the next). At the front of
    ready, C would run 1-5 and S 5-7."""
    cfg = asyncio_cfg({
        "P": one([{"spawn": "C"}, {"cpu": "1ms"}]),
        "S": one([{"cpu": "2ms"}]),
        "C": {"arrival": "spawned", "phases": [{"cpu": "4ms"}]},
    })
    assert finish_times(cfg, "a") == {0: 1 * MS, 1: 3 * MS, 2: 7 * MS}


def test_a_spawn_while_a_siblings_callback_is_ready():
    """S's I/O (0.5 ms) is polled at 1 ms together with P's yield: ready = [P, S's callback].

    1: P spawns C (ready = [S's callback, C]) and computes 1-2; S's callback queues S's step
    behind C: [C, S]. 2: C computes 2-3 and yields: [S, C]; S 3-5. 5: C 5-6.
    create_task at the front would run C 2-3 in P's iteration (C then ends at 4, S at 6);
    create_task as a callback (two iterations) would run S first, 2-4 (C ends at 6)."""
    cfg = asyncio_cfg({
        "S": one([{"io": "500us"}, {"cpu": "2ms"}]),
        "P": one([{"cpu": "1ms"}, "yield", {"spawn": "C"}, {"cpu": "1ms"}]),
        "C": {"arrival": "spawned", "phases": [{"cpu": "1ms"}, "yield", {"cpu": "1ms"}]},
    })
    assert finish_times(cfg, "a") == {0: 5 * MS, 1: 2 * MS, 2: 6 * MS}


@pytest.mark.timeout(20)
def test_a_timer_due_within_the_resolution_still_waits_a_whole_millisecond():
    """select rounds its timeout up: 0.3 ms waits 1 ms (the sleeper runs 1-1.1 ms); from
    1.1 ms a 1.5 ms sleep (due 2.6) waits 2 ms: 3.1-3.2 ms. Rounded down, the 0.3 ms wait
    would be a zero timeout that finds nothing due, forever at one instant: the timeout
    mark turns that hang into this test's failure."""
    cfg = asyncio_cfg({"t": one([{"sleep": "300us"}, {"cpu": "100us"}, {"sleep": "1.5ms"},
                                 {"cpu": "100us"}])})
    tasks, wakeups, *_ = run_scheduler(cfg, "a")
    assert wake_log(wakeups) == [(0, 0, 0), (0, 300 * US, 1 * MS), (0, 2600 * US, 3100 * US)]
    assert finish_times(cfg, "a") == {0: 3200 * US}


# --- an executor under the GIL (offload: [cpu]) ----------------------------------------------


def test_a_gil_executor_thread_runs_a_queued_job_for_its_own_task():
    """``offload: [block, cpu]``, one executor thread: the job it takes from the queue as it
    sets a result (keeping the GIL) is that job's task's, whatever its kind.

    0: A's and B's steps submit their blocking calls; the thread takes A's (0-2 ms), B's is
    queued. 2: it takes the GIL back, sets A's result and takes B's call (2-5); A's step
    submits its 1 ms of cpu: queued. 5: B's result; the thread runs A's cpu (5-6) holding
    the GIL, which the loop, back from select, waits for: at 6, A's result, B's step submits
    its cpu, A ends; B's cpu 6-7, B ends at 7. B's call run as A's would set A's result
    twice (A's step would run again) and never B's."""
    cfg = asyncio_cfg({"A": one([{"block": "2ms"}, {"cpu": "1ms"}]),
                       "B": one([{"block": "3ms"}, {"cpu": "1ms"}])},
                      offload=["block", "cpu"], executor_threads=1)
    tasks, wakeups, *_ = run_scheduler(cfg, "a")
    assert finish_times(cfg, "a") == {0: 6 * MS, 1: 7 * MS}
    # a blocking call's return: the thread retakes the GIL, then the loop gets the result.
    # A step that only submits the task's next phase does not end its wake-up: the
    # executor starting that phase does (B's arrival at 0: its call starts at 2 ms; A's
    # result at 2: its cpu starts at 5; B's result at 5: its cpu starts at 6)
    assert wake_log(wakeups) == [(0, 0, 0), (0, 2 * MS, 2 * MS), (1, 0, 2 * MS),
                                 (1, 5 * MS, 5 * MS), (0, 2 * MS, 5 * MS), (0, 6 * MS, 6 * MS),
                                 (1, 5 * MS, 6 * MS), (1, 7 * MS, 7 * MS)]


def test_a_loop_back_from_select_takes_the_gil_for_itself_before_its_handles():
    """``offload: [cpu]``, one executor thread, no step overhead: the loop's own work needs
    the GIL too. 0: A's step submits its 20 ms of cpu, B's sleeps 1 ms; the loop releases
    the GIL into select and the thread computes. 1 ms: select returns and the loop's thread
    takes the GIL back (``Py_END_ALLOW_THREADS``): a full switch interval's wait, its drop
    request at 6 ms; then B's timer, its step, B ends at 6 ms. The thread gets the GIL back
    as the loop sleeps again: A's cpu ends at 20 ms. A loop that handled its timer without
    the GIL would end B at 1 ms. The wait is the loop's, not B's step's: B is charged no
    GIL hand-off. A's arrival is a wake-up until the thread starts its cpu (at 0, after B's
    step: logged second)."""
    cfg = asyncio_cfg({"A": one([{"cpu": "20ms"}]), "B": one([{"sleep": "1ms"}])},
                      offload=["cpu"], executor_threads=1)
    tasks, wakeups, *_ = run_scheduler(cfg, "a")
    assert finish_times(cfg, "a") == {0: 20 * MS, 1: 6 * MS}
    assert wake_log(wakeups) == [(1, 0, 0), (0, 0, 0), (1, 1 * MS, 6 * MS),
                                 (0, 20 * MS, 20 * MS)]
    assert tasks["gil_handoffs"].tolist() == [2, 0]


def test_a_result_set_as_the_loop_releases_the_gil_into_select_ends_that_select():
    """``offload: [native, cpu]``, 1 ms step overhead, one core: the executor thread sets A's
    result as the loop, on its way into select, hands it the GIL; its self-pipe write
    (``call_soon_threadsafe``) makes that select return at once.

    0: A's step: overhead 0-1 ms (the loop takes the GIL), a 10 us blocking call (released),
    then its native call, offloaded: a thread takes the free GIL and drops it for the call,
    1.01-1.11 ms. 1.05: B arrives; its step's overhead holds the GIL, waits for the core
    until 1.11. 1.11: the call returns and the thread waits for the GIL (drop request at
    6.11, one switch interval on). B's five steps (four yields) run 1.11-6.11. 6.11: B ends
    as the drop request comes, which the loop answers by releasing the GIL into select
    (nothing is ready): the thread takes it and sets A's result; A's step 6.11-7.11.
    Wake-ups: the blocking call's return at 1.01 lasts until the thread starts the native
    call (at once); the native call's return until the thread has the GIL (6.11)."""
    cfg = asyncio_cfg({"A": one([{"block": "10us"}, {"native": "100us"}]),
                       "B": one(["yield"] * 4, at="1050us")},
                      offload=["native", "cpu"], step_overhead="1ms")
    tasks, wakeups, *_ = run_scheduler(cfg, "a")
    assert finish_times(cfg, "a") == {0: 7110 * US, 1: 6110 * US}
    assert wake_log(wakeups) == [(0, 0, 0), (0, 1010 * US, 1010 * US), (1, 1050 * US, 1110 * US),
                                 (0, 1110 * US, 6110 * US), (0, 6110 * US, 6110 * US)]


# --- wake-ups wherever the task's work runs (docs/metrics.md) ---------------------------------


def test_an_executor_threads_wait_for_the_gil_is_part_of_the_wake_up():
    """A wake-up ends when the task's next work starts, wherever it runs. A's step submits
    its 1 ms of Python (``offload: true``) at 0; the executor thread waits for the GIL, which
    the loop holds for B's 10 ms step: one switch interval, the drop request at 5 ms, A's
    cpu 5-6 ms. A's arrival is a wake-up of 5 ms (the step that only submitted it ended it
    at 0 before). gil_threads, the same wait (A's thread asks for the GIL while B's holds it
    for 10 ms of Python): 5 ms too."""
    work = {"A": one([{"cpu": "1ms", "offload": True}]), "B": one([{"cpu": "10ms"}])}
    cfg = config(work, {"a": {"model": "asyncio"}}, machine={"cores": 2})
    tasks, wakeups, *_ = run_scheduler(cfg, "a")
    # A's result at 6 ms: its step after B's, which the loop ends at 11 (GIL back at 6)
    assert wake_log(wakeups) == [(1, 0, 0), (0, 0, 5 * MS), (0, 6 * MS, 11 * MS)]
    threads = config({"B": one([{"cpu": "10ms"}]), "A": one([{"cpu": "1ms"}])},
                     {"g": {"model": "gil_threads"}}, machine={"cores": 2})
    assert wake_log(run_scheduler(threads, "g")[1]) == [(0, 0, 0), (1, 0, 5 * MS)]


def test_with_offload_cpu_a_jobs_gil_wait_on_its_executor_thread_counts():
    """``offload: [cpu]``, B (10 ms of cpu) and A (1 ms) at 0: the loop's steps submit both
    and drop the GIL into select; B's executor thread takes it (0-10 ms). A's thread has
    waited since its submit, while the loop held the GIL: its first timed wait (to 5 ms)
    saw the GIL change hands, so it asks for no drop (``switch_number``, ceval_gil.h) and
    waits another interval, to 10 ms, when B's cpu ends: A's cpu 10-11 ms. A's arrival is a
    wake-up of 10 ms (it was 0: the chart said no wake-up waited)."""
    cfg = asyncio_cfg({"B": one([{"cpu": "10ms"}]), "A": one([{"cpu": "1ms"}])},
                      offload=["cpu"])
    tasks, wakeups, *_ = run_scheduler(cfg, "a")
    assert wake_log(wakeups) == [(0, 0, 0), (1, 0, 10 * MS), (0, 10 * MS, 11 * MS),
                                 (1, 11 * MS, 11 * MS)]
    assert finish_times(cfg, "a") == {0: 11 * MS, 1: 11 * MS}


def test_a_steps_overhead_after_an_offloaded_native_call_is_python_on_the_loop():
    """``offload: [cpu]``, 20 us step overheads, one task at 1 ms: native 50 us (offload:
    true), then 1 ms of cpu. Its first step (1-1.02 ms) hands the native call to the
    executor (1.02-1.07, the GIL released); the pool thread takes the GIL back (a wake-up
    at 1.07); the next step's overhead (1.07-1.09) is the loop's Python, with the GIL held,
    and hands the cpu to the executor, which ends the wake-up at 1.09; the result's step at
    2.09 ends the task at 2.11 ms. (The loop once took that overhead for native code, since
    the task's last phase was native: it dropped the GIL around it and counted a wake-up
    more on taking it back, found by the invariant tests.)"""
    cfg = asyncio_cfg({"t": one([{"native": "50us", "offload": True}, {"cpu": "1ms"}],
                                "1ms")}, offload=["cpu"], step_overhead="20us")
    tasks, wakeups, *_ = run_scheduler(cfg, "a")
    assert wake_log(wakeups) == [(0, 1000 * US, 1020 * US), (0, 1070 * US, 1070 * US),
                                 (0, 1070 * US, 1090 * US), (0, 2090 * US, 2090 * US)]
    assert tasks["finish_ns"].tolist() == [2110 * US]


def test_a_loops_occupancy_is_its_time_out_of_select_with_its_own_work():
    """A 10 ms window, one task at 1 ms: 1 ms of cpu, a 2 ms blocking call, 1 ms of cpu;
    each socket message costs the loop 50 us (its arrival; no io). The loop is out of
    select for the message (1.00-1.05 ms), the cpu, the call and the cpu (to 5.05 ms):
    4.05 ms, 0.405 of the window, where the task's busy time and its call alone were 4 ms
    (the loop's own work counts: it is the loop's, not the task's)."""
    cfg = asyncio_cfg({"t": one([{"cpu": "1ms"}, {"block": "2ms"}, {"cpu": "1ms"}], "1ms")},
                      message_cost="50us")
    cfg = cfg.model_copy(update={"horizon": 10 * MS})
    tasks, _, rec, _ = run_scheduler(cfg, "a")
    assert tasks["finish_ns"].tolist() == [5050 * US]
    assert rec.occupied == {"loop 0": 4050 * US}


def test_a_loop_on_shared_cores_reads_a_message_at_the_tasks_step():
    """A request at 1 ms: 1 ms of cpu, a 2 ms io, 1 ms of cpu; each socket message (its
    arrival, the io's reply) costs 50 us. A loop with a core to itself reads it in the
    readiness callback's handle, its own work, inside the wake-up (1.00 -> 1.05 ms, 4.05 ->
    4.10). A loop on shared cores (``offload: [block]``: an executor's threads share them)
    reads it at the task's next step, the task's overhead after its wake-up ends (1.00 and
    4.05), as the other models charge a message; both finish at 5.10 ms. (It used to cost
    nothing there.)"""
    work = {"t": one([{"cpu": "1ms"}, {"io": "2ms"}, {"cpu": "1ms"}], "1ms")}
    for offload, wakes, overhead in (
            ([], [(0, 1000 * US, 1050 * US), (0, 4050 * US, 4100 * US)], 0),
            (["block"], [(0, 1000 * US, 1000 * US), (0, 4050 * US, 4050 * US)], 100 * US)):
        cfg = asyncio_cfg(work, message_cost="50us", offload=offload)
        tasks, wakeups, rec, _ = run_scheduler(cfg, "a")
        assert wake_log(wakeups) == wakes
        assert tasks["finish_ns"].tolist() == [5100 * US]
        assert rec.overhead == [overhead]


@pytest.mark.parametrize("offload", [[], ["native"]])
def test_a_blocking_call_returns_to_a_loop_thread_that_wakes_late(offload):
    """The arrival wakes the parked loop through its socket 30 us later
    (``net_wake_latency``). A blocking call (5 ms from 30 us) on the loop's thread returns
    at 5.03 ms: the kernel wakes the thread, which runs 20 us later (``wake_latency``);
    the task was ready from the return (a wake-up of 20 us), on a loop with a core of its
    own or on the shared cores (``offload: [native]``); the loop was blocked (occupied)
    until it ran."""
    work = {"a": one([{"block": "5ms"}, {"cpu": "1ms"}])}
    cfg = late_cfg(work, {"wake_latency": "20us", "net_wake_latency": "30us"},
                   offload=offload)
    tasks, wakeups, *_ = run_scheduler(cfg, "a")
    assert wake_log(wakeups) == [(0, 0, 30 * US), (0, 5030 * US, 5050 * US)]
    assert finish_times(cfg, "a") == {0: 6050 * US}
    ideal = asyncio_cfg(work, offload=offload)
    assert wake_log(run_scheduler(ideal, "a")[1]) == [(0, 0, 0), (0, 5 * MS, 5 * MS)]


# --- offload what you mean: a phase's flag, a process pool ------------------------------------

HEAVY_BESIDE_REQUESTS = {
    "heavy": one([{"cpu": "60ms", "offload": True}]),
    "api": {"arrival": {"periodic": "10ms", "offset": "5ms"}, "phases": [{"cpu": "1ms"}]}}


def test_an_offloaded_phase_on_executor_threads_shares_the_gil_with_the_requests():
    """2 cores: a 60 ms phase that says ``offload: true`` runs on an executor thread, beside
    1 ms requests every 10 ms (from 5 ms) on the loop: a core each, but one GIL. Each request
    waits a switch interval for it (drop request 5 ms after it asks): 1 ms of cpu ends 6 ms
    after its arrival; the heavy phase loses 1 ms per request (6 of them): 66 ms."""
    cfg = config(HEAVY_BESIDE_REQUESTS, {"a": {"model": "asyncio"}}, machine={"cores": 2},
                 horizon="60ms")
    assert finish_times(cfg, "a") == {0: 66 * MS, **{i: (10 * i + 1) * MS for i in range(1, 7)}}


def test_an_offloaded_phase_in_a_process_pool_leaves_the_requests_alone():
    """The same with ``executor: process``: the worker process has a GIL of its own and a
    core, so each request takes its 1 ms; the heavy call costs ``process_call_cost`` more
    (83 us by default, charged as overhead)."""
    cfg = config(HEAVY_BESIDE_REQUESTS, {"a": {"model": "asyncio", "executor": "process"}},
                 machine={"cores": 2}, horizon="60ms")
    tasks = run_scheduler(cfg, "a")[0]
    assert dict(zip(tasks["task_id"], tasks["finish_ns"], strict=True)) == {
        0: 60083 * US, **{i: (10 * i - 4) * MS for i in range(1, 7)}}
    assert tasks["overhead_ns"].tolist() == [83 * US] + [0] * 6
    free = config(HEAVY_BESIDE_REQUESTS, {"a": {"model": "asyncio", "executor": "process",
                                                "process_call_cost": "0"}},
                  machine={"cores": 2}, horizon="60ms")
    assert finish_times(free, "a")[0] == 60 * MS


def test_a_process_pool_is_machine_cores_processes_by_default():
    """``ProcessPoolExecutor()``'s size is ``os.cpu_count()``: ``machine.cores``. Four 10 ms
    calls at 0 on 2 cores (no call cost): two processes, two rounds, 20 ms. Four processes
    (``process_workers: 4``) share the 2 cores in OS time slices (3 ms): 19, 19, 20, 20."""
    work = {"c": {"arrival": {"batch": {"count": 4}},
                  "phases": [{"cpu": "10ms", "offload": True}]}}
    pool = {"model": "asyncio", "executor": "process", "process_call_cost": "0"}
    cfg = config(work, {"a": pool}, machine={"cores": 2})
    assert sorted(finish_times(cfg, "a").values()) == [10 * MS, 10 * MS, 20 * MS, 20 * MS]
    assert config(work, {"a": pool}, machine={"cores": 3}).schedulers["a"].threads(3) == 3
    four = config(work, {"a": {**pool, "process_workers": 4}}, machine={"cores": 2})
    assert sorted(finish_times(four, "a").values()) == [19 * MS, 19 * MS, 20 * MS, 20 * MS]


def test_a_phase_flag_offloads_that_phase_only():
    """``offload: true`` on one cpu phase sends that one to the executor; the kind's other
    phases stay on the loop (``offload: [cpu]`` would send both). With processes: A's first
    1 ms on the loop (0-1), its flagged 5 ms in a process (1-6), B's 1 ms on the loop after
    A's step (1-2). ``offload: [cpu]``: both of A's in processes (0-6), B's too (0-1)."""
    work = {"A": one([{"cpu": "1ms"}, {"cpu": "5ms", "offload": True}]),
            "B": one([{"cpu": "1ms"}])}
    pool = {"model": "asyncio", "executor": "process", "process_call_cost": "0"}
    cfg = config(work, {"a": pool}, machine={"cores": 2})
    assert finish_times(cfg, "a") == {0: 6 * MS, 1: 2 * MS}
    every = config(work, {"a": {**pool, "offload": ["cpu"]}}, machine={"cores": 2})
    assert finish_times(every, "a") == {0: 6 * MS, 1: 1 * MS}


# --- the machine under the loop: timer lateness and wake latency -----------------------------


def late_cfg(workload, machine, **options):
    return config(workload, {"a": {"model": "asyncio", **options}},
                  machine={"profile": "ideal", **machine})


def test_a_select_that_ends_by_its_timeout_returns_timer_lateness_late():
    """A 1.5 ms sleep on an idle loop: epoll_wait(2 ms) ends at 2 ms + 100 us; the step
    runs then (2.1-2.2 ms). A 0.5 ms sleep at 2.2 ms (due 2.7): select 1 ms, back at 3.3."""
    cfg = late_cfg({"t": one([{"sleep": "1.5ms"}, {"cpu": "100us"}, {"sleep": "500us"}])},
                   {"timer_lateness": "100us"})
    tasks, wakeups, *_ = run_scheduler(cfg, "a")
    assert wake_log(wakeups) == [(0, 0, 0), (0, 1500 * US, 2100 * US), (0, 2700 * US, 3300 * US)]
    assert finish_times(cfg, "a") == {0: 3300 * US}


def test_a_busy_loop_pays_no_lateness_for_an_expired_timer():
    """The arrivals at 0 wake the parked loop at 20 us. The sleeper's timer is due at 1.02
    ms while the hog computes to 50.02 ms: the loop does not sleep, its select(0) finds the
    timer due, no lateness."""
    cfg = late_cfg({"sleeper": one([{"sleep": "1ms"}]), "hog": one([{"cpu": "50ms"}])},
                   {"timer_lateness": "100us", "net_wake_latency": "20us"})
    tasks, wakeups, *_ = run_scheduler(cfg, "a")
    assert wake_log(wakeups) == [(0, 0, 20 * US), (1, 0, 20 * US),
                                 (0, 1020 * US, 50020 * US)]


def test_an_event_wakes_the_parked_loop_net_wake_latency_later():
    """Arrivals (A at 0, B at 5 ms) and readiness (A's 2 ms I/O, from 20 us) each end an
    idle select without a timer: readiness on a socket, so the loop thread runs
    ``net_wake_latency`` (20 us) later, not ``wake_latency`` (5 us). No timer lateness
    applies to any."""
    cfg = late_cfg({"A": one([{"io": "2ms"}, {"cpu": "1ms"}]),
                    "B": one([{"cpu": "1ms"}], at="5ms")},
                   {"timer_lateness": "100us", "wake_latency": "5us",
                    "net_wake_latency": "20us"})
    tasks, wakeups, *_ = run_scheduler(cfg, "a")
    assert wake_log(wakeups) == [(0, 0, 20 * US), (0, 2020 * US, 2040 * US),
                                 (1, 5 * MS, 5020 * US)]
    assert finish_times(cfg, "a") == {0: 3040 * US, 1: 6020 * US}


def test_a_socket_wakes_the_loop_by_the_law_for_the_time_it_has_been_parked():
    """net_wake_latency {0: 20 us, 2 ms: 70 us}: A arrives at 0 (parked 0: 20 us); its 2 ms
    read, ready at 2.02 ms, wakes a loop parked since 20 us (2 ms: 70 us), A computes to
    3.09; B at 5 ms finds it parked 1.91 ms (20 us); C at 9 ms, parked 2.98 ms (70 us)."""
    cfg = late_cfg({"A": one([{"io": "2ms"}, {"cpu": "1ms"}]),
                    "B": one([{"cpu": "1ms"}], at="5ms"),
                    "C": one([{"cpu": "1ms"}], at="9ms")},
                   {"net_wake_latency": {"0": "20us", "2ms": "70us"}})
    tasks, wakeups, *_ = run_scheduler(cfg, "a")
    assert wake_log(wakeups) == [(0, 0, 20 * US), (0, 2020 * US, 2090 * US),
                                 (1, 5 * MS, 5020 * US), (2, 9 * MS, 9070 * US)]


def test_an_event_during_a_timed_select_ends_it_if_sooner():
    """The arrivals wake the loop at 20 us. T sleeps 3 ms (select 3 ms, back at 3.12 ms
    with lateness); A's I/O is ready at 1.02 ms: the loop runs at 1.04 ms and A's step
    computes to 2.04. Then select(1 ms) (T due at 3.02, rounded up from 0.98 ms) ends late
    at 3.14 ms; T computes to 3.24."""
    cfg = late_cfg({"T": one([{"sleep": "3ms"}, {"cpu": "100us"}]),
                    "A": one([{"io": "1ms"}, {"cpu": "1ms"}])},
                   {"timer_lateness": "100us", "net_wake_latency": "20us"})
    assert finish_times(cfg, "a") == {0: 3240 * US, 1: 2040 * US}


def test_an_executor_thread_and_the_loop_are_each_woken_wake_latency_late():
    """B's arrival wakes the loop through its socket at 30 us (``net_wake_latency``);
    run_in_executor: the parked worker starts B's 20 ms blocking call 20 us after the
    submit (``wake_latency``), 50 us; its result (20.05 ms) wakes the parked loop through
    the self-pipe, written by a thread of the same process, at 20.07 (``wake_latency``)."""
    cfg = late_cfg({"B": one([{"block": "20ms"}, {"cpu": "1ms"}])},
                   {"wake_latency": "20us", "net_wake_latency": "30us"}, offload=["block"])
    tasks, wakeups, *_ = run_scheduler(cfg, "a")
    assert finish_times(cfg, "a") == {0: 21070 * US}
    assert wake_log(wakeups)[-1] == (0, 20050 * US, 20070 * US)


def test_the_executor_worker_and_the_loop_wake_by_the_law_for_their_time_parked():
    """wake_latency {0: 10 us, 2 ms: 60 us}: B arrives at 3 ms and offloads a 1 ms
    blocking call; the worker, parked since 0, starts it 60 us after the submit (3.06
    ms); its result wakes the loop, parked in select since B's submit (1.06 ms), 10 us
    later (4.07 ms); B computes to 5.07 ms."""
    cfg = late_cfg({"B": one([{"block": "1ms"}, {"cpu": "1ms"}], at="3ms")},
                   {"wake_latency": {"0": "10us", "2ms": "60us"}}, offload=["block"])
    assert finish_times(cfg, "a") == {0: 5070 * US}


def test_readiness_for_a_running_loop_pays_no_net_wake_latency():
    """A and B arrive at 0 (the parked loop runs at 90 us). A's step starts a 1 ms read
    (ready at 1.09 ms) and B's computes 0.09-5.09 ms: the loop is running when A's
    readiness comes, and its next select(0) finds it: A's step runs at 5.09 ms, not 90
    us later."""
    cfg = late_cfg({"A": one([{"io": "1ms"}, {"cpu": "1ms"}]), "B": one([{"cpu": "5ms"}])},
                   {"net_wake_latency": "90us"})
    tasks, wakeups, *_ = run_scheduler(cfg, "a")
    assert wake_log(wakeups) == [(0, 0, 90 * US), (1, 0, 90 * US), (0, 1090 * US, 5090 * US)]
    assert finish_times(cfg, "a") == {0: 6090 * US, 1: 5090 * US}


# --- asyncio's own costs: the iteration, callback handles, task steps ------------------------


def test_the_iteration_cost_before_the_timeout_turns_into_lateness_through_epoll_rounding():
    """iteration_cost 100 us. 0: the arrival's callback, then the iteration 0-0.1 ms; the
    step at 0.1 ms sleeps 2 ms (due 2.1); the next iteration 0.1-0.2 ms, then select(1.9 ms)
    rounds up to 2 ms: back at 2.2 ms, late by the iteration. The timer's callback, an
    iteration (2.2-2.3), the step computes 2.3-2.4. With select_resolution 0 the select ends
    on time (2.1) and the step runs at 2.2."""
    work = {"t": one([{"sleep": "2ms"}, {"cpu": "100us"}])}
    cfg = asyncio_cfg(work, iteration_cost="100us")
    tasks, wakeups, *_ = run_scheduler(cfg, "a")
    assert wake_log(wakeups) == [(0, 0, 100 * US), (0, 2100 * US, 2300 * US)]
    assert finish_times(cfg, "a") == {0: 2400 * US}
    exact = asyncio_cfg(work, iteration_cost="100us", select_resolution="0")
    assert finish_times(exact, "a") == {0: 2300 * US}


def test_a_callback_costs_the_loop_handle_cost_and_a_step_its_overhead():
    """handle_cost 50 us, step_overhead 20 us: the arrival's callback 0-50 us, the step's
    overhead 50-70 us, its I/O 70 us-1.07 ms, the readiness callback 1.07-1.12, the step's
    overhead 1.12-1.14, its cpu to 1.24. The steps' overhead is the task's (40 us); the
    callbacks are the loop's time, which the task waits (100 us)."""
    cfg = asyncio_cfg({"t": one([{"io": "1ms"}, {"cpu": "100us"}])},
                      handle_cost="50us", step_overhead="20us")
    tasks, wakeups, *_ = run_scheduler(cfg, "a")
    assert wake_log(wakeups) == [(0, 0, 50 * US), (0, 1070 * US, 1120 * US)]
    assert tasks[["finish_ns", "overhead_ns", "wait_ns"]].values.tolist() == [[1240 * US, 40 * US,
                                                                     100 * US]]


def test_a_loop_on_shared_cores_computes_its_own_work_with_the_next_step():
    """With an executor (or more loops than cores) the loop computes through the shared
    cores: its own work with the next step, as that task's overhead. Handle 50 us,
    iteration 10 us, step 20 us: at 0 the arrival's callback (50) and an iteration (10) go
    with the step, 0-80 us, whose io ends at 1.08 ms; the iteration before select (10),
    the readiness callback (50) and an iteration (10) go with the next step, 1.08-1.17,
    then its cpu to 1.27 (the iteration before the sleep paid after it: on its own core
    the task ends at 1.26). The trace shows the loop's own work as ``loop`` on its own
    core."""
    work = {"t": one([{"io": "1ms"}, {"cpu": "100us"}])}
    shared = asyncio_cfg(work, offload=["block"], handle_cost="50us", iteration_cost="10us",
                         step_overhead="20us")
    tasks = run_scheduler(shared, "a")[0]
    assert tasks[["finish_ns", "overhead_ns"]].values.tolist() == [[1270 * US, 170 * US]]
    assert finish_times(asyncio_cfg(work, handle_cost="50us", iteration_cost="10us",
                                    step_overhead="20us"), "a") == {0: 1260 * US}
    own = asyncio_cfg(work, handle_cost="50us", iteration_cost="10us")
    trace = sim.run(own, progress=False, trace=True).trace
    rows = trace[["lane", "task", "state", "start_ns", "end_ns"]].values.tolist()
    # the arrival's callback, an iteration; the step (at 60 us) starts its I/O; the next
    # iteration, before select; at 1.06 ms the readiness callback, an iteration, the step
    # computes 1.12-1.22; an iteration begins (it then sleeps in select)
    assert rows == [["loop 0", 0, "loop", 0, 50 * US], ["loop 0", 0, "loop", 50 * US, 60 * US],
                    ["loop 0", 0, "loop", 60 * US, 70 * US],
                    ["loop 0", 0, "loop", 1060 * US, 1110 * US],
                    ["loop 0", 0, "loop", 1110 * US, 1120 * US],
                    ["loop 0", 0, "running", 1120 * US, 1220 * US],
                    ["loop 0", 0, "loop", 1220 * US, 1230 * US]]


def test_the_costs_default_to_the_measured_ones_and_to_zero_on_the_ideal_machine():
    from sim.config import validate

    def costs(machine, **options):
        cfg = validate({"workload": {"t": one([{"cpu": "1ms"}])}, "machine": machine,
                        "schedulers": {"a": {"model": "asyncio", **options}}})
        return cfg.schedulers["a"].costs(cfg.machine)

    assert costs({}) == (1350, 800, 1150, 15000)
    assert costs({"profile": "ideal"}) == (0, 0, 0, 0)
    assert costs({"profile": "ideal"}, handle_cost="1us") == (0, 1000, 0, 0)
    assert costs({}, iteration_cost="0", step_overhead="3us") == (0, 800, 3000, 15000)


def test_the_machine_profile_sets_the_costs_and_a_scheduler_option_overrides_them(tmp_path):
    """The costs are the machine's: a key beside the profile, or a profile file, sets them
    (the file's keys first, linux's for the rest); an option of the scheduler wins."""
    from sim.config import validate

    def costs(machine, **options):
        cfg = validate({"workload": {"t": one([{"cpu": "1ms"}])}, "machine": machine,
                        "schedulers": {"a": {"model": "asyncio", **options}}}, tmp_path)
        return cfg.schedulers["a"].costs(cfg.machine)

    assert costs({"profile": "ideal", "asyncio_wake_cost": "40us"}) == (0, 0, 0, 40000)
    (tmp_path / "slow.yaml").write_text("asyncio_iteration_cost: 3us\n"
                                        "asyncio_handle_cost: 2us\n")
    assert costs({"profile": "slow.yaml"}) == (3000, 2000, 1150, 15000)
    assert costs({"profile": "slow.yaml"}, handle_cost="0") == (3000, 0, 1150, 15000)
    # and the loop runs on them: the callback at 0-50 us, the step's overhead 50-70 us, its
    # cpu 70-170 us (as with the options, test_a_callback_costs_the_loop_handle_cost...)
    cfg = config({"t": one([{"cpu": "100us"}])}, {"a": {"model": "asyncio"}},
                 machine={"asyncio_handle_cost": "50us", "asyncio_step_overhead": "20us"})
    assert finish_times(cfg, "a") == {0: 170 * US}


def test_the_first_work_after_a_parked_select_pays_the_wake_cost():
    """wake_cost 30 us, net_wake_latency 20 us: the arrival at 0 wakes the loop at 20 us, which
    runs cold to 50 us, then the step (50-150 us) sleeps 1 ms (due 1.15 ms): select(1 ms)
    returns at 1.15 ms, cold to 1.18, the step computes 1.18-1.28 ms. A yield on a running
    loop pays nothing: the second step (after sleep(0)) follows at once, 1.28-1.38."""
    cfg = config({"t": one([{"cpu": "100us"}, {"sleep": "1ms"}, {"cpu": "100us"}, "yield",
                            {"cpu": "100us"}])},
                 {"a": {"model": "asyncio", "wake_cost": "30us"}},
                 machine={"profile": "ideal", "net_wake_latency": "20us"})
    tasks, wakeups, *_ = run_scheduler(cfg, "a")
    assert wake_log(wakeups) == [(0, 0, 50 * US), (0, 1150 * US, 1180 * US)]
    assert finish_times(cfg, "a") == {0: 1380 * US}


def test_a_loop_back_from_select_waits_for_the_gil_an_executor_thread_holds():
    """``offload: [cpu]``, one executor thread, step_overhead 10 us (Python code on the loop
    thread). 0: A's step (0-10 us) submits its 20 ms of cpu, B's (10-20 us) sleeps 1 ms; the
    loop releases the GIL into select at 20 us and the thread computes. 1.02 ms: select
    returns; B's step needs the GIL: a full switch interval's wait (drop request at 6.02),
    then 6.02-6.03. The thread gets it back as the loop sleeps again and ends A's cpu at
    20.03; A's step 20.03-20.04. Without the GIL, B would end at 1.03 ms. A's arrival is a
    wake-up until the thread starts its cpu, at 20 us."""
    cfg = asyncio_cfg({"A": one([{"cpu": "20ms"}]), "B": one([{"sleep": "1ms"}])},
                      offload=["cpu"], executor_threads=1, step_overhead="10us")
    tasks, wakeups, *_ = run_scheduler(cfg, "a")
    assert finish_times(cfg, "a") == {0: 20040 * US, 1: 6030 * US}
    assert wake_log(wakeups) == [(1, 0, 10 * US), (0, 0, 20 * US), (1, 1020 * US, 6020 * US),
                                 (0, 20030 * US, 20030 * US)]


# --- the run-ahead fast path against the plain loop -------------------------------------------


class PlainAsyncio(MODELS["asyncio"]):
    """Every loop is the plain ``Loop``: each thing it does waits in the engine's queue."""

    runs_ahead = False


# few distinct lengths, so that events often fall at the same instant (ties in the queue)
LENGTHS = ["0", "50us", "1ms", "2ms", "exp(1ms)"]


@st.composite
def loop_workloads(draw):
    """A main class (which spawns kids) and a kid class, of every phase kind."""
    phase = st.one_of(
        st.builds(lambda k, d: {k: d}, st.sampled_from(["cpu", "native", "io", "sleep", "block"]),
                  st.sampled_from(LENGTHS)),
        st.just("yield"))
    main = draw(st.lists(st.one_of(phase, st.just({"spawn": "kid"})), min_size=1, max_size=5))
    if {"spawn": "kid"} not in main:
        main.append({"spawn": "kid"})
    if not any(p.get("cpu", p.get("native", "0")) != "0" for p in main if isinstance(p, dict)):
        main.append({"cpu": "50us"})  # (a closed client's task must take some time)
    kid = draw(st.lists(phase, min_size=1, max_size=4))
    arrival = draw(st.sampled_from([
        {"poisson": "800/s"}, {"periodic": "1ms"}, {"batch": {"count": 6, "at": "1ms"}},
        {"closed": {"clients": 4, "think": draw(st.sampled_from(["0", "1ms", "exp(1ms)"]))}}]))
    work = {"main": {"arrival": arrival, "phases": main},
            "kid": {"arrival": "spawned", "phases": kid}}
    if draw(st.booleans()):  # clients that think another time: their requests tie others'
        work["other"] = {"arrival": {"closed": {"clients": 2, "think": "2ms"}},
                         "phases": [{"cpu": draw(st.sampled_from(["1ms", "2ms"]))}]}
    return work


def traced_run(cfg, model, seed: int):
    """The task table, wake-up table and trace of one run, and its model."""
    workload = generate(cfg, seed)
    rec = Recorder(workload.task_class.tolist(), len(workload.classes), cfg.warmup,
                   cfg.horizon)
    rec.tracing = True
    engine = Engine(workload, rec, cfg, model, cfg.schedulers["a"], model_rng(seed, "a"))
    engine.run()
    trace = pd.DataFrame(rec.trace_rows, columns=["lane", "task", "state", "t0", "t1"])
    return task_table(rec, workload), wakeup_table(rec, workload), trace, engine.model


@pytest.mark.timeout(300, method="thread")
@given(loop_workloads(), st.integers(1, 3), st.integers(1, 3),
       st.sampled_from([[], [], [], ["block"], ["native"], ["cpu"], ["block", "native", "cpu"]]),
       st.sampled_from([None, 1, 2]), st.sampled_from(["ideal", "linux"]),
       st.sampled_from(["0", "20us"]), st.sampled_from(["1s", "5ms"]), st.integers(0, 3))
def test_the_run_ahead_loop_gives_the_results_of_the_plain_loop(
        workload, loops, cores, offload, threads, profile, overhead, drain, seed):
    """Identical task tables, wake-up tables and traces (the same rows), running ahead or
    not, on random workloads of every phase kind, 1-3 loops on 1-3 cores, with and without
    an executor, on both machines (and a drain limit that cuts some runs)."""
    cfg = config(workload, {"a": {"model": "asyncio", "loops": loops, "offload": offload,
                                  "executor_threads": threads, "step_overhead": overhead}},
                 machine={"cores": cores, "profile": profile}, horizon="20ms",
                 drain_limit=drain)
    fast = traced_run(cfg, MODELS["asyncio"], seed)
    plain = traced_run(cfg, PlainAsyncio, seed)
    own_core = loops <= cores and not offload
    closed = "closed" in workload["main"]["arrival"] or "other" in workload
    fast_path = Loop if not own_core else SkipQueueLoop if closed and loops > 1 \
        else RunAheadLoop
    assert all(type(loop) is fast_path for loop in fast[3].loops)
    assert all(type(loop) is Loop for loop in plain[3].loops)
    pd.testing.assert_frame_equal(fast[0], plain[0])
    for a, b in zip(fast[1:3], plain[1:3], strict=True):  # logs: rows in the order of calls
        pd.testing.assert_frame_equal(in_order(a), in_order(b))
    assert fast[3].engine.rec.occupied == plain[3].engine.rec.occupied


def in_order(log: pd.DataFrame) -> pd.DataFrame:
    """A log's rows sorted by all its columns: with two loops, one that runs ahead records
    its own rows before the other's earlier ones."""
    return log.sort_values(list(log.columns), kind="stable").reset_index(drop=True)


def test_requests_at_one_instant_are_dealt_in_the_order_their_clients_sent_them():
    """Two loops on two cores, closed clients: X (think 1 ms, 4 ms of cpu) and Y (think
    2 ms, 2 ms). X's first request goes to loop 0 at 1 ms, Y's to loop 1 at 2 ms; Y ends at
    4 ms, X at 5 ms, and both send the next at 6 ms: Y's, sent first, is dealt to loop 0,
    X's to loop 1. A loop that ran its whole iteration ahead would have sent X's at 1 ms
    (its step then ended at 5 ms ahead of the engine's clock) and dealt it first."""
    cfg = config({"x": {"arrival": {"closed": {"clients": 1, "think": "1ms"}},
                        "phases": [{"cpu": "4ms"}]},
                  "y": {"arrival": {"closed": {"clients": 1, "think": "2ms"}},
                        "phases": [{"cpu": "2ms"}]}},
                 {"a": {"model": "asyncio", "loops": 2}}, machine={"cores": 2},
                 horizon="7ms")
    for model in (MODELS["asyncio"], PlainAsyncio):
        trace = traced_run(cfg, model, 0)[2]
        at_6ms = trace[trace["t0"] == 6 * MS]
        assert sorted(zip(at_6ms["lane"], at_6ms["t1"], strict=True)) == \
            [("loop 0", 8 * MS), ("loop 1", 10 * MS)]


# timer lateness by wait length (Const laws): under 1 ms 10 us, 1-5 ms 100 us, 5 ms on 300 us
BY_LENGTH = {"0": "10us", "1ms": "100us", "5ms": "300us"}


def test_a_selects_lateness_is_the_law_of_its_epoll_timeout():
    """With epoll_wait's timeout in whole ms (the default) a 1.5 ms sleep is a 2 ms wait
    (back 100 us late: 2.1 ms); its step computes to 2.2 and a 20 us sleep, due at 2.22
    ms, is a 1 ms wait (from 2.2: back at 3.3 ms, 100 us late): the law of the wait, not of
    the sleep. A 6 ms sleep from 3.4 ms is a 6 ms wait, 300 us late (9.7 ms). With a finer
    select (``select_resolution: 1ns``) the 1.5 ms sleep is a 1.5 ms wait (1.6 ms), the 20
    us one a 20 us wait, 10 us late (1.73 ms), the 6 ms one 300 us late (8.13 ms)."""
    work = {"t": one([{"sleep": "1.5ms"}, {"cpu": "100us"}, {"sleep": "20us"},
                      {"cpu": "100us"}, {"sleep": "6ms"}])}
    cfg = late_cfg(work, {"timer_lateness": BY_LENGTH})
    assert wake_log(run_scheduler(cfg, "a")[1]) == [
        (0, 0, 0), (0, 1500 * US, 2100 * US), (0, 2220 * US, 3300 * US),
        (0, 9400 * US, 9700 * US)]
    fine = late_cfg(work, {"timer_lateness": BY_LENGTH}, select_resolution="1ns")
    assert wake_log(run_scheduler(fine, "a")[1]) == [
        (0, 0, 0), (0, 1500 * US, 1600 * US), (0, 1720 * US, 1730 * US),
        (0, 7830 * US, 8130 * US)]
