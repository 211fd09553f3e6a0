"""This machine measured once and written as a machine profile (``--calibrate --write``).

What the OS adds (``timer_lateness``, ``wake_latency``, ``net_wake_latency``) is measured
the way the built-in ``linux`` profile was: ``docs/runtime-notes/machine_delays.c`` (600
``nanosleep``\\ s of each of 20 us, 200 us, 1 ms, 2 ms, 5 ms, 10 ms and 20 ms in turn, about
23 s; 2,000 condvar wake-ups; 2,000 wake-ups
through a loopback TCP socket of a thread blocked in ``epoll_wait`` on one CPU by a sender
on another, and 1,000 with both on one CPU, reported only), built with ``cc`` when there is
one, else its Python stand-in (``probe.py delays``). Each set of samples is fitted with a
Pareto law in the workload's syntax, as ``linux``'s are: the least-squares line through the
log quantiles p10, p25, p50, p75, p90 and p99 against -log(1 - q), on which a Pareto law
with scale L and shape a lies exactly (log x_q = log L + (1/a) (-log(1 - q))); quantiles,
not the mean, so that a few multi-ms outliers of a busy machine do not move the body of the
law. The Pareto's mean is L a / (a - 1); a shape of 2 or less (infinite variance) is
bounded by the largest sample (``max=``).

A timed wait ends later the longer it lasts (a CPU idle longer wakes more slowly), so
``timer_lateness`` is a law per wait length (``{length: law}``): each length's sleeps are
fitted on their own, and neighbouring lengths whose sleeps' p50 and p90 are within 10 % of
each other (``CLOSE``) share one law fitted to their sleeps together, keyed by the shorter
length (a wait between two keys takes the shorter key's law, the shortest's below it).

The socket wake-ups' outliers are mostly the scheduler's tick (``CONFIG_HZ=250``: up to
4 ms), when the receiver's CPU runs another process that the woken thread must wait out;
that is the machine's other load, which the model's OS does not have. They are fitted
with the same Pareto law, not a body plus a tick: on a quiet machine they lie beyond p99
(0.2 % of the wake-ups on the development machine) and leave the quantile fit alone; on a
busy one they enter p90-p99 and the law's shape falls (a longer tail), which is where the
profile's comments show them.

Go's sysmon sleeps with ``usleep(20)``; its overshoot is the 20 us sleeps' lateness, which
the model draws from ``timer_lateness``'s law for 20 us (written in the profile's
comments). asyncio's own costs (``probe.py asyncio``) are machine keys
(``asyncio_iteration_cost`` ...): the profile sets them, so a config on it (and validation)
runs asyncio at this machine's costs.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..distributions import Distribution, _bounded_pareto_moment
from ..machine import Machine
from ..units import format_duration
from . import runners
from .runners import Toolchains

QUANTILES = (0.10, 0.25, 0.50, 0.75, 0.90, 0.99)
C_SOURCE = Path(__file__).parents[2] / "docs" / "runtime-notes" / "machine_delays.c"
PROBE = Path(__file__).parent / "probe.py"
SHORT_SLEEP = 20_000  # ns: Go's sysmon usleep(20), machine_delays' shortest sleep
CLOSE = 0.10  # neighbouring lengths share a law when their p50s and p90s are this close


@dataclass
class Measured:
    """Samples and costs of one calibration (ns)."""

    late: dict[int, np.ndarray]  # by sleep length (ns): how late each sleep ended
    wake: np.ndarray
    net: np.ndarray  # wake-ups through a socket, across CPUs
    net_same: np.ndarray  # the same on one CPU (reported only)
    asyncio: dict[str, float]
    source: str  # which program measured the delays


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
    """Run the probes at the real runs' niceness (the delays about 30 s, 23 of them the
    sleeps; then asyncio's costs); nothing is left on disk."""
    with tempfile.TemporaryDirectory(prefix="sim-calibrate-") as scratch:
        argv, source = _delays_program(tools, Path(scratch))
        log(f"calibrating: timer lateness and wake latencies ({source})")
        text = runners.run_text(argv, {}, "", tools.nice)
    samples: dict[str, list[int]] = {"wake": [], "net": [], "net_same": []}
    for line in text.splitlines()[1:]:
        kind, ns = line.split(",")
        samples.setdefault(kind, []).append(int(ns))  # late_<length ns>: a sleep's
    log("calibrating: asyncio's loop costs")
    (costs,) = runners.run([tools.python, str(PROBE), "asyncio"], {}, "", tools.nice)
    wake, net, same = (np.array(samples[k], dtype=float) for k in ("wake", "net", "net_same"))
    late = {int(kind.removeprefix("late_")): np.array(values, dtype=float)
            for kind, values in sorted(samples.items()) if kind.startswith("late_")}
    return Measured(dict(sorted(late.items())), wake, net, same, costs, source)


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
    """The sleep lengths in runs of neighbours that share a law: a length joins the run
    before it when its p50 and p90 are within ``CLOSE`` of the run's sleeps together."""
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
    """``timer_lateness`` by wait length: {first length: (the lengths, the law fitted to
    their sleeps together)}."""
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


