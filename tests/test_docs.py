"""The docs cannot drift from the code: links resolve, generated pages are current, and every
config key, CLI flag, output file and column the code has is named in its reference page."""

from __future__ import annotations

import json
import re
import subprocess
import tomllib
import typing
from pathlib import Path

import pandas as pd
import pytest
from pydantic import BaseModel

import sim.docgen as docgen
from sim import cli
from sim.config import Config
from sim.distributions import Distribution
from sim.folders import CONTENTS
from sim.machine import PROFILES
from sim.metrics import SUMMARY_COLUMNS
from sim.models import MODELS
from sim.models.base import SchedulerOptions
from sim.units import NS_PER
from sim.validate import __main__ as validate_main

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]


# --- links -----------------------------------------------------------------------------------

FENCE = re.compile(r"^```.*?^```", re.M | re.S)
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
EXTERNAL = ("http://", "https://", "mailto:")


def slugs(markdown: str) -> set[str]:
    """The anchors GitHub gives a page's headings: lower case, punctuation dropped, spaces
    to hyphens, a repeated heading numbered ``-1``, ``-2``, ..."""
    seen: dict[str, int] = {}
    found = set()
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*#*$", FENCE.sub("", markdown), re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return found


def broken_links(page: Path, root: Path = ROOT) -> list[str]:
    """The relative links of ``page`` that do not resolve to a file or folder inside
    ``root`` (or to a heading of a Markdown target, for ``#anchor``s)."""
    text = page.read_text(encoding="utf-8")
    broken = []
    for target in LINK.findall(FENCE.sub("", text)):
        if target.startswith(EXTERNAL):
            continue
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        if not resolved.is_relative_to(root.resolve()) or not resolved.exists():
            broken.append(f"{target}: no such file in the repository")
        elif anchor and resolved.suffix == ".md" and \
                anchor not in slugs(resolved.read_text(encoding="utf-8")):
            broken.append(f"{target}: no heading with that anchor")
    return broken


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page):
    assert broken_links(page) == [], f"{page.relative_to(ROOT)} has broken links"


def test_the_link_check_finds_a_broken_file_an_anchor_and_a_way_out(tmp_path):
    (tmp_path / "other.md").write_text("# A heading, with `code`\n\n## Twice\n## Twice\n")
    page = tmp_path / "page.md"
    page.write_text("[ok](other.md#a-heading-with-code) [ok](other.md#twice-1) [ok](#top)\n"
                    "# Top\n[gone](missing.md) [bad](other.md#nowhere) [out](../x.md)\n"
                    "[web](https://example.org/x)\n```\n[in code](ignored.md)\n```\n")
    (tmp_path.parent / "x.md").write_text("outside the root")
    assert broken_links(page, tmp_path) == [
        "missing.md: no such file in the repository",
        "other.md#nowhere: no heading with that anchor",
        "../x.md: no such file in the repository",
    ]


def test_every_reference_page_is_linked_from_the_readme():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    linked = {(ROOT / target.partition("#")[0]).resolve() for target in LINK.findall(readme)
              if not target.startswith(EXTERNAL)}
    missing = [p.name for p in sorted(DOCS.glob("*.md")) if p.resolve() not in linked]
    assert not missing, f"docs/ pages the README does not link to: {missing}"


def _repository_files() -> list[Path]:
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                            cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [ROOT / name for name in listed.splitlines() if (ROOT / name).is_file()]


def test_nothing_refers_to_files_outside_the_repository():
    """The repository is its own manual: no file points at a brief kept beside it."""
    outside = re.compile(r"\.\./" + "shared|" + r"\b" + "DES" + r"IGN\b")
    hits = []
    for file in _repository_files():
        try:
            text = file.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue  # binary files
        hits += [f"{file.relative_to(ROOT)}:{n}" for n, line in enumerate(text.splitlines(), 1)
                 if outside.search(line)]
    assert not hits, f"references to files outside the repository: {hits}"


# --- generated docs/models.md ----------------------------------------------------------------


def test_models_md_is_generated_from_the_current_option_fields():
    assert docgen.MODELS_MD.read_text(encoding="utf-8") == docgen.render(), (
        f"docs/models.md is out of date with the models' option fields: run {docgen.COMMAND}")


def test_docgen_check_fails_on_a_stale_page_and_names_the_command(tmp_path, monkeypatch,
                                                                   capsys):
    page = tmp_path / "models.md"
    page.write_text(docgen.render().replace("`10ms`", "`9ms`"))
    monkeypatch.setattr(docgen, "MODELS_MD", page)
    assert docgen.main(["--check"]) == 1
    assert docgen.COMMAND in capsys.readouterr().err
    assert docgen.main([]) == 0 and docgen.main(["--check"]) == 0


