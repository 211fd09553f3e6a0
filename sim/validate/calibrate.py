"""This machine measured once and written as a machine profile (``--calibrate --write``).

What the OS adds (``timer_lateness``, ``wake_latency``, ``signal_cost``,
``net_wake_latency``) is measured the way the built-in ``linux`` profile was:
``sim/validate/machine_delays.c`` (600 ``nanosleep``\\ s of each of 20 us, 200 us,
1 ms, 2 ms, 5 ms, 10 ms and 20 ms in turn, about 23 s; 600 condvar signals to a thread
waiting on one CPU, by a signaller spinning on another, after the thread was parked each
of the same lengths, in turn, about 23 s, timing the wake-up and what the signal cost the
signaller (``signal_cost``: the Python stand-in does not measure it); 600
wake-ups through a loopback TCP socket of a thread blocked in ``epoll_wait`` on one CPU, by
a sender on another, after it was parked each of those lengths, about 24 s; and 1,000 with
both on one CPU, reported only), built with ``cc`` when there is one, else its Python
stand-in (``probe.py delays``). Each set of samples is fitted with a Pareto law in the
workload's syntax, as ``linux``'s are: the least-squares line through the log quantiles p10,
p25, p50, p75, p90 and p99 against -log(1 - q), on which a Pareto law with scale L and shape
a lies exactly (log x_q = log L + (1/a) (-log(1 - q))); quantiles, not the mean, so that a
few multi-ms outliers of a busy machine do not move the body of the law. The Pareto's mean
is L a / (a - 1); a shape of 2 or less (infinite variance) is bounded by the largest sample
(``max=``).

A timed wait ends later the longer it lasts, and a thread woken by a condvar or through its
socket runs later the longer it had been parked (a CPU idle longer wakes more slowly), so
``timer_lateness`` is a law per wait length and ``wake_latency``, ``signal_cost`` and
``net_wake_latency`` laws per time parked (``{length: law}``), fitted alike
(``fit_lateness``): each length's samples are fitted on their own, and neighbouring
lengths whose samples' p50 and p90 are within 10 % of each other (``CLOSE``) share one
law fitted to their samples together, keyed by the shorter length (a length between two
keys takes the shorter key's law, the shortest's below it).

The wake-ups' outliers are mostly the scheduler's tick (``CONFIG_HZ=250``: up to 4 ms),
when the woken thread's CPU runs another process that the thread must wait out;
that is the machine's other load, which the model's OS does not have. They are fitted
with the same Pareto law, not a body plus a tick: on a quiet machine they lie beyond p99
(0.2 % of the wake-ups on the development machine) and leave the quantile fit alone; on a
busy one they enter p90-p99 and the law's shape falls (a longer tail), which is where the
profile's comments show them.

Go's sysmon sleeps with ``usleep(20)``; its overshoot is the 20 us sleeps' lateness, which
the model draws from ``timer_lateness``'s law for 20 us (written in the profile's
comments), or, when sysmon shares the core of an M running a G (a round cost), from
``busy_timer_lateness``: fitted to machine_delays.c's 4,500 sleeps of 20 us beside a thread
spinning on their CPU (the round cost's probe), which end sooner than on an idle CPU (no
idle state to leave). asyncio's own costs (``probe.py asyncio``) are machine keys
(``asyncio_iteration_cost`` ...): the profile sets them, so a config on it (and validation)
runs asyncio at this machine's costs.
"""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..distributions import Distribution, _bounded_pareto_moment
from ..folders import atomic_write
from ..machine import Machine
from ..units import format_duration
from . import runners
from .runners import Toolchains

QUANTILES = (0.10, 0.25, 0.50, 0.75, 0.90, 0.99)
C_SOURCE = Path(__file__).parent / "machine_delays.c"
PROBE = Path(__file__).parent / "probe.py"
SHORT_SLEEP = 20_000  # ns: Go's sysmon usleep(20), machine_delays' shortest sleep
CLOSE = 0.10  # neighbouring lengths share a law when their p50s and p90s are this close


