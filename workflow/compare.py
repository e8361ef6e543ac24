"""Compare scenarios across seeds with common random numbers.

Every scenario runs with the same seeds, so seed k of scenario B differs from seed k of
scenario A only by the levers (and by the random draws that follow from them). Differences
are taken seed by seed, then summarised: mean and a 90% interval (5th-95th percentile across
seeds).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from sim.indicators import FLOW_COLUMNS
from workflow.memory import runs_at_once
from workflow.runner import RunResult, cached_region, check_options, prepare, simulate, start_worker

NOT_SUMMARISED = {"year", "scenario", "seed", "member", *FLOW_COLUMNS}  # flows are yearly counts, not states to compare


MEMBER_STRIDE = 1000  # with parameter sets, a run's pairing key is member x 1000 + seed


def _one(job: tuple) -> tuple[str, int, RunResult]:
    region_folder, scenario, start, end, scale, seed, key, overrides = job
    return scenario, key, simulate(region_folder, scenario, start, end, scale, seed, overrides=overrides,
                                   region=cached_region(region_folder))


def run_all(region_folder: Path, scenarios: list[str], seeds: list[int], start: int, end: int, scale: float,
            workers: int = 1, on_done: Callable[[str, int], None] | None = None,
            members: list[dict[str, float]] | None = None) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Run every scenario with every seed, and with every parameter set of ``members`` if given (e.g. the
    non-implausible sets of a history match: then intervals carry parameter uncertainty too).

    Runs are paired across scenarios by the column ``seed``: the seed itself, or ``member × 1000 + seed`` with
    members (a ``member`` column then says which set).

    Returns
    -------
    county : one row per scenario x run x year.
    townships : one row per scenario x run x year x township.
    meta : the first run's provenance per scenario (scenario detail included).
    """
    region = cached_region(region_folder)
    for s in scenarios:  # every file is checked before anything runs
        prepare(region_folder, s, start, end, region=region)
    sets = [(None, None)] if members is None else list(enumerate(members))
    jobs = [(region_folder, s, start, end, scale, seed, seed if m is None else m * MEMBER_STRIDE + seed, values)
            for s in scenarios for m, values in sets for seed in seeds]
    check_options(region, start, end, scale, runs_at_once=runs_at_once(workers, len(jobs)))
    county, towns, meta = [], [], {}
    if workers > 1:
        with ProcessPoolExecutor(max_workers=workers, initializer=start_worker) as pool:
            results = pool.map(_one, jobs)
            for scenario, key, res in results:
                _keep(scenario, key, res, county, towns, meta, members is not None)
                if on_done:
                    on_done(scenario, key)
    else:
        for job in jobs:
            scenario, key, res = _one(job)
            _keep(scenario, key, res, county, towns, meta, members is not None)
            if on_done:
                on_done(scenario, key)
    return pd.concat(county, ignore_index=True), pd.concat(towns, ignore_index=True), meta


