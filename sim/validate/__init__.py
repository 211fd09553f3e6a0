"""``python -m sim.validate``: the same workload on this machine's real runtimes and on the
simulator, compared figure by figure (wake delay, latency percentiles, throughput).

``scenarios`` defines what is run, ``runners`` runs it for real (asyncio and threads in
``realpy.py``, Go in ``go/main.go``, Tokio in ``tokio/``; a served scenario's open load
and stub backend in ``loadgen.py``), ``calibrate`` measures this
machine into a machine profile (with ``probe.py``), ``harness`` runs both sides
replicated, computes the figures with ``sim.metrics`` and judges them (``judge``).
docs/validation.md has the method, the measured table and what it taught.
"""

from .harness import COLUMNS, judge, real_rows, run_validation
from .runners import Skip, Toolchains
from .scenarios import SCENARIOS, Scenario

__all__ = ["COLUMNS", "SCENARIOS", "Scenario", "Skip", "Toolchains", "judge", "real_rows",
           "run_validation"]
