"""Install our coordinator as a user has it, so the benchmark does not time the checkout.

A regular (not editable) `pip install` into its own venv, `.bench-venv`, then
`compileall` of its site-packages: ours then runs as
`.bench-venv/bin/python -m coordinator` with every module byte-compiled and
nothing imported from the work tree.

The venv is rebuilt only when what it was built from changes: its stamp holds
a digest of the files the install reads (names and contents), compared on
every run, so an edit, a new file and a deleted one all count, which file
times would not promise. The install is made from a copy of those files in a
fresh temp dir because setuptools builds in-tree: a `build/lib` left by an
earlier build would carry modules since deleted from the checkout into the wheel.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.tools import REPO

VENV = REPO / ".bench-venv"
STAMP = ".source-digest"
# What `pip install .` reads: the project file, its readme and the packages that
# [tool.setuptools.packages.find] includes.
SOURCES = ("pyproject.toml", "README.md", "coordinator", "harness")
_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc")


class InstallError(Exception):
    """The bench venv could not be built or does not run our coordinator."""


def _files(root: Path) -> list[Path]:
    found = []
    for name in SOURCES:
        top = root / name
        paths = [top] if top.is_file() else sorted(top.rglob("*"))
        found += [p for p in paths if p.is_file() and "__pycache__" not in p.parts]
    return found


def source_digest(root: Path = REPO) -> str:
    """SHA-256 over every source file's path (relative to `root`) and content."""
    digest = hashlib.sha256()
    for path in _files(root):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def python_of(venv: Path) -> Path:
    return venv / "bin" / "python"


def up_to_date(venv: Path) -> bool:
    stamp = venv / STAMP
    return python_of(venv).is_file() and stamp.is_file() and stamp.read_text() == source_digest()


def _run(argv: list[str]) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise InstallError(f"{' '.join(argv)} failed:\n{(done.stdout + done.stderr)[-2000:]}")
    return done.stdout


def build(venv: Path) -> None:
    """A fresh venv with a regular install of a copy of the sources, byte-compiled."""
    print(f"bench: building {venv} (pip install . from a copy, then compileall)...",
          file=sys.stderr)  # fmt: skip
    shutil.rmtree(venv, ignore_errors=True)
    _run([sys.executable, "-m", "venv", str(venv)])
    python = str(python_of(venv))
    with tempfile.TemporaryDirectory(prefix="hookcoord-src-") as tmp:
        copy = Path(tmp)
        for name in SOURCES:
            source = REPO / name
            if source.is_dir():
                shutil.copytree(source, copy / name, ignore=_IGNORED)
            else:
                shutil.copy2(source, copy / name)
        _run([python, "-m", "pip", "install", "--quiet", "--no-cache-dir", str(copy)])
        digest = source_digest(copy)  # of what was installed, even if the checkout moved on
    site = _run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"])
    _run([python, "-m", "compileall", "-q", site.strip()])
    (venv / STAMP).write_text(digest)


def ensure(venv: Path, *, install: bool) -> Path:
    """The bench venv's python, (re)built first when stale and `install` allows it."""
    if not up_to_date(venv):
        if not install:
            raise InstallError(
                f"{venv} is missing or older than the sources and --no-install forbids "
                "building it; run `make bench`, or pass --ours-python"
            )
        build(venv)
    return python_of(venv)


def imported_from(python: Path, env: dict[str, str], cwd: Path) -> Path:
    """Where `python` imports the coordinator from, in the benchmark's environment and cwd.

    The report states it, so a run that timed the checkout (an editable
    install, a stray PYTHONPATH) says so.
    """
    argv = [str(python), "-c", "import coordinator.cli; print(coordinator.cli.__file__)"]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=cwd, check=False)
    except OSError as error:
        raise InstallError(f"{python} cannot run: {error}") from error
    if done.returncode != 0:
        raise InstallError(f"{python} cannot import the coordinator:\n{done.stderr[-2000:]}")
    return Path(done.stdout.strip()).parent