def profile_text(found: Measured, profile_name: str = "machine.yaml") -> str:
    """The profile file: the timer lateness by wait length, the two wake-up laws and
    asyncio's costs, and as comments what the laws were fitted to and Go's usleep
    overshoot."""
    lateness = fit_lateness(found.late)
    wake, net = fit_pareto(found.wake), fit_pareto(found.net)
    short = found.late[SHORT_SLEEP]
    a = found.asyncio
    load = " / ".join(f"{x:.2f}" for x in os.getloadavg())

    def law(spec: str) -> str:
        return _us(_law(spec).sample(np.random.default_rng(0), 200_000).astype(float))

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
        *(line for group, spec in lateness.values() for line in (
            f"#   {' and '.join(format_duration(x) for x in group)}: "
            f"{_us(np.concatenate([found.late[x] for x in group]))}",
            *(f"#     {format_duration(x)} alone: {_us(found.late[x])}" for x in group
              if len(group) > 1),
            f"#     the law: {law(spec)}")),
        f"# Go's sysmon usleep(20) overshoot (the 20 us sleeps; the model draws it from the "
        f"{format_duration(max(x for x in lateness if x <= SHORT_SLEEP))} law above):",
        f"#   {_us(short)}",
        f"# wake_latency: {len(found.wake)} condvar wake-ups,",
        f"#   {_us(found.wake)}",
        f"#   the law: {law(wake)}",
        f"# net_wake_latency: {len(found.net)} wake-ups through loopback TCP, sender and "
        f"receiver (in epoll_wait) on two CPUs,",
        f"#   {_us(found.net)}",
        f"#   the law: {law(net)}",
        f"#   {_share(found.net, 1e6)} took over 1 ms (longest {found.net.max() / 1e6:.1f} "
        f"ms; a scheduler tick at 250 Hz is 4 ms)",
        f"# the same on one CPU ({len(found.net_same)}, not used): {_us(found.net_same)}",
        f"# asyncio's own costs below: CPython {sys.version.split()[0]}, probe.py asyncio.",
        f"# A CPU-bound thread lost its core for over 0.5 ms {a['lost_core_per_s']:.1f} times "
        f"a second (longest {a['lost_core_max'] / 1e6:.1f} ms): other load.",
        "timer_lateness:",
        *(f"  {format_duration(start)}: {spec}" for start, (_, spec) in lateness.items()),
        f"wake_latency: {wake}",
        f"net_wake_latency: {net}",
        *(f"asyncio_{key}: {format_duration(max(0, round(a[key])))}"
          for key in ("iteration_cost", "handle_cost", "step_overhead", "wake_cost")),
    ]
    return "\n".join(lines) + "\n"


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
    """Write ``text`` to ``path`` through a temporary file in the same directory and a
    rename: a reader sees the old file or the whole new one, never a part."""
    parent = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=parent)
    try:
        umask = os.umask(0o022)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)  # as open() would create it (mkstemp's is 0600)
        with os.fdopen(fd, "w") as stream:
            stream.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def summary(found: Measured) -> str:
    """One line per measured thing, for the terminal."""
    late = {format_duration(x): _us(v) for x, v in found.late.items()}
    return json.dumps({"timer_lateness_us": late, "wake_latency_us": _us(found.wake),
                       "net_wake_latency_us": _us(found.net),
                       "net_wake_same_cpu_us": _us(found.net_same),
                       "usleep_20us_us": _us(found.late[SHORT_SLEEP]),
                       "asyncio_ns": found.asyncio, "source": found.source}, indent=1)
