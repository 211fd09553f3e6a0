"""What one call through a ProcessPoolExecutor costs more than through a ThreadPoolExecutor:
the default of asyncio's ``process_call_cost`` (docs/runtime-notes/asyncio.md, "Costs").

A call of a function that does nothing, its argument and result a small bytes object, from
one waiting caller (``submit(...).result()``, as ``run_in_executor`` awaits it), through
a pool of one worker: the process pool pickles the call into its call queue (a feeder
thread and a pipe), its manager thread hands it over, the worker process unpickles it,
runs it, pickles the result back, and the manager thread sets the future. The thread pool
does only the queue and the future. Both round trips include waking a parked worker and
the caller; their difference is what the process pool adds per call. Medians of ROUNDS
calls after WARMUP, best of REPEATS.

    python docs/runtime-notes/process_pool_cost.py
"""

import statistics
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

WARMUP, ROUNDS, REPEATS = 200, 2000, 5
PAYLOAD = bytes(100)


def echo(data: bytes) -> bytes:
    return data


def round_trip_ns(pool) -> float:
    """Median time of one submit(...).result() (ns)."""
    for _ in range(WARMUP):
        pool.submit(echo, PAYLOAD).result()
    times = []
    for _ in range(ROUNDS):
        t0 = time.perf_counter_ns()
        pool.submit(echo, PAYLOAD).result()
        times.append(time.perf_counter_ns() - t0)
    return statistics.median(times)


def main() -> None:
    with ThreadPoolExecutor(1) as threads, ProcessPoolExecutor(1) as processes:
        thread = min(round_trip_ns(threads) for _ in range(REPEATS))
        process = min(round_trip_ns(processes) for _ in range(REPEATS))
    print(f"thread pool round trip  {thread / 1e3:8.1f} us")
    print(f"process pool round trip {process / 1e3:8.1f} us")
    print(f"process_call_cost       {(process - thread) / 1e3:8.1f} us")


if __name__ == "__main__":
    main()
