"""The machine under the runtimes: what the operating system does, under ``machine:``.

Every model runs on these cores and this OS. A profile sets what the OS adds to the
runtimes' own mechanisms: ``linux`` (the default) is a typical Linux server, ``ideal`` adds
nothing, for queueing-theory checks and exact micro-scenarios. A key given beside the
profile overrides it.

What the OS layer models today:
- ``cores`` and ``os_time_slice``: threads beyond the cores share them by time slice
  (``Cores`` in ``sim/models/base.py``).
- ``timer_lateness``: every timed wait (epoll_wait's timeout, ``time.sleep``, a condvar's
  timed wait, ``usleep``, a driver's park) ends late by a draw from this distribution, or,
  given as ``{length: law}``, from the law of the longest length not above the wait's
  (the shortest's below it): the kernel's timer slack (50 us for an ordinary thread,
  ``prctl(PR_SET_TIMERSLACK)``) plus the time the woken thread takes to run, which grows
  with the wait (a CPU idle longer wakes more slowly). ``linux``: ``LINUX_TIMER_LATENESS``,
  a Pareto law per length (never under 69 us: the slack is a floor), fitted as
  ``python -m sim.validate --calibrate`` fits them to C ``nanosleep`` on the development
  machine (2 vCPU VM, ``sim/validate/machine_delays.c``: 600 sleeps of each of 20
  us, 200 us, 1, 2, 5, 10 and 20 ms in turn, 3 runs at a load average of 0.5-0.9, pooled).
  Late by (us), measured at each length, and each law (its draws):

  ==============  ==========  ==========  ==========  ============  ==========
  length          p10         p50         p90         p99           mean
  ==============  ==========  ==========  ==========  ============  ==========
  20us            73          85          102         170           94
  200us           73          86          109         188           97
  law from 20us   74          83          113         179           90
  1ms             78          94          122         448           112
  law from 1ms    72          90          163         389           110
  2ms             81          102         135         365           122
  law from 2ms    80          96          160         338           113
  5ms             88          118         171         939           148
  law from 5ms    81          109         243         768           151
  10ms            96          136         188         1184          172
  20ms            101         148         193         1247          178
  law from 10ms   92          125         289         969           180
  ==============  ==========  ==========  ==========  ============  ==========

  The p99s are other load: 0.2-1.4 % of the sleeps (more, the longer) ended over 1 ms
  late, a wake-up that found its CPU running another process; the fit through p10-p99
  gives those lengths a longer tail (shape 1.9-2.7) and a p90 above the measured one.
- ``wake_latency``: a thread woken by another thread of its process (a condvar signal, a
  futex, ``startm``, a Tokio worker's ``unpark``, asyncio's self-pipe) or by a blocking
  call's return runs after a draw from this distribution; whatever it was woken for is
  free meanwhile. Given as ``{length: law}``, by how long the woken thread had been
  parked, as ``net_wake_latency`` below. ``linux``: ``LINUX_WAKE_LATENCY``, a Pareto law
  per time parked fitted to a C pthread condvar signal to a thread waiting on the first
  CPU, from a thread on the second that spins until the waiter has been parked that long
  and spins on after it (as a GIL holder or a Go or Tokio worker that wakes another goes
  on computing; a signaller that slept instead would let the kernel run the waiter on its
  own, awake CPU: p50 13 us). ``sim/validate/machine_delays.c``: 600 wake-ups after
  each of 20 us to 20 ms parked, in turn; 3 quiet runs, pooled (0.2-0.6 % over 1 ms).
  Took (us), measured and each law:

  ==============  ==========  ==========  ==========  ============  ==========
  parked          p10         p50         p90         p99           mean
  ==============  ==========  ==========  ==========  ============  ==========
  20us            12          20          28          49            24
  law from 20us   15          18          27          53            20
  200us           21          32          53          108           40
  law from 200us  24          30          52          115           36
  1ms             24          38          63          127           52
  law from 1ms    28          35          61          138           42
  2ms             27          45          75          396           60
  law from 2ms    28          39          97          356           59
  5ms             34          60          99          234           80
  law from 5ms    41          52          98          251           65
  10ms            40          73          113         465           91
  law from 10ms   46          62          138         439           87
  20ms            47          82          119         400           97
  law from 20ms   54          70          140         387           91
  ==============  ==========  ==========  ==========  ============  ==========

- ``signal_cost``: what waking a parked thread costs the thread that wakes it, which goes
  on running: ``pthread_cond_signal``'s futex wake (on a VM an interrupt to the woken
  thread's idle vCPU, dearer the longer it has been idle). Given as ``{length: law}``, by
  how long the woken thread had been parked, as ``wake_latency``. Charged where a model's
  running thread wakes a parked one and goes on computing: a GIL taker signalling the
  dropper waiting on ``switch_cond`` (before its own work) and a GIL holder whose drop
  wakes a waiter on its way into ``native`` code (``gil_threads``, and asyncio's loop with
  Python code in its executor), a ``gil_threads`` spawn's ``submit`` and asyncio's
  ``run_in_executor`` waking an idle pool thread, Go's ``newproc`` and a spinning M that
  found work (``resetspinning``) starting an M (``wakep``: ``startm``'s ``notewakeup``),
  a Tokio spawn and the last searching worker that found work unparking a worker
  (``notify_parked``). It is the waker's overhead (the task it runs is charged). A waker
  that parks or blocks next pays nothing in the model (its own wait covers it); other
  wake-ups (Go's netpoll ``ready``, an executor job's self-pipe write) are not charged.
  ``linux``: ``LINUX_SIGNAL_COST``, fitted to ``machine_delays.c``'s "signal_L" (the
  signals of the ``wake_latency`` rounds: from locking the mutex to having unlocked it).
  Took (us), measured and each law:

  ==============  ==========  ==========  ==========  ============  ==========
  parked          p10         p50         p90         p99           mean
  ==============  ==========  ==========  ==========  ============  ==========
  20us            1.1         6.2         10.0        14.5          5.4
  200us           6.1         6.8         10.5        20.9          7.9
  law from 20us   3.5         4.4         8.4         21.3          5.6
  1ms             6.4         7.5         11.9        23.1          8.7
  law from 1ms    6.4         7.6         11.9        23.1          8.7
  2ms             6.8         8.2         13.7        25.7          9.6
  law from 2ms    7.0         8.3         13.3        26.4          9.6
  5ms             7.5         9.4         15.8        28.4          10.9
  law from 5ms    7.9         9.3         14.9        29.7          10.8
  10ms            8.3         11.1        18.7        32.3          12.6
  law from 10ms   9.1         10.8        17.3        34.4          12.5
  20ms            9.6         13.7        21.6        32.6          17.0
  law from 20ms   11.1        12.9        19.6        35.8          14.6
  ==============  ==========  ==========  ==========  ============  ==========

  Three runs at a load average of 0.1-0.7, pooled (runs' p50s within 0.3 us of each
  other up to 10 ms). After 20 us parked a tenth of the signals find the waiter not yet
  asleep (about 1 us).
- ``net_wake_latency``: a thread parked waiting on a socket (in ``epoll_wait`` or
  ``recv``: asyncio's loop, a thread per connection, Go's M in netpoll, the Tokio worker
  parked on the driver) runs after a draw from this distribution once readiness comes
  over it: an ``io`` phase's completion, a request's arrival. A thread that is busy then
  pays nothing (it finds the readiness at its next poll), which is why this is the woken
  thread's delay and not a longer ``io``: one wake-up serves whatever is ready when the
  thread runs, and a busy poller pays none. Given as ``{length: law}``, a thread parked
  for T takes the law of the longest length not above T (as ``timer_lateness`` by wait
  length): a CPU idle longer wakes more slowly. ``linux``: ``LINUX_NET_WAKE_LATENCY``, a
  Pareto law per time parked fitted to a C loopback TCP write (TCP_NODELAY) from one CPU
  to a thread blocked in ``epoll_wait`` on the other, as ``python -m sim.validate``'s load
  generator and server are placed, the sender spinning until the receiver has been parked
  that long (``sim/validate/machine_delays.c``: 600 wake-ups after each of 20 us to
  20 ms parked, in turn; 3 runs on the development machine at a load average of 0.2-0.5,
  pooled; 0.3-0.4 % took over 1 ms, other load). Took (us), measured and each law:

  ==============  ==========  ==========  ==========  ============  ==========
  parked          p10         p50         p90         p99           mean
  ==============  ==========  ==========  ==========  ============  ==========
  20us            19          29          38          65            31
  law from 20us   23          26          39          67            29
  200us           26          38          55          93            45
  law from 200us  30          35          53          99            40
  1ms             31          48          68          132           55
  law from 1ms    36          42          69          138           49
  2ms             35          54          79          165           65
  law from 2ms    40          48          80          170           57
  5ms             45          74          117         195           89
  law from 5ms    56          66          107         215           77
  10ms            60          99          142         270           117
  law from 10ms   73          87          141         285           101
  20ms            79          116         155         235           130
  law from 20ms   93          105         150         250           116
  ==============  ==========  ==========  ==========  ============  ==========

  The fit through p10-p99 puts the laws' p50 about 10 % under the measured one. Both
  threads on one CPU (not used): p50 16-23 us.
- ``tick_origin``: where tick-based timers' grid starts. Tokio's timer wheel counts whole
  milliseconds from the runtime's start (``runtime/time/source.rs``: ``TimeSource`` keeps
  ``start_time`` and ticks are ms since it), and a real program starts at no particular
  phase of the work it then serves. ``random`` draws the phase once per run, uniform over a
  tick, from the model's own random stream; a duration fixes it (``0``: the grid starts
  with the run, as under ``ideal``).

- ``asyncio_iteration_cost``, ``asyncio_handle_cost``, ``asyncio_step_overhead``,
  ``asyncio_wake_cost``: what asyncio's own bookkeeping costs on this machine (an iteration
  of ``_run_once``, a callback handle, a task step's handle, the first work after a parked
  ``select``): ``linux``: 1.35 us, 0.8 us, 1.15 us and 15 us, measured with CPython 3.11.7
  on the development machine (``docs/runtime-notes/asyncio_costs.py``); ``ideal``: 0.
- ``asyncio_message_cost``, ``gil_threads_message_cost``, ``go_message_cost``,
  ``tokio_message_cost``: what each runtime spends on a socket message (an arriving request,
  an ``io``'s reply: the read, parsing it, waking the task, and the write that goes with
  it), on the thread that reads it (``sim/messages.py``). Measured by ``python -m
  sim.validate --calibrate`` as each runtime's real server on loopback under a light load
  (300 requests a second of 20 us CPU, a 1 ms ``io``, 20 us CPU) against the simulator
  without the cost, on the profile just measured: the difference in a request's time beyond
  its phases (median), over its two messages. ``linux``: ``LINUX_MESSAGE_COSTS``, the
  median of three quiet calibrations on the development machine (CPython 3.11.7, go1.19.8,
  tokio 1.24.2; us, three runs): asyncio 59.5, 63.0, 75.5; threads 26.6, 18.6, 19.6; Go
  28.7, 25.3, 29.7; Tokio 32.2, 27.3, 36.7. It is less under a heavier load (the
  runtime's code runs from warmer caches), and the machine drifts as much: one series a
  few minutes later gave at 100, 300 and 1,000 requests a second asyncio 109, 101, 62 us;
  threads 41, 40, 23; Go 47, 45, 25; Tokio 47, 34, 22.
- ``busy_timer_lateness``: how late a timed wait ends on a CPU that runs another thread
  meanwhile: the timer slack and a switch, with no idle state to leave, so sooner than
  ``timer_lateness`` says for an idle CPU. Used where a model knows its sleeper shares a
  busy core: Go's sysmon with a round cost, a ``usleep`` begun while every core runs an M
  (with a core idle, the woken thread's placement goes through it: ``timer_lateness``).
  ``linux``: ``pareto(63.4us, 32.07)``, fitted to ``machine_delays.c``'s "busy_late" (20 us
  sleeps beside a thread spinning on their CPU, 3 runs of 4,500: p10 62.3, p50 63.1, p99
  72.2 us; the same machine's 20 us sleeps on an idle CPU p50 75.6-80.1 us). Real Go
  1.19's sysmon behind a CPU-bound G on ``go_sockets`` (``perf``): a 20 us round every 87.9
  us (p50), its own run about 10 us of it.
- ``go_sysmon_round_cost``: what a Go sysmon round takes from the goroutine whose core it
  runs on (``GoOptions.sysmon_round_cost``). On this kernel sysmon's thread runs on the
  core of the M it shares with (woken by its ``usleep`` timer it preempts that M within
  7.5 us; woken by that M's futex wake, it waits for the M to stop). ``linux``: 26 us,
  measured with ``perf`` on ``go_syscall``'s real 200 us bursts (202.5 us with no sysmon
  run in them, about 279 us with three, outside ``perf``): the timer interrupt, two
  context switches and the round. ``--calibrate`` measures the OS's part: a thread
  sleeping 20 us at a time beside one spinning on its CPU, the spinner's loss per sleep
  (``machine_delays.c``: 20.5-22.5 us here; sysmon's own work in a round is not in it).
- ``go_netpoll_entry``: how long after a goroutine sets its timer (``time.Sleep``) its
  idle M reads the clock to compute netpoll's timeout (``gopark``, ``schedule``,
  ``findRunnable``'s checks; ``GoOptions.netpoll_entry``). With netpoll's whole-ms
  truncation it decides whether a sleep of exactly k ms (k >= 2) waits once, k ms, or
  twice, k - 1 ms then 1 ms, each wait ending a timer lateness late. ``linux``: 750 ns,
  the middle of the gaps measured on go1.19.8 on the development VM
  (``docs/runtime-notes/go_sleep_gap.go``, GOMAXPROCS=1, 400 sleeps of 2 ms + x each:
  one wait in half of them at x of 0.5, 0.6 and 1.2 us in three runs; a 2 ms sleep ended
  170-190 us late, p50, 2 ms + 2 us about 90 us).
- ``asyncio_busy_message_cost``: asyncio's cost for a message its loop reads without
  having parked before it (a queue's drain; ``asyncio_message_cost`` is the first after a
  select that slept). Measured by ``--calibrate`` from five bursts of 60 requests sent at
  once (a burst's drain, real against simulated without the costs, the median over the
  bursts and 9 real runs, over its 120 messages).
  ``linux``: 43.5 us, the median of three calibrations (38.0, 43.5, 62.8 us).

A profile is ``linux``, ``ideal`` or a YAML file of these keys (``profile: machine.yaml``,
relative to the config; ``python -m sim.validate --calibrate`` measures one): the file
fills the keys the config does not give, and the built-in ``linux`` fills the rest.
Delays are drawn in blocks (``Delays``) from the run's OS stream, a child of the model's own,
so that the model's draws are the same under every profile; ``ideal`` draws nothing.
"""

