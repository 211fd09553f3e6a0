"""What a round of ``threads_native`` costs in CPython beyond its work: how the numbers in
docs/validation.md ("threads_native: the start order, and what a round costs") were
measured.

    python3.11 docs/runtime-notes/gil_native_round.py

A "hasher" thread calls native code 40 times (realpy's C spin through ctypes, 10 ms of
running time, the GIL released) and computes 100 us of Python after each call, with the
switch interval at 5 ms, once alone and once beside a "cruncher" thread that computes
800 ms of Python (realpy's ``burst``: running time), twice each. Per round, medians and
means: how long the native call took beyond its 10 ms (from the Python call to the C
code's last clock read: ctypes, the GIL's drop and anything that took the CPU from the
spin), and how long the hasher then waited for the GIL (a switch interval, beside the
cruncher). For the cruncher, its pauses over 20 us between clock reads by kind:
voluntary (it lost the GIL: a hand-off to the hasher and back), involuntary only (the OS
gave its CPU to another task while it held the GIL: the machine's other load) and none
(an interrupt: counted as running, as realpy does).
"""

import os
import resource
import statistics
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "sim", "validate"))
import realpy  # noqa: E402  (the validation's own spin and native call)

GAP = realpy.GAP
now = realpy.now


def switches() -> tuple[int, int]:
    usage = resource.getrusage(resource.RUSAGE_THREAD)
    return usage.ru_nvcsw, usage.ru_nivcsw


def cruncher_burst(ns: int, pauses: dict[str, list[int]]) -> None:
    """realpy.burst, with each pause over GAP filed by the switches it saw."""
    done, last, seen = 0, now(), switches()
    while done < ns:
        t = now()
        if t - last < GAP:
            done += t - last
        else:
            before, seen = seen, switches()
            if seen == before:
                kind = "interrupt"
                done += t - last
            else:
                kind = "involuntary" if seen[0] == before[0] else "voluntary"
            pauses[kind].append(t - last)
        last = t


def hasher(native, rounds: list[tuple[int, int]]) -> None:
    for _ in range(40):
        called = now()
        ended = native(10_000_000)
        back = now()
        realpy.burst(100_000)
        rounds.append((ended - called - 10_000_000, back - ended))


def run(native, beside: bool) -> None:
    rounds: list[tuple[int, int]] = []
    pauses: dict[str, list[int]] = {"voluntary": [], "involuntary": [], "interrupt": []}
    threads = [threading.Thread(target=hasher, args=(native, rounds))]
    if beside:
        threads.insert(0, threading.Thread(target=cruncher_burst, args=(800_000_000, pauses)))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    call = [r[0] / 1e3 for r in rounds]
    back = [r[1] / 1e3 for r in rounds]
    print(f"{'beside the cruncher' if beside else 'alone':20s} native call beyond 10 ms: "
          f"p50 {statistics.median(call):.1f} us, mean {statistics.fmean(call):.1f}, max "
          f"{max(call):.0f}; GIL back after it: p50 {statistics.median(back):.1f} us, mean "
          f"{statistics.fmean(back):.1f}")
    if beside:
        print("    cruncher's pauses: " + "; ".join(
            f"{kind} {len(p)}, {sum(p) / 1e6:.2f} ms" for kind, p in pauses.items()))


def main() -> None:
    sys.setswitchinterval(0.005)
    native = realpy.Native()
    for beside in (False, True, False, True):
        run(native, beside)


if __name__ == "__main__":
    main()
