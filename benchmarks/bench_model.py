"""Speed and memory of the model, run by hand: python benchmarks/bench_model.py [--repeat N]

Measures (1) 2020->2035 at 1%, 10% and 100% scale, one process: wall time of construction and of
the 15 steps, and peak resident memory; (2) the move decision for every household at 5% scale,
one Python call per household (Mesa HouseholdAgent + shuffle_do) against the vectorised engine;
(3) the whole year: 15 years with every decision taken one agent at a time (sim.reference) against
the engine, same seed, same results (``--whole-year-scale`` sets the scale, 0.05 by default).
With ``--against DIR`` it instead alternates the full-scale build and 15 years of this checkout and of another
one (a ``git worktree`` of an older commit), each run in a fresh process, ``--repeat`` times each: on this drifting
machine only such pairs compare two versions (docs/performance.md).
Results go in docs/performance.md.
"""

from __future__ import annotations

import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from geo.region import load_region  # noqa: E402
from sim.agents import HouseholdAgent  # noqa: E402
from sim.choice import cell_probabilities, choose, household_cells  # noqa: E402
from sim.labour import household_anchor, household_jobless  # noqa: E402
from sim.model import MigrationModel  # noqa: E402
from workflow.io import load_params  # noqa: E402
from workflow.memory import keep_freed_memory  # noqa: E402


def timed_run(region, params, scale: float) -> tuple[float, float, int]:
    t0 = time.perf_counter()
    m = MigrationModel(region, params=params, scale=scale, seed=1)
    t1 = time.perf_counter()
    m.run()
    t2 = time.perf_counter()
    return t1 - t0, t2 - t1, m.population.n_households


def reference_ratio(region, params, scale: float = 0.05) -> tuple[float, float, int]:
    m = MigrationModel(region, params=params, scale=scale, seed=1, end=2021)
    rows = np.flatnonzero(m.population.h_alive)
    u = np.random.default_rng(0).random(len(rows))
    t0 = time.perf_counter()
    cum = cell_probabilities(m.context, m.moves)
    pop = m.population
    cells = household_cells(pop, rows, household_anchor(pop, m.n_places), household_jobless(pop), m.context.anchors)
    fast = choose(cum, cells, u)
    t_fast = time.perf_counter() - t0
    agents = [HouseholdAgent(m, int(r), float(x)) for r, x in zip(rows, u)]
    t0 = time.perf_counter()
    m.agents_by_type[HouseholdAgent].shuffle_do("step")
    t_slow = time.perf_counter() - t0
    assert [a.choice for a in agents] == fast.tolist()
    return t_fast, t_slow, len(rows)


def whole_year_ratio(region, params, scale: float = 0.05, end: int = 2035) -> tuple[float, float, int]:
    """Seconds of the engine's years and of the per-agent reference's years (sim.reference), same seed; the two
    must end with the same population and indicators."""
    from sim.reference import per_agent_rules

    times, models = [], []
    for slow in (False, True):
        m = MigrationModel(region, params=params, scale=scale, seed=1, end=end)
        t0 = time.perf_counter()
        if slow:
            with per_agent_rules():
                m.run()
        else:
            m.run()
        times.append(time.perf_counter() - t0)
        models.append(m)
    fast, slow = models
    assert fast.current == slow.current and np.array_equal(fast.population.p_hh, slow.population.p_hh)
    return times[0], times[1], int(fast.population.p_alive.sum())


# One full-scale build and 15 years of the checkout in the current folder, in a process of its own; prints build
# seconds, years' seconds and peak memory (MB). Only names every version of the project has had since the
# thirteenth session are used, so older checkouts run it too.
TIME_ONE_RUN = """
import resource, sys, time
from geo.region import load_region
from sim.model import MigrationModel
from workflow.io import load_params
from workflow.memory import keep_freed_memory
keep_freed_memory()
region, params = load_region("configs/pingyang"), load_params("configs/pingyang")
t0 = time.perf_counter()
m = MigrationModel(region, params=params, scale=1.0, seed=1)
t1 = time.perf_counter()
m.run()
t2 = time.perf_counter()
print(t1 - t0, t2 - t1, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def alternate(roots: dict[str, Path], repeat: int) -> dict[str, list[tuple[float, float, float]]]:
    """Full-scale build and 15 years of each checkout in ``roots``, alternated ``repeat`` times, each in a fresh
    process started with this interpreter in the checkout's folder; (build s, years s, peak MB) per run."""
    runs: dict[str, list[tuple[float, float, float]]] = {name: [] for name in roots}
    for k in range(1, repeat + 1):
        for name, root in roots.items():
            done = subprocess.run([sys.executable, "-c", TIME_ONE_RUN], cwd=root, capture_output=True, text=True)
            if done.returncode != 0:
                raise SystemExit(f"{root}: the run failed:\n{done.stderr[-2000:]}")
            build, years, peak = map(float, done.stdout.split()[-3:])
            runs[name].append((build, years, peak))
            print(f"{name:8} run {k}: build {build:.2f} s, 15 years {years:.2f} s, {peak:,.0f} MB", flush=True)
    return runs


