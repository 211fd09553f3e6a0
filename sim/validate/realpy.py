"""The real CPython runtimes: replay a workload on asyncio or on threads, print timings.

Run as a script (``python realpy.py asyncio|threads [options] < workload``), not as part
of the ``sim`` package: the measured process should hold nothing but the standard library
(no numpy, pandas or their garbage). The workload and output formats are the ones the Go
and Tokio programs share (see ``runners.encode``): one task per line in, JSON lines out,
times in ns since the start. (``probe.py`` measures the machine, for ``--calibrate``.)

Phases: ``cpu`` spins in Python; ``native`` spins in C with the GIL released (``native.c``,
built at start-up, called through ``ctypes``); ``block`` is a
``time.sleep`` (a blocking call: on the event loop it holds the loop); ``io`` is a round
trip to ``loadgen.py``'s stub backend. ``--offload KINDS`` (asyncio) runs those phases in
``run_in_executor`` (the default ``ThreadPoolExecutor``).

Served (``SIM_BACKEND`` set: ``loadgen.py`` started the program): the program is a server.
It opens ``SIM_CONNECTIONS`` connections to the backend, listens on loopback, prints ``port
N``, accepts that many connections and prints ``ready``; a request (``id sent``) runs task
``id`` and is answered with ``id``. asyncio: a ``Protocol`` per connection, whose
``data_received`` starts the task with ``create_task``; threads: a thread per connection,
blocked in ``recv`` between requests (a thread pool that never queues). Each connection has
its own backend connection for its tasks' ``io``. Times are then CLOCK_MONOTONIC, not from
the start; loadgen shifts them.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

GAP = 20_000  # ns: a longer pause inside a busy loop may mean the thread was not running
now = time.perf_counter_ns  # CLOCK_MONOTONIC: the clock asyncio's loop.time() reads too


def spin(ns: int) -> None:
    """Busy in pure Python until ``ns`` have passed: a burst holds the event loop for
    exactly its length, whatever else the machine does meanwhile."""
    end = now() + ns
    while now() < end:
        pass


def burst(ns: int) -> None:
    """Busy in pure Python for ``ns`` of running time, so that a thread does the same work
    however often it loses the GIL. A pause longer than GAP is not counted if the thread
    was switched out meanwhile (it waited for the GIL, or the OS ran another thread on its
    CPU); a pause with no switch was the OS's interrupt (the tick, a device: 140-150 of
    them, 22-177 us, in 800 ms of ``threads_native``'s cruncher on the development VM), and
    counts, as it does in ``spin`` and in the model, whose cores have no interrupts.
    ``getrusage(RUSAGE_THREAD)`` counts the thread's switches and keeps the GIL (a read
    of /proc would release it). Every loop pass checks the eval breaker."""
    done, last, switches = 0, now(), _switches()
    while done < ns:
        t = now()
        if t - last < GAP:
            done += t - last
        else:
            before, switches = switches, _switches()
            if switches == before:
                done += t - last
        last = t


def _switches() -> int:
    usage = resource.getrusage(resource.RUSAGE_THREAD)
    return usage.ru_nvcsw + usage.ru_nivcsw


class Native:
    """GIL-releasing C work: ``native.c``'s ``sim_native``, built with the C compiler
    (``$CC``, else ``cc``) before the clock runs and called through ``ctypes`` (which
    releases the GIL around a foreign call). It counts its own running time as ``burst``
    does, so a phase lasts its length on the CPU whatever else runs, and returns the
    clock when it ends: the moment the thread asks for the GIL back. (Sized work, PBKDF2
    iterations from a speed measured at start-up, ran 1.7 times as long beside a busy
    sibling vCPU on the development VM: ``threads_native``'s first hashing call was 7 ms
    long.)"""

    def __init__(self) -> None:
        compiler = shutil.which(os.environ.get("CC", "cc"))
        if compiler is None:
            sys.exit("native phases need a C compiler to build native.c: set CC or "
                     "apt-get install gcc")
        with tempfile.TemporaryDirectory() as scratch:
            library = os.path.join(scratch, "native.so")
            built = subprocess.run([compiler, "-O2", "-shared", "-fPIC", "-o", library,
                                    os.path.join(os.path.dirname(__file__), "native.c")],
                                   capture_output=True, text=True)
            if built.returncode:
                sys.exit(f"{compiler} could not build native.c: {built.stderr.strip()[-300:]}")
            self.call = ctypes.CDLL(library).sim_native
        self.call.argtypes = [ctypes.c_int64, ctypes.c_int64]
        self.call.restype = ctypes.c_int64

    def __call__(self, ns: int) -> int:
        """Run ``ns`` of native work; when the C call returned (CLOCK_MONOTONIC ns)."""
        return self.call(ns, GAP)


def read(stream, served: bool) -> tuple[list[list[tuple[str, int]]], list[int]]:
    """Tasks' phases and the roots (arrival 0) from the shared text format."""
    tasks, roots = [], []
    for line in stream:
        fields = line.split()
        if not fields:
            continue
        if int(fields[1]) > 0 and not served:
            sys.exit("only arrivals at 0 are supported")
        if int(fields[1]) == 0:
            roots.append(len(tasks))
        tasks.append([(k, int(a)) for k, a in zip(fields[2::2], fields[3::2], strict=True)])
    return tasks, roots


