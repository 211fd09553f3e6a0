"""The engine's run loop on its own: a probe model logs what it is handed and when."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import MS, US, config, one, run_scheduler

from sim.distributions import Const, Exp
from sim.machine import Delays
from sim.models.base import Engine, Model
from sim.recorder import Recorder
from sim.workload import generate


class Probe(Model):
    """Logs (what, time); the first arrival asks for a callback 5 ms later and a SimPy
    timeout 1 ms later; the callback finishes every task unless ``keep`` is set."""

    name = "probe"
    keep = False

    def __init__(self, engine, options):
        super().__init__(engine, options)
        self.log: list[tuple[str, int]] = []
        self.tasks: list[int] = []

    def arrive(self, task):
        now = self.engine.now
        self.log.append(("arrive", now))
        self.tasks.append(task)
        if len(self.tasks) == 1:
            self.engine.after(5 * MS, self.callback, "value")
            self.engine.env.timeout(MS).callbacks.append(
                lambda event: self.log.append(("simpy", self.engine.now)))

    def callback(self, value):
        self.log.append((value, self.engine.now))
        if not self.keep:
            for task in self.tasks:
                self.engine.finish(task)


def run_engine(cfg, model_cls) -> Engine:
    """Run ``model_cls`` (in place of scheduler ``x``'s model) on ``cfg``'s task set."""
    workload = generate(cfg)
    rec = Recorder(workload.task_class.tolist(), len(workload.classes), 0, workload.horizon)
    engine = Engine(workload, rec, cfg, model_cls, cfg.schedulers["x"],
                    np.random.default_rng(0))
    engine.run()
    return engine


def run_probe(keep: bool = False) -> tuple[Probe, Engine]:
    cfg = config({"a": one([{"cpu": "1ms"}]), "b": one([{"cpu": "1ms"}], at="5ms")},
                 {"x": {"model": "fcfs"}}, horizon="10ms", drain_limit="20ms")
    probe_cls = type("KeepProbe", (Probe,), {"keep": True}) if keep else Probe
    engine = run_engine(cfg, probe_cls)
    return engine.model, engine


def test_arrivals_come_before_the_events_of_their_instant():
    """b arrives at 5 ms, the instant the callback was asked for: the arrival comes first;
    the callback gets its value; a SimPy event in the queue runs its callbacks; the run
    stops once every task is done."""
    probe, engine = run_probe()
    assert probe.log == [("arrive", 0), ("simpy", MS), ("arrive", 5 * MS), ("value", 5 * MS)]
    assert engine.stopped and engine.rec.finish == [5 * MS, 5 * MS]


def test_the_drain_limit_stops_a_run_that_never_ends():
    probe, engine = run_probe(keep=True)
    assert probe.log[-1] == ("value", 5 * MS)
    assert not engine.stopped and engine.now == 30 * MS  # horizon + drain_limit
    assert engine.rec.finish == [-1, -1]


class Puller(Model):
    """Pulls open arrivals itself, at 6 ms and at 9 ms, and finishes them at 9 ms."""

    name = "puller"
    pulls_arrivals = True

    def __init__(self, engine, options):
        super().__init__(engine, options)
        self.taken: list[list[int]] = []
        engine.after(6 * MS, self.take)
        engine.after(9 * MS, self.take)

    def arrive(self, task):
        raise AssertionError("a pulling model is never handed an arrival")

    def take(self, _value):
        self.taken.append(self.engine.take_arrivals(self.engine.now))
        if len(self.taken) == 2:
            for task in self.taken[0] + self.taken[1]:
                self.engine.finish(task)


def test_a_pulling_model_takes_the_arrivals_due_in_order_recorded_at_their_own_times():
    cfg = config({"a": one([{"cpu": "1ms"}], at="5ms"), "b": one([{"cpu": "1ms"}]),
                  "c": one([{"cpu": "1ms"}], at="5ms"), "d": one([{"cpu": "1ms"}], at="8ms")},
                 {"x": {"model": "fcfs"}}, horizon="10ms")
    engine = run_engine(cfg, Puller)
    rec, workload = engine.rec, engine.workload
    first, second = engine.model.taken
    assert [rec.arrival[t] for t in first] == [0, 5 * MS, 5 * MS]  # b, then a and c
    assert workload.classes[workload.task_class[first[0]]] == "b"
    assert [rec.arrival[t] for t in second] == [8 * MS]
    assert all(rec.ready_since[t] == rec.woken[t] == rec.arrival[t] for t in first + second)
    assert engine.stopped and engine.now == 9 * MS and engine.outstanding == 0


class Timer(Model):
    """Exercises the engine's time API from its first arrival (at 0): ``at`` 3 ms and 2 ms
    (queued in time order, ties in the order asked), a cancelled call at 1 ms, a place
    reserved at 0 and used at 2 ms (before the 2 ms call queued after it was reserved);
    after the 2 ms call, running ahead to 2.5 ms (3 ms is the next due)."""

    name = "timer"

    def __init__(self, engine, options):
        super().__init__(engine, options)
        self.log: list[tuple[str, int]] = []

    def arrive(self, task):
        engine = self.engine
        self.task = task
        place = engine.reserve()
        engine.at(3 * MS, self.note, "3ms")
        engine.at(2 * MS, self.note, "2ms")
        engine.cancel(engine.after(MS, self.note, "cancelled"))
        engine.at(2 * MS, self.note, "reserved", order=place)

    def note(self, what):
        self.log.append((what, self.engine.now))
        if what == "2ms":
            assert self.engine.next_due() == 3 * MS
            self.engine.run_ahead(2 * MS + MS // 2)
            self.log.append(("ahead", self.engine.now))
        if what == "3ms":
            self.engine.finish(self.task)


def test_the_engine_owns_time():
    cfg = config({"a": one([{"cpu": "1ms"}])}, {"x": {"model": "fcfs"}}, horizon="10ms")
    engine = run_engine(cfg, Timer)
    assert engine.model.log == [("reserved", 2 * MS), ("2ms", 2 * MS),
                                ("ahead", 2 * MS + MS // 2), ("3ms", 3 * MS)]
    assert engine.stopped and engine.now == engine.env.now == 3 * MS


def test_machine_delays_come_in_blocks_and_ideal_draws_nothing():
    """A law of 0 draws nothing (so ideal runs keep the model's stream as it was); any other
    law's draws are the distribution's, taken a block at a time, in order, whatever the
    length asked for."""
    zero = Delays(Const(0), np.random.default_rng(5))
    assert [zero(7) for _ in range(3)] == [0, 0, 0] and zero.largest == 0
    rng = np.random.default_rng(5)
    law = Exp(10_000)
    delays = Delays(law, rng)
    drawn = [delays(i) for i in range(Delays.BLOCK + 3)]
    expected = law.sample(np.random.default_rng(5), Delays.BLOCK).tolist()
    assert drawn[:Delays.BLOCK] == expected
    assert delays.largest >= max(drawn) and len(set(drawn)) > Delays.BLOCK // 2


def test_a_law_per_length_picks_the_longest_length_not_above_and_keeps_one_order():
    """{0: 1 us, 1 ms: 2 us, 5 ms: 3 us}: a length below 1 ms takes the first law, 1 ms up
    to 5 ms the second, from 5 ms the third. With random laws, draw i is the i-th of the
    law its length picks, and ``take_each(k)`` consumes what k calls would, across
    block boundaries."""
    steps = Delays({0: Const(1000), MS: Const(2000), 5 * MS: Const(3000)},
                   np.random.default_rng(1))
    assert [steps(x) for x in (0, 999_999, MS, 4 * MS, 5 * MS, 60 * MS)] == \
        [1000, 1000, 2000, 2000, 3000, 3000]
    laws = {0: Exp(10_000), 2 * MS: Exp(90_000)}
    one_by_one, mixed = (Delays(laws, np.random.default_rng(9)) for _ in range(2))
    n = 2 * Delays.BLOCK + 10
    lengths = [(i * 7919) % (4 * MS) for i in range(n)]
    expected = [one_by_one(x) for x in lengths]
    first = [mixed(lengths[0])]
    rows = mixed.take_each(Delays.BLOCK + 5)
    taken = [rows[mixed.law_of(x)][j] for j, x in enumerate(lengths[1:Delays.BLOCK + 6])]
    rest = [mixed(x) for x in lengths[Delays.BLOCK + 6:]]
    assert first + taken + rest == expected and mixed.take_each(0) == [[], []]
    assert Delays(Const(0), np.random.default_rng(9)).take_each(3) == [[0, 0, 0]]


@pytest.mark.parametrize("model", ["asyncio", "gil_threads", "go", "tokio", "fcfs",
                                   "processor_sharing"])
def test_every_model_wakes_a_blocked_thread_by_the_law_for_its_time_parked(model):
    """wake_latency {0: 10 us, 2 ms: 60 us}: a blocking call of 1 ms returns and its thread
    runs 10 us later, one of 3 ms 60 us later (parked as long as the call); 1 ms of cpu
    after it."""
    machine = {"profile": "ideal", "wake_latency": {"0": "10us", "2ms": "60us"}}
    finished = []
    for block in ("1ms", "3ms"):
        cfg = config({"a": one([{"block": block}, {"cpu": "1ms"}])}, {"s": {"model": model}},
                     machine=machine)
        finished += run_scheduler(cfg, "s")[0]["finish_ns"].tolist()
    assert finished == [2 * MS + 10 * US, 4 * MS + 60 * US]


class Last(Model):
    """``last_at`` 1 ms, asked first; then a normal call at 1 ms, which queues another for
    the same instant."""

    name = "last"

    def __init__(self, engine, options):
        super().__init__(engine, options)
        self.log: list[tuple[str, int]] = []

    def arrive(self, task):
        self.task = task
        self.engine.last_at(MS, self.note, "last")
        self.engine.after(MS, self.note, "normal")

    def note(self, what):
        self.log.append((what, self.engine.now))
        if what == "normal":
            self.engine.after(0, self.note, "chained")
        if what == "last":
            self.engine.finish(self.task)


def test_a_last_call_comes_after_everything_else_at_its_instant():
    """Even a call queued later, at the same instant, by another call of that instant."""
    cfg = config({"a": one([{"cpu": "1ms"}])}, {"x": {"model": "fcfs"}}, horizon="10ms")
    engine = run_engine(cfg, Last)
    assert engine.model.log == [("normal", MS), ("chained", MS), ("last", MS)]