def _keep(scenario: str, key: int, res: RunResult, county: list, towns: list, meta: dict, with_members: bool = False) -> None:
    extra = {"member": key // MEMBER_STRIDE} if with_members else {}
    county.append(res.county.assign(scenario=scenario, seed=key, **extra))
    towns.append(res.townships.assign(scenario=scenario, seed=key, **extra))
    meta.setdefault(scenario, {k: v for k, v in res.meta.items() if k not in ("seed", "runtime_seconds", "households_simulated_at_end")})


def paired_interval(differences) -> tuple[float, float, float]:
    """The effect of a scenario as this project defines it everywhere (``compare``, the report, the page): the mean of
    the paired differences over seeds and their 90% interval (5th and 95th percentiles, linear interpolation).

    One seed gives no interval (NaN bounds): a single difference says nothing about seed noise, and a zero-width
    interval would mark every change as beyond it.

    >>> paired_interval([1200.0, 800.0, 1500.0])
    (1166.6666666666667, 840.0, 1470.0)
    >>> paired_interval([250.0])
    (250.0, nan, nan)
    """
    d = np.asarray(differences, float)
    if len(d) < 2:
        return float(d.mean()), float("nan"), float("nan")
    return float(d.mean()), float(np.percentile(d, 5)), float(np.percentile(d, 95))


# The fewest paired differences for which an interval that excludes 0 is called "beyond seed noise". With no effect
# at all, the 5%-95% interval of n differences excludes 0 about as often as all n share a sign, 0.5**(n-1): 25% for
# 3 seeds, 12.5% for 4, 6.25% for 5 (7.8%, 15% and 28% measured with normal differences, 200,000 draws), so from 5
# on the call errs at most about one time in ten, as a 90% interval should.
MIN_PAIRS_FOR_NOISE = 5


def agreement_odds(pairs: int) -> int:
    """``pairs`` paired differences all share a sign one time in this many when the levers change nothing (each
    difference as likely above zero as below, independently): ``2 ** (pairs - 1)``.

    >>> agreement_odds(3)
    4
    """
    return 2 ** (pairs - 1) if pairs >= 1 else 1


def noise_verdict(low: float, high: float, pairs: int) -> str:
    """Whether an effect's 90% interval (:func:`paired_interval`) sets it apart from seed noise.

    Parameters
    ----------
    low, high : the interval's bounds (NaN when there is none: one pair).
    pairs : the number of paired differences behind it.

    Returns
    -------
    ``"beyond"`` (the interval excludes 0, with at least :data:`MIN_PAIRS_FOR_NOISE` pairs), ``"within"`` (it
    includes 0), ``"few"`` (it excludes 0, but with so few pairs that an unchanged place would too, often:
    see :func:`agreement_odds`) or ``"none"`` (no interval).

    >>> noise_verdict(840.0, 1470.0, 20), noise_verdict(840.0, 1470.0, 3), noise_verdict(-5.0, 9.0, 3)
    ('beyond', 'few', 'within')
    """
    if not (low == low and high == high):
        return "none"
    if low <= 0 <= high:
        return "within"
    return "beyond" if pairs >= MIN_PAIRS_FOR_NOISE else "few"


def difference_text(mean: float, low: float, high: float, pairs: int, fmt=lambda v: f"{v:+,.0f}", unit: str = "") -> str:
    """A paired difference as every table prints it: the mean, its interval [low, high] (none from one pair), the
    ``unit``, and a star where it is beyond seed noise (:func:`noise_verdict`).

    >>> difference_text(4312.0, 36.0, 7224.0, 5), difference_text(4312.0, 36.0, 7224.0, 3)
    ('+4,312 [+36, +7,224]*', '+4,312 [+36, +7,224]')
    >>> difference_text(0.005, float("nan"), float("nan"), 1, lambda v: f"{100 * v:+.2f}", " pt")
    '+0.50 pt'
    """
    interval = f" [{fmt(low)}, {fmt(high)}]" if low == low else ""
    star = "*" if noise_verdict(low, high, pairs) == "beyond" else ""
    return f"{fmt(mean)}{interval}{unit}{star}"


def summarise(county: pd.DataFrame, scenarios: list[str], years: list[int], targets: dict | None = None,
              indicators: list[str] | None = None) -> pd.DataFrame:
    """Mean and 90% interval of each indicator per scenario and year, and the paired difference from the first scenario.

    Parameters
    ----------
    county : rows scenario, seed, year and indicator columns (from :func:`run_all`).
    scenarios : in order; the first is the reference for differences.
    years : years to summarise.
    targets : indicator -> Target (``region.config.targets``) to add target, met (by the mean) and met_share (of seeds).
    indicators : the columns to summarise (default: every indicator column that has a value).

    Example
    -------
    >>> c = pd.DataFrame({"scenario": ["a", "a", "b", "b"], "seed": [1, 2, 1, 2], "year": 2025, "population": [10, 20, 13, 22]})
    >>> s = summarise(c, ["a", "b"], [2025], indicators=["population"])
    >>> s.loc[s.scenario == "b", ["mean", "diff_mean"]].values.tolist()
    [[17.5, 2.5]]
    """
    # a column the region cannot give (the registered population without a census count to start from) is all NaN
    indicators = indicators or [c for c in county.columns if c not in NOT_SUMMARISED and county[c].notna().any()]
    targets = targets or {}
    rows = []
    c = county[county.year.isin(years)]
    ref = c[c.scenario == scenarios[0]].set_index(["seed", "year"])
    for s in scenarios:
        cs = c[c.scenario == s].set_index(["seed", "year"])
        for ind in indicators:
            for y in years:
                v = cs.xs(y, level="year")[ind]
                d = (v - ref.xs(y, level="year")[ind].reindex(v.index)).dropna()
                diff = paired_interval(d.to_numpy()) if len(d) else (float("nan"),) * 3
                spread = len(v) > 1  # one seed: no interval (see paired_interval)
                row = {"scenario": s, "indicator": ind, "year": y, "seeds": len(v), "mean": v.mean(),
                       "p05": v.quantile(0.05) if spread else np.nan, "p95": v.quantile(0.95) if spread else np.nan,
                       "diff_mean": diff[0], "diff_p05": diff[1], "diff_p95": diff[2]}
                t = targets.get(ind)
                if t is not None and y in t.by_year:
                    row.update(target=t.by_year[y], kind=t.kind, met=bool(t.met(v.mean(), y)),
                               met_share=float(np.mean([t.met(x, y) for x in v])))
                rows.append(row)
    return pd.DataFrame(rows)


def township_difference(townships: pd.DataFrame, scenarios: list[str], year: int) -> pd.DataFrame:
    """Mean township population per scenario in ``year`` and its paired difference from the first scenario.

    Returns one row per scenario x township with columns population, diff_mean, diff_p05, diff_p95 and pairs (the
    number of paired differences behind the interval).
    """
    t = townships[townships.year == year].set_index(["seed", "township"])
    ref = t[t.scenario == scenarios[0]]["population"]
    rows = []
    for s in scenarios:
        pop = t[t.scenario == s]["population"]
        d = (pop - ref.reindex(pop.index)).groupby(level="township")
        m = pop.groupby(level="township").mean()
        for code in m.index:
            g = d.get_group(code).dropna().to_numpy()
            diff = paired_interval(g) if len(g) else (float("nan"),) * 3
            rows.append({"scenario": s, "township": code, "population": m[code], "diff_mean": diff[0],
                         "diff_p05": diff[1], "diff_p95": diff[2], "pairs": len(g)})
    return pd.DataFrame(rows)


def target_checks(targets: dict, county: pd.DataFrame) -> list[dict]:
    """One run's plan indicators in the target years: each with its value, goal and whether it is met.

    Parameters
    ----------
    targets : indicator -> Target (``region.config.targets``).
    county : one run's county table (a ``year`` column and indicator columns).

    Returns
    -------
    Dicts with indicator, label, unit, kind, year, value, goal, met; indicators the table lacks are skipped.

    Example
    -------
    >>> [r["met"] for r in target_checks(region.config.targets, result.county)]   # doctest: +SKIP
    [False, False, True, ...]
    """
    by_year = county.set_index("year")
    rows = []
    for key, target in targets.items():
        if key not in by_year.columns:
            continue
        for year, goal in sorted(target.by_year.items()):
            if year in by_year.index:
                value = float(by_year.loc[year, key])
                rows.append({"indicator": key, "label": target.label, "unit": target.unit, "kind": target.kind,
                             "year": year, "value": value, "goal": goal, "met": bool(target.met(value, year))})
    return rows