from __future__ import annotations

from bisect import bisect_right
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import (
    ValidationError,
    ValidationInfo,
    field_serializer,
    field_validator,
    model_validator,
)

from .distributions import Const, Distribution
from .schema import MAX_CORES, At, Count, Duration, StrictModel, _distribution, _reader
from .units import MAX_DURATION, format_duration, quote

# a runtime's own costs on this machine (CPU time of its bookkeeping), by runtime
ASYNCIO_COSTS = ("asyncio_iteration_cost", "asyncio_handle_cost", "asyncio_step_overhead",
                 "asyncio_wake_cost")
# a socket message's cost to each runtime (sim.messages), by model
MESSAGE_COSTS = ("asyncio_message_cost", "gil_threads_message_cost", "go_message_cost",
                 "tokio_message_cost", "asyncio_busy_message_cost")
# C nanosleep on the development machine by wait length (the module's docstring): 20 us
# and 200 us share a law, as 10 ms and 20 ms do (p50 and p90 within 10 %)
LINUX_TIMER_LATENESS = {"20us": "pareto(90.2us, 5.12)", "1ms": "pareto(110.6us, 2.68)",
                        "2ms": "pareto(113.4us, 3.13)",
                        "5ms": "pareto(151.6us, 1.99, max=3.7993ms)",
                        "10ms": "pareto(180.1us, 1.91, max=6.9848ms)"}
