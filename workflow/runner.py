"""One simulation from region folder, scenario name and options to result tables.

Used by ``run``, ``compare``, batch workers and the server, so they all run the model the same way.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from geo.region import Region, RegionDataError, load_region
from sim.model import MigrationModel
from sim.parallel import use_helper
from sim.params import Params
from workflow.io import check_commute_cap, load_params, provenance
from workflow.lifetime import end_with_parent, ending_signals
from workflow.memory import MIN_SCALE, keep_freed_memory, memory_shortfall
from workflow.scenarios import LoadedScenario, build_interventions, load_scenario


_REGIONS: dict[str, Region] = {}


def start_worker() -> None:
    """Initializer of worker processes. Ctrl-C, which reaches the whole process group, ends a worker at once and
    quietly (no traceback per worker); the parent process reports the interruption in one line. The model's helper
    thread is off (sim.parallel.use_helper): the pool's workers already keep every core busy."""
    signal.signal(signal.SIGINT, lambda signum, frame: os._exit(130))
    # a forked worker inherits the command's SIGTERM and SIGHUP handlers (cli.ending.stop_on_terminate), meant for
    # the parent only; an ignored signal (nohup) stays ignored
    for s in ending_signals():
        if callable(signal.getsignal(s)):
            signal.signal(s, signal.SIG_DFL)
    end_with_parent(os.getppid())  # a kill -9 of the command (or the OOM killer) ends its workers too
    use_helper(False)


def cached_region(folder: Path | str) -> Region:
    """The region of ``folder``, loaded once per process (batch and compare workers run many models)."""
    key = str(Path(folder).resolve())
    if key not in _REGIONS:
        _REGIONS[key] = load_region(folder)
    return _REGIONS[key]


@dataclass
class RunResult:
    """The tables a run writes, and its provenance (``meta`` becomes run.json)."""

    county: pd.DataFrame
    townships: pd.DataFrame
    flows: pd.DataFrame
    meta: dict
    commuting: pd.DataFrame | None = None  # year, home, workplace, persons (townships and neighbouring zones)


def check_options(region: Region, start: int, end: int, scale: float, runs_at_once: int = 1) -> None:
    """Clear errors for run options the model cannot use, and for ``runs_at_once`` runs that cannot fit in this
    machine's memory (:func:`workflow.memory.memory_shortfall`)."""
    if not MIN_SCALE <= scale <= 1.0:
        raise RegionDataError("--scale", f"expected a share of households between {MIN_SCALE:g} and 1.0, got {scale}")
    if end < start:
        raise RegionDataError("--end", f"end year {end} is before start year {start}")
    if start not in region.config.census:
        raise RegionDataError("--start", f"no census for {start} in region.yaml (census years: {', '.join(map(str, region.config.census))})")
    short = memory_shortfall(region.total_population(start) * scale, scale, runs_at_once)
    if short:
        raise RegionDataError("--scale", short)


def prepare(region_folder: Path, scenario: str, start: int, end: int, region: Region | None = None,
            params: Params | None = None) -> tuple[Region, Params, LoadedScenario]:
    """Load and check everything a run needs, so errors come before any simulation."""
    region = region or load_region(region_folder)
    params = params or load_params(region_folder)
    check_commute_cap(region, params, Path(region_folder) / "params.yaml")
    loaded = load_scenario(region_folder, scenario)
    build_interventions(region, loaded, start, end, params)  # validates the levers against this run's years and parameters
    return region, params, loaded


def simulate(region_folder: Path, scenario: str = "baseline", start: int = 2020, end: int = 2035, scale: float = 1.0,
             seed: int = 42, overrides: dict[str, float] | None = None, region: Region | None = None,
             params: Params | None = None, on_year: Callable[[MigrationModel], None] | None = None) -> RunResult:
    """Run one scenario with one seed and return its tables.

    Parameters
    ----------
    region_folder : e.g. ``configs/<region>``.
    scenario : a scenario name in the region's ``scenarios/`` folder, or a path to a scenario file.
    start, end, scale, seed : as for :class:`sim.model.MigrationModel`.
    overrides : dotted parameter overrides on top of params.yaml (sweeps, sensitivity).
    region, params : already loaded ones, to save time in loops.
    on_year : called after each simulated year (progress bars).

    Example
    -------
    >>> r = simulate(Path("configs/<region>"), "baseline", end=2022, scale=0.01)   # doctest: +SKIP
    >>> r.county[["year", "population"]]                                            # doctest: +SKIP
    """
    keep_freed_memory()  # the process's allocator keeps freed arrays for reuse (workflow.memory says why)
    region = region or load_region(region_folder)
    check_options(region, start, end, scale)
    params = params or load_params(region_folder)
    loaded = load_scenario(region_folder, scenario)
    run_params = params.with_overrides(overrides or {})  # at the start; levers change some later
    overridden = "labour.commute_max_minutes" in (overrides or {})
    check_commute_cap(region, run_params, "the run's parameters" if overridden else Path(region_folder) / "params.yaml")
    interventions = build_interventions(region, loaded, start, end, run_params)
    t0 = time.perf_counter()
    model = MigrationModel(region, params=params, parameters=overrides, start=start, end=end, scale=scale, seed=seed,
                           interventions=interventions)
    while model.running and model.year < end:
        model.step()
        if on_year is not None:
            on_year(model)
    runtime = time.perf_counter() - t0
    county = model.datacollector.get_model_vars_dataframe().reset_index(drop=True)
    townships = pd.DataFrame(model.township_records)
    flows = pd.DataFrame(model.flows, columns=["year", "origin", "destination", "households", "persons"])
    meta = {"region": str(region_folder), "region_name": region.config.name, "scenario": loaded.name,
            "scenario_detail": loaded.to_dict(), "start": start, "end": end, "seed": seed, "scale": scale,
            "parameters": run_params.model_dump(),
            "parameter_overrides": overrides or {}, **provenance(), "runtime_seconds": round(runtime, 3),
            "households_simulated_at_end": model.population.n_households,
            # dwellings the model added at the start where the housing table had fewer than the households there
            "start_housing_added": round(model.start_housing_added, 1),
            "start_housing_added_by_township": model.start_housing_added_by_township}
    commuting = pd.DataFrame(model.commuting, columns=["year", "home", "workplace", "persons"])
    # Mesa's model and its agents refer to each other, so a finished model waits for Python's cycle collector: a
    # worker that runs model after model held two or three runs' columns at once (up to 1.1 GB per worker in a
    # full-scale compare). Letting go of the columns here frees them at once.
    model.population = model.uniforms = None
    return RunResult(county, townships, flows, meta, commuting)