@dataclass
class Measured:
    """Samples and costs of one calibration (ns)."""

    late: dict[int, np.ndarray]  # by sleep length (ns): how late each sleep ended
    wake: dict[int, np.ndarray]  # by time parked (ns): condvar wake-ups, across CPUs
    net: dict[int, np.ndarray]  # by time parked (ns): wake-ups through a socket, across CPUs
    net_same: np.ndarray  # the same on one CPU (reported only)
    asyncio: dict[str, float]
    source: str  # which program measured the delays
    # what a thread sleeping 20 us at a time takes from one spinning on its CPU, per sleep
    # (machine_delays.c "round_cost"; empty: not measured, as by the Python stand-in)
    round_cost: np.ndarray = field(default_factory=lambda: np.array([]))
    # how late each of that thread's 20 us sleeps ended, on the spinner's busy CPU
    # (machine_delays.c "busy_late"; empty: not measured)
    busy_late: np.ndarray = field(default_factory=lambda: np.array([]))
    # by model: a request's time beyond its phases, real and simulated, and the cost per
    # socket message that makes up the difference; asyncio's also the burst probe's drain
    # and the cost per message to a loop that did not park (harness.measure_message_costs)
    messages: dict[str, dict[str, float]] = field(default_factory=dict)
    # by time parked (ns): what each condvar signal cost the signaller (machine_delays.c
    # "signal_L"; empty: not measured, as by the Python stand-in)
    signal: dict[int, np.ndarray] = field(default_factory=dict)


def _delays_program(tools: Toolchains, scratch: Path) -> tuple[list[str], str]:
    """machine_delays.c built with ``cc`` in ``scratch``, or the Python stand-in when that
    fails."""
    cc = runners._which("cc")
    if cc and C_SOURCE.is_file():
        binary = scratch / "machine_delays"
        done = subprocess.run([cc, "-O2", "-pthread", str(C_SOURCE), "-o", str(binary)],
                              capture_output=True, text=True, timeout=120)
        if done.returncode == 0:
            return [str(binary)], "machine_delays.c (nanosleep, pthread condvar, " \
                                  "loopback TCP to epoll_wait)"
    return [tools.python, str(PROBE), "delays"], \
        "probe.py delays (time.sleep, Condition, loopback TCP to epoll)"


def measure(tools: Toolchains, log: Callable[[str], None] = print) -> Measured:
    """Run the probes at the real runs' niceness (the delays about 70 s, 23 of them the
    sleeps, 23 the condvar and 24 the socket wake-ups; then asyncio's costs); nothing is
    left on disk."""
    with tempfile.TemporaryDirectory(prefix="sim-calibrate-") as scratch:
        argv, source = _delays_program(tools, Path(scratch))
        log(f"calibrating: timer lateness and wake latencies ({source})")
        text = runners.run_text(argv, {}, "", tools.nice)
    samples: dict[str, list[int]] = {"net_same": [], "round_cost": [], "busy_late": []}
    for line in text.splitlines()[1:]:
        kind, ns = line.split(",")
        samples.setdefault(kind, []).append(int(ns))  # late_, wake_, net_<length ns>
    log("calibrating: asyncio's loop costs")
    (costs,) = runners.run([tools.python, str(PROBE), "asyncio"], {}, "", tools.nice)
    return Measured(_by_length(samples, "late_"), _by_length(samples, "wake_"),
                    _by_length(samples, "net_"), np.array(samples["net_same"], dtype=float),
                    costs, source, np.array(samples["round_cost"], dtype=float),
                    np.array(samples["busy_late"], dtype=float),
                    signal=_by_length(samples, "signal_"))


def _by_length(samples: dict[str, list[int]], prefix: str) -> dict[int, np.ndarray]:
    """The series ``<prefix><length ns>`` by length, shortest first."""
    lengths = {int(kind.removeprefix(prefix)): values for kind, values in samples.items()
               if kind.startswith(prefix) and kind.removeprefix(prefix).isdigit()}
    return {length: np.array(lengths[length], dtype=float) for length in sorted(lengths)}


def _to_100ns(ns: float) -> int:
    return max(100, round(ns / 100) * 100)