STAGES = ("_demography", "_labour", "_housing", "_update_context", "_move", "_in_migration", "_convert_hukou",
          "_urbanise", "_remember_vacancies", "_collect")


def stage_times(region, params, scale: float = 1.0) -> dict[str, float]:
    """Seconds spent in each stage of the year over the 15 years (timers around the model's stage methods; the
    rest of ``step`` is the incomes, the compaction and bookkeeping)."""
    totals: dict[str, float] = {name: 0.0 for name in STAGES}
    m = MigrationModel(region, params=params, scale=scale, seed=1)

    def timed(name, method):
        def wrapper(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                totals[name] += time.perf_counter() - t0
        return wrapper

    for name in STAGES:
        setattr(m, name, timed(name, getattr(m, name)))
    t0 = time.perf_counter()
    m.run()
    totals["whole year"] = time.perf_counter() - t0
    totals["incomes, compaction, rest"] = totals["whole year"] - sum(totals[k] for k in STAGES)
    return totals


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Speed and memory of the model (results go in docs/performance.md).")
    parser.add_argument("--whole-year-scale", type=float, default=0.05,
                        help="scale of the whole-year comparison with the per-agent reference (default 0.05)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="full-scale runs to time (default 1); with more, each and their median are printed, "
                             "because this machine's run-to-run spread is about ±5%%")
    parser.add_argument("--against", type=Path,
                        help="another checkout of the project (e.g. a git worktree of an older commit): alternate the "
                             "full-scale build and 15 years of both, --repeat times each, instead of the rest")
    args = parser.parse_args()
    if not 1 <= args.repeat <= 50:
        parser.error(f"--repeat: expected 1 to 50 runs, got {args.repeat}")
    if not 0.001 <= args.whole_year_scale <= 1.0:
        parser.error(f"--whole-year-scale: expected a share of households between 0.001 and 1.0, got {args.whole_year_scale}")
    if args.against is not None:
        if not (args.against / "sim" / "model.py").is_file():
            parser.error(f"--against {args.against}: no sim/model.py there (expected a checkout of the project)")
        roots = {"this": Path(__file__).resolve().parents[1], "against": args.against.resolve()}
        for name, runs in alternate(roots, args.repeat).items():
            years = [r[1] for r in runs]
            print(f"{name}: 15 years median {statistics.median(years):.2f} s (range {min(years):.2f}-{max(years):.2f}), "
                  f"build median {statistics.median(r[0] for r in runs):.2f} s, peak {max(r[2] for r in runs):,.0f} MB")
        raise SystemExit(0)
    folder = Path(__file__).resolve().parents[1] / "configs" / "pingyang"
    region, params = load_region(folder), load_params(folder)  # the region's own parameters, as run.py uses
    keep_freed_memory()  # the allocator settings run.py's runs have (workflow.runner.simulate)
    for scale in (0.01, 0.1, 1.0):
        runs = [timed_run(region, params, scale)]
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # after one run of each scale
        runs += [timed_run(region, params, scale) for _ in range(args.repeat - 1 if scale == 1.0 else 0)]
        build, steps, hh = (statistics.median(r[i] for r in runs) for i in range(3))
        every = f" (median of {len(runs)}: {', '.join(f'{r[1]:.2f}' for r in runs)})" if len(runs) > 1 else ""
        print(f"scale {scale:>4}: build {build:6.2f} s, 15 years {steps:6.2f} s{every}, households at end {hh:,.0f}")
    print(f"peak resident memory of this process after one run at each scale: {peak_mb:,.0f} MB")
    print("stages of the 15 full-scale years (one run):")
    for name, seconds in stage_times(region, params).items():
        print(f"  {name.strip('_'):<28} {seconds:6.2f} s")
    scale = args.whole_year_scale
    fast, slow, n = whole_year_ratio(region, params, scale)
    print(f"whole year, 2020-2035 at {scale:g} scale ({n:,} persons at the end): engine {fast:.2f} s, per-agent reference "
          f"{slow:.1f} s, ratio {slow / fast:,.0f}x (same results)")
    fast, slow, n = reference_ratio(region, params)
    print(f"move decision for {n:,} households (5% scale): engine {fast * 1000:.1f} ms, per-agent reference {slow * 1000:.0f} ms, "
          f"ratio {slow / fast:,.0f}x (identical choices)")
