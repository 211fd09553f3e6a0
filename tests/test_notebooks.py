"""The notebooks in notebooks/ use only the public API and are committed with their outputs.

CI executes them (pytest's nbmake plugin); these tests read them as committed: what a reader
browsing the repository sees, and what a reader copying a cell into their own code relies on.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

import sim
import sim.plots

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))

#: Modules a notebook may import from the package: its top level and the charts.
PUBLIC_MODULES = {"sim", "sim.plots"}
PUBLIC_NAMES = {"sim": set(sim.__all__),
                "sim.plots": {n for n in dir(sim.plots) if not n.startswith("_")}}
#: A path of this machine in an output would show where the notebook was last run.
LOCAL_PATH = re.compile(r"(/work/|/tmp/|/home/|/root/|/Users/)")
#: Calls that draw: a code cell making one must carry the chart as an image output.
DRAWS = re.compile(r"\b(plots\.\w+|plt\.subplots|plt\.figure)\(")


def code_cells(notebook: Path) -> list[dict]:
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    return [c for c in cells if c["cell_type"] == "code"]


def source(cell: dict) -> str:
    text = cell["source"]
    return text if isinstance(text, str) else "".join(text)


def private_uses(code: str) -> list[str]:
    """What ``code`` reaches beyond the public API: imports of other modules of ``sim``,
    names that ``sim`` or ``sim.plots`` do not export, private attributes (``_x``)."""
    tree = ast.parse(code)
    aliases: dict[str, str] = {}  # local name -> the public module it stands for
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] != "sim":
                    continue
                if alias.name not in PUBLIC_MODULES:
                    found.append(f"import {alias.name}")
                elif alias.asname:
                    aliases[alias.asname] = alias.name
                else:
                    aliases["sim"] = "sim"
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "sim":
            if node.level or node.module not in PUBLIC_MODULES:
                found.append(f"from {node.module} import ...")
                continue
            for alias in node.names:
                if node.module == "sim" and alias.name == "plots":
                    aliases[alias.asname or "plots"] = "sim.plots"
                elif alias.name not in PUBLIC_NAMES[node.module]:
                    found.append(f"from {node.module} import {alias.name}")
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute):
            continue
        if node.attr.startswith("_") and not (node.attr.startswith("__")
                                              and node.attr.endswith("__")):
            found.append(f"private attribute .{node.attr}")
        module = dotted(node.value, aliases)
        if (module in PUBLIC_NAMES and node.attr not in PUBLIC_NAMES[module]
                and f"{module}.{node.attr}" not in PUBLIC_MODULES):
            found.append(f"{module}.{node.attr}")
    return found


def dotted(node: ast.expr, aliases: dict[str, str]) -> str | None:
    """``sim.plots`` for ``sim.plots`` or for a local alias of it; None for anything else."""
    if isinstance(node, ast.Name):
        return aliases.get(node.id)
    if isinstance(node, ast.Attribute) and dotted(node.value, aliases) == "sim":
        return f"sim.{node.attr}"
    return None


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 4


@pytest.mark.parametrize("code, expected", [
    ("from sim.config import validate", ["from sim.config import ..."]),
    ("import sim.models", ["import sim.models"]),
    ("import sim\nsim.config.validate({})", ["sim.config"]),
    ("import sim\nsim.runner.run(cfg)", ["sim.runner"]),
    ("from sim import MODELS", ["from sim import MODELS"]),
    ("from sim import plots\nplots._axes(None)", ["private attribute ._axes",
                                                  "sim.plots._axes"]),
    ("import sim.plots as p\np._figure()", ["private attribute ._figure", "sim.plots._figure"]),
    ("cfg.raw._data", ["private attribute ._data"]),
    ("import sim\nfrom sim import plots\nsim.run(sim.load_config('c.yaml'))\n"
     "plots.latency_cdf(t, cls='api')\nsim.plots.sweep_curves(s, x='load')\n"
     "sim.ConfigError\nsim.__version__", []),
])
def test_the_private_api_check_finds_what_it_should(code, expected):
    assert private_uses(code) == expected


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_uses_only_the_public_api(notebook):
    for cell in code_cells(notebook):
        uses = private_uses(source(cell))
        assert not uses, f"{notebook.name}: {uses} in\n{source(cell)}"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_committed_executed_with_its_charts(notebook):
    cells = code_cells(notebook)
    assert [c["execution_count"] for c in cells] == list(range(1, len(cells) + 1)), \
        f"{notebook.name}: not executed top to bottom in one run"
    charts = 0
    for cell in cells:
        kinds = [o["output_type"] for o in cell["outputs"]]
        assert "error" not in kinds, f"{notebook.name}: an error output in\n{source(cell)}"
        images = [o for o in cell["outputs"] if "image/png" in o.get("data", {})]
        if DRAWS.search(source(cell)):
            assert images, f"{notebook.name}: a chart cell without its image:\n{source(cell)}"
            charts += 1
    assert charts >= 2, f"{notebook.name}: fewer than two charts"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_outputs_hold_no_local_path_and_no_scaffolding(notebook):
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    texts = [source(c) for c in cells]
    for cell in code_cells(notebook):
        for output in cell["outputs"]:  # text, not the images' base64
            texts += [output.get("text", ""), output.get("evalue", "")]
            texts += [v for k, v in output.get("data", {}).items() if k.startswith("text/")]
    text = "\n".join(t if isinstance(t, str) else "".join(t) for t in texts)
    assert not LOCAL_PATH.search(text), f"{notebook.name}: {LOCAL_PATH.search(text)[0]!r}"
    for phrase in ("This build of sim", "registered models", "skip their work"):
        assert phrase not in text, f"{notebook.name}: scaffolding text {phrase!r}"