def test_models_md_gives_each_option_its_type_default_and_source():
    options = MODELS["go"].Options.model_fields
    assert docgen.type_name(options["time_slice"].annotation,
                            options["time_slice"].metadata) == "duration"
    assert docgen.type_name(options["gomaxprocs"].annotation, options["gomaxprocs"].metadata) \
        == "whole number 1 to 1,024 or null"
    tokio = MODELS["tokio"].Options.model_fields["global_queue_interval"]
    assert docgen.type_name(tokio.annotation, tokio.metadata) == \
        "whole number 1 to 1,000,000 or auto"
    assert docgen.field_comments(MODELS["go"].Options)["time_slice"] == \
        "proc.go: forcePreemptNS = 10 * 1000 * 1000"
    assert docgen.field_comments(MODELS["tokio"].Options)["event_interval"] == \
        "EVENT_INTERVAL: runtime/builder.rs Builder::new_multi_thread"  # a named default
    page = docgen.render()
    assert "| `time_slice` | duration | `10ms` |" in page
    assert "| `wake_order` | one of fifo, random | `fifo` |" in page
    for name, cls in MODELS.items():
        assert f"## `{name}`" in page
        for option in cls.Options.model_fields:
            assert option == "model" or f"| `{option}` |" in page


# --- hand-written pages name everything the code has --------------------------------------


def code_words(page: str) -> set[str]:
    """Every name written in code spans of a docs page (`` `a.b: c` `` gives a, b, c)."""
    text = (DOCS / page).read_text(encoding="utf-8")
    spans = FENCE.findall(text) + re.findall(r"`([^`]+)`", FENCE.sub("", text))
    return {word for span in spans for word in re.findall(r"[A-Za-z_][\w.-]*|--[\w-]+", span)
            for word in (word, *word.split("."))}


def config_keys() -> set[str]:
    """Every key and keyword of the config schema outside the models' options: fields of
    the config's pydantic models, and the words of its literals (``yield``, ``spawned``)."""
    keys: set[str] = set()
    seen: set[type] = set()
    stack: list[typing.Any] = [Config]
    while stack:
        kind = stack.pop()
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            if kind in seen or issubclass(kind, SchedulerOptions):
                continue
            seen.add(kind)
            for name, field in kind.model_fields.items():
                keys.add(name)
                stack.append(field.annotation)
        elif typing.get_origin(kind) is typing.Literal:
            keys.update(str(word) for word in typing.get_args(kind))
        else:
            stack.extend(typing.get_args(kind))
    return keys


def test_config_md_names_every_key_phase_arrival_distribution_unit_and_model():
    expected = config_keys() | set(NS_PER) | set(PROFILES) | set(MODELS)
    expected |= {cls.__name__.lower() for cls in Distribution.__subclasses__()
                 if cls.__module__ == Distribution.__module__}  # (not a test's own law)
    assert {"cpu", "repeat", "spawned", "yield", "poisson", "think", "timer_lateness",
            "grid", "pareto", "drain_limit"} <= expected  # the walk reaches every level
    missing = sorted(expected - code_words("config.md"))
    assert not missing, f"config keys the code has and docs/config.md does not name: {missing}"


def flags(capsys) -> dict[str, set[str]]:
    """The flags of each command, from its own --help."""
    found = {}
    for name, parse in (("sim", cli.parser().parse_args), ("validate", validate_main.parse)):
        capsys.readouterr()
        with pytest.raises(SystemExit):
            parse(["--help"])
        found[name] = set(re.findall(r"(?<![\w-])--[a-z][\w-]*", capsys.readouterr().out))
    return found


def test_cli_md_names_every_flag_and_no_flag_that_is_gone(capsys):
    found = flags(capsys)
    assert {"--trace", "--jobs"} <= found["sim"] and {"--repeat", "--go"} <= found["validate"]
    words = code_words("cli.md")
    missing = sorted((found["sim"] | found["validate"]) - words)
    assert not missing, f"flags docs/cli.md does not describe: {missing}"
    documented = {w for w in words if w.startswith("--")}
    gone = sorted(documented - found["sim"] - found["validate"] - {"--check"})
    assert not gone, f"docs/cli.md describes flags no command has: {gone}"


