#!/usr/bin/env python3
"""The project's two commands, on a fresh machine with only Python 3.11+ and pip.

    python3 tasks.py demo [flags]   set up what is missing, then run the main job
    python3 tasks.py test [args]    set up what is missing, then run the whole test suite

Set-up: a virtual environment in ``.venv`` with this project installed (editable) and its extras
``tf`` and ``dev`` (TensorFlow, Keras, TensorBoard, pytest, hypothesis, ruff); ``test`` adds ``mpi``
(mpi4py and MPICH's mpiexec, for the multi-worker tests). It is redone only when
``pyproject.toml`` changes or an extra is missing. Other commands run inside it:
``python3 tasks.py run -m MODULE``.

``test`` runs pytest on every core (pytest-xdist's ``-n auto``) unless its arguments choose
otherwise (``-n 0``, ``-p no:xdist``, ``--pdb``): on 2 cores the suite takes about half the time.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".scratchnet-installed"


def _fingerprint() -> str:
    return hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()


def setup(extras: tuple[str, ...] = ("tf", "dev")) -> None:
    if not PYTHON.exists():
        print(f"[tasks] creating virtual environment in {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    # The stamp: the pyproject.toml fingerprint, then the extras installed with it.
    stamp = STAMP.read_text().split() if STAMP.exists() else []
    installed = set(stamp[1:]) if stamp[:1] == [_fingerprint()] else set()
    if set(extras) <= installed:
        return
    wanted = ",".join(extras)
    print(f"[tasks] installing scratchnet with extras [{wanted}] (first run takes a few minutes)",
          flush=True)
    pip = [str(PYTHON), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    subprocess.run(pip + ["--upgrade", "pip"], check=True)
    subprocess.run(pip + ["-e", f"{ROOT}[{wanted}]"], check=True)
    STAMP.write_text(" ".join([_fingerprint(), *sorted(installed | set(extras))]))


def run(args: list[str]) -> int:
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    env.setdefault("PYTHONUNBUFFERED", "1")
    return subprocess.run([str(PYTHON), *args], cwd=ROOT, env=env).returncode


def _parallel(args: list[str]) -> list[str]:
    """``-n auto`` for pytest, unless ``args`` already say how many workers or need one process
    (a debugger cannot attach to a worker)."""
    for a in args:
        if a in ("--pdb", "--trace", "no:xdist", "-pno:xdist") or a.startswith(("-n", "--numprocesses")):
            return []
    return ["-n", "auto"]


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("demo", "test", "setup", "run"):
        print(__doc__)
        return 2
    command, rest = argv[0], argv[1:]
    setup(("tf", "dev", "mpi") if command == "test" else ("tf", "dev"))
    if command == "demo":
        return run(["-m", "demo", *rest])
    if command == "test":
        return run(["-m", "pytest", *_parallel(rest), *rest])
    if command == "run":
        return run(rest)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