# a C condvar wake-up and a socket one on the development machine, by time parked (the
# module's docstring)
LINUX_WAKE_LATENCY = {"20us": "pareto(20.1us, 3.59)", "200us": "pareto(35.8us, 2.9)",
                      "1ms": "pareto(42.1us, 2.86)", "2ms": "pareto(59.5us, 1.77, max=2.5006ms)",
                      "5ms": "pareto(65.5us, 2.49)", "10ms": "pareto(86.8us, 2, max=4.5181ms)",
                      "20ms": "pareto(91.5us, 2.29)"}
# machine_delays.c "busy_late": 3 runs of 4,500 sleeps of 20 us beside a spinner, pooled
LINUX_BUSY_TIMER_LATENESS = "pareto(63.4us, 32.07)"
# machine_delays.c "signal_L" on the development machine, by time parked (the module's
# docstring)
LINUX_SIGNAL_COST = {"20us": "pareto(5.6us, 2.5)", "1ms": "pareto(8.7us, 3.52)",
                     "2ms": "pareto(9.6us, 3.39)", "5ms": "pareto(10.8us, 3.4)",
                     "10ms": "pareto(12.5us, 3.39)", "20ms": "pareto(14.6us, 3.86)"}
LINUX_NET_WAKE_LATENCY = {"20us": "pareto(29.3us, 4.17)", "200us": "pareto(39.7us, 3.8)",
                          "1ms": "pareto(49.2us, 3.33)", "2ms": "pareto(56.8us, 3.11)",
                          "5ms": "pareto(77us, 3.34)", "10ms": "pareto(101.4us, 3.32)",
                          "20ms": "pareto(116us, 4.55)"}
