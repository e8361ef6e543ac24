"""History matching: which parameter sets a hindcast cannot rule out, and what that leaves uncertain.

A point estimate (``workflow.calibration.fit``) hides how well the data pin the parameters down: two rates that trade
off along a ridge fit equally well and project differently. History matching (Craig et al. 1997; Vernon, Goldstein
and Bower 2010, *Bayesian Analysis*) instead samples the parameter box (a Latin hypercube), runs the hindcast for
each sample with a few seeds, and rules out the samples whose **implausibility**

    I_k = |mean simulated − observed| / sqrt(tolerance_k² + seed variance_k / seeds)

exceeds 3 for any target k. The tolerance (``workflow.calibration.tolerance``: 1% of the county population, 1 point of
a share, 5% township MAPE) stands for observation error and model discrepancy together. What remains is the
non-implausible set: its ranges say which parameters the data pin down, its correlations which trade off, and runs
of its members carry parameter uncertainty into projections.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from geo.region import Region
from sim.params import Params
from workflow.calibration import Checkpoint, Targets, seed_errors, tolerance
from workflow.memory import runs_at_once
from workflow.runner import cached_region, check_options, start_worker

CUTOFF = 3.0  # the three-sigma rule (Pukelsheim 1994) used in history matching


def latin_hypercube(bounds: dict[str, tuple[float, float]], n: int, rng: np.random.Generator) -> pd.DataFrame:
    """``n`` samples of the box ``bounds``, one per row: every parameter's range is cut into ``n`` equal strata and
    each stratum is used once (a Latin hypercube), in random pairing.

    >>> s = latin_hypercube({"a": (0.0, 1.0), "b": (10.0, 20.0)}, 4, np.random.default_rng(0))
    >>> sorted((s.a * 4).astype(int).tolist()), sorted(((s.b - 10) / 10 * 4).astype(int).tolist())
    ([0, 1, 2, 3], [0, 1, 2, 3])
    """
    cols = {}
    for name, (lo, hi) in bounds.items():
        strata = (rng.permutation(n) + rng.random(n)) / n
        cols[name] = lo + strata * (hi - lo)
    return pd.DataFrame(cols)


def implausibility(errs: pd.DataFrame, tolerances: dict[str, float] | None = None) -> pd.Series:
    """Implausibility of one parameter set per target, from its errors per seed (rows: seeds; columns: targets, as
    :func:`workflow.calibration.errors` gives them); ``tolerances`` replaces the default tolerance of the targets it
    names (:func:`workflow.calibration.tolerance`).

    >>> implausibility(pd.DataFrame({"population": [0.02, 0.04], "urbanisation": [0.0, 0.0]})).round(2).to_dict()
    {'population': 2.12, 'urbanisation': 0.0}
    >>> implausibility(pd.DataFrame({"primacy": [0.03, 0.03]}), {"primacy": 0.005}).round(2).to_dict()
    {'primacy': 6.0}
    """
    n = len(errs)
    var = errs.var(ddof=1) if n > 1 else errs.iloc[0] * 0.0
    tol = pd.Series({k: tolerance(k, tolerances) for k in errs.columns})
    return errs.mean().abs() / np.sqrt(tol ** 2 + var / n)


def _evaluate(job: tuple) -> dict:
    region_folder, targets, start, values, seeds, scale, params, checkpoint, tolerances = job
    region = cached_region(region_folder)
    errs = pd.DataFrame([seed_errors(region_folder, region, targets, start, values, seed, scale, params, checkpoint)
                         for seed in seeds])
    imp = implausibility(errs, tolerances)
    return {**values, **{f"error_{k}": v for k, v in errs.mean().items()}, **{f"I_{k}": v for k, v in imp.items()}}


def history_match(region_folder: Path, region: Region, targets: Targets, start: int, bounds: dict[str, tuple[float, float]],
                  samples: int, seeds: list[int], scale: float, params: Params | None = None, holdout: tuple[str, ...] = (),
                  workers: int = 1, seed: int = 0, cutoff: float = CUTOFF, checkpoint: Checkpoint | None = None,
                  tolerances: dict[str, float] | None = None) -> pd.DataFrame:
    """Run the hindcast ``start`` → ``targets.year`` for a Latin hypercube of ``samples`` parameter sets (``seed`` draws
    the design), each with ``seeds``; one row per set: the parameters, mean errors, implausibility per target, the
    largest over the targets not held out (``I_max``) and whether the set is non-implausible (``I_max`` ≤ ``cutoff``).
    With a ``checkpoint``, every finished run is kept there, so a killed history match resumes where it stopped.
    ``tolerances`` replaces the default tolerance of the targets it names (observation error and model discrepancy
    together: a judgement, so it is an option and recorded).
    """
    design = latin_hypercube(bounds, samples, np.random.default_rng(seed))
    jobs = [(region_folder, targets, start, row, seeds, scale, params, checkpoint, tolerances)
            for row in design.to_dict("records")]
    check_options(region, start, targets.year, scale, runs_at_once=runs_at_once(workers, len(jobs)))
    if workers <= 1:
        rows = [_evaluate(j) for j in jobs]
    else:
        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                                 initializer=start_worker) as pool:
            rows = list(pool.map(_evaluate, jobs, chunksize=max(1, samples // (4 * workers))))
    out = pd.DataFrame(rows)
    used = [c for c in out.columns if c.startswith("I_") and c[2:] not in holdout]
    out["I_max"] = out[used].max(axis=1)
    out["plausible"] = out.I_max <= cutoff
    return out


def summary(table: pd.DataFrame, bounds: dict[str, tuple[float, float]]) -> pd.DataFrame:
    """Per parameter: its box, the range and 5%-95% of the non-implausible sets, and the share of the box they span
    (near 1: the data do not pin it down; small: they do).

    >>> t = pd.DataFrame({"a": [0.1, 0.2, 0.9], "plausible": [True, True, False]})
    >>> summary(t, {"a": (0.0, 1.0)}).loc["a", ["low", "high", "share_of_box"]].round(2).tolist()
    [0.1, 0.2, 0.1]
    """
    keep = table[table.plausible]
    rows = {}
    for name, (lo, hi) in bounds.items():
        v = keep[name]
        rows[name] = {"box_low": lo, "box_high": hi, "plausible_sets": len(v),
                      "low": v.min() if len(v) else np.nan, "high": v.max() if len(v) else np.nan,
                      "p05": v.quantile(0.05) if len(v) else np.nan, "p95": v.quantile(0.95) if len(v) else np.nan,
                      "share_of_box": (v.max() - v.min()) / (hi - lo) if len(v) else np.nan}
    return pd.DataFrame(rows).T


def ruled_out_by(table: pd.DataFrame, used: list[str], cutoff: float = CUTOFF) -> pd.Series:
    """How many sets each target rules out (implausibility above ``cutoff``), most first: which targets the model
    finds hardest to meet over the box. A set missing two targets counts for both.

    >>> t = pd.DataFrame({"I_primacy": [4.0, 1.0, 5.0], "I_population": [0.5, 3.5, 0.2]})
    >>> ruled_out_by(t, ["primacy", "population"]).to_dict()
    {'primacy': 2, 'population': 1}
    """
    counts = pd.Series({name: int((table[f"I_{name}"] > cutoff).sum()) for name in used}, dtype=int)
    return counts.sort_values(ascending=False, kind="stable")


def correlations(table: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """Correlations between the parameters over the non-implausible sets: strong ones are ridges the data cannot
    separate (two rates that trade off)."""
    keep = table[table.plausible]
    return keep[names].corr() if len(keep) > 2 else pd.DataFrame(np.nan, index=names, columns=names)
