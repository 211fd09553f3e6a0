"""Open load on a real server: replay a workload's arrivals, and be its stub backend.

Run as a script, like ``realpy.py`` (only the standard library)::

    python loadgen.py --server-cores K --connections C -- SERVER ARGV... < workload

The workload is ``runners.encode(workload, served=True)``: one request per line with its
arrival time. loadgen starts the server with the workload on its stdin and, in its
environment, ``SIM_BACKEND`` (the stub backend's port) and ``SIM_CONNECTIONS``. The server
opens C connections to the backend, listens on an ephemeral loopback port, prints ``port
N``, accepts loadgen's C connections, prints ``ready``; loadgen then sends every request at
its arrival time (open loop: Poisson arrivals stay Poisson whatever the server does) and
answers each ``io`` after its duration. At the end the server prints its JSON lines, with
times on CLOCK_MONOTONIC (the one clock every process on the machine shares); loadgen prints
them again with times from its own start (``T0``, the workload's time 0).

The wire, one line per message (times are CLOCK_MONOTONIC ns):
- loadgen -> server: ``id sent``; server -> loadgen: ``id`` (the response);
- server -> backend: ``id duration sent``; backend -> server: ``id replied``: the reply is
  written at ``sent + duration``, and ``replied`` is when it was (the server's wake-up for
  the ``io`` is ready then).

A connection carries one request at a time: a request is sent on a free connection (a
thread-per-connection server then has a free thread for it); with none free, it waits in
loadgen and is stamped with its arrival time (or the previous request's stamp, if later),
so its wait counts as the server's (``held`` in the info line says how many did). A
request's ``sent`` is read just before it is
written: the server's latency (to the end of its last phase, before the response is
written) runs from that moment.

Cores: with more cores than the server's K, the server is pinned to the first K of
loadgen's allowed CPUs and loadgen to the rest (``os.sched_setaffinity``), so load
generation and the backend do not take the server's cores; on a 2-core machine that is one
core each. With no core to spare both run unpinned (``pinned: false`` in the info line).
loadgen waits in ``select`` until ``SPIN`` before its next send or reply, then polls, so
that both leave within some 10 us of their time.
"""

from __future__ import annotations

import argparse
import heapq
import json
import os
import select
import socket
import subprocess
import sys
import time
from collections import deque

now = time.perf_counter_ns  # CLOCK_MONOTONIC on Linux
SPIN = 300_000  # ns before a due send or reply: poll instead of sleeping
LEAD = 50_000_000  # ns from "ready" to the workload's time 0
SETUP_TIMEOUT = 30.0  # s for the server to connect, listen and accept


def arrivals(text: str) -> list[tuple[int, int]]:
    """(arrival, id) of every request, in arrival order."""
    found = []
    for line in text.splitlines():
        fields = line.split()
        if fields:
            found.append((int(fields[1]), int(fields[0])))
    return sorted(found)


def cpus(server_cores: int) -> tuple[set[int], set[int], bool]:
    """The server's CPUs, loadgen's, and whether they are apart."""
    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) > server_cores:
        return set(allowed[:server_cores]), set(allowed[server_cores:]), True
    return set(allowed), set(allowed), False


def _line(stream, expect: str) -> str:
    line = stream.readline().decode().strip()
    if not line.startswith(expect):
        sys.exit(f"loadgen: the server said {line!r}, expected {expect!r}")
    return line


