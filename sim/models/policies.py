"""Run-queue policies: which thread waiting for a core runs next, and whether a newcomer
takes a running thread's core.

A policy has ``push(thread)``, ``take()`` (the thread that runs next), a length, and, if
``preempts``, ``victim(thread, holders, now)``: the holder whose core a thread that starts
waiting takes at once (or None), and ``outranks(thread)``: whether the best waiting thread
takes the core of ``thread``, a holder that starts a new burst. ``Cores``
(``sim/models/base.py``) does the rest: segments, slices, busy time, preemption. A new
discipline is a policy class here and a few lines of model (``sim/models/reference.py``).
"""

from __future__ import annotations

from abc import ABCMeta, abstractmethod
from collections import deque
from heapq import heappop, heappush
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .base import Thread


class RunQueue(deque):
    """The threads waiting for a core, first in first out: Linux's run queue as the models
    see it (and the ``fcfs`` and ``round_robin`` disciplines). FIFO never takes a core: a
    waiting thread gets one at a slice boundary or a release. (The deque's own C methods,
    so that the OS's queue costs nothing over a plain deque.)"""

    __slots__ = ()
    preempts = False
    push = deque.append
    take = deque.popleft


class RankedQueue(list, metaclass=ABCMeta):
    """A preemptive policy's queue: a heap of (rank, order, thread), the best (lowest) rank
    first, ties in the order they came; ``rank(thread)`` is the subclass's. A thread whose
    rank is worse than the best waiting one's gives up its core as it starts a burst."""

    __slots__ = ("count",)
    preempts = True

    def __init__(self):
        super().__init__()
        self.count = 0

    @abstractmethod
    def rank(self, thread: Thread) -> int:
        """The thread's rank in the queue: lower runs first."""

    def push(self, thread: Thread) -> None:
        self.count += 1
        heappush(self, (self.rank(thread), self.count, thread))

    def take(self) -> Thread:
        return heappop(self)[2]

    def outranks(self, thread: Thread) -> bool:
        return bool(self) and self[0][0] < self.rank(thread)


class ShortestRemainingQueue(RankedQueue):
    """Shortest remaining processing time first (SRPT), preemptive: the waiting thread with
    the least work left runs next (ties in arrival order), and a thread that starts waiting
    with less work left than a holder's takes the core of the holder with the most left. A
    thread that yields waits with no work left: it runs first at the next release, but
    takes no core."""

    __slots__ = ()

    def rank(self, thread: Thread) -> int:
        return thread.remaining

    def victim(self, thread: Thread, holders, now: int) -> Thread | None:
        if not thread.remaining:
            return None
        left = {h: h.remaining - (now - h.seg_start if h.pending else 0) for h in holders}
        most = max(left, key=left.get, default=None)
        return most if most is not None and thread.remaining < left[most] else None


class ClassPriorityQueue(RankedQueue):
    """Strict priority by task class, preemptive: the waiting thread of the best-ranked
    class runs next (FIFO within a class), and a thread that starts waiting takes the core
    of a computing holder of a worse-ranked class (the worst, the latest to start among
    equals). A thread that yields waits its turn without taking a core. ``ranks[task]`` is
    the rank of the task's class (0 best).
    """

    __slots__ = ("ranks",)

    def __init__(self, ranks: list[int]):
        super().__init__()
        self.ranks = ranks

    def rank(self, thread: Thread) -> int:
        return self.ranks[thread.task]

    def victim(self, thread: Thread, holders, now: int) -> Thread | None:
        if not thread.remaining:  # a yielder waits its turn
            return None
        ranks = self.ranks
        computing = [h for h in holders if h.pending]  # (not one between two phases)
        worst = max(computing, key=lambda h: (ranks[h.task], h.slice_start), default=None)
        return worst if worst is not None and ranks[worst.task] > ranks[thread.task] else None
