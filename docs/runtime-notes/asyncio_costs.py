"""asyncio's own costs on this machine: how the asyncio model's defaults were measured.

    python3.11 docs/runtime-notes/asyncio_costs.py

A. An idle loop awaiting ``asyncio.sleep(d)`` 600 times (d = 1 and 2 ms): each wake-up's
   lateness split into the loop's work (from the coroutine's call to ``sleep`` to
   ``select``'s entry: its part of the lateness is what epoll's rounding adds, the wait
   being computed after it), the kernel (``select``'s return, less its entry and epoll's
   rounded wait) and epoll's return to the coroutine. Medians.
B. Hot loops: k tasks each awaiting ``sleep(0)`` 2,000 times, k = 1, 2, 4, 8, 16, best of 4:
   time per iteration = iteration_cost + k * step_overhead (a least-squares line).
C. Handles in one ``_run_once``: 1,100 against 100 due ``TimerHandle``s (handle_cost), trivial
   ``call_soon`` callbacks and ``Task.__wakeup``s each running a step that ends its task.
D. wake_cost: what the idle wake-up (A: loop work + return) costs beyond the same handles
   on a hot loop (a timer handle, two iterations, a step).
"""
import asyncio
import math
import statistics
import sys
import time

import numpy as np

now = time.perf_counter_ns


def epoll_ns(timeout_s):
    """``EpollSelector.select``'s wait in ns (asyncio_loop.epoll_wait_ns)."""
    ns = math.ceil(math.ceil(timeout_s * 1e3) * 1e-3 * 1e9)
    return -(-ns // 1_000_000) * 1_000_000


def idle(d, n=600):
    loop = asyncio.new_event_loop()
    real, log, rows = loop._selector.select, [], []

    def select(timeout=None):
        t1 = now()
        ready = real(timeout)
        log.append((t1, timeout, now()))
        return ready

    loop._selector.select = select

    async def main():
        await asyncio.sleep(0.01)
        for _ in range(n):
            log.clear()
            t0 = now()
            await asyncio.sleep(d)
            t3 = now()
            t1, timeout, t2 = next(x for x in log if x[1])
            rows.append((t1 - t0, t2 - t1 - epoll_ns(timeout), t3 - t2))

    loop.run_until_complete(main())
    loop.close()
    return [statistics.median(r[i] for r in rows) for i in range(3)]


def hot(k, m=2000):
    async def spin():
        for _ in range(m):
            await asyncio.sleep(0)

    async def main():
        t = now()
        await asyncio.gather(*(spin() for _ in range(k)))
        return now() - t

    return min(asyncio.run(main()) for _ in range(4)) / m


def one_iteration(n, prepare):
    loop = asyncio.new_event_loop()
    best = math.inf
    for _ in range(7):
        prepare(loop, n)
        t = now()
        loop._run_once()
        best = min(best, now() - t)
    loop.close()
    return best


def timers(loop, n):
    when = loop.time() - 1
    for _ in range(n):
        loop.call_at(when, lambda: None)


def callbacks(loop, n):
    for _ in range(n):
        loop.call_soon(lambda: None)


def wakeups(loop, n):
    async def waiter(fut):
        await fut
    futures = [loop.create_future() for _ in range(n)]
    for f in futures:
        loop.create_task(waiter(f))
    loop._run_once()  # the first steps: each task awaits its future
    for f in futures:
        f.set_result(None)  # each schedules its task's __wakeup


def main():
    print("CPython", sys.version.split()[0])
    split = {}
    for d in (0.001, 0.002):
        work, kernel, back = idle(d)
        split[d] = work + back
        print(f"A sleep({d * 1e3:g} ms), idle loop: loop work to select {work / 1e3:.1f} us, "
              f"kernel {kernel / 1e3:.1f} us, epoll's return to the coroutine {back / 1e3:.1f} us")
    ks = [1, 2, 4, 8, 16]
    per = [hot(k) for k in ks]
    step, iteration = np.polyfit(ks, per, 1)
    print("B ns per iteration:", dict(zip(ks, [round(x) for x in per], strict=True)),
          f"-> iteration_cost {iteration:.0f} ns, step_overhead {step:.0f} ns")
    costs = {}
    for name, prepare in (("timer", timers), ("call_soon", callbacks), ("wakeup", wakeups)):
        costs[name] = (one_iteration(1100, prepare) - one_iteration(100, prepare)) / 1000
        print(f"C {name} handles: {costs[name]:.0f} ns each")
    hot_path = costs["timer"] + 2 * iteration + step
    for d, cold in split.items():
        print(f"D sleep({d * 1e3:g} ms): idle {cold / 1e3:.1f} us against {hot_path / 1e3:.1f} "
              f"us hot -> wake_cost {(cold - hot_path) / 1e3:.1f} us")


if __name__ == "__main__":
    main()
