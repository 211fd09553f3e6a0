"""Never lose a user's files, never return a wrong number: the output-folder rules, the
run store's key and damaged files, Ctrl-C, orphaned workers, charts that fail, and the
utilisation of bursts that the drain limit cuts off."""

import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pandas as pd
import pytest
import yaml
from helpers import config as make_config

import sim
from sim import folders, store, sweep
from sim.cli import main
from sim.folders import OutputError, check_output

ROOT = Path(__file__).resolve().parent.parent
RUN = """
name: small
seed: 3
horizon: 200ms
machine: {cores: 1}
workload:
  api:
    arrival: {poisson: 200/s}
    phases: [{cpu: exp(0.5ms)}, {io: exp(2ms)}]
schedulers:
  fcfs: {model: fcfs}
"""
SWEEP = RUN + "sweep: {grid: {load: [0.3, 0.6]}, replications: 1}\nload: 0.3\n"


@pytest.fixture
def run_cfg(tmp_path):
    path = tmp_path / "cfg" / "run.yaml"
    path.parent.mkdir()
    path.write_text(RUN)
    return path


@pytest.fixture
def sweep_cfg(tmp_path):
    path = tmp_path / "cfg" / "sweep.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(SWEEP)
    return path


def cli(*args) -> int:
    return main([str(a) for a in args] + ["--quiet", "--no-plots"])


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    return lines[0]


# --- 1. the output folder -------------------------------------------------------------------


