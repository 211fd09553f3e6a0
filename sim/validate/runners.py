"""Run a workload on a real runtime of this machine: asyncio, CPython threads, Go, Tokio.

Each runtime is a small program the project ships (``realpy.py``, ``go/main.go``,
``tokio/``), run as a child process: the workload goes in on stdin as text (one task per
line: ``id arrival kind arg kind arg ...``), per-task and per-wake-up timings come out as
JSON lines. In a served scenario the program is a loopback server and ``loadgen.py`` runs
it: loadgen sends the requests at their arrival times and is the backend for ``io``.
Go and Tokio programs are built into a build folder on first use; a toolchain or crate
directory that is missing raises ``Skip`` with the reason (never an error).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..phases import BLOCK, CPU, IO, KIND_NAMES, NATIVE, SLEEP, SPAWN, YIELD
from ..workload import Workload

HERE = Path(__file__).parent
KIND_WORDS = {CPU: "cpu", SLEEP: "sleep", YIELD: "yield", SPAWN: "spawn", NATIVE: "native",
              BLOCK: "block"}  # what a program run alone does
SERVED_WORDS = {CPU: "cpu", IO: "io", SLEEP: "sleep", YIELD: "yield", NATIVE: "native",
                BLOCK: "block"}  # what a server does with a request
CONNECTIONS = 64  # a served scenario's connections (one request in flight on each)
CARGO_CONFIG = """\
[source.crates-io]
replace-with = "debian"
[source.debian]
directory = "{crates}"
[net]
offline = true
"""


class Skip(Exception):  # noqa: N818 - a reason to skip, not a failure
    """This runtime cannot run here; the message says why and how to get it."""


@dataclass
class Toolchains:
    """Where the runtimes come from; tests point ``go`` at a missing path to see a skip.
    ``nice``: the real runs' niceness (a shared machine's other load disturbs them less)."""

    build_dir: Path
    python: str = sys.executable
    go: str = "go"
    cargo: str = "cargo"
    crates: str = "/usr/share/cargo/registry"
    nice: int = 0
    built: dict[str, tuple[list[str], str]] = field(default_factory=dict)


def encode(workload: Workload, served: bool = False) -> str:
    """The workload as the real programs read it: one task per line, ``id arrival kind arg
    kind arg ...`` (arrival in ns, -1 for a task a spawn phase creates; a phase's argument
    is its duration in ns, or for ``spawn`` the child's id).

    A program run alone (``served`` false) starts every root task itself, so roots must
    arrive at 0, and it has no backend for ``io``. A server (``served``) is sent its
    requests by ``loadgen.py`` at their arrival times, so any arrival >= 0 works, ``io`` is
    a round trip to loadgen's stub backend, and spawned tasks are refused (every task is a
    request on a connection). Closed clients are refused in both."""
    if len(workload.client_first):
        raise ValueError("the real programs run no closed clients (arrival: closed)")
    kinds = SERVED_WORDS if served else KIND_WORDS
    lines = []
    for task in range(workload.n):
        arrival = int(workload.arrival[task])
        if served and arrival < 0:
            raise ValueError(f"task {task} is spawned: a served workload's tasks are "
                             "requests, each with its own arrival time")
        if not served and arrival > 0:
            raise ValueError(f"task {task} arrives at {arrival} ns: a program run alone "
                             "starts tasks at 0 or by a spawn phase only (arrivals at other "
                             "times need a served scenario)")
        words = [str(task), str(arrival)]
        template = workload.templates[workload.task_class[task]]
        base = workload.offset[task]
        for i, kind in enumerate(template.kinds):
            if kind not in kinds:
                raise ValueError(f"task {task}: a {'served' if served else 'lone'} real program "
                                 f"runs {', '.join(kinds.values())} phases, not "
                                 f"{KIND_NAMES[kind]}")
            words += [kinds[kind], str(int(workload.args[base + i]))]
        lines.append(" ".join(words))
    return "\n".join(lines) + "\n"


def _which(program: str) -> str | None:
    path = Path(program)
    if path.parent != Path("."):  # an explicit path: use it if it is there
        return str(path) if path.is_file() and os.access(path, os.X_OK) else None
    return shutil.which(program)


def _build(argv: list[str], cwd: Path, env: dict[str, str], what: str) -> None:
    done = subprocess.run(argv, cwd=cwd, env={**os.environ, **env}, capture_output=True,
                          text=True, timeout=900)
    if done.returncode:
        tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        raise Skip(f"{what} build failed ({argv[0]} exited {done.returncode}): "
                   + (" | ".join(tail) or "no output"))


def build_go(tools: Toolchains) -> tuple[list[str], str]:
    """``go build`` of go/main.go (any Go >= 1.14: async preemption)."""
    go = _which(tools.go)
    if go is None:
        raise Skip(f"no Go toolchain ({tools.go!r} not found): apt-get install golang-go")
    out = tools.build_dir / "go"
    out.mkdir(parents=True, exist_ok=True)
    binary = out / "sim-validate-go"
    _build([go, "build", "-o", str(binary), str(HERE / "go" / "main.go")], out,
           {"GOFLAGS": ""}, "Go")
    version = subprocess.run([go, "version"], capture_output=True, text=True).stdout.split()
    return [str(binary)], version[2] if len(version) > 2 else "go"


def build_tokio(tools: Toolchains) -> tuple[list[str], str]:
    """``cargo build --offline`` of tokio/ against the Debian crate directory (cargo's
    source replacement, in a CARGO_HOME of its own under the build folder)."""
    cargo = _which(tools.cargo)
    if cargo is None:
        raise Skip(f"no Rust toolchain ({tools.cargo!r} not found)")
    crates = Path(tools.crates)
    if not any(crates.glob("tokio-1.*")):
        raise Skip(f"no Tokio crate in {crates}: apt-get install librust-tokio-dev")
    root = tools.build_dir / "tokio"
    src = root / "src"
    if src.exists():
        shutil.rmtree(src)
    shutil.copytree(HERE / "tokio", src, ignore=shutil.ignore_patterns("target", "Cargo.lock"))
    home = root / "cargo-home"
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(CARGO_CONFIG.format(crates=crates))
    _build([cargo, "build", "--release", "--offline", "--target-dir", str(root / "target")],
           src, {"CARGO_HOME": str(home)}, "Tokio")
    lock = (src / "Cargo.lock").read_text()
    found = re.search(r'name = "tokio"\nversion = "([^"]+)"', lock)
    return ([str(root / "target" / "release" / "sim-validate-tokio")],
            f"tokio {found.group(1) if found else '?'}")


def c_compiler() -> str | None:
    """The C compiler realpy.py builds ``native.c`` with: ``$CC``, else ``cc``."""
    return _which(os.environ.get("CC", "cc"))


def check_native(runtime: str, workload: Workload) -> None:
    """Skip a Python program with ``native`` phases where realpy.py cannot build
    ``native.c`` (no C compiler)."""
    native = any(NATIVE in template.kinds for template in workload.templates)
    if native and runtime in ("asyncio", "threads") and c_compiler() is None:
        raise Skip("no C compiler for native phases (native.c): apt-get install gcc")


def program(runtime: str, tools: Toolchains) -> tuple[list[str], str]:
    """The command that runs ``runtime`` and its version, built once per ``tools``."""
    if runtime not in tools.built:
        if runtime == "go":
            tools.built[runtime] = build_go(tools)
        elif runtime == "tokio":
            tools.built[runtime] = build_tokio(tools)
        else:
            tools.built[runtime] = ([tools.python, str(HERE / "realpy.py"), runtime],
                                    f"CPython {sys.version.split()[0]}")
    return tools.built[runtime]


def command(runtime: str, options: dict[str, Any], tools: Toolchains,
            server_cores: int | None = None) -> tuple[list[str], dict[str, str], str]:
    """argv, extra environment and a description of the settings, from the scheduler's
    options (the same values the simulator runs with). ``server_cores``: the program is a
    server on that many cores, under ``loadgen.py``'s open load (a served scenario)."""
    argv, version = program(runtime, tools)
    env: dict[str, str] = {}
    if runtime == "threads":
        seconds = options["switch_interval"] / 1e9
        argv = [*argv, "--threads", str(options["threads"]), "--switch-interval", str(seconds)]
        version += f", setswitchinterval({seconds:g}), {options['threads']} threads"
    elif runtime == "asyncio" and options.get("offload"):
        argv = [*argv, "--offload", ",".join(options["offload"])]
        version += f", run_in_executor for {'/'.join(options['offload'])}"
    elif runtime == "go":
        env["GOMAXPROCS"] = str(options["gomaxprocs"])
        env["GODEBUG"] = "" if options["async_preemption"] else "asyncpreemptoff=1"
        version += f", GOMAXPROCS={env['GOMAXPROCS']}"
        version += ", GODEBUG=asyncpreemptoff=1" if env["GODEBUG"] else ""
    elif runtime == "tokio":
        argv = [*argv, str(options["workers"])]
        version += f", {options['workers']} workers"
    if server_cores is not None:
        connections = options["threads"] if runtime == "threads" else CONNECTIONS
        argv = [tools.python, str(HERE / "loadgen.py"), "--server-cores", str(server_cores),
                "--connections", str(connections), "--", *argv]
        version += (f"; a loopback server on {server_cores} core(s), {connections} "
                    "connections, open load and stub backend from loadgen.py")
    return argv, env, version


