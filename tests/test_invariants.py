"""Properties every model keeps on random small workloads (hypothesis, derandomized)."""

import numpy as np
import pandas as pd
import pytest
from helpers import check_invariants, config, run_scheduler
from hypothesis import given
from hypothesis import strategies as st

from sim.metrics import jain
from sim.models import MODELS
from sim.runner import run

durations = st.sampled_from(["0", "50us", "1ms", "3ms", "exp(1ms)", "uniform(0, 4ms)"])
timed = st.sampled_from(["cpu", "io", "sleep", "block", "native"])


@st.composite
def phase_lists(draw, spawn_target=None, depth=0):
    items = draw(st.lists(
        st.one_of(
            st.builds(lambda k, d: {k: d}, timed, durations),
            st.just("yield"),
            *([st.just({"spawn": spawn_target})] if spawn_target else []),
            *([st.builds(lambda n, p: {"repeat": n, "phases": p}, st.integers(1, 3),
                         phase_lists(depth=depth + 1))] if depth == 0 else []),
        ), min_size=1, max_size=5))
    return items


@st.composite
def workloads(draw):
    arrival = draw(st.sampled_from([
        {"poisson": "300/s"}, {"batch": {"count": 5, "at": "10ms"}}, {"periodic": "7ms"},
        {"closed": {"clients": 3, "think": "exp(2ms)"}}]))
    work = {"main": {"arrival": arrival, "phases": draw(phase_lists(spawn_target="kid"))},
            "kid": {"arrival": "spawned", "phases": draw(phase_lists())}}
    if not any("spawn" in str(p) for p in work["main"]["phases"]):
        work["main"]["phases"].append({"spawn": "kid"})
    return work


def scheduler_options(model: str, cores: int) -> dict:
    return {"model": model}


@pytest.mark.parametrize("model", list(MODELS))
@given(work=workloads(), cores=st.integers(1, 3), seed=st.integers(0, 1000))
def test_invariants_hold_for_every_model(model, work, cores, seed):
    cfg = config(work, {"s": scheduler_options(model, cores)}, machine={"cores": cores},
                 horizon="150ms", seed=seed)
    tasks, wakeups, rec, workload = run_scheduler(cfg, "s")
    check_invariants(tasks, rec, workload, cores)
    assert (wakeups["delay"] >= 0).all()
    x = 1 / tasks["slowdown"].dropna().to_numpy()
    if len(x):
        assert 1 / len(x) - 1e-12 <= jain(x) <= 1 + 1e-12


@given(work=workloads(), seed=st.integers(0, 1000))
def test_adding_a_scheduler_changes_no_other_schedulers_results(work, seed):
    alone = config(work, {"a": {"model": "asyncio"}}, horizon="100ms", seed=seed)
    names = {"x": {"model": "round_robin", "quantum": "1ms"}, "a": {"model": "asyncio"}}
    names.update({m: {"model": m} for m in MODELS if m != "asyncio"})
    together = config(work, names, horizon="100ms", seed=seed)
    one = run(alone, progress=False).summary
    both = run(together, progress=False).summary
    pd.testing.assert_frame_equal(one, both[both["scheduler"] == "a"].reset_index(drop=True))


def test_jain_bounds():
    assert jain(np.ones(5)) == 1
    assert jain(np.array([1.0, 0, 0, 0])) == pytest.approx(0.25)