class Log:
    """What every task did, kept in memory during the run and printed after it."""

    def __init__(self, n: int):
        self.t0 = 0
        self.arrival = [-1] * n
        self.start = [-1] * n
        self.finish = [-1] * n
        self.wakes: list[tuple[int, int, int]] = []

    def ns(self) -> int:
        return now() - self.t0

    def dump(self, info: dict) -> None:
        out = [json.dumps({"kind": "info", **info})]
        out += [json.dumps({"kind": "task", "id": i, "arrival": a, "start": s, "finish": f})
                for i, (a, s, f) in enumerate(zip(self.arrival, self.start, self.finish,
                                                  strict=True))]
        out += [json.dumps({"kind": "wake", "id": i, "ready": r, "run": u})
                for i, r, u in self.wakes]
        print("\n".join(out))


class Served:
    """The connections of a served run (``SIM_BACKEND`` set), made before the clock runs."""

    def __init__(self) -> None:
        self.port = int(os.environ["SIM_BACKEND"])
        self.count = int(os.environ.get("SIM_CONNECTIONS", "64"))

    def backends(self) -> list[socket.socket]:
        out = [socket.create_connection(("127.0.0.1", self.port)) for _ in range(self.count)]
        for sock in out:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return out

    @staticmethod
    def announce(word: str) -> None:
        print(word, flush=True)


def needs_native(tasks) -> Native | None:
    return Native() if any(k == "native" for phases in tasks for k, _ in phases) else None


# --- asyncio -----------------------------------------------------------------------------


