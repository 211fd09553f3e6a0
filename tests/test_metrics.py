"""Every column of summary.csv on a hand-built FCFS run, computed by hand.

One core, warmup 10 ms, horizon 100 ms, drain limit 50 ms:

- a: arrives at 0 (before the window: not counted), computes 0-20 ms.
- b1, b2: arrive at 10 ms; 5 ms cpu, 10 ms io, 5 ms cpu. b1 runs 20-25, io 25-35, runs
  35-40 (done: latency 30, wait 10). b2 runs 25-30, io 30-40; its io ends at 40 as b1's
  burst does (b2's event was queued first), so it waits in the run queue for no time and
  runs 40-45 (done: latency 35, wait 15).
- c: arrives at 90, runs 90-110: counted, done after the horizon (not in throughput).
- d: arrives at 95, 100 s of cpu, queued behind c, runs from 110 until the drain limit
  stops the run at 150: counted, unfinished.

Busy core time inside [10, 100): a 10, b 20, c 10, d 0 ms of the window's 90 ms.
"""

import math

import pytest
from helpers import config, run_scheduler

import sim

MS = 1.0  # summary times are in ms


def batch(at: str, phases: list, count: int = 1) -> dict:
    return {"arrival": {"batch": {"count": count, "at": at}}, "phases": phases}


@pytest.fixture(scope="module")
def rows():
    cfg = config({"a": batch("0s", [{"cpu": "20ms"}]),
                  "b": batch("10ms", [{"cpu": "5ms"}, {"io": "10ms"}, {"cpu": "5ms"}], 2),
                  "c": batch("90ms", [{"cpu": "20ms"}]),
                  "d": batch("95ms", [{"cpu": "100s"}])},
                 {"fcfs": {"model": "fcfs"}}, horizon="100ms", warmup="10ms",
                 drain_limit="50ms")
    summary = sim.run(cfg, progress=False).summary
    return {r["class"]: r for r in summary.to_dict("records")}


def pct(values, q):
    """numpy's default (linear) percentile, by hand."""
    values = sorted(values)
    pos = q / 100 * (len(values) - 1)
    low = math.floor(pos)
    high = min(low + 1, len(values) - 1)
    return values[low] + (pos - low) * (values[high] - values[low])


def test_counts_throughput_and_utilisation(rows):
    window = 0.090  # s
    assert {c: rows[c]["tasks"] for c in rows} == {"a": 0, "b": 2, "c": 1, "d": 1, "all": 4}
    assert {c: rows[c]["unfinished"] for c in rows} == {"a": 0, "b": 0, "c": 0, "d": 1,
                                                        "all": 1}
    assert rows["all"]["throughput_per_s"] == pytest.approx(3 / window)  # a, b1, b2
    assert rows["a"]["throughput_per_s"] == pytest.approx(1 / window)
    assert rows["c"]["throughput_per_s"] == 0  # finished at 110 ms, after the horizon
    assert rows["all"]["utilisation"] == pytest.approx(40 / 90)
    assert {c: rows[c]["utilisation"] for c in "abcd"} == pytest.approx(
        {"a": 10 / 90, "b": 20 / 90, "c": 10 / 90, "d": 0.0})


def test_latency_slowdown_and_wait(rows):
    latency = [30, 35, 20]  # b1, b2, c (d unfinished, a not counted)
    slowdown = [30 / 20, 35 / 20, 1.0]
    got = rows["all"]
    assert got["latency_mean_ms"] == pytest.approx(sum(latency) / 3)
    for column, q in (("latency_p50_ms", 50), ("latency_p95_ms", 95), ("latency_p99_ms", 99),
                      ("latency_p999_ms", 99.9)):
        assert got[column] == pytest.approx(pct(latency, q)), column
    assert got["latency_p95_ms"] == pytest.approx(34.5)  # 30 + 0.9 x 5
    assert got["latency_max_ms"] == 35
    assert got["slowdown_mean"] == pytest.approx(sum(slowdown) / 3)
    assert got["slowdown_p99"] == pytest.approx(1.5 + 0.98 * 0.25)
    assert got["wait_mean_ms"] == pytest.approx((10 + 15 + 0) / 3)
    x = [1 / s for s in slowdown]  # Jain's index over 1/slowdown
    assert got["jain"] == pytest.approx(sum(x) ** 2 / (3 * sum(v * v for v in x)))
    assert got["jain"] == pytest.approx(0.942809, abs=1e-6)
    assert rows["b"]["latency_p50_ms"] == pytest.approx(32.5)
    assert math.isnan(rows["a"]["latency_mean_ms"]) and math.isnan(rows["d"]["jain"])