def _niced(level: int):
    """Run the child at niceness ``level`` (in the session of its own ``run_text`` gives
    it). With the kernel's autogroups (sched_autogroup_enabled) a session's CPU share is
    its group's, so the group's niceness is set too (/proc/self/autogroup); both need
    root, else nothing."""
    def preexec() -> None:
        with contextlib.suppress(OSError), open("/proc/self/autogroup", "w") as group:
            group.write(str(level))
        with contextlib.suppress(OSError):
            os.nice(level)
    return preexec if level else None


def run_text(argv: list[str], env: dict[str, str], stdin: str, nice: int = 0,
             timeout: float = 300) -> str:
    """Run a program once (niced, in a session of its own); its standard output. Whatever
    stops the wait (Ctrl-C, the timeout) kills the program's whole process group: a
    served run's server, started by loadgen, would otherwise outlive it."""
    with subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, env={**os.environ, **env},
                          start_new_session=True, preexec_fn=_niced(nice)) as child:
        try:
            out, err = child.communicate(stdin, timeout=timeout)
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)
            child.wait()
            raise
    if child.returncode:
        raise RuntimeError(f"{' '.join(argv)} exited {child.returncode}: {err[-500:]}")
    return out


def run(argv: list[str], env: dict[str, str], stdin: str, nice: int = 0,
        timeout: float = 300) -> list[dict[str, Any]]:
    """Run a real program once; its JSON lines."""
    out = run_text(argv, env, stdin, nice, timeout)
    return [json.loads(line) for line in out.splitlines() if line.strip()]