def fit_pareto(samples: np.ndarray) -> str:
    """A Pareto law through the samples' log quantiles (the module's docstring), written as
    ``pareto(mean, shape)``; bounded by the largest sample when the shape is 2 or less."""
    values = np.maximum(np.asarray(samples, dtype=float), 1.0)
    t = -np.log1p(-np.array(QUANTILES))
    slope, intercept = np.polyfit(t, np.log(np.quantile(values, QUANTILES)), 1)
    alpha = round(min(max(1 / max(slope, 1e-9), 1.05), 1000.0), 2)
    low = math.exp(intercept)
    if alpha > 2:
        return f"pareto({format_duration(_to_100ns(low * alpha / (alpha - 1)))}, {alpha:g})"
    top = max(float(values.max()), 2 * low)
    mean = _bounded_pareto_moment(low, top, alpha, 1)
    return f"pareto({format_duration(_to_100ns(mean))}, {alpha:g}, " \
           f"max={format_duration(_to_100ns(top))})"


def lateness_groups(late: dict[int, np.ndarray]) -> list[list[int]]:
    """The lengths (of a sleep, or of the time parked before a wake-up) in runs of
    neighbours that share a law: a length joins the run before it when its samples' p50
    and p90 are within ``CLOSE`` of the run's samples together."""
    groups: list[list[int]] = []
    for length in sorted(late):
        if groups:
            pooled = np.concatenate([late[x] for x in groups[-1]])
            mine, theirs = (np.quantile(v, (0.5, 0.9)) for v in (late[length], pooled))
            if np.all(np.abs(mine - theirs) <= CLOSE * theirs):
                groups[-1].append(length)
                continue
        groups.append([length])
    return groups


def fit_lateness(late: dict[int, np.ndarray]) -> dict[int, tuple[list[int], str]]:
    """A law per length (``timer_lateness`` by wait length, ``wake_latency`` and
    ``net_wake_latency`` by time parked): {first length: (the lengths, the law fitted to
    their samples together)}."""
    return {group[0]: (group, fit_pareto(np.concatenate([late[x] for x in group])))
            for group in lateness_groups(late)}


def _us(values: np.ndarray) -> str:
    qs = np.quantile(values, (0.1, 0.5, 0.9, 0.99))
    return (f"p10 {qs[0] / 1e3:.1f} us, p50 {qs[1] / 1e3:.1f} us, p90 {qs[2] / 1e3:.1f} us, "
            f"p99 {qs[3] / 1e3:.1f} us, mean {values.mean() / 1e3:.1f} us")


def _share(values: np.ndarray, above: float) -> str:
    return f"{np.mean(values > above):.1%}"


def _law(spec: str) -> Distribution:
    return Machine.model_validate({"profile": "ideal", "timer_lateness": spec}).timer_lateness


def law_quantiles(law: Distribution) -> dict[str, float]:
    """A law's mean, p50 and p99 in ns (the p's from 200,000 draws of a fixed seed)."""
    draws = law.sample(np.random.default_rng(0), 200_000)
    return {"mean": float(draws.mean()), "p50": float(np.quantile(draws, 0.5)),
            "p99": float(np.quantile(draws, 0.99))}


def _law_us(spec: str) -> str:
    """A law's quantiles and mean, as ``_us`` gives a sample's (200,000 draws, seed 0)."""
    return _us(_law(spec).sample(np.random.default_rng(0), 200_000).astype(float))


def _group_comments(samples: dict[int, np.ndarray],
                    fitted: dict[int, tuple[list[int], str]]) -> list[str]:
    """The comments under a law per length: each group's measured quantiles, each length's
    alone when it shares the law, and the law's."""
    lines = []
    for group, spec in fitted.values():
        lines.append(f"#   {' and '.join(format_duration(x) for x in group)}: "
                     f"{_us(np.concatenate([samples[x] for x in group]))}")
        if len(group) > 1:
            lines += [f"#     {format_duration(x)} alone: {_us(samples[x])}" for x in group]
        lines.append(f"#     the law: {_law_us(spec)}")
    return lines


def _by_parked_comments(samples: dict[int, np.ndarray],
                        fitted: dict[int, tuple[list[int], str]]) -> list[str]:
    """The comments under a wake-up's laws by time parked: how a law is picked, each
    group's quantiles (``_group_comments``) and the share of wake-ups over 1 ms."""
    every = np.concatenate(list(samples.values()))
    return ["# the law of the longest key not above T (the shortest key's below it). Woken "
            "after parked",
            *_group_comments(samples, fitted),
            f"#   {_share(every, 1e6)} took over 1 ms (longest {every.max() / 1e6:.1f} ms; a "
            "scheduler tick at 250 Hz is 4 ms)"]


