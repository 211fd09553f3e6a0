"""Where results may be written, and how they get there without loss.

The rules (docs/outputs.md, "Where results go"):

- ``sim`` replaces or resumes only a folder that it wrote itself: one whose
  ``manifest.json`` says so (``"written_by": "sim"`` and its ``kind``, ``run`` or ``sweep``)
  and that holds nothing but the files of that kind. A missing or empty folder is used.
- A single run replaces an earlier run's folder whole; a sweep resumes an earlier sweep's
  folder (its ``runs/`` store). Neither replaces the other's folder, nor a folder holding
  anything else, unless ``force`` is given.
- Never, even with ``force``: a path that is not a folder (a file, a device, a symbolic
  link), the file system's root, the home folder, the working folder or one of its
  ancestors, or a folder that holds the config being run.

Files and folders are written under temporary names ``.sim-tmp.<host>-<pid>.<random>.<name>``
and renamed into place; those of a process that no longer runs on this host are removed
by the next write into the same folder. Everything gets the user's umask, as ``open`` and
``mkdir`` would give it (``tempfile`` alone would make it private).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import stat
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from .units import quote

RUN, SWEEP = "run", "sweep"
MANIFEST = "manifest.json"
# What each kind of results folder may hold (plots/ only pictures, runs/ only run files).
CONTENTS = {
    RUN: {"summary.csv", "comparison.csv", "tasks.parquet", "wakeups.parquet", "trace.parquet",
          "config.yaml", MANIFEST, "plots"},
    SWEEP: {"summary.csv", "aggregate.csv", "comparison.csv", "tasks.parquet", "wakeups.parquet",
            "config.yaml", MANIFEST, "plots", "runs"},
}
# a run file, or a temporary one that sim before 0.2 left (hidden, never read)
_RUN_FILE = re.compile(r"^\.?[0-9a-f]{32}\.(zip|failed\.json)(\.[a-z0-9_]+)?$")
_TEMP = re.compile(r"^\.sim-tmp\.([0-9a-f]{8})-(\d+)\.")


class OutputError(ValueError):
    """The output path cannot be used; the message names it and says what to do."""


# --- temporary names and permissions --------------------------------------------------------


@cache
def _host() -> str:
    return hashlib.sha256(platform.node().encode()).hexdigest()[:8]


def _temp_prefix() -> str:
    return f".sim-tmp.{_host()}-{os.getpid()}."


@cache
def _umask() -> int:
    try:  # Linux: read it without changing it
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_leftovers(folder: Path) -> None:
    """Remove the temporary files and folders that killed runs on this host left here."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        match = _TEMP.match(entry.name)
        if not match or match[1] != _host():
            continue
        pid = int(match[2])
        if pid == os.getpid() or _alive(pid):
            continue
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)
        else:
            Path(entry.path).unlink(missing_ok=True)


def make_temp_dir(parent: Path, name: str) -> Path:
    tmp = Path(tempfile.mkdtemp(prefix=_temp_prefix(), suffix=f".{name}", dir=parent))
    tmp.chmod(0o777 & ~_umask())
    return tmp


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(), suffix=f".{path.name}", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o666 & ~_umask())
            f.write(data)
            f.flush()
            os.fsync(f.fileno())  # so a crash cannot leave a renamed but empty file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def temp_file(folder: Path, name: str) -> Path:
    """A new empty temporary file in ``folder`` (to be renamed to ``name``)."""
    fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(), suffix=f".{name}", dir=folder)
    os.fchmod(fd, 0o666 & ~_umask())
    os.close(fd)
    return Path(tmp)


# --- what is at the path --------------------------------------------------------------------


@dataclass(frozen=True)
class Found:
    """What is at an output path: ``state`` is missing, empty, run, sweep or other."""

    state: str
    why: str = ""


def _manifest_kind(folder: Path) -> str | None:
    try:
        info = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(info, dict):
        return None
    if info.get("written_by") == "sim" and info.get("kind") in CONTENTS:
        return info["kind"]
    if "versions" in info and "config" in info:  # written before the marker existed
        return SWEEP if "runs" in info else RUN
    return None


def _foreign(folder: Path, kind: str) -> str | None:
    """The first entry of ``folder`` that a results folder of ``kind`` does not hold."""
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        name = entry.name
        if _TEMP.match(name):
            continue
        if name not in CONTENTS[kind]:
            return name
        if name in ("plots", "runs"):
            if entry.is_symlink() or not entry.is_dir():
                return name
            allowed = (lambda n: n.endswith(".png")) if name == "plots" else _RUN_FILE.match
            for sub in os.scandir(entry.path):
                if not _TEMP.match(sub.name) and not (allowed(sub.name) and sub.is_file(
                        follow_symlinks=False)):
                    return f"{name}/{sub.name}"
        elif entry.is_symlink() or not entry.is_file():
            return name
    return None