# a served request's runtime path on the development machine, per message (the module's
# docstring): python -m sim.validate --calibrate's served runs, less the simulated ones
LINUX_MESSAGE_COSTS = {"asyncio_message_cost": "63us", "gil_threads_message_cost": "19.6us",
                       "go_message_cost": "28.7us", "tokio_message_cost": "32.2us",
                       "asyncio_busy_message_cost": "43.5us"}
PROFILES: dict[str, dict[str, Any]] = {
    "linux": {"tick_origin": "random", "timer_lateness": LINUX_TIMER_LATENESS,
              "wake_latency": LINUX_WAKE_LATENCY, "net_wake_latency": LINUX_NET_WAKE_LATENCY,
              "signal_cost": LINUX_SIGNAL_COST,
              # CPython 3.11.7 on the development machine (2 vCPU VM):
              # docs/runtime-notes/asyncio_costs.py, docs/runtime-notes/asyncio.md "Costs"
              "asyncio_iteration_cost": "1.35us", "asyncio_handle_cost": "800ns",
              "asyncio_step_overhead": "1.15us", "asyncio_wake_cost": "15us",
              **LINUX_MESSAGE_COSTS,
              # perf on go_syscall's real bursts (the module's docstring)
              "go_sysmon_round_cost": "26us",
              # docs/runtime-notes/go_sleep_gap.go (the module's docstring)
              "go_netpoll_entry": "750ns",
              # machine_delays.c busy_late (the module's docstring)
              "busy_timer_lateness": LINUX_BUSY_TIMER_LATENESS},
    "ideal": {"tick_origin": 0, "timer_lateness": "0", "busy_timer_lateness": "0",
              "wake_latency": "0", "net_wake_latency": "0", "signal_cost": "0",
              **dict.fromkeys(ASYNCIO_COSTS + MESSAGE_COSTS, "0"), "go_sysmon_round_cost": "0",
              "go_netpoll_entry": "0"},
}
MAX_PROFILE_BYTES = 1 << 16
MAX_LAWS_BY_LENGTH = 16  # a law per length: at most this many lengths
BY_LENGTH = {"timer_lateness": ("wait length", "wait lengths"),
             "busy_timer_lateness": ("wait length", "wait lengths"),
             "wake_latency": ("time parked", "times parked"),
             "net_wake_latency": ("time parked", "times parked"),
             "signal_cost": ("time parked", "times parked")}