def test_wake_delays(rows):
    """Counted tasks' wake-ups: b1 arrival 10, io 0; b2 arrival 15, io 0; c 0; d 15."""
    delays = [10, 0, 15, 0, 0, 15]
    got = rows["all"]
    assert got["wake_delay_mean_ms"] == pytest.approx(sum(delays) / 6)
    assert got["wake_delay_p50_ms"] == pytest.approx(5.0)
    assert got["wake_delay_p99_ms"] == pytest.approx(pct(delays, 99))
    assert got["wake_delay_max_ms"] == 15
    assert rows["b"]["wake_delay_mean_ms"] == pytest.approx(25 / 4)


def test_counts_per_task(rows):
    """No preemption in FCFS; a switch each time a queued thread gets the core: b1 at 20,
    b2 at 25 and at 40, d at 110."""
    assert {c: rows[c]["context_switches"] for c in rows} == {
        "a": 0, "b": 3, "c": 0, "d": 1, "all": 4}
    for column in ("preemptions", "gil_handoffs", "slow_callbacks"):
        assert rows["all"][column] == 0, column


# --- occupancy: the busiest loop, worker, P or GIL ----------------------------------------


def occupancy_rows(phases: list, schedulers: dict, period: str = "10ms") -> dict:
    """A task every ``period`` from 0 to 1 s, window [100 ms, 1 s): the ``all`` row of each
    scheduler."""
    cfg = config({"req": {"arrival": {"periodic": period}, "phases": phases}}, schedulers,
                 horizon="1s", warmup="100ms")
    summary = sim.run(cfg, progress=False).summary
    return summary[summary["class"] == "all"].set_index("scheduler").to_dict("index")


def test_a_loop_blocked_all_the_time_is_fully_occupied_with_idle_cores():
    """A 10 ms blocking call every 10 ms (``requests.get`` in a coroutine): the loop thread,
    or the Tokio worker, is never free, though no core is busy."""
    rows = occupancy_rows([{"block": "10ms"}], {"asyncio": {"model": "asyncio"},
                                                "tokio": {"model": "tokio", "workers": 1}})
    for name in ("asyncio", "tokio"):
        assert rows[name]["occupancy"] == 1.0, name
        assert rows[name]["utilisation"] == 0.0, name


def test_occupancy_counts_busy_and_blocked_time_of_the_busiest_server():
    """3 ms of cpu and 2 ms blocked every 10 ms: the loop is occupied half the time, the
    core busy 30 %; with the block offloaded to the executor, the loop only computes."""
    phases = [{"cpu": "3ms"}, {"block": "2ms"}]
    rows = occupancy_rows(phases, {
        "asyncio": {"model": "asyncio"},
        "offloaded": {"model": "asyncio", "offload": ["block"]},
        "go": {"model": "go"},
        "tokio": {"model": "tokio", "workers": 1}})
    assert rows["asyncio"]["occupancy"] == pytest.approx(0.5, abs=1e-12)
    assert rows["asyncio"]["utilisation"] == pytest.approx(0.3, abs=1e-12)
    assert rows["tokio"]["occupancy"] == pytest.approx(0.5, abs=1e-12)
    assert rows["offloaded"]["occupancy"] == pytest.approx(0.3, abs=1e-12)
    assert rows["go"]["occupancy"] == pytest.approx(0.3, abs=1e-12)  # a syscall frees its P


def test_the_gil_is_occupied_while_held_and_the_reference_models_have_no_servers():
    """4 ms of Python every 10 ms: the GIL is held 40 % of the time (a thread's own share is
    not occupancy: the pool has others); free threading has no GIL; fcfs has no servers."""
    rows = occupancy_rows([{"cpu": "4ms"}, {"io": "3ms"}], {
        "threads": {"model": "gil_threads"},
        "free": {"model": "gil_threads", "free_threaded": True},
        "fcfs": {"model": "fcfs"}})
    assert rows["threads"]["occupancy"] == pytest.approx(0.4, abs=1e-12)
    assert math.isnan(rows["free"]["occupancy"])
    assert math.isnan(rows["fcfs"]["occupancy"])


def test_asyncio_with_cpu_offloaded_occupies_its_gil_not_its_loop():
    """4 + 2 ms of Python every 10 ms on two cores, sent to the executor (``offload:
    [cpu]``): the executor's threads hold the loop's GIL 60 % of the time while the loop
    itself only dispatches; without offloading the loop is the server occupied 60 %."""
    phases = [{"cpu": "4ms"}, {"io": "3ms"}, {"cpu": "2ms"}]
    cfg = config({"req": {"arrival": {"periodic": "10ms"}, "phases": phases}},
                 {"off": {"model": "asyncio", "offload": ["cpu"]}}, horizon="1s",
                 warmup="100ms", machine={"cores": 2})
    rec = run_scheduler(cfg, "off")[2]
    window = 900 * 1_000_000
    assert rec.occupied == {"loop 0": 0, "loop 0 GIL": 0.6 * window}
    rows = occupancy_rows(phases, {"loop": {"model": "asyncio"}})
    assert rows["loop"]["occupancy"] == pytest.approx(0.6, abs=1e-12)