class Replay:
    """The open-loop replay and the stub backend, on one thread."""

    def __init__(self, order: list[tuple[int, int]], clients: list[socket.socket],
                 backends: list[socket.socket], server: subprocess.Popen):
        self.order, self.server = order, server
        self.clients, self.backends = clients, backends
        self.free = list(range(len(clients)))[::-1]
        self.held: deque[tuple[int, int, bool]] = deque()  # (due, id, waited)
        self.replies: list[tuple[int, int, int, int]] = []  # (due, seq, backend, id)
        self.role = {s.fileno(): ("client", j) for j, s in enumerate(clients)}
        self.role |= {s.fileno(): ("backend", j) for j, s in enumerate(backends)}
        self.buffers = {fd: b"" for fd in self.role}
        self.socks = clients + backends
        self.seq = self.next = self.answered = self.delayed = self.stamp = 0
        self.late: list[int] = []  # how late each send and reply left (ns)
        self.t0 = 0

    def run(self) -> None:
        self.t0 = now() + LEAD
        while self.answered < len(self.order):
            t = now()
            self._send(t)
            self._reply(t)
            due = self._due()
            wait = 0.05 if due is None else max(0, due - now() - SPIN) / 1e9
            readable, _, _ = select.select(self.socks, [], [], min(wait, 0.05))
            for sock in readable:
                self._read(sock)
            if self.server.poll() is not None:  # what it wrote before exiting, then judge
                for sock in select.select(self.socks, [], [], 0)[0]:
                    self._read(sock)
            if self.server.poll() is not None and self.answered < len(self.order):
                sys.exit(f"loadgen: the server exited ({self.server.returncode}) with "
                         f"{len(self.order) - self.answered} requests unanswered")

    def _due(self) -> int | None:
        times = [self.replies[0][0]] if self.replies else []
        if self.next < len(self.order) and (self.free or not self.held):
            times.append(self.t0 + self.order[self.next][0])
        return min(times) if times else None

    def _send(self, t: int) -> None:
        while self.next < len(self.order) and self.t0 + self.order[self.next][0] <= t:
            arrival, task = self.order[self.next]
            self.held.append((self.t0 + arrival, task, False))
            self.next += 1
        while self.held and self.free:
            due, task, waited = self.held.popleft()
            j = self.free.pop()
            sent = now()
            if waited:  # it waited for a free connection: stamped with its arrival (or
                self.delayed += 1  # the one before's stamp: they queue in order)
                sent = max(due, self.stamp)
            else:
                self.late.append(sent - due)
            self.stamp = sent
            self.clients[j].sendall(b"%d %d\n" % (task, sent))
        if self.held and not self.held[-1][2]:  # no connection free: they wait
            self.held = deque((due, task, True) for due, task, _ in self.held)

    def _reply(self, t: int) -> None:
        while self.replies and self.replies[0][0] <= t:
            due, _, j, task = heapq.heappop(self.replies)
            replied = now()
            self.late.append(replied - due)
            self.backends[j].sendall(b"%d %d\n" % (task, replied))

    def _read(self, sock: socket.socket) -> None:
        fd = sock.fileno()
        data = sock.recv(65536)
        if not data:  # the server is done (it may exit as the last response leaves)
            self.socks.remove(sock)
            return
        lines = (self.buffers[fd] + data).split(b"\n")
        self.buffers[fd] = lines.pop()
        role, j = self.role[fd]
        for line in lines:
            if role == "client":  # a response: the connection is free again
                self.answered += 1
                self.free.append(j)
            else:  # an io: answer after its duration
                task, duration, sent = map(int, line.split())
                self.seq += 1
                heapq.heappush(self.replies, (sent + duration, self.seq, j, task))


def connect(port: int, count: int) -> list[socket.socket]:
    out = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=SETUP_TIMEOUT)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        out.append(sock)
    return out


def shifted(line: str, t0: int) -> str:
    """A server's JSON line with its CLOCK_MONOTONIC times from ``t0``."""
    record = json.loads(line)
    for key in ("arrival", "start", "finish", "ready", "run"):
        if key in record and record[key] >= 0:
            record[key] -= t0
    return json.dumps(record)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server-cores", type=int, required=True)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("server", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    argv = args.server[1:] if args.server[:1] == ["--"] else args.server
    text = sys.stdin.read()
    order = arrivals(text)
    server_cpus, load_cpus, pinned = cpus(args.server_cores)
    os.sched_setaffinity(0, load_cpus)
    listener = socket.create_server(("127.0.0.1", 0), backlog=args.connections + 16)
    env = {**os.environ, "SIM_BACKEND": str(listener.getsockname()[1]),
           "SIM_CONNECTIONS": str(args.connections)}
    server = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env,
                              preexec_fn=lambda: os.sched_setaffinity(0, server_cpus))
    server.stdin.write(text.encode())
    server.stdin.close()
    port = int(_line(server.stdout, "port").split()[1])
    listener.settimeout(SETUP_TIMEOUT)
    backends = []
    for _ in range(args.connections):
        sock, _ = listener.accept()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        backends.append(sock)
    clients = connect(port, args.connections)
    _line(server.stdout, "ready")
    for sock in clients + backends:
        sock.settimeout(None)
    replay = Replay(order, clients, backends, server)
    replay.run()
    out = server.stdout.read().decode().splitlines()
    if server.wait():
        sys.exit(f"loadgen: the server exited {server.returncode}")
    late = sorted(replay.late) or [0]
    info = json.loads(out[0]) | {
        "server_cpus": sorted(server_cpus), "load_cpus": sorted(load_cpus), "pinned": pinned,
        "connections": args.connections, "held": replay.delayed,
        "late_p50": late[len(late) // 2], "late_p99": late[int(0.99 * (len(late) - 1))]}
    print(json.dumps(info))
    print("\n".join(shifted(line, replay.t0) for line in out[1:] if line.strip()))


if __name__ == "__main__":
    main()