class Machine(StrictModel):
    profile: str = "linux"  # linux, ideal or a YAML file of the keys below
    cores: Count(MAX_CORES) = 1
    # Linux CFS gives each runnable thread a slice of sched_latency / nr_running, at least
    # sched_min_granularity (3 ms on an 8-core box: kernel/sched/fair.c); we use 3 ms.
    os_time_slice: Duration = 3_000_000
    tick_origin: Literal["random"] | int = "random"
    timer_lateness: Distribution | dict[int, Distribution] = Const(0)  # (by wait length)
    # (a wait on a CPU that runs another thread meanwhile: no idle state to leave)
    busy_timer_lateness: Distribution | dict[int, Distribution] = Const(0)
    wake_latency: Distribution | dict[int, Distribution] = Const(0)  # (by time parked)
    net_wake_latency: Distribution | dict[int, Distribution] = Const(0)  # (by time parked)
    # what waking a parked thread costs the waker (by the woken thread's time parked)
    signal_cost: Distribution | dict[int, Distribution] = Const(0)
    # asyncio's own work, where a loop has a core to itself (AsyncioOptions: an option of
    # the same name without the prefix overrides it for one scheduler)
    asyncio_iteration_cost: Duration = 0
    asyncio_handle_cost: Duration = 0
    asyncio_step_overhead: Duration = 0
    asyncio_wake_cost: Duration = 0
    # a socket message's cost to each runtime (MessageCost: a model's message_cost
    # overrides it for one scheduler)
    asyncio_message_cost: Duration = 0
    gil_threads_message_cost: Duration = 0
    go_message_cost: Duration = 0
    tokio_message_cost: Duration = 0
    asyncio_busy_message_cost: Duration = 0  # (to a loop that did not park before it)
    # what a Go sysmon round takes from the G running on the core it shares (GoOptions)
    go_sysmon_round_cost: Duration = 0
    # from a G's timer being set to its idle M reading the clock for netpoll (GoOptions)
    go_netpoll_entry: Duration = 0

    @model_validator(mode="before")
    @classmethod
    def _from_profile(cls, data: Any, info: ValidationInfo) -> Any:
        """Keys not given come from the profile: a built-in one, or a file whose own keys
        come first and ``linux`` fills the rest."""
        if not isinstance(data, dict):
            return data
        profile = data.get("profile", "linux")
        if profile in PROFILES:
            return {**PROFILES[profile], **data}
        if not isinstance(profile, str) or not profile.endswith((".yaml", ".yml")):
            raise At("machine.profile", f"expected linux, ideal or a YAML file such as "
                             f"machine.yaml, got {quote(profile)}")
        return {**PROFILES["linux"], **_profile_file(profile, info), **data}

    @field_validator("os_time_slice")
    @classmethod
    def _positive(cls, value: int) -> int:
        if value <= 0:
            raise ValueError("must be positive")
        return value

    @field_validator("tick_origin", mode="before")
    @classmethod
    def _origin(cls, value: Any) -> Any:
        return value if value == "random" else _reader(MAX_DURATION)(value)

    @field_validator(*BY_LENGTH, mode="before")
    @classmethod
    def _by_length(cls, value: Any, info: ValidationInfo) -> Any:
        """One law, or ``{length: law, ...}``: a wait of length L (``timer_lateness``), or
        a wake-up after the thread was parked L (``wake_latency``, ``net_wake_latency``),
        takes the law of the longest length not above L (the shortest length's law below
        it)."""
        if not isinstance(value, dict):
            return _distribution(value, info)
        where = f"machine.{info.field_name}"
        what, whats = BY_LENGTH[info.field_name]
        if not value or len(value) > MAX_LAWS_BY_LENGTH:
            raise At(where, f"give 1 to {MAX_LAWS_BY_LENGTH} {whats}, each with its law, "
                            "e.g. {0: pareto(70us, 5), 5ms: pareto(150us, 5)}, "
                            f"got {len(value)}")
        laws: dict[int, Distribution] = {}
        keys: dict[int, Any] = {}
        for key, law in value.items():
            try:
                length = _reader(MAX_DURATION)(key)
            except ValueError as exc:
                raise At(f"{where}.{key}", f"a {what}: {exc}") from None
            if length in laws:
                raise At(f"{where}.{key}", f"the same {what} as {keys[length]} "
                                           f"({format_duration(length)})")
            try:
                laws[length], keys[length] = _distribution(law, info), key
            except ValueError as exc:
                raise At(f"{where}.{key}", f"{exc}") from None
        return dict(sorted(laws.items()))

    @field_serializer(*BY_LENGTH)
    def _show_by_length(self, value: Distribution | dict[int, Distribution]) -> Any:
        if isinstance(value, dict):
            return {format_duration(length): str(law) for length, law in value.items()}
        return str(value)

    @field_serializer("tick_origin")
    def _show_origin(self, value: str | int) -> str:
        return value if isinstance(value, str) else format_duration(value)


