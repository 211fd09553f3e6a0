"""The validation scenarios: one sim config each (one scheduler), and the figures compared.

In most scenarios every task arrives at 0 (a batch) or is spawned by another task, so the
real programs start them the same way whatever the runtime (timers, not sockets). The
served ones (``*_sockets``) are servers on loopback under open Poisson load: ``loadgen.py``
sends each request at its drawn arrival time and is the stub backend that answers an
``io`` after its duration; the server has ``machine.cores`` cores to itself (on a 2-core
machine: one, loadgen the other). The workload is drawn once from the config's seed and
replayed unchanged on every real run. The scheduler's options are the real program's
settings too (switch interval, GOMAXPROCS, async preemption, workers, offload), and the
ones for older installed runtimes (Go 1.19, Tokio 1.24) are set to their behaviour.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .runners import CONNECTIONS

# the request stream: one every 2 ms for 2 s, so that a run's latency p99 rests on 1,000
# requests (and its wake-up p99 on 2,000 wake-ups: each request's start and its timer)
REQUESTS, PERIOD_MS = 1000, 2
# the hogs beside it repeat their cycle through the whole stream (4 x the 500 ms stream's)
HOG_ROUNDS = REQUESTS // 25


@dataclass(frozen=True)
class Scenario:
    """A sim config with one scheduler and the (class, summary column) figures compared;
    the simulator runs it on the measured machine profile, with no option set per
    scenario beyond the runtime's version (``versions`` says which)."""

    name: str
    about: str
    config: dict[str, Any]
    figures: tuple[tuple[str, str], ...]
    versions: str = ""
    served: bool = False  # a server under loadgen.py's open load (runners.command)

    @property
    def scheduler(self) -> dict[str, Any]:
        return next(iter(self.config["schedulers"].values()))

    @property
    def runtime(self) -> str:
        """Which real runtime runs it: asyncio, threads, go or tokio."""
        model = self.scheduler["model"]
        return "threads" if model == "gil_threads" else model


REQUEST_FIGURES = tuple(("req", m) for m in (
    "wake_delay_mean_ms", "wake_delay_p50_ms", "wake_delay_p99_ms",
    "latency_p50_ms", "latency_p99_ms", "throughput_per_s"))


def hog_stream(hog: list) -> dict[str, Any]:
    """A hog beside a request stream: ``gen`` wakes every 2 ms on average and spawns a
    ``req`` (compute, wait 1 ms on a timer, compute). The window is the stream's nominal
    span. The generator's and the hog's waits are drawn (uniform), so that requests meet
    the hog at every phase of its cycle, in the simulator as in reality (where every
    wake-up is a little late and the phases drift): constant waits would lock the
    simulator to a few phases."""
    return {
        "hog": {"arrival": {"batch": {"count": 1}}, "phases": [{"sleep": "5ms"}, *hog]},
        "gen": {"arrival": {"batch": {"count": 1}},
                "phases": [{"repeat": REQUESTS, "phases": [
                    {"sleep": f"uniform({PERIOD_MS / 2}ms, {PERIOD_MS * 1.5}ms)"},
                    {"spawn": "req"}]}]},
        "req": {"arrival": "spawned",
                "phases": [{"cpu": "200us"}, {"sleep": "1ms"}, {"cpu": "200us"}]},
    }


def _config(name: str, workload: dict, scheduler: dict, horizon: str) -> dict[str, Any]:
    return {"name": name, "seed": 1, "horizon": horizon, "machine": {"cores": 2},
            "workload": workload, "schedulers": {scheduler["model"]: scheduler}}


def _stream(name: str, about: str, hog: list, scheduler: dict, **extra) -> Scenario:
    horizon = f"{REQUESTS * PERIOD_MS}ms"
    return Scenario(name, about, _config(name, hog_stream(hog), scheduler, horizon),
                    REQUEST_FIGURES, **extra)


def _convoy(ms: int) -> Scenario:
    """One thread computes; one sleeps 1 ms and computes 50 us, 1,000 times (the wake-up
    p99 rests on 1,000 samples a run); at 20 ms that would take 23 s a run, so there it
    wakes 200 times (4.6 s) and its p99 is not judged."""
    wakes = 1000 if ms < 20 else 200
    judged = ("wake_delay_mean_ms", "wake_delay_p50_ms", "wake_delay_p99_ms",
              "latency_p50_ms") if wakes >= 1000 else (
              "wake_delay_mean_ms", "wake_delay_p50_ms", "latency_p50_ms")
    crunch = int(wakes * (ms + 1) * 1.1) + 100
    workload = {
        "cruncher": {"arrival": {"batch": {"count": 1}}, "phases": [{"cpu": f"{crunch}ms"}]},
        "sleeper": {"arrival": {"batch": {"count": 1}},
                    "phases": [{"repeat": wakes, "phases": [{"sleep": "1ms"}, {"cpu": "50us"}]}]},
    }
    # (no per-interval constant: the machine's timer lateness and wake latency, applied
    # where take_gil/drop_gil wait, give the hand-off's cost)
    scheduler = {"model": "gil_threads", "threads": 2, "switch_interval": f"{ms}ms"}
    return Scenario(
        f"gil_convoy_{ms}ms",
        f"a sleeping thread beside a CPU-bound one, sys.setswitchinterval({ms / 1000:g})",
        _config(f"gil_convoy_{ms}ms", workload, scheduler, f"{crunch + 200}ms"),
        tuple(("sleeper", m) for m in judged))


