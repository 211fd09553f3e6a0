"""What this machine adds to the runtimes, measured for ``python -m sim.validate --calibrate``.

Run as a script, like ``realpy.py`` (only the standard library in the measured process):

    python probe.py delays   # CSV kind,ns: late_<length> (600 sleeps of each of 7 lengths),
                             # wake_<length> and net_<length> (600 condvar and 600 socket
                             # wake-ups across CPUs after each parked length), net_same
                             # (1,000)
    python probe.py asyncio  # one JSON line: asyncio's loop costs, the lost-core gaps

``delays`` is the Python stand-in for ``sim/validate/machine_delays.c`` (used when no
C compiler is found), same method and output: ``time.sleep`` of 20 us, 200 us, 1 ms, 2 ms,
5 ms, 10 ms and 20 ms in turn (600 of each), a ``threading.Condition`` signalled to a
thread waiting on another CPU, and a stamp written on loopback TCP to a thread blocked in
``epoll``, each once the woken thread has been parked each of the same lengths in turn (600
of each; the socket's sender a forked process, so that it does not hold the receiver's
GIL). Python adds its own few microseconds (and the GIL's hand-back) to each; most to the
condvar's (see ``cond_wakes``). ``asyncio`` is
``docs/runtime-notes/asyncio_costs.py`` B-D in short: the model's ``iteration_cost``,
``step_overhead``, ``handle_cost`` and ``wake_cost``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import os
import select
import socket
import statistics
import struct
import sys
import threading
import time

now = time.perf_counter_ns
SLEEPS, NET_SAME = 600, 1000  # SLEEPS: of each length, also wake-ups
LENGTHS = (20_000, 200_000, 1_000_000, 2_000_000, 5_000_000, 10_000_000, 20_000_000)  # ns


def delays() -> None:
    """The machine_delays.c measurements, in Python; printed as that program prints them."""
    rows = ["kind,ns"]
    for i in range(SLEEPS * len(LENGTHS)):
        length = LENGTHS[i % len(LENGTHS)]
        t = now()
        time.sleep(length / 1e9)
        rows.append(f"late_{length},{now() - t - length}")
    allowed = sorted(os.sched_getaffinity(0))
    receiver, sender = allowed[0], allowed[1 % len(allowed)]
    parked = [LENGTHS[i % len(LENGTHS)] for i in range(SLEEPS * len(LENGTHS))]
    wake = cond_wakes(receiver, sender, parked)
    rows += [f"wake_{length},{ns}" for length, ns in zip(parked, wake, strict=True)]
    net = net_wakes(receiver, sender, parked)
    rows += [f"net_{length},{ns}" for length, ns in zip(parked, net, strict=True)]
    paced = [500_000 + i * 337 % 1000 * 1000 for i in range(NET_SAME)]  # 0.5-1.5 ms, stepped
    rows += [f"net_same,{ns}" for ns in net_wakes(receiver, receiver, paced)]
    print("\n".join(rows))


def cond_wakes(waiter_cpu: int, signaller_cpu: int, parked: list[int]) -> list[int]:
    """machine_delays.c's wake-ups through a condition variable: a thread pinned to
    ``waiter_cpu`` publishes its clock under the lock just before each ``wait``; this
    thread, pinned to ``signaller_cpu``, signals the i-th ``parked[i]`` ns after that and
    spins on until the next round (on the waiter's CPU it sleeps instead); the time from
    the signal's stamp to the waiter running. Approximate: both are threads of one process
    (a forked process cannot share a ``Condition``), so the waiter must also take the GIL
    from the spinning signaller; the spin leaves it free most of the time (``pause``): when
    it does not, the waiter takes it when the spin's next chunk begins, a few us later."""
    cond, state = threading.Condition(), {"flag": False, "at": 0, "parked_at": 0, "parked": -1}
    woken: list[int] = []

    def waiter() -> None:
        os.sched_setaffinity(0, {waiter_cpu})  # (this thread's own affinity)
        with cond:
            for i in range(len(parked)):
                state["parked_at"], state["parked"] = now(), i
                while not state["flag"]:
                    cond.wait()
                woken.append(now() - state["at"])
                state["flag"] = False

    thread = threading.Thread(target=waiter)
    thread.start()
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {signaller_cpu})
    spin = signaller_cpu != waiter_cpu
    for i, length in enumerate(parked):
        while state["parked"] < i:  # until it has taken the last signal and waits again
            pause(spin, 20_000)
        due = state["parked_at"] + length
        while (left := due - now()) > 0:
            pause(spin, left)
        with cond:
            state["flag"], state["at"] = True, now()
            cond.notify()
    thread.join()
    os.sched_setaffinity(0, before)
    return woken


