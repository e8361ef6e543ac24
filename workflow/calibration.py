"""Calibration: fit behavioural parameters so a hindcast reproduces a census, and check a projection.

The loss counts each target's error in units of its tolerance (county population 1%, township
populations 5% mean absolute percentage error, shares 1 percentage point), squared and summed;
a loss component at or below 1 means that target is met. Runs use fixed seeds (common random
numbers), so the loss is a deterministic function of the parameters and Nelder-Mead can search it.
One fit per seed gives the spread of the fitted values across seeds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from geo.region import Region
from sim.indicators import group_column
from sim.params import Params, parameter_value
from workflow.memory import runs_at_once
from workflow.runner import check_options, simulate, start_worker

# township_mape is the mean absolute percentage error of the townships' shares of the county; every share target
# (township groups, urbanisation, 60+) is met within 1 percentage point
TOLERANCE = {"population": 0.01, "township_mape": 0.05}
SHARE_TOLERANCE = 0.01


def tolerance(target: str, overrides: dict[str, float] | None = None) -> float:
    """How far a target may be missed: 1% of the county population, 5% township MAPE, 1 point for any share, unless
    ``overrides`` (``history-match --tolerance``) names the target.

    >>> tolerance("primacy"), tolerance("primacy", {"primacy": 0.005}), tolerance("population", {"primacy": 0.005})
    (0.01, 0.005, 0.01)
    """
    if overrides and target in overrides:
        return overrides[target]
    return TOLERANCE.get(target, SHARE_TOLERANCE)


def parse_tolerances(specs: list[str], known: list[str]) -> dict[str, float]:
    """``["primacy=0.005", ...]`` as {target: tolerance}, in the targets' own units (a share, or a relative error for
    the county population and the township MAPE); a clear error for an unknown target or a value that is not positive.

    >>> parse_tolerances(["primacy=0.005"], ["population", "primacy"])
    {'primacy': 0.005}
    """
    from geo.region import RegionDataError

    out = {}
    for spec in specs:
        name, _, value = spec.partition("=")
        if name not in known:
            raise RegionDataError("--tolerance", f"{spec!r}: unknown target {name!r} (targets of this hindcast: {', '.join(known)})")
        try:
            out[name] = float(value)
        except ValueError:
            raise RegionDataError("--tolerance", f"{spec!r}: expected TARGET=VALUE, e.g. primacy=0.005 (half a point)") from None
        if not 0 < out[name] < float("inf"):
            raise RegionDataError("--tolerance", f"{spec!r}: a tolerance must be a positive number")
    return out

#: parameters fitted by default, with bounds
DEFAULT_FREE = {
    "migration.nonlabour_per_1000_persons": (0.0, 30.0),
    # the labour account's two most influential parameters (Morris screening, docs/batch.md)
    "labour.search_rate_inactive": (0.05, 0.4),
    "moves.beta_commute_per_hour": (1.0, 6.0),
    # up to 3: a fit of a region's moves can need a constant above 2 (the first region's stored fit: 2.14)
    "moves.leave_constant": (-1.0, 3.0),
    # at most 1: a place is an aggregate of dwellings, and random utility allows its log size a weight of 1 at most
    # (McFadden 1978; Ben-Akiva and Lerman 1985, ch. 9; configs/pingyang/params.yaml)
    "moves.beta_size": (0.3, 1.0),
    "moves.beta_access": (0.3, 3.0),
    "moves.beta_price": (0.2, 2.5),
    "urbanisation.rural_to_urban_rate": (0.002, 0.05),
    "demography.tfr": (0.9, 2.0),
}


@dataclass
class Targets:
    """What a hindcast should reproduce in ``year``: county population, township populations and county shares."""

    year: int
    population: float
    townships: dict[str, float]
    shares: dict[str, float] = field(default_factory=dict)   # group shares (primacy, ...), urbanisation, aged60_share

    @property
    def names(self) -> list[str]:
        """The targets' names, as :func:`errors` gives them (``--holdout`` and ``--tolerance`` name these).

        >>> Targets(2020, 1000.0, {}, {"urbanisation": 0.6}).names
        ['population', 'township_mape', 'urbanisation']
        """
        return ["population", "township_mape", *self.shares]


def census_targets(region: Region, year: int, population_key: str = "population") -> Targets:
    """Targets from the region's census of ``year`` (region.yaml census and townships.csv).

    ``population_key`` names the census entry used for the county total (e.g. a trend estimate that leaves
    out a one-off statistical jump); township targets are shares, so they do not depend on it.
    """
    census = region.config.census[year]
    if population_key not in census:
        raise KeyError(f"region.yaml census.{year} has no {population_key!r} (has: {', '.join(census)})")
    # census.<year>.<group>_share for a township group of region.yaml becomes that group's county column
    names = {f"{g}_share": group_column(g) for g in region.config.groups}
    names.update({"urbanisation": "urbanisation", "age_60_plus": "aged60_share"})
    shares = {ours: census[theirs].value for theirs, ours in names.items() if theirs in census}
    if "floating_population" in census and "population" in census:
        # residents without local hukou as a share of the census residents (a share, so the trend total does not matter)
        shares["migrant_share"] = census["floating_population"].value / census["population"].value
    return Targets(year, census[population_key].value, {t.code: getattr(t, f"pop_{year}") for t in region.townships}, shares)


def errors(county: pd.DataFrame, townships: pd.DataFrame, targets: Targets) -> dict[str, float]:
    """Signed errors of one run against the targets (relative for populations, absolute for shares)."""
    c = county.set_index("year").loc[targets.year]
    t = townships[townships.year == targets.year].set_index("township").population
    sim_t = np.array([t[k] for k in targets.townships], float)
    obs_t = np.array(list(targets.townships.values()), float)
    # townships are compared as shares of the county, so the county total is a separate target
    sim_s, obs_s = sim_t / sim_t.sum(), obs_t / obs_t.sum()
    out = {"population": c.population / targets.population - 1.0,
           "township_mape": float(np.mean(np.abs(sim_s - obs_s) / obs_s))}
    for k, v in targets.shares.items():
        out[k] = float(c[k]) - v
    return out


def loss(errs: dict[str, float], holdout: tuple[str, ...] = ()) -> float:
    """Sum of squared errors in units of their tolerance, without the held-out targets."""
    return float(sum((v / tolerance(k)) ** 2 for k, v in errs.items() if k not in holdout))


@dataclass
class FitResult:
    values: dict[str, float]
    loss: float
    evaluations: int
    seconds: float


@dataclass(frozen=True)
class Checkpoint:
    """Where a long fit appends its finished evaluations (``workflow.outdir.EvaluationCache``), and ``context``: a
    text that changes whenever an evaluation's result could (the command's options, the commit, the region's files)."""

    folder: Path
    context: str