def run_asyncio(tasks, roots, offload: set[str], served: Served | None) -> Log:
    """One event loop; roots are created at t0, children with ``create_task``; served,
    every request is a task created by its connection's ``data_received``."""
    log = Log(len(tasks))
    left = len(tasks)
    native = needs_native(tasks)

    def job(kind: str, arg: int) -> int:
        """An offloaded phase, on an executor thread; when it ended."""
        if kind == "block":
            time.sleep(arg / 1e9)
            return now()
        if kind == "native":
            return native(arg)
        burst(arg)
        return now()

    async def task(i: int, conn: Connection | None = None) -> None:
        nonlocal left
        log.start[i] = start = log.ns()
        log.wakes.append((i, log.arrival[i], start))
        for kind, arg in tasks[i]:
            if kind in offload and arg:
                ended = await loop.run_in_executor(None, job, kind, arg)
                log.wakes.append((i, ended - log.t0, log.ns()))
            elif kind == "cpu":
                spin(arg)
            elif kind == "native":
                native(arg)
            elif kind == "block":
                time.sleep(arg / 1e9)
            elif kind == "io":
                replied = await conn.io(i, arg)
                log.wakes.append((i, replied, log.ns()))
            elif kind == "sleep":
                ready = log.ns() + arg
                await asyncio.sleep(arg / 1e9)
                log.wakes.append((i, ready, log.ns()))
            elif kind == "yield":
                await asyncio.sleep(0)
            elif kind == "spawn":
                log.arrival[arg] = log.ns()
                loop.create_task(task(arg))
        log.finish[i] = log.ns()
        if conn is not None:
            conn.transport.write(b"%d\n" % i)
        left -= 1
        if not left:
            finished.set()

    class Backend(asyncio.Protocol):
        """A backend connection: one io in flight; its reply resolves the waiter (the
        task's step then runs in the next iteration, as after any readiness)."""

        def connection_made(self, transport) -> None:
            self.transport, self.buffer, self.waiter = transport, b"", None
            transport.get_extra_info("socket").setsockopt(
                socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def data_received(self, data: bytes) -> None:
            *lines, self.buffer = (self.buffer + data).split(b"\n")
            for line in lines:
                self.waiter.set_result(int(line.split()[1]))

    class Connection(asyncio.Protocol):
        """A client connection; its requests become tasks (``create_task``: the step runs
        in the next iteration, as the model's readiness callback)."""

        def connection_made(self, transport) -> None:
            self.transport, self.buffer = transport, b""
            self.backend = backends.pop()
            accepted.append(self)
            if len(accepted) == served.count:
                all_in.set()

        def data_received(self, data: bytes) -> None:
            *lines, self.buffer = (self.buffer + data).split(b"\n")
            for line in lines:
                i, sent = map(int, line.split())
                log.arrival[i] = sent
                loop.create_task(task(i, self))

        def io(self, i: int, arg: int) -> asyncio.Future:
            self.backend.waiter = waiter = loop.create_future()
            self.backend.transport.write(b"%d %d %d\n" % (i, arg, now()))
            return waiter

    async def start_all() -> None:
        nonlocal loop, finished, all_in
        loop, finished, all_in = asyncio.get_running_loop(), asyncio.Event(), asyncio.Event()
        if served is None:
            log.t0 = now()
            for i in roots:
                log.arrival[i] = 0
                loop.create_task(task(i))
        else:  # times stay CLOCK_MONOTONIC (t0 = 0): loadgen shifts them
            for sock in served.backends():
                _, proto = await loop.create_connection(Backend, sock=sock)
                backends.append(proto)
            server = await loop.create_server(Connection, "127.0.0.1", 0)
            served.announce(f"port {server.sockets[0].getsockname()[1]}")
            await all_in.wait()
            served.announce("ready")
        await finished.wait()

    loop = finished = all_in = None
    backends: list[Backend] = []
    accepted: list[Connection] = []
    asyncio.run(start_all())
    return log


# --- threads -----------------------------------------------------------------------------


def phases_on_thread(i: int, tasks, log: Log, native: Native | None, submit,
                     backend: socket.socket | None = None) -> None:
    """Task ``i``'s phases on the calling thread (the GIL taken and dropped as CPython
    does: around ``sleep``, ``block``, ``native`` and a socket's ``recv``)."""
    log.start[i] = start = log.ns()
    log.wakes.append((i, log.arrival[i], start))
    for kind, arg in tasks[i]:
        if kind == "cpu":
            burst(arg)
        elif kind == "native":
            returned = native(arg)
            log.wakes.append((i, returned - log.t0, log.ns()))
        elif kind in ("sleep", "block"):
            ready = log.ns() + arg
            time.sleep(arg / 1e9)
            log.wakes.append((i, ready, log.ns()))
        elif kind == "io":
            backend.sendall(b"%d %d %d\n" % (i, arg, now()))
            reply = b""
            while not reply.endswith(b"\n"):
                reply += backend.recv(256)
            log.wakes.append((i, int(reply.split()[1]), log.ns()))
        elif kind == "yield":
            time.sleep(0)
        elif kind == "spawn":
            log.arrival[arg] = log.ns()
            submit(arg)
    log.finish[i] = log.ns()


def run_threads(tasks, roots, threads: int) -> Log:
    """A ``ThreadPoolExecutor`` whose threads are started before t0 and idle in its work
    queue; at t0 every root is submitted in id order, in one go while the main thread
    holds the GIL (it drops it only once they are all queued), so that the first worker
    to take the GIL takes the first root, as the model's pool does (with each root bound
    to its own thread, root 1 took the GIL first in 12 of 40 runs of a two-root test, and
    ``threads_native``'s hasher ran 5 ms early in two of four). Spawns are ``submit``."""
    log = Log(len(tasks))
    native = needs_native(tasks)
    pool = ThreadPoolExecutor(max_workers=threads)
    started = threading.Barrier(threads + 1)
    for _ in range(threads):
        pool.submit(started.wait)
    started.wait()
    left = len(tasks)
    lock, finished = threading.Lock(), threading.Event()

    def task(i: int) -> None:
        nonlocal left
        phases_on_thread(i, tasks, log, native, lambda child: pool.submit(task, child))
        with lock:
            left -= 1
            if not left:
                finished.set()

    time.sleep(0.01)  # the workers back in the queue's get (the barrier's last to leave)
    log.t0 = now()
    for i in roots:
        log.arrival[i] = 0
        pool.submit(task, i)
    finished.wait()
    pool.shutdown()
    return log


def serve_threads(tasks, served: Served) -> Log:
    """A thread per connection (``socketserver.ThreadingTCPServer``'s way), each with its
    own backend connection: blocked in ``recv`` (the GIL released) until a request comes,
    then it runs the task and answers."""
    log = Log(len(tasks))
    native = needs_native(tasks)
    left = len(tasks)
    lock, finished = threading.Lock(), threading.Event()

    def connection(client: socket.socket, backend: socket.socket) -> None:
        nonlocal left
        buffer = b""
        while True:
            while b"\n" not in buffer:
                data = client.recv(4096)
                if not data:
                    return
                buffer += data
            line, buffer = buffer.split(b"\n", 1)
            i, sent = map(int, line.split())
            log.arrival[i] = sent
            phases_on_thread(i, tasks, log, native, None, backend)
            client.sendall(b"%d\n" % i)
            with lock:
                left -= 1
                if not left:
                    finished.set()

    backends = served.backends()
    listener = socket.create_server(("127.0.0.1", 0), backlog=served.count + 16)
    served.announce(f"port {listener.getsockname()[1]}")
    for backend in backends:
        client, _ = listener.accept()
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=connection, args=(client, backend), daemon=True).start()
    served.announce("ready")
    finished.wait()
    return log


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runtime", choices=["asyncio", "threads"])
    parser.add_argument("--switch-interval", type=float, default=0.005, help="seconds")
    parser.add_argument("--threads", type=int, default=32)
    parser.add_argument("--offload", default="", help="asyncio: phase kinds for "
                        "run_in_executor, comma-separated (cpu, native, block)")
    args = parser.parse_args()
    served = Served() if "SIM_BACKEND" in os.environ else None
    tasks, roots = read(sys.stdin, served is not None)
    info = {"runtime": f"CPython {sys.version.split()[0]}"}
    if args.runtime == "asyncio":
        offload = {k for k in args.offload.split(",") if k}
        info["offload"] = sorted(offload)
        log = run_asyncio(tasks, roots, offload, served)
    else:
        sys.setswitchinterval(args.switch_interval)
        info["switch_interval"] = sys.getswitchinterval()
        log = serve_threads(tasks, served) if served else run_threads(tasks, roots, args.threads)
    log.dump(info)
    if served:  # the connection threads are still blocked in recv
        sys.stdout.flush()
        os._exit(0)


if __name__ == "__main__":
    main()