def test_a_folder_with_foreign_files_is_refused_and_kept(run_cfg, tmp_path, capsys):
    important = tmp_path / "important"
    important.mkdir()
    (important / "notes.txt").write_text("x")
    assert cli(run_cfg, "--out", important) == 2
    line = one_error_line(capsys)
    assert str(important) in line and "--force" in line and "notes.txt" not in line
    assert [p.name for p in important.iterdir()] == ["notes.txt"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert cli(run_cfg, "--out", important, "--force") == 0  # asked for: replaced whole
    assert not (important / "notes.txt").exists() and (important / "summary.csv").exists()


def test_a_foreign_file_inside_an_earlier_result_makes_it_foreign(run_cfg, tmp_path, capsys):
    out = tmp_path / "out"
    assert cli(run_cfg, "--out", out) == 0
    capsys.readouterr()  # (the run's own notes)
    (out / "plots").mkdir()
    (out / "plots" / "my_notes.md").write_text("mine")
    assert cli(run_cfg, "--out", out) == 2
    assert "plots/my_notes.md" in one_error_line(capsys)
    assert (out / "plots" / "my_notes.md").read_text() == "mine"


@pytest.mark.parametrize("what", ["file", "fifo", "symlink"])
def test_a_path_that_is_not_a_folder_is_never_replaced_even_with_force(run_cfg, tmp_path,
                                                                       capsys, what):
    path = tmp_path / "somefile.txt"
    if what == "file":
        path.write_text("keep me")
    elif what == "fifo":
        os.mkfifo(path)
    else:
        (tmp_path / "real").mkdir()
        path.symlink_to(tmp_path / "real")
    before = path.lstat()
    for force in ([], ["--force"]):
        assert cli(run_cfg, "--out", path, *force) == 2
        assert "never replaces it, even with --force" in one_error_line(capsys)
        assert path.lstat().st_ino == before.st_ino and path.lstat().st_mode == before.st_mode
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_a_device_is_refused_without_being_touched(run_cfg, capsys):
    with pytest.raises(OutputError, match="device or special file"):
        check_output(Path("/dev/null"), "run", force=True)
    assert Path("/dev/null").is_char_device()
    assert cli(run_cfg, "--out", "/dev/null", "--force") == 2
    assert "/dev/null" in one_error_line(capsys)


@pytest.mark.parametrize("out", [".", "..", "", "{cfg}", "{cfg}/..", "{home}", "/"])
def test_folders_that_are_never_replaced(run_cfg, tmp_path, monkeypatch, capsys, out):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    out = out.format(cfg=run_cfg.parent, home=Path.home())
    assert cli(run_cfg, "--out", out, "--force") == 2
    one_error_line(capsys)
    assert run_cfg.read_text() == RUN and list(work.iterdir()) == []


def test_a_parent_that_is_a_file_or_not_writable(run_cfg, tmp_path, monkeypatch, capsys):
    (tmp_path / "afile").write_text("x")
    assert cli(run_cfg, "--out", tmp_path / "afile" / "sub") == 2
    assert "is not a folder" in one_error_line(capsys)

    def read_only(parent, name):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(folders, "make_temp_dir", read_only)
    assert cli(run_cfg, "--out", tmp_path / "ro" / "out") == 2
    assert "cannot write in" in one_error_line(capsys)


def test_a_run_and_a_sweep_never_replace_each_others_folder(run_cfg, sweep_cfg, tmp_path,
                                                            capsys):
    swept, single = tmp_path / "swept", tmp_path / "single"
    assert cli(sweep_cfg, "--out", swept, "--jobs", "1") == 0
    capsys.readouterr()  # (the sweep's own notes)
    runs = sorted(p.name for p in (swept / "runs").iterdir())
    assert len(runs) == 2
    assert cli(run_cfg, "--out", swept) == 2
    assert "a sweep's results" in one_error_line(capsys)
    assert sorted(p.name for p in (swept / "runs").iterdir()) == runs
    assert (swept / "aggregate.csv").exists()

    assert cli(run_cfg, "--out", single) == 0
    capsys.readouterr()
    summary = (single / "summary.csv").read_bytes()
    assert cli(sweep_cfg, "--out", single, "--jobs", "1") == 2
    assert "a single run's results" in one_error_line(capsys)
    assert (single / "summary.csv").read_bytes() == summary and not (single / "runs").exists()

    inodes = {p: p.stat().st_ino for p in (swept / "runs").iterdir()}
    assert cli(sweep_cfg, "--out", swept, "--jobs", "1") == 0  # a sweep resumes its own
    assert {p: p.stat().st_ino for p in (swept / "runs").iterdir()} == inodes
    assert cli(sweep_cfg, "--out", single, "--jobs", "1", "--force") == 0  # asked for
    assert len(list((single / "runs").iterdir())) == 2
    manifest = json.loads((single / "manifest.json").read_text())
    assert (manifest["written_by"], manifest["kind"]) == ("sim", "sweep")


def test_results_get_the_users_umask(run_cfg, tmp_path):
    old = os.umask(0o027)
    try:
        folders._umask.cache_clear()
        assert cli(run_cfg, "--out", tmp_path / "out") == 0
    finally:
        os.umask(old)
        folders._umask.cache_clear()
    out = tmp_path / "out"
    assert out.stat().st_mode & 0o777 == 0o750
    assert {p.stat().st_mode & 0o777 for p in out.iterdir()} == {0o640}


def test_leftovers_of_killed_runs_are_removed_and_live_ones_kept(run_cfg, tmp_path):
    prefix = f".sim-tmp.{folders._host()}"
    dead = tmp_path / f"{prefix}-999999999.abc.out"  # above pid_max: no such process
    alive = tmp_path / f"{prefix}-{os.getppid()}.def.out"
    other_host = tmp_path / ".sim-tmp.00000000-999999999.ghi.out"
    for folder in (dead, alive, other_host):
        folder.mkdir()
        (folder / "summary.csv").write_text("half")
    assert cli(run_cfg, "--out", tmp_path / "out") == 0
    assert not dead.exists() and alive.exists() and other_host.exists()


# --- 2. wrong numbers ---------------------------------------------------------------------


def test_the_run_key_covers_the_data_files_and_the_source(tmp_path, monkeypatch):
    csv = tmp_path / "service.csv"
    csv.write_text("ms\n1\n2\n3\n")
    raw = yaml.safe_load(SWEEP)
    raw["workload"]["api"]["phases"] = [{"cpu": "empirical(service.csv)"}]
    path = tmp_path / "emp.yaml"
    path.write_text(yaml.safe_dump(raw))
    out = tmp_path / "out"
    first = sweep.run_sweep(sim.load_config(path), out, progress=False)
    assert (first.ran, first.reused) == (2, 0)
    again = sweep.run_sweep(sim.load_config(path), out, progress=False)
    assert (again.ran, again.reused) == (0, 2)
    csv.write_text("ms\n10\n20\n30\n")
    changed = sweep.run_sweep(sim.load_config(path), out, progress=False)
    assert (changed.ran, changed.reused) == (2, 0)
    assert (again.summary["latency_p50_ms"] < 10).all()  # demands 1-3 ms, then 10-30 ms
    assert (changed.summary["latency_p50_ms"] >= 10).all()
    monkeypatch.setattr(store, "source_digest", lambda: "other model code")
    recoded = sweep.run_sweep(sim.load_config(path), out, progress=False)
    assert (recoded.ran, recoded.reused) == (2, 0)


def test_a_damaged_run_file_is_redone_with_a_warning(sweep_cfg, tmp_path, capsys):
    out = tmp_path / "out"
    cfg = sim.load_config(sweep_cfg)
    sweep.run_sweep(cfg, out, progress=False)
    reference = (out / "summary.csv").read_bytes()
    files = sorted((out / "runs").glob("[0-9a-f]*.zip"))
    with zipfile.ZipFile(files[0]) as archive:  # flip a byte inside a member's data
        info = archive.getinfo("tasks.parquet")
    data = bytearray(files[0].read_bytes())
    data[info.header_offset + 30 + len(info.filename) + 10] ^= 0xFF
    files[0].write_bytes(bytes(data))
    files[1].write_bytes(files[1].read_bytes()[:100])  # truncated
    capsys.readouterr()
    result = sweep.run_sweep(cfg, out, progress=False)
    assert (result.ran, result.reused) == (2, 0)
    err = capsys.readouterr().err
    assert err.count("is damaged") == 2 and "the run is redone" in err
    assert (out / "summary.csv").read_bytes() == reference


def test_bursts_cut_off_by_the_drain_limit_count_as_busy():
    """Four 5 s bursts at t=0 on 2 cores, a 1 s window and a 1 ms drain: the cores are busy
    all window wherever the model can use both (one asyncio loop and the GIL use one)."""
    hog = {"arrival": {"batch": {"count": 4, "at": 0}}, "phases": [{"cpu": "5s"}]}
    native = {"arrival": {"batch": {"count": 4, "at": 0}}, "phases": [{"native": "5s"}]}
    expected = {"asyncio": 0.5, "asyncio2": 1.0, "threads": 0.5, "go": 1.0, "go4": 1.0,
                "tokio": 1.0, "tokio4": 1.0, "fcfs": 1.0, "rr": 1.0, "ps": 1.0}
    schedulers = {
        "asyncio": {"model": "asyncio"}, "asyncio2": {"model": "asyncio", "loops": 2},
        "threads": {"model": "gil_threads"}, "go": {"model": "go"},
        "go4": {"model": "go", "gomaxprocs": 4}, "tokio": {"model": "tokio"},
        "tokio4": {"model": "tokio", "workers": 4}, "fcfs": {"model": "fcfs"},
        "rr": {"model": "round_robin"}, "ps": {"model": "processor_sharing"}}
    for workload, threads_util in (({"hog": hog}, 0.5), ({"hog": native}, 1.0)):
        cfg = make_config(workload, schedulers, machine={"cores": 2}, drain_limit="1ms")
        summary = sim.run(cfg, progress=False).summary
        util = summary[summary["class"] == "all"].set_index("scheduler")["utilisation"]
        assert util.to_dict() == pytest.approx({**expected, "threads": threads_util})
        assert (summary["tasks"] == 4).all()  # counted, unfinished


# --- 3. failures that must not cost the results --------------------------------------------


def test_mathtext_names_draw_and_a_failing_chart_keeps_the_results(tmp_path, monkeypatch,
                                                                   capsys):
    raw = yaml.safe_load(RUN)
    raw["workload"] = {"$\\frac$": raw["workload"]["api"]}
    raw["schedulers"] = {"$x^$": {"model": "fcfs"}}
    path = tmp_path / "math.yaml"
    path.write_text(yaml.safe_dump(raw))
    assert main([str(path), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    assert len(list((tmp_path / "out" / "plots").glob("*.png"))) == 4

    import sim.plots

    def broken(*args, **kwargs):
        raise RuntimeError("the disk is haunted")

    monkeypatch.setattr(sim.plots, "standard_plots", broken)
    assert main([str(path), "--out", str(tmp_path / "out2"), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "warning: charts not drawn (RuntimeError: the disk is haunted)" in err
    assert (tmp_path / "out2" / "summary.csv").exists()
    assert not (tmp_path / "out2" / "plots").exists()


def test_a_scheduler_address_that_is_not_one_is_a_clear_error(sweep_cfg, tmp_path, capsys):
    pytest.importorskip("distributed")
    out = tmp_path / "out"
    assert cli(sweep_cfg, "--out", out, "--executor", "dask",
               "--scheduler-address", "garbage") == 2
    assert "cannot reach the Dask scheduler at garbage" in one_error_line(capsys)
    assert not out.exists()


def test_jobs_beyond_the_runs_start_no_more_processes(sweep_cfg, tmp_path, monkeypatch):
    started = []

    class Pool(sweep.ProcessPoolExecutor):
        def __init__(self, max_workers, **kwargs):
            started.append(max_workers)
            super().__init__(max_workers, **kwargs)

    monkeypatch.setattr(sweep, "ProcessPoolExecutor", Pool)
    result = sweep.run_sweep(sim.load_config(sweep_cfg), tmp_path / "out", jobs=16,
                             progress=False)
    assert result.ran == 2 and started == [2]


# --- 4. Ctrl-C and a killed parent ----------------------------------------------------------

LONG_SWEEP = RUN.replace("horizon: 200ms", "horizon: 20s") + (
    "sweep: {grid: {load: [0.3, 0.4, 0.5, 0.6, 0.7, 0.8]}, replications: 1}\nload: 0.3\n")


def _default_sigint() -> None:
    """Ctrl-C as in a terminal, even when the tests run where SIGINT is ignored (a shell's
    background job passes SIG_IGN on, and Python then never raises KeyboardInterrupt)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start_sweep(tmp_path, *args) -> tuple[subprocess.Popen, Path]:
    path = tmp_path / "long.yaml"
    path.write_text(LONG_SWEEP)
    out = tmp_path / "out"
    process = subprocess.Popen(
        [sys.executable, "-m", "sim", str(path), "--out", str(out), "--quiet", "--no-plots",
         *args], cwd=ROOT, stderr=subprocess.PIPE, text=True, start_new_session=True,
        preexec_fn=_default_sigint)
    return process, out


def _wait_for(condition, what: str, limit: float = 120.0, process=None) -> None:
    """Poll until ``condition()``: a bound on a wait, never a verdict on speed."""
    end = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < end, f"gave up waiting for {what}"
        if process is not None and process.poll() is not None:
            raise AssertionError(f"the sweep ended early: {process.communicate()[1]}")
        time.sleep(0.05)


def _status(pid: int) -> dict[str, str]:
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except (FileNotFoundError, ProcessLookupError):
        return {}
    return dict(line.split(":\t", 1) for line in lines if ":\t" in line)


def _children(pid: int) -> set[int]:
    """Every descendant of ``pid``, from /proc."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdecimal():
            ppid = _status(int(entry.name)).get("PPid")
            if ppid:
                parents[int(entry.name)] = int(ppid)
    found, todo = set(), [pid]
    while todo:
        parent = todo.pop()
        for child, ppid in parents.items():
            if ppid == parent and child not in found:
                found.add(child)
                todo.append(child)
    return found


def _running(pid: int) -> bool:
    state = _status(pid).get("State", "Z")
    return not state.startswith(("Z", "X"))


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_an_interrupted_command_ends_even_if_a_thread_would_hold_its_exit():
    """After Ctrl-C or SIGTERM everything is written or removed, so ``python -m sim`` ends
    within ``EXIT_GRACE`` (10 s) even if a thread never ends (as a process pool's manager
    thread can hang the exit: seen once); here the command is stubbed to return 143 and a
    thread waits forever: the process still ends, with 143."""
    script = ("import runpy, threading\n"
              "from sim import cli\n"
              "cli.main = lambda argv=None: cli.EXIT_TERMINATED\n"
              "threading.Thread(target=threading.Event().wait).start()\n"
              "runpy.run_module('sim', run_name='__main__')\n")
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 143, done.stderr
    assert 10 <= time.monotonic() - start < 120


STOP_MID_SEND = """
from sim import sweep
with_data_in_the_pipe = False
try:
    with sweep._executor("local", 2, None) as (pool, _):
        results = pool._result_queue._reader
        for attempt in range(20):
            future = pool.submit(bytes, 64 * 2**20)  # a result of 64 MB takes a while to send
            while not future.done():
                if results.poll(0):  # the worker has begun sending: stop now
                    with_data_in_the_pipe = True
                    raise KeyboardInterrupt
except KeyboardInterrupt:
    print(with_data_in_the_pipe)
"""


def test_ctrl_c_while_a_worker_sends_its_result_lets_the_process_end():
    """A worker killed halfway through sending its result left half a message in the pipe:
    the pool's manager thread waited in recv() forever and the exit, which joins it, hung
    (then the 10 s guard of ``python -m sim`` ended it, and multiprocessing printed a
    warning about leaked semaphores: 1 Ctrl-C in 30). Ctrl-C lands here while a 64 MB
    result is in the pipe; the process ends by itself, with nothing on stderr. (The bound
    on the wait only stops a hang; before the fix this test hit it every time.)"""
    done = subprocess.run([sys.executable, "-c", STOP_MID_SEND], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert (done.returncode, done.stdout.strip(), done.stderr) == (0, "True", "")


@pytest.mark.parametrize(("how", "sig"), [
    (["--jobs", "1"], signal.SIGINT), (["--jobs", "2"], signal.SIGINT),
    (["--jobs", "2", "--executor", "dask"], signal.SIGINT), (["--jobs", "2"], signal.SIGTERM)])
def test_ctrl_c_of_a_sweep_is_one_line_and_the_rerun_resumes(tmp_path, how, sig):
    """Ctrl-C (SIGINT to the whole group, as a terminal sends it) or SIGTERM to the group
    (a container's stop, systemd): one line, 130 or 143, and the rerun resumes."""
    if "dask" in how:
        pytest.importorskip("distributed")
    process, out = _start_sweep(tmp_path, *how)
    _wait_for(lambda: any((out / "runs").glob("[0-9a-f]*.zip")), "the first run file",
              process=process)
    os.killpg(process.pid, sig)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 128 + sig, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert err.strip().startswith("interrupted" if sig == signal.SIGINT else "terminated")
    done = len(list((out / "runs").glob("[0-9a-f]*.zip")))
    assert 1 <= done < 6 and not (out / "summary.csv").exists()
    rerun = subprocess.run([sys.executable, "-m", "sim", str(tmp_path / "long.yaml"), "--out",
                            str(out), "--no-plots", *how], cwd=ROOT,
                           capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{6 - done} runs run now, {done} reused" in rerun.stdout
    assert len(pd.read_csv(out / "summary.csv")) == 6 * 2


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_in_the_sweeps_loop_is_delivered_when_the_loop_lets_go(signum):
    """The sweep's loop holds locks (each future's, in concurrent.futures.wait): Ctrl-C or
    SIGTERM raised in there once left one held and the pool's shutdown hung (a SIGTERM'd
    sweep found still running 9 minutes later, its main thread joining the pool's thread,
    which waited for a future's lock). Held, the signal is raised when the block ends,
    by the handler that was there; without the hold it is raised inside the block."""
    class Delivered(Exception):
        pass

    def handler(_signum, _frame):
        raise Delivered

    previous = signal.signal(signum, handler)
    try:
        steps = []
        with pytest.raises(Delivered), sweep._signals_deferred():
            os.kill(os.getpid(), signum)
            steps += [1] * 1000  # (bytecodes where a handler could run)
            steps.append("the block's end")
        assert steps[-1] == "the block's end" and signal.getsignal(signum) is handler
        steps = []
        with pytest.raises(Delivered):
            os.kill(os.getpid(), signum)
            steps += [1] * 1000
            steps.append("the block's end")
        assert steps == []
    finally:
        signal.signal(signum, previous)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_workers_exit_when_their_parent_is_killed(tmp_path):
    process, out = _start_sweep(tmp_path, "--jobs", "2")
    _wait_for(lambda: (out / "manifest.json").exists(), "the sweep to start", process=process)
    _wait_for(lambda: len(_children(process.pid)) >= 3, "the workers")  # forkserver + 2
    workers = _children(process.pid)
    process.kill()
    process.wait()
    _wait_for(lambda: not any(_running(pid) for pid in workers),
              "the orphaned workers to exit", limit=30)


def test_sigterm_of_a_single_run_writes_nothing(run_cfg, tmp_path, monkeypatch, capsys):
    """SIGTERM is handled as Ctrl-C is: the run stops, one line, 143, nothing written; the
    handler is the default again after the command."""
    import sim.cli

    def terminated(*args, **kwargs):
        assert signal.getsignal(signal.SIGTERM) is sim.cli._terminate
        os.kill(os.getpid(), signal.SIGTERM)
        raise AssertionError("SIGTERM did not stop the run")

    before = signal.getsignal(signal.SIGTERM)
    monkeypatch.setattr(sim.cli, "run", terminated)
    assert cli(run_cfg, "--out", tmp_path / "out") == 143
    err = capsys.readouterr().err
    assert err.startswith("terminated: nothing half-written") and len(err.splitlines()) == 1
    assert not (tmp_path / "out").exists()
    assert signal.getsignal(signal.SIGTERM) is before


def test_ctrl_c_of_a_single_run_writes_nothing(run_cfg, tmp_path, monkeypatch, capsys):
    import sim.cli
    import sim.outputs

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(sim.cli, "run", interrupted)
    assert cli(run_cfg, "--out", tmp_path / "out") == 130
    err = capsys.readouterr().err  # (not a terminal: no line break for a progress bar)
    assert err.startswith("interrupted") and len(err.splitlines()) == 1
    assert not (tmp_path / "out").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]

    def interrupted_while_writing(folder, *args, **kwargs):
        (folder / "summary.csv").write_text("half")
        raise KeyboardInterrupt

    monkeypatch.undo()
    monkeypatch.setattr(sim.outputs, "write_files", interrupted_while_writing)
    assert cli(run_cfg, "--out", tmp_path / "out") == 130
    assert not (tmp_path / "out").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_ctrl_c_while_a_sweep_draws_its_charts_says_the_results_are_complete(
        sweep_cfg, tmp_path, monkeypatch, capsys):
    """The runs are stored and summarised before the charts: an interrupt there says so,
    and the rerun reuses every run and draws the charts."""
    import sim.cli

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(sim.cli, "_sweep_plots", interrupted)
    out = tmp_path / "out"
    args = [str(sweep_cfg), "--out", str(out), "--jobs", "1"]
    assert main(args + ["--quiet"]) == 130
    err = capsys.readouterr().err.strip()
    assert err.startswith("interrupted while drawing the charts") and "complete" in err
    summary = (out / "summary.csv").read_text()
    monkeypatch.undo()
    assert main(args) == 0
    assert "0 runs run now" in capsys.readouterr().out
    assert (out / "summary.csv").read_text() == summary
    assert list((out / "plots").glob("*.png"))