def seed_errors(region_folder: Path, region: Region, targets: Targets, start: int, values: dict[str, float], seed: int,
                scale: float, params: Params | None, checkpoint: Checkpoint | None = None) -> dict[str, float]:
    """The hindcast's errors for one parameter set and seed; read from ``checkpoint`` if an interrupted fit already
    ran it, and appended there once done (so a killed fit resumes where it stopped, with identical results)."""
    cache = key = None
    if checkpoint is not None:
        from workflow.outdir import EvaluationCache

        cache = EvaluationCache(checkpoint.folder)
        key = cache.key({"context": checkpoint.context, "start": start, "year": targets.year, "seed": seed, "scale": scale,
                         "values": values})
        hit = cache.get(key)
        if hit is not None:
            return hit
    res = simulate(region_folder, "baseline", start, targets.year, scale, seed, overrides=values, region=region, params=params)
    errs = {k: float(v) for k, v in errors(res.county, res.townships, targets).items()}
    if cache is not None:
        cache.put(key, errs)
    return errs


def outside_box(params: Params, free: dict[str, tuple[float, float]]) -> list[str]:
    """One sentence per free parameter whose value in ``params`` lies outside its box: a fit starts at the box's
    edge instead, and a history match cannot keep the region's own value.

    >>> outside_box(Params(), {"demography.tfr": (1.5, 2.0)})[0][:60]
    'demography.tfr is 1.3 in the region, outside the box 1.5 to '
    """
    notes = []
    for name, (lo, hi) in free.items():
        value = parameter_value(params, name)
        if not lo <= value <= hi:
            notes.append(f"{name} is {value:.4g} in the region, outside the box {lo:g} to {hi:g}; widen the box with "
                         f"--free {name}=LOW:HIGH to include it")
    return notes


def fit(region_folder: Path, region: Region, targets: Targets, start: int, free: dict[str, tuple[float, float]],
        seeds: list[int], scale: float, params: Params | None = None, holdout: tuple[str, ...] = ("aged60_share",),
        max_evaluations: int = 100, initial: dict[str, float] | None = None,
        checkpoint: Checkpoint | None = None) -> FitResult:
    """Nelder-Mead over the free parameters (scaled to [0, 1] within their bounds), mean loss over ``seeds``.

    Example
    -------
    >>> r = fit(Path("configs/<region>"), region, census_targets(region, 2020), 2010,
    ...         {"migration.nonlabour_per_1000_persons": (4, 60)}, seeds=[1], scale=0.05)   # doctest: +SKIP
    """
    from scipy.optimize import minimize

    params = params or Params()
    names = list(free)
    lo = np.array([free[n][0] for n in names], float)
    hi = np.array([free[n][1] for n in names], float)
    start_values = np.array([(initial or {}).get(n, parameter_value(params, n)) for n in names], float)
    x0 = np.clip((start_values - lo) / (hi - lo), 0.0, 1.0)
    calls = {"n": 0}

    def objective(x: np.ndarray) -> float:
        calls["n"] += 1
        values = dict(zip(names, lo + np.clip(x, 0.0, 1.0) * (hi - lo)))
        total = 0.0
        for seed in seeds:
            total += loss(seed_errors(region_folder, region, targets, start, values, seed, scale, params, checkpoint), holdout)
        # leaving the box is penalised rather than clipped silently, so the simplex comes back
        return total / len(seeds) + 1e3 * float(np.sum(np.clip(x - 1, 0, None) ** 2 + np.clip(-x, 0, None) ** 2))

    t0 = time.perf_counter()
    res = minimize(objective, x0, method="Nelder-Mead",
                   options={"maxfev": max_evaluations, "xatol": 1e-3, "fatol": 1e-3, "initial_simplex": _simplex(x0)})
    best = dict(zip(names, (lo + np.clip(res.x, 0.0, 1.0) * (hi - lo)).tolist()))
    return FitResult(best, float(res.fun), calls["n"], time.perf_counter() - t0)


