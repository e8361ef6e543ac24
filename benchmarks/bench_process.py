"""README command 1 as a whole process, run by hand: python benchmarks/bench_process.py [--runs N] [--against DIR]

Times the run part of README command 1 (``run.py run`` on Pingyang's baseline, 2020->2035, seed 42, full scale) as
a new process each time, from the interpreter's start to its exit, with the process's peak resident memory, and
checks the goal of issue 23 (at most 3 s and 600 MB, median of the runs).

This machine's speed drifts: memory bandwidth, which the model is bound by, changed by up to half within an hour
with nothing else running (docs/performance.md). So before every run the benchmark times two probes in its own
process and prints them beside the run: a loop streaming 80 MB through NumPy twenty times (memory bandwidth) and a
plain Python loop (the CPU). A run is comparable only with runs taken when the probes read alike.

Each checkout's packages are compiled to bytecode first, as README command 1 does (:func:`compile_project`).

``--against DIR`` alternates runs of this checkout with runs of another checkout of the project (a ``git worktree``
of an older commit, with the same ``.venv`` or its own), so both meet the same machine, and says whether the two
wrote byte-identical results (county.csv, townships.csv, flows.parquet, commuting.parquet). Outputs go to a
temporary folder that is removed at the end; nothing else is written but the checkouts' bytecode (__pycache__).

Example (about 25 s)::

    python benchmarks/bench_process.py --runs 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULT_FILES = ("county.csv", "townships.csv", "flows.parquet", "commuting.parquet")
GOAL_SECONDS, GOAL_MB = 3.0, 600.0  # issue 23


@dataclass(frozen=True)
class Run:
    """One whole-process run: wall seconds, peak resident MB, exit status, and the probes taken just before it."""

    label: str
    seconds: float
    peak_mb: float
    returncode: int
    stream_s: float
    python_s: float


def probes(stream_mb: int = 80, passes: int = 20, loop: int = 3_000_000) -> tuple[float, float]:
    """Seconds of a NumPy loop streaming ``stream_mb`` MB ``passes`` times, and of a plain Python loop of ``loop``
    additions: how fast this machine's memory and CPU are right now.

    >>> s, p = probes(stream_mb=1, passes=1, loop=10)
    >>> s > 0 and p > 0
    True
    """
    x = np.ones(stream_mb * 2**20 // 8)
    t0 = time.perf_counter()
    for _ in range(passes):
        (x * 2.0 + 1.0).sum()
    stream = time.perf_counter() - t0
    t0 = time.perf_counter()
    total = 0
    for i in range(loop):
        total += i
    return stream, time.perf_counter() - t0


def command(checkout: Path, out: Path) -> list[str]:
    """README command 1 without its install step, for ``checkout``'s own ``run.py`` and ``.venv`` (this
    interpreter where the checkout has none)."""
    python = checkout / ".venv" / "bin" / "python"
    return [str(python if python.exists() else Path(sys.executable)), "run.py", "run", "--region", "configs/pingyang",
            "--scenario", "baseline", "--start", "2020", "--end", "2035", "--seed", "42", "--scale", "1.0",
            "--out", str(out)]


def compile_project(checkout: Path) -> None:
    """Write the bytecode of the project's packages in ``checkout``, as README command 1 does after installing.

    Where ``PYTHONDONTWRITEBYTECODE`` is set (this project's machine), a checkout whose ``.pyc`` files are older than
    its edited sources compiles those modules again in every run and never keeps them: an edited working copy
    measured 0.58 s slower than its own starting commit, with no change on the run's path (docs/performance.md).
    """
    python = checkout / ".venv" / "bin" / "python"
    subprocess.run([str(python if python.exists() else Path(sys.executable)), "-m", "compileall", "-q",
                    "cli", "geo", "sim", "workflow"], cwd=checkout, check=True)


def timed_process(label: str, checkout: Path, out: Path) -> Run:
    """Run README command 1 in ``checkout`` as a new process; its wall time and peak resident memory (``wait4``
    reports the child's own peak, not the largest of all children)."""
    stream, python = probes()
    with tempfile.TemporaryFile() as err:  # a file, not a pipe: a child that writes much cannot block on it
        t0 = time.perf_counter()
        child = subprocess.Popen(command(checkout, out), cwd=checkout, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - t0
        code = child.returncode = os.waitstatus_to_exitcode(status)  # reaped here, so Popen must be told
        if code != 0:
            err.seek(0)
            sys.stderr.write(f"{label}: exit status {code}\n{err.read().decode(errors='replace')[-2000:]}\n")
    return Run(label, seconds, usage.ru_maxrss / 1024, code, stream, python)


def differing_results(a: Path, b: Path) -> list[str]:
    """The result files that differ (or are missing) between two run folders."""
    return [name for name in RESULT_FILES
            if not ((a / name).exists() and (b / name).exists() and (a / name).read_bytes() == (b / name).read_bytes())]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="README command 1 as a whole process (results go in docs/performance.md).")
    parser.add_argument("--runs", type=int, default=5, help="runs of each checkout (default 5; the goal is on their median)")
    parser.add_argument("--against", type=Path, default=None,
                        help="another checkout of the project (e.g. a git worktree of an older commit) to alternate with")
    args = parser.parse_args(argv)
    if not 1 <= args.runs <= 100:
        parser.error(f"--runs: expected 1 to 100, got {args.runs}")
    checkouts = {"this": ROOT}
    if args.against is not None:
        other = args.against.resolve()
        if not (other / "run.py").is_file() or not (other / "configs" / "pingyang").is_dir():
            parser.error(f"--against: {other} is not a checkout of this project (expected run.py and configs/pingyang)")
        checkouts["against"] = other
    for checkout in checkouts.values():
        compile_project(checkout)
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="bench_process_") as tmp:
        for i in range(args.runs):
            for label, checkout in checkouts.items():
                run = timed_process(label, checkout, Path(tmp) / f"{label}{i}")
                runs.append(run)
                print(f"{label:8s} run {i + 1}: {run.seconds:.2f} s, {run.peak_mb:.0f} MB   "
                      f"(probes: stream {run.stream_s:.2f} s, python {run.python_s:.3f} s)", flush=True)
        failed = [r for r in runs if r.returncode != 0]
        differ = differing_results(Path(tmp) / "this0", Path(tmp) / "against0") if "against" in checkouts and not failed else []
    for label in checkouts:
        mine = [r for r in runs if r.label == label and r.returncode == 0]
        if not mine:
            continue
        median, peak = statistics.median(r.seconds for r in mine), max(r.peak_mb for r in mine)
        print(f"{label}: median {median:.2f} s (range {min(r.seconds for r in mine):.2f}-{max(r.seconds for r in mine):.2f}), "
              f"peak {peak:.0f} MB; goal <= {GOAL_SECONDS:g} s and <= {GOAL_MB:g} MB: "
              f"{'met' if median <= GOAL_SECONDS and peak <= GOAL_MB else 'not met'}; "
              f"stream probe median {statistics.median(r.stream_s for r in mine):.2f} s")
    if "against" in checkouts and not failed:
        print("results byte-identical to --against" if not differ else f"results differ from --against: {', '.join(differ)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