SMALL = """\
name: docs
horizon: 40ms
workload:
  api:
    arrival: {poisson: 300/s}
    phases: [{cpu: exp(1ms)}, {io: 1ms}, {spawn: child}]
  child:
    arrival: spawned
    phases: [{cpu: 0.5ms}]
schedulers:
  loop: {model: asyncio}
  threads: {model: gil_threads}
"""


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """A traced run's folder and a sweep's folder, as the command writes them."""
    base = tmp_path_factory.mktemp("outputs")
    config = base / "docs.yaml"
    config.write_text(SMALL)
    run, sweep = base / "run", base / "sweep"
    assert cli.main([str(config), "--out", str(run), "--trace", "--quiet", "--no-plots",
                     "--baseline", "loop"]) == 0
    assert cli.main([str(config), "--out", str(sweep), "--quiet", "--no-plots", "--jobs", "1",
                     "sweep={grid: {horizon: [30ms, 40ms]}, replications: 2}"]) == 0
    return run, sweep


def test_outputs_md_names_every_file_a_run_and_a_sweep_write(written):
    words = code_words("outputs.md")
    for folder in written:
        names = {re.sub(r"^[0-9a-f]{32}", "<key>", p.name) for p in folder.rglob("*")}
        missing = sorted(n for n in names if n not in words and f"runs/{n}" not in
                         (DOCS / "outputs.md").read_text(encoding="utf-8"))
        assert not missing, f"files in {folder.name}/ that docs/outputs.md does not name: {missing}"
    charts = set(re.findall(r'"(\w+\.png)"', (ROOT / "sim" / "plots.py").read_text()))
    assert "timeline.png" in charts and not charts - words
    allowed = set().union(*CONTENTS.values())  # what a results folder may hold
    assert {"aggregate.csv", "runs"} <= allowed and not allowed - words


def test_outputs_md_names_every_column_of_every_table(written):
    run, sweep = written
    words = code_words("outputs.md")
    tables = {"tasks.parquet": pd.read_parquet(run / "tasks.parquet").columns,
              "wakeups.parquet": pd.read_parquet(run / "wakeups.parquet").columns,
              "trace.parquet": pd.read_parquet(run / "trace.parquet").columns,
              "comparison.csv": pd.read_csv(run / "comparison.csv").columns,
              "sweep tasks.parquet": pd.read_parquet(sweep / "tasks.parquet").columns}
    for name, columns in tables.items():
        unnamed = sorted(set(columns) - words - {"horizon", "horizon_ms"})  # (swept keys)
        assert not unnamed, f"{name} columns that docs/outputs.md does not name: {unnamed}"
    named = {word for page in ("outputs.md", "metrics.md") for word in code_words(page)
             if word.endswith("_ns") and not word.startswith("_")}
    stale = named - set().union(*tables.values())
    assert not stale, f"docs name table columns the code no longer writes: {sorted(stale)}"
    states = set(pd.read_parquet(run / "trace.parquet")["state"])
    assert {"running", "gil_wait"} <= states and not states - words
    manifest = json.loads((sweep / "manifest.json").read_text())
    assert not set(manifest) - words, "manifest keys missing from docs/outputs.md"
    aggregate = pd.read_csv(sweep / "aggregate.csv").columns
    bases = {re.sub(r"_(mean|ci_low|ci_high)$", "", c) for c in aggregate}
    assert not bases - set(SUMMARY_COLUMNS) - words - {"horizon", "horizon_ms"}


def test_metrics_md_defines_every_summary_column(written):
    _, sweep = written
    columns = list(pd.read_csv(sweep / "summary.csv").columns)
    assert columns[:len(SUMMARY_COLUMNS)] == SUMMARY_COLUMNS
    metrics = SUMMARY_COLUMNS[SUMMARY_COLUMNS.index("class") + 1:]
    missing = sorted(set(metrics) - code_words("metrics.md"))
    assert not missing, f"summary columns docs/metrics.md does not define: {missing}"
    identity = SUMMARY_COLUMNS[:SUMMARY_COLUMNS.index("class") + 1]
    assert not set(identity) - code_words("outputs.md")


# --- packaging ---------------------------------------------------------------------------


def test_extras_install_jupyter_and_what_ci_needs_to_execute_the_notebooks():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    names = {key: {re.split(r"[<>=\[ ]", req)[0] for req in reqs} for key, reqs in extras.items()}
    assert {"jupyter", "ipykernel"} <= names["notebooks"]
    assert {"nbmake", "ipykernel", "pytest"} <= names["test"]