def _by_length_key(key: str, fitted: dict[int, tuple[list[int], str]]) -> list[str]:
    """A law-per-length machine key as YAML lines: ``key:``, then ``  length: law``."""
    return [f"{key}:", *(f"  {format_duration(start)}: {spec}"
                         for start, (_, spec) in fitted.items())]


def profile_text(found: Measured, profile_name: str = "machine.yaml") -> str:
    """The profile file: the timer lateness by wait length, the condvar's and the socket's
    wake-up by time parked and asyncio's costs, and as comments what the laws were fitted
    to and Go's usleep overshoot."""
    lateness, wake, net, signal = (fit_lateness(x) for x in (found.late, found.wake,
                                                               found.net, found.signal))
    short = found.late[SHORT_SLEEP]
    a = found.asyncio
    load = " / ".join(f"{x:.2f}" for x in os.getloadavg())

    lines = [
        f"# Machine profile of {platform.node() or 'this machine'} ({os.cpu_count()} CPUs, "
        f"{platform.system()} {platform.release()}), measured "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        f"# by python -m sim.validate --calibrate (load average {load}). Use it with",
        f"#   machine: {{profile: {profile_name}}}",
        f"# Measured with {found.source}; laws fitted through log quantiles p10-p99.",
        f"# timer_lateness, by wait length: {len(found.late[min(found.late)])} sleeps of each "
        f"of {', '.join(format_duration(x) for x in found.late)} in turn;",
        "# a wait of length L takes the law of the longest key not above L (the shortest "
        "key's below it). Late by",
        *_group_comments(found.late, lateness),
        f"# Go's sysmon usleep(20) overshoot (the 20 us sleeps; the model draws it from the "
        f"{format_duration(max(x for x in lateness if x <= SHORT_SLEEP))} law above):",
        f"#   {_us(short)}",
        f"# wake_latency, by time parked: {len(found.wake[min(found.wake)])} condvar "
        "signals to a thread waiting on one CPU after it was parked each of",
        f"# {', '.join(format_duration(x) for x in found.wake)} in turn, the signaller "
        "spinning on another CPU; a wake-up after parked T takes",
        *_by_parked_comments(found.wake, wake),
        *_signal_comments(found.signal, signal),
        f"# net_wake_latency, by time parked: {len(found.net[min(found.net)])} wake-ups "
        f"through loopback TCP after the receiver (in epoll_wait) was parked each of",
        f"# {', '.join(format_duration(x) for x in found.net)} in turn, the sender on "
        "another CPU; a wake-up after parked T takes",
        *_by_parked_comments(found.net, net),
        f"# the same on one CPU ({len(found.net_same)}, parked 0.5-1.5 ms, not used): "
        f"{_us(found.net_same)}",
        f"# asyncio's own costs below: CPython {sys.version.split()[0]}, probe.py asyncio.",
        f"# A CPU-bound thread lost its core for over 0.5 ms {a['lost_core_per_s']:.1f} times "
        f"a second (longest {a['lost_core_max'] / 1e6:.1f} ms): other load.",
        *_by_length_key("timer_lateness", lateness),
        *_by_length_key("wake_latency", wake),
        *_by_length_key("net_wake_latency", net),
        *(_by_length_key("signal_cost", signal) if signal else []),
        *(f"asyncio_{key}: {format_duration(max(0, round(a[key])))}"
          for key in ("iteration_cost", "handle_cost", "step_overhead", "wake_cost")),
        *_round_cost_lines(found.round_cost),
        *_busy_lateness_lines(found.busy_late),
        *_message_lines(found.messages),
    ]
    return "\n".join(lines) + "\n"