def inspect(path: Path) -> Found:
    """Classify what is at ``path`` without changing anything."""
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return Found("missing")
    except OSError as exc:
        raise OutputError(f"{path}: cannot be read ({exc.strerror})") from None
    if stat.S_ISLNK(mode):
        raise OutputError(f"{path} is a symbolic link, not a results folder: pick another "
                          "--out (sim never replaces it, even with --force)")
    if not stat.S_ISDIR(mode):
        what = "a file" if stat.S_ISREG(mode) else "a device or special file"
        raise OutputError(f"{path} is {what}, not a results folder: pick another --out "
                          "(sim never replaces it, even with --force)")
    try:
        if not any(True for _ in os.scandir(path)):
            return Found("empty")
        kind = _manifest_kind(path)
        if kind is None:
            return Found("other", "it holds files that sim did not write")
        extra = _foreign(path, kind)
    except OSError as exc:
        raise OutputError(f"{path}: cannot be read ({exc.strerror})") from None
    if extra:
        return Found("other", f"it holds {quote(extra)}, which sim did not write")
    return Found(kind)


def _protected(path: Path, config: Path | None) -> str | None:
    """Why ``path`` may never be replaced, or None."""
    target = path.resolve()
    if target == Path(target.anchor):
        return "it is the file system's root"
    if target == Path.home().resolve():
        return "it is the home folder"
    cwd = Path.cwd().resolve()
    if target == cwd or target in cwd.parents:
        return "it is the working folder or one of its ancestors"
    if config is not None:
        held = config.resolve()
        if target == held or target in held.parents:
            return f"it holds the config {config}"
    return None


def check_output(path: Path, kind: str, force: bool = False,
                 config: Path | None = None) -> Found:
    """Decide, before anything runs, whether results of ``kind`` may go to ``path``;
    raise ``OutputError`` if not. Creates the parent folders and probes that they take
    a new folder (a read-only parent fails here, not after the run)."""
    if not str(path) or path.name in ("", ".", ".."):
        raise OutputError(f"--out {str(path) or repr('')}: name a folder of its own, "
                          "e.g. results/mine")
    why = _protected(path, config)
    if why:
        raise OutputError(f"{path}: sim will not write results there ({why}); pick another "
                          "--out")
    _parent_is_folder(path)
    found = inspect(path)
    if found.state in ("missing", "empty") or found.state == kind:
        pass
    elif not force:
        what = {RUN: "a single run's results", SWEEP: "a sweep's results (and its runs/ store)"}
        reason = what.get(found.state, found.why)
        raise OutputError(f"{path} is not a {kind} folder that sim can replace ({reason}): "
                          "pick another --out, or pass --force to replace the folder whole")
    _writable_parent(path)
    return found


def _parent_is_folder(path: Path) -> None:
    parent = path.absolute().parent
    for folder in (parent, *parent.parents):
        if folder.exists():
            if not folder.is_dir():
                raise OutputError(f"--out {path}: {folder} is not a folder")
            return


def _writable_parent(path: Path) -> None:
    parent = path.absolute().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        clean_leftovers(parent)
        make_temp_dir(parent, path.name).rmdir()
    except OSError as exc:
        raise OutputError(f"--out {path}: cannot write in {parent} ({exc.strerror})") from None


# --- putting a folder in place --------------------------------------------------------------


def replace_folder(tmp: Path, target: Path) -> None:
    """Put the finished folder ``tmp`` at ``target``, moving what was there aside first
    and removing it only once ``tmp`` is in place."""
    old = None
    if target.exists():
        old = target.with_name(f"{_temp_prefix()}old.{target.name}")
        target.rename(old)
    tmp.rename(target)
    if old:
        shutil.rmtree(old, ignore_errors=True)


@contextmanager
def atomic_dir(target: Path, kind: str = RUN, force: bool = False,
               config: Path | None = None):
    """Yield a temporary folder beside ``target``; on success it replaces ``target``,
    if the rules above still allow it then (else it is left beside it, and said)."""
    check_output(target, kind, force, config)
    tmp = make_temp_dir(target.absolute().parent, target.name)
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    try:  # the folder may have changed while the run ran
        check_output(target, kind, force, config)
    except OutputError as exc:
        kept = target.with_name(f"{target.name}.unsaved-{os.getpid()}")
        tmp.rename(kept)
        raise OutputError(f"{exc} (the results are in {kept})") from None
    replace_folder(tmp, target)