def _fit_one(job: tuple) -> tuple[int, FitResult]:
    region_folder, targets, start, free, seed, scale, params, holdout, max_evaluations, checkpoint = job
    from workflow.runner import cached_region

    return seed, fit(region_folder, cached_region(region_folder), targets, start, free, [seed], scale, params, holdout,
                     max_evaluations, checkpoint=checkpoint)


def fit_seeds(region_folder: Path, region: Region, targets: Targets, start: int, free: dict[str, tuple[float, float]],
              seeds: list[int], scale: float, params: Params | None = None, holdout: tuple[str, ...] = ("aged60_share",),
              max_evaluations: int = 100, workers: int = 1, checkpoint: Checkpoint | None = None):
    """One :func:`fit` per seed (the spread across seeds is the fit's uncertainty), in ``workers`` processes.

    Yields (seed, FitResult) in seed order.
    """
    jobs = [(region_folder, targets, start, free, s, scale, params, holdout, max_evaluations, checkpoint) for s in seeds]
    check_options(region, start, targets.year, scale, runs_at_once=runs_at_once(workers, len(jobs)))
    if workers <= 1:
        for s in seeds:
            yield s, fit(region_folder, region, targets, start, free, [s], scale, params, holdout, max_evaluations,
                         checkpoint=checkpoint)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # spawn, not fork: the caller may have threads (a Dask client, a server), which fork does not copy safely
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                                 initializer=start_worker) as pool:
        yield from pool.map(_fit_one, jobs)


def parse_free(specs: list[str]) -> dict[str, tuple[float, float]]:
    """``["moves.stay_bonus=0.5:4", ...]`` as {name: (low, high)}; a clear error for a bad name or range.

    >>> parse_free(["demography.tfr=0.9:2"])
    {'demography.tfr': (0.9, 2.0)}
    """
    from geo.region import RegionDataError
    from workflow.io import check_parameter_name, check_values

    out = {}
    for spec in specs:
        name, _, bounds = spec.partition("=")
        check_parameter_name("--free", name)
        try:
            low, high = (float(v) for v in bounds.split(":"))
        except ValueError:
            raise RegionDataError("--free", f"{spec!r}: expected NAME=LOW:HIGH, e.g. moves.stay_bonus=0.5:4") from None
        if not low < high:
            raise RegionDataError("--free", f"{spec!r}: the low bound must be below the high bound")
        for bound in (low, high):  # both bounds must be values the parameter allows
            check_values("--free", Params(), {name: bound})
        out[name] = (low, high)
    return out


def _simplex(x0: np.ndarray, step: float = 0.25) -> np.ndarray:
    """A starting simplex of wide steps (a quarter of each range), towards the middle of the box."""
    pts = [x0]
    for i in range(len(x0)):
        p = x0.copy()
        p[i] = p[i] + step if p[i] + step <= 1 else p[i] - step
        pts.append(p)
    return np.array(pts)


def evaluate(region_folder: Path, region: Region, targets: Targets, start: int, values: dict[str, float], seeds: list[int],
             scale: float, params: Params | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Errors per seed (one row each) and township populations (simulated mean vs target) for a parameter set."""
    rows, towns = [], []
    for seed in seeds:
        res = simulate(region_folder, "baseline", start, targets.year, scale, seed, overrides=values, region=region, params=params)
        e = errors(res.county, res.townships, targets)
        c = res.county.set_index("year").loc[targets.year]
        rows.append({"seed": seed, **{f"error_{k}": v for k, v in e.items()}, "population": c.population,
                     **{k: c[k] for k in targets.shares}})
        t = res.townships[res.townships.year == targets.year].set_index("township").population
        towns.append(t)
    sim = pd.concat(towns, axis=1).mean(axis=1)
    tdf = pd.DataFrame({"township": list(targets.townships), "target": list(targets.townships.values()),
                        "simulated": [sim[k] for k in targets.townships]})
    tdf["target_share"] = tdf.target / tdf.target.sum()
    tdf["simulated_share"] = tdf.simulated / tdf.simulated.sum()
    tdf["error_pct"] = (tdf.simulated_share / tdf.target_share - 1) * 100
    return pd.DataFrame(rows), tdf