ASYNCIO = {"model": "asyncio"}
# Go 1.19 (Debian bookworm): every constant the model has is the same as in current Go
# (docs/runtime-notes/go.md section 4); usleep's overshoot is the machine's timer lateness.
# netpoll's whole-millisecond epoll_wait (netpoll_epoll.go) is the same in 1.19 and current
# Go (the model's default), set explicitly here.
GO_19 = {"netpoll_resolution": "1ms"}
GO_VERSIONS = ("Go 1.19: defaults (forcePreemptNS, sysmon, schedtick%61 are unchanged "
               "since 1.14), netpoll_resolution=1ms; asyncpreemptoff through async_preemption")
# Tokio 1.24 (Debian bookworm): a fixed global queue interval of 61 and no cap on LIFO
# polls per tick (the coop budget, 128, bounds the chain), docs/runtime-notes/tokio.md §4;
# coop exhaustion wakes the task at once and the inject queue pops one task (§5).
TOKIO_124 = {"global_queue_interval": 61, "lifo_polls": 128, "coop_exhausted": "wake",
             "inject_batch": False}
TOKIO_VERSIONS = ("Tokio 1.24: global_queue_interval=61, lifo_polls=128 (no LIFO cap), "
                  "coop_exhausted=wake, inject_batch=false")
GO_HOG = [{"repeat": HOG_ROUNDS * 4 // 5,
           "phases": [{"cpu": "50ms"}, {"sleep": "uniform(10ms, 30ms)"}]}]

SCENARIOS: dict[str, Scenario] = {s.name: s for s in [
    _stream("asyncio_hog", "a task computes 30 ms then sleeps ~20 ms, beside a request stream",
            [{"repeat": HOG_ROUNDS, "phases": [{"cpu": "30ms"},
                                               {"sleep": "uniform(10ms, 30ms)"}]}], ASYNCIO),
    _stream("asyncio_yield_hog", "the same hog, re-queued with sleep(0) every 5 ms",
            [{"repeat": HOG_ROUNDS, "phases": [{"repeat": 6,
                                                "phases": [{"cpu": "5ms"}, "yield"]},
                                       {"sleep": "uniform(10ms, 30ms)"}]}], ASYNCIO),
    _convoy(1),
    _convoy(5),
    _convoy(20),
    _stream("go_p1_hog", "GOMAXPROCS=1: a call-free 50 ms loop beside a request stream",
            GO_HOG, {"model": "go", "gomaxprocs": 1, **GO_19},
            versions=GO_VERSIONS),
    _stream("go_p1_hog_nopreempt", "the same with GODEBUG=asyncpreemptoff=1",
            GO_HOG, {"model": "go", "gomaxprocs": 1, "async_preemption": False, **GO_19},
            versions=GO_VERSIONS),
    _stream("go_p2_hog", "GOMAXPROCS=2: the same hog and stream on two Ps",
            GO_HOG, {"model": "go", "gomaxprocs": 2, **GO_19},
            versions=GO_VERSIONS),
    _stream("tokio_hog", "2 workers: a task computes 50 ms then sleeps, beside the stream",
            GO_HOG, {"model": "tokio", "workers": 2, **TOKIO_124}, versions=TOKIO_VERSIONS),
    Scenario(
        "tokio_lifo",
        "2 workers: every ~4 ms a task spawns a child, then computes 2 ms (1,000 times)",
        _config("tokio_lifo", {
            "parent": {"arrival": {"batch": {"count": 1}},
                       "phases": [{"repeat": 1000, "phases": [
                           {"sleep": "uniform(1ms, 3ms)"}, {"spawn": "child"},
                           {"cpu": "2ms"}]}]},
            "child": {"arrival": "spawned", "phases": [{"cpu": "200us"}]},
        }, {"model": "tokio", "workers": 2, **TOKIO_124}, "4s"),
        tuple(("child", m) for m in (
            "wake_delay_mean_ms", "wake_delay_p50_ms", "wake_delay_p99_ms",
            "latency_p50_ms", "latency_p99_ms", "throughput_per_s")),
        versions=TOKIO_VERSIONS),
]}

# --- real servers under open load ---------------------------------------------------------

SERVED_RATE, HOG_RATE = 300, 3  # requests per second; 1 % of the requests are hogs