def _signal_comments(samples: dict[int, np.ndarray],
                     fitted: dict[int, tuple[list[int], str]]) -> list[str]:
    """The comments on ``signal_cost`` (a law per time parked, the waker's cost of those
    condvar wake-ups); nothing when it was not measured (the profile then takes
    ``linux``'s)."""
    if not samples:
        return []
    return ["# signal_cost, by time parked: what each of those signals cost the signaller "
            "(locking the mutex to having unlocked it);",
            "# a signal to a thread parked T takes",
            *_group_comments(samples, fitted)]


def _round_cost_lines(samples: np.ndarray) -> list[str]:
    """``go_sysmon_round_cost`` (the median), after a comment on what it was measured
    from; nothing when it was not measured (the profile then takes ``linux``'s)."""
    if not len(samples):
        return []
    cost = round(float(np.median(samples)) / 100) * 100
    return [f"# go_sysmon_round_cost: a thread sleeping 20 us at a time beside one spinning on "
            f"its CPU, the spinner's loss per sleep ({len(samples)} repeats of 500):",
            f"#   {_us(samples)} (sysmon's own work in a round is not in it)",
            f"go_sysmon_round_cost: {format_duration(cost)}"]


def _busy_lateness_lines(samples: np.ndarray) -> list[str]:
    """``busy_timer_lateness`` (one law), after a comment on what it was fitted to; nothing
    when it was not measured (the profile then takes ``linux``'s)."""
    if not len(samples):
        return []
    spec = fit_pareto(samples)
    return [f"# busy_timer_lateness: those {len(samples)} sleeps of 20 us beside the spinner "
            "(a timed wait ending on a busy CPU) were late by",
            f"#   {_us(samples)}", f"#     the law: {_law_us(spec)}",
            f"busy_timer_lateness: {spec}"]


def _message_lines(messages: dict[str, dict[str, float]]) -> list[str]:
    """The message cost keys, after a comment on what they were measured from."""
    if not messages:
        return []
    lines = ["# <model>_message_cost: each runtime's server on loopback, 300 requests/s of "
             "20 us CPU, a 1 ms io, 20 us CPU;",
             "# a request's time beyond its phases (median), real / simulated without the "
             "cost, over its two messages:"]
    lines += [f"#   {model}: {m['real'] / 1e3:.1f} / {m['simulated'] / 1e3:.1f} us"
              for model, m in messages.items()]
    keys = {f"{model}_message_cost": m["cost"] for model, m in messages.items()}
    if "busy" in messages.get("asyncio", {}):
        m = messages["asyncio"]
        burst = int(m["burst"])
        lines += [f"# asyncio_busy_message_cost: {int(m['bursts'])} bursts of {burst} "
                  "of those requests with 200 us CPU at once, a burst's drain (median)",
                  f"# real / simulated without the cost, {m['burst_real'] / 1e6:.2f} / "
                  f"{m['burst_simulated'] / 1e6:.2f} ms, over its {2 * burst} messages "
                  "(read by a loop that did not park)"]
        keys["asyncio_busy_message_cost"] = m["busy"]
    return lines + [f"{key}: {format_duration(round(ns / 100) * 100)}"
                    for key, ns in keys.items()]


def writable(path: Path) -> str | None:
    """Why ``path`` cannot be written (checked before measuring), or None."""
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        return "is a directory"
    if not parent.is_dir():
        return f"no directory {parent}"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"directory {parent} is not writable"
    return None


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` whole (``sim.folders.atomic_write``: a temporary file in
    the same directory, renamed): a reader sees the old file or the whole new one."""
    atomic_write(path, text.encode())


def summary(found: Measured) -> str:
    """One line per measured thing, for the terminal."""
    def by_length(samples: dict[int, np.ndarray]) -> dict[str, str]:
        return {format_duration(x): _us(v) for x, v in samples.items()}

    return json.dumps({"timer_lateness_us": by_length(found.late),
                       "wake_latency_us": by_length(found.wake),
                       "signal_cost_us": by_length(found.signal),
                       "net_wake_latency_us": by_length(found.net),
                       "net_wake_same_cpu_us": _us(found.net_same),
                       "usleep_20us_us": _us(found.late[SHORT_SLEEP]),
                       "busy_usleep_20us_us": _us(found.busy_late) if len(found.busy_late)
                       else None,
                       "asyncio_ns": found.asyncio, "message_ns": found.messages,
                       "source": found.source}, indent=1)