def pause(spin: bool, ns: int) -> None:
    """With a CPU of its own, work for about ``ns`` (at most 50 us) with the GIL released
    (PBKDF2 in OpenSSL, ~0.4 us an iteration, ~3 us of setup holding the GIL): a spin that
    leaves the GIL to a woken thread most of the time, as a C spin leaves the waiter
    alone; else a sleep of ``ns`` (a spin would keep the waiter's CPU busy)."""
    if spin:
        hashlib.pbkdf2_hmac("sha256", b"", b"", max(1, min(ns, 50_000) // 500))
    else:
        time.sleep(ns / 1e9)


def net_wakes(receiver_cpu: int, sender_cpu: int, parked: list[int]) -> list[int]:
    """machine_delays.c's wake-ups through a socket: this thread, pinned to
    ``receiver_cpu``, answers each stamp with a byte just before it blocks in ``epoll``
    again; a forked sender on ``sender_cpu`` writes the i-th stamp ``parked[i]`` ns after
    that byte came; the time from the stamp to epoll's return."""
    listener = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(listener.getsockname())
    server, _ = listener.accept()
    listener.close()
    for sock in (client, server):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    pid = os.fork()
    if pid == 0:
        try:
            server.close()
            send_after_parked(client, sender_cpu, parked, spin=sender_cpu != receiver_cpu)
        finally:
            os._exit(0)
    client.close()
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {receiver_cpu})
    poller = select.epoll()
    poller.register(server.fileno(), select.EPOLLIN)
    woken: list[int] = []
    for _ in parked:
        server.sendall(b"k")  # parked from here
        while not poller.poll():
            pass
        at = now()
        (stamp,) = struct.unpack("q", server.recv(8, socket.MSG_WAITALL))
        woken.append(at - stamp)
    os.waitpid(pid, 0)
    poller.close()
    server.close()
    os.sched_setaffinity(0, before)
    return woken


def send_after_parked(client: socket.socket, cpu: int, parked: list[int],
                      spin: bool) -> None:
    """The sender: writes its stamp ``parked[i]`` ns after the receiver's answer came (the
    receiver's clock would be earlier by its whole send). With a CPU of its own it spins,
    on the socket and on the clock (a sleep's own lateness, ~0.1 ms, would lengthen the
    parked time); on the receiver's CPU it sleeps (a spin would keep that CPU busy)."""
    os.sched_setaffinity(0, {cpu})
    for length in parked:
        if not answered(client, socket.MSG_DONTWAIT if spin else 0):
            return  # the receiver has gone
        due = now() + length
        if spin:
            while now() < due:
                pass
        else:
            time.sleep(max(0, due - now()) / 1e9)
        client.sendall(struct.pack("q", now()))


def answered(sock: socket.socket, flags: int) -> bool:
    """Whether the receiver's next answer came (polled when ``flags`` has MSG_DONTWAIT),
    not the socket's end."""
    while True:
        try:
            return sock.recv(1, flags) != b""
        except BlockingIOError:
            pass


def hot(k: int, m: int = 2000) -> float:
    """ns per iteration of a loop whose k tasks each await ``sleep(0)`` m times (best of 4)."""
    async def spin() -> None:
        for _ in range(m):
            await asyncio.sleep(0)

    async def main() -> int:
        t = now()
        await asyncio.gather(*(spin() for _ in range(k)))
        return now() - t

    return min(asyncio.run(main()) for _ in range(4)) / m


def timer_handles(n: int) -> float:
    """ns of one ``_run_once`` that runs n due ``TimerHandle``s (best of 7)."""
    loop = asyncio.new_event_loop()
    best = math.inf
    for _ in range(7):
        when = loop.time() - 1
        for _ in range(n):
            loop.call_at(when, lambda: None)
        t = now()
        loop._run_once()
        best = min(best, now() - t)
    loop.close()
    return best


def idle_wake(n: int = 600) -> float:
    """Median ns an idle loop's ``sleep(1 ms)`` spends in its own work around ``select``:
    from the coroutine's call to select's entry, and from select's return back."""
    loop = asyncio.new_event_loop()
    real, log, rows = loop._selector.select, [], []

    def select(timeout=None):
        entered = now()
        ready = real(timeout)
        log.append((entered, timeout, now()))
        return ready

    loop._selector.select = select

    async def main() -> None:
        await asyncio.sleep(0.01)
        for _ in range(n):
            log.clear()
            t0 = now()
            await asyncio.sleep(0.001)
            t3 = now()
            entered, _, left = next(x for x in log if x[1])
            rows.append(entered - t0 + t3 - left)

    loop.run_until_complete(main())
    loop.close()
    return statistics.median(rows)


def lost_core(span_ns: int = 300_000_000) -> list[int]:
    """Gaps over 0.5 ms in a CPU-bound loop: the other load took the core (reported only)."""
    gaps, last, end = [], now(), now() + span_ns
    while last < end:
        t = now()
        if t - last > 500_000:
            gaps.append(t - last)
        last = t
    return gaps


def asyncio_costs() -> None:
    ks = [1, 2, 4, 8, 16]
    per = [hot(k) for k in ks]
    mean_k, mean_t = statistics.mean(ks), statistics.mean(per)
    step = sum((k - mean_k) * (t - mean_t) for k, t in zip(ks, per, strict=True)) / \
        sum((k - mean_k) ** 2 for k in ks)
    iteration = mean_t - step * mean_k
    handle = (timer_handles(1100) - timer_handles(100)) / 1000
    cold = idle_wake()
    gaps = lost_core()
    print(json.dumps({
        "iteration_cost": round(iteration), "step_overhead": round(step),
        "handle_cost": round(handle),
        # an idle wake-up's loop work beyond the same handles on a hot loop
        "wake_cost": round(cold - (handle + 2 * iteration + step)),
        "lost_core_per_s": len(gaps) / 0.3, "lost_core_max": max(gaps, default=0)}))


if __name__ == "__main__":
    {"delays": delays, "asyncio": asyncio_costs}[sys.argv[1]]()