def socket_workload() -> dict[str, Any]:
    """Requests under open Poisson load, each 200 us of CPU, an ``io`` (a 1 ms round trip
    to the stub backend), 200 us of CPU; one in a hundred (``hog``) ends with 30-60 ms of
    CPU instead."""
    head = [{"cpu": "200us"}, {"io": "1ms"}]
    return {"req": {"arrival": {"poisson": f"{SERVED_RATE}/s"},
                    "phases": [*head, {"cpu": "200us"}]},
            "hog": {"arrival": {"poisson": f"{HOG_RATE}/s"},
                    "phases": [*head, {"cpu": "uniform(30ms, 60ms)"}]}}


def _served(name: str, about: str, scheduler: dict, versions: str = "") -> Scenario:
    """A server with one core to itself (the machine's other core runs loadgen), 4 s of
    arrivals, the first 250 ms not counted (the server's first requests run cold)."""
    cfg = {"name": name, "seed": 1, "horizon": "4s", "warmup": "250ms",
           "machine": {"cores": 1}, "workload": socket_workload(),
           "schedulers": {scheduler["model"]: scheduler}}
    return Scenario(name, about, cfg, REQUEST_FIGURES, versions=versions, served=True)


# --- the other phase kinds ----------------------------------------------------------------


def _native() -> Scenario:
    """A thread runs native code (the GIL released: realpy's C spin) 10 ms at a time
    beside a CPU-bound Python thread: each time the native call returns it must take the
    GIL back from the cruncher, about a switch interval later (the convoy of
    ``gil_convoy_*``, entered from native code instead of a sleep). 40 rounds, so its
    wake-up p99 (40 samples) is not judged: 1,000 rounds would take over 10 s a run."""
    rounds = 40
    workload = {
        "cruncher": {"arrival": {"batch": {"count": 1}}, "phases": [{"cpu": "800ms"}]},
        "hasher": {"arrival": {"batch": {"count": 1}},
                   "phases": [{"repeat": rounds, "phases": [{"native": "10ms"},
                                                            {"cpu": "100us"}]}]},
    }
    scheduler = {"model": "gil_threads", "threads": 2, "switch_interval": "5ms"}
    return Scenario(
        "threads_native", "a thread in native code with the GIL released (a C spin through "
        "ctypes) 10 ms at a time, beside a CPU-bound thread, sys.setswitchinterval(0.005)",
        _config("threads_native", workload, scheduler, "1s"),
        (*(("hasher", m) for m in ("wake_delay_mean_ms", "wake_delay_p50_ms",
                                   "latency_p50_ms")),
         ("cruncher", "latency_p50_ms")))


def _offload() -> Scenario:
    """A pure-Python function run 30 ms at a time in ``run_in_executor``, beside a stream
    of timers: the executor thread holds the GIL, so a loop woken from select waits for it
    (up to a switch interval). ``offload: [cpu]`` sends every cpu phase to the executor,
    so the stream's requests only wait (``req``: sleep 1 ms)."""
    workload = hog_stream([{"repeat": HOG_ROUNDS, "phases": [{"cpu": "30ms"},
                                                     {"sleep": "uniform(10ms, 30ms)"}]}])
    workload["req"]["phases"] = [{"sleep": "1ms"}]
    return Scenario(
        "asyncio_offload", "a 30 ms pure-Python function in run_in_executor, then a sleep, "
        "beside a stream of 1 ms timers (the GIL shared by loop and executor)",
        _config("asyncio_offload", workload, {"model": "asyncio", "offload": ["cpu"]},
                f"{REQUESTS * PERIOD_MS}ms"), REQUEST_FIGURES)


SCENARIOS |= {s.name: s for s in [
    _served("asyncio_sockets", "a loopback asyncio server (Protocol, create_task) under "
            "Poisson load; 1 % of requests compute 30-60 ms", ASYNCIO),
    _served("threads_sockets", "a thread-per-connection server (64 threads) under the same "
            "load, sys.setswitchinterval(0.005)",
            {"model": "gil_threads", "threads": CONNECTIONS, "switch_interval": "5ms"}),
    _served("go_sockets", "a goroutine-per-connection Go server, GOMAXPROCS=1, under the "
            "same load", {"model": "go", "gomaxprocs": 1, **GO_19}, GO_VERSIONS),
    _served("tokio_sockets", "a task-per-connection Tokio server, 1 worker, under the same "
            "load (a connection's task is woken by the I/O driver: accept: worker)",
            {"model": "tokio", "workers": 1, "accept": "worker", **TOKIO_124},
            TOKIO_VERSIONS),
    _native(),
    _offload(),
    Scenario(
        "go_syscall", "GOMAXPROCS=1: a goroutine blocks in nanosleep (a syscall) 5-15 ms at "
        "a time, beside a request stream; sysmon's retake hands its P off",
        _config("go_syscall", hog_stream([{"repeat": HOG_ROUNDS * 4, "phases": [
            {"block": "uniform(5ms, 15ms)"}, {"cpu": "500us"}]}]),
            {"model": "go", "gomaxprocs": 1, **GO_19}, f"{REQUESTS * PERIOD_MS}ms"),
        (*REQUEST_FIGURES, ("hog", "wake_delay_mean_ms"), ("hog", "wake_delay_p50_ms")),
        versions=GO_VERSIONS),
]}
