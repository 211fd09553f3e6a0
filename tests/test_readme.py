"""Every ``python -m sim`` command the README shows runs as written from a fresh clone.

The README's shell blocks are read as a reader would copy them; each ``python -m sim ...``
command (alone on a line or after ``&&``) runs through the command's entry point in a
temporary folder holding a copy of ``configs/``, where it writes its ``results/``, in the
README's order (a later command may rely on an earlier one's folder, as a reader's would).
"""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import pytest

from sim import cli

ROOT = Path(__file__).resolve().parent.parent
SHELL_BLOCK = re.compile(r"^```(?:sh|bash)\n(.*?)^```", re.M | re.S)
ENTRY = ["python", "-m", "sim"]


def sim_commands(markdown: str) -> list[list[str]]:
    """The argument lists of the ``python -m sim`` commands in ``markdown``'s sh/bash
    blocks (comments dropped; ``python -m sim.validate`` and other modules are not it)."""
    commands = []
    for block in SHELL_BLOCK.findall(markdown):
        for line in block.splitlines():
            for part in line.split("&&"):
                words = shlex.split(part, comments=True)
                if words[:3] == ENTRY:
                    commands.append(words[3:])
    return commands


README_COMMANDS = sim_commands((ROOT / "README.md").read_text(encoding="utf-8"))


def test_the_parser_reads_commands_as_a_shell_would():
    text = ("```sh\npip install -e . && python -m sim a.yaml   # run it\n"
            "python -m sim.validate --out x\n```\n```python\npython -m sim no.yaml\n```\n"
            "```bash\npython -m sim b.yaml 'sweep={grid: {load: [0.1, 0.2]}}' --out r/b\n```\n")
    assert sim_commands(text) == [["a.yaml"],
                                  ["b.yaml", "sweep={grid: {load: [0.1, 0.2]}}", "--out", "r/b"]]


def test_the_readme_walks_through_check_run_class_baseline_sweep_and_trace():
    flags = {word for command in README_COMMANDS for word in command}
    assert {"--check", "--class", "--baseline", "--trace"} <= flags
    assert any(word.startswith("sweep=") for word in flags)
    assert sum("configs/web_service.yaml" in command for command in README_COMMANDS) >= 5


def test_every_readme_command_runs_as_written(tmp_path, monkeypatch, capsys):
    shutil.copytree(ROOT / "configs", tmp_path / "configs")
    monkeypatch.chdir(tmp_path)
    for command in README_COMMANDS:
        status = cli.main(list(command))
        out = capsys.readouterr()
        assert status == 0, f"python -m sim {shlex.join(command)} exited {status}: {out.err}"
        if "--check" not in command:
            folder = re.search(r"^results in (\S+?)/?(?: \(|$)", out.out, re.M)
            assert folder, f"python -m sim {shlex.join(command)} named no results folder"
            written = (tmp_path / folder.group(1)).resolve()
            assert written.is_relative_to(tmp_path.resolve())
            assert (written / "summary.csv").is_file()
            if "--trace" in command:
                assert (written / "trace.parquet").is_file()
                assert (written / "plots" / "timeline.png").is_file()


@pytest.mark.parametrize("image", re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)",
                                             (ROOT / "README.md").read_text(encoding="utf-8")))
def test_the_readme_chart_is_small_enough_to_browse(image):
    assert (ROOT / image).stat().st_size < 150_000