def _profile_file(name: str, info: ValidationInfo) -> dict[str, Any]:
    """The keys of a profile file, each checked (an error names the file and the key)."""
    from .config import ConfigError, parse_yaml  # (config imports this module)

    base = (info.context or {}).get("base_dir")
    path = Path(base, name) if base else Path(name)
    try:
        with path.open("rb") as stream:
            data = stream.read(MAX_PROFILE_BYTES + 1)
        if len(data) > MAX_PROFILE_BYTES:
            raise At("machine.profile", f"{quote(name)} is larger than 64 KiB")
        values = parse_yaml(data.decode("utf-8"), name)
    except OSError as exc:
        raise At("machine.profile", f"cannot read {quote(name)} "
                         f"({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise At("machine.profile", f"{quote(name)} is not UTF-8 text") from None
    except ConfigError as exc:
        raise At("machine.profile", f"{exc}") from None
    if not isinstance(values, dict) or "profile" in values:
        raise At("machine.profile", f"{quote(name)} must be a mapping of machine keys "
                         f"(timer_lateness, wake_latency, ...), without a profile of its own")
    try:
        Machine.model_validate({**values, "profile": "ideal"},
                               context={"base_dir": str(path.parent)})
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"]) or "profile"
        problem = "unknown key" if error["type"] == "extra_forbidden" else \
            error["msg"].removeprefix("Value error, ")
        at = (error.get("ctx") or {}).get("error")
        if isinstance(at, At):  # (an error naming its own key path, under machine.)
            where, problem = at.path.removeprefix("machine."), at.message
        raise At("machine.profile", f"{quote(name)}: {where}: {problem}") from None
    return values


class Delays:
    """Draws of a machine delay in integer ns, which may depend on a length:
    ``timer_lateness`` (how late a timed wait ends, by the wait's length),
    ``wake_latency`` and ``net_wake_latency`` (how long a woken thread takes to run, by
    how long it had been parked): one law, or a law per length. They grow with the length
    because a CPU idle longer wakes more slowly (on the development machine C
    ``nanosleep`` is late by p50 85 us at 20 us and 136-148 us at 10-20 ms; a socket
    wake-up takes p50 29 us after 20 us parked, 99 us after 10 ms).

    Draw ``i`` belongs to the ``i``-th delay whatever its length: every law is drawn in
    lockstep, in blocks (one on the stream itself, the others on child streams), so that a
    model that works waits out ahead (Go's sysmon, ``take_each``) and one that draws as it
    goes get the same draws. A law of 0 draws nothing (so that ``ideal`` runs keep the
    model's stream as it was)."""

    __slots__ = ("starts", "laws", "rngs", "rows", "cursor", "zero", "largest", "single")
    BLOCK = 1024

    def __init__(self, law: Distribution | dict[int, Distribution], rng: np.random.Generator):
        by_length = law if isinstance(law, dict) else {0: law}
        self.starts = [0, *list(by_length)[1:]]  # (the first law takes every shorter wait)
        self.laws = list(by_length.values())
        self.rngs = [rng, *rng.spawn(len(self.laws) - 1)]
        self.single = len(self.laws) == 1
        self.zero = all(isinstance(x, Const) and x.value == 0 for x in self.laws)
        self.rows: list[list[int]] = [[] for _ in self.laws]
        self.cursor = 0
        self.largest = 0  # the largest delay drawn so far (a bound for checks of a run)

    def law_of(self, length: int) -> int:
        """The index of the law for a length of ``length`` ns."""
        return bisect_right(self.starts, length) - 1 if length > 0 else 0

    def __call__(self, length: int) -> int:
        """The next delay, for a length (a wait's, or the time parked) of ``length`` ns."""
        if self.zero:
            return 0
        i = self.cursor
        if i == len(self.rows[0]):
            self._refill()
            i = 0
        self.cursor = i + 1
        if self.single:
            return self.rows[0][i]
        return self.rows[bisect_right(self.starts, length) - 1 if length > 0 else 0][i]  # law_of

    def take_each(self, k: int) -> list[list[int]]:
        """The next ``k`` draws of every law (``[law][j]``: the ``j``-th next delay's, were
        its length that law's), consumed as ``k`` calls would consume them."""
        if self.zero:
            return [[0] * k for _ in self.laws]
        taken: list[list[int]] = [[] for _ in self.laws]
        while len(taken[0]) < k:
            if self.cursor == len(self.rows[0]):
                self._refill()
            n = min(k - len(taken[0]), len(self.rows[0]) - self.cursor)
            for row, out in zip(self.rows, taken, strict=True):
                out += row[self.cursor:self.cursor + n]
            self.cursor += n
        return taken

    def _refill(self) -> None:
        drawn = [law.sample(rng, self.BLOCK) for law, rng in zip(self.laws, self.rngs,
                                                                  strict=True)]
        self.largest = max(self.largest, *(int(d.max()) for d in drawn))
        self.rows = [d.tolist() for d in drawn]
        self.cursor = 0


class OS:
    """The operating system under one run: what a timed wait and a wake-up (by another
    thread, or through a socket) cost, and what waking a thread costs the waker."""

    __slots__ = ("timer_late", "wake", "net_wake", "signal", "_law", "_busy_law", "_rng")

    def __init__(self, machine: Machine, rng: np.random.Generator):
        # a stream each: how one is consumed (a model drawing ahead) leaves the others
        # alone; the socket wake-ups' is a child of the wake-ups' (spawning it leaves the
        # other streams, and the next child stream own_timer takes, as they were)
        late_rng, wake_rng = rng.spawn(2)
        net_rng = wake_rng.spawn(1)[0]
        self.timer_late = Delays(machine.timer_lateness, late_rng)
        # (by how long the woken thread had been parked: wake(parked), net_wake(parked))
        self.wake = Delays(machine.wake_latency, wake_rng)
        self.net_wake = Delays(machine.net_wake_latency, net_rng)
        # (a child taken last: the streams above are as they were before it existed)
        self.signal = Delays(machine.signal_cost, net_rng.spawn(1)[0])  # signal(parked)
        self._law, self._rng = machine.timer_lateness, rng
        self._busy_law = machine.busy_timer_lateness

    def own_timer(self, busy: bool = False) -> Delays:
        """The timer lateness of one thread's waits on a stream of its own (the next child
        stream): a model may work that thread's waits out ahead (Go's sysmon) without
        shifting the draws of any other wait. ``busy``: of its waits that end on a CPU
        running another thread (``busy_timer_lateness``)."""
        return Delays(self._busy_law if busy else self._law, self._rng.spawn(1)[0])


def tick_origin(machine: Machine, tick: int, rng: np.random.Generator) -> int:
    """Where a grid of ``tick`` ns starts, in [0, tick): drawn from ``rng`` (once, at the
    model's start) when ``random``, so that ``ideal`` runs draw nothing."""
    if machine.tick_origin == "random":
        return int(rng.integers(tick))
    return machine.tick_origin % tick
