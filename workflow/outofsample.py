"""Out-of-sample check: the model's baseline against county statistics published after the start year.

The statistics are region data (``observed.csv``, :class:`geo.region.Observation`), each marked ``fit`` (used to set
a parameter) or ``held_out`` (never used). Beside the model stand simple benchmarks a reviewer would ask for: no change
since the start census, the trend between the two censuses before it, and the plan's own PADIS-INT projections.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from geo.region import Observation, Region

PER_1000 = {"birth_rate": "births", "death_rate": "deaths"}


def simulated(county: pd.DataFrame, indicator: str) -> pd.Series:
    """The model's value of an observed indicator per row of a county table (``birth_rate`` and ``death_rate`` per
    1,000 residents).

    >>> simulated(pd.DataFrame({"population": [1000.0], "births": [5.0]}), "birth_rate").tolist()
    [5.0]
    """
    if indicator in PER_1000:
        return county[PER_1000[indicator]] / county["population"] * 1000.0
    return county[indicator]


def benchmarks(region: Region, start: int, indicator: str, year: int) -> dict[str, float]:
    """Benchmark values for one observed figure: ``no_change`` (the start census), ``trend`` (the change between the
    last two censuses up to the start, continued: compound growth for population, linear for shares) and the plan's
    ``padis_low`` / ``padis_mid`` / ``padis_high`` for population. Missing ones are NaN."""
    census = region.config.census
    out = {k: float("nan") for k in ("no_change", "trend", "padis_low", "padis_mid", "padis_high")}
    years = sorted(y for y in census if y <= start and indicator in census[y])
    if start in census and indicator in census[start]:
        now = census[start][indicator].value
        out["no_change"] = now
        if len(years) >= 2:
            y0 = years[-2]
            before = census[y0][indicator].value
            span = start - y0
            if indicator == "population":
                out["trend"] = now * (now / before) ** ((year - start) / span)
            else:
                out["trend"] = now + (now - before) / span * (year - start)
    proj = region.config.projection
    if indicator == "population" and proj is not None and year in proj.resident:
        out["padis_low"], out["padis_mid"], out["padis_high"] = proj.resident[year]
    return out


def out_of_sample(county_runs: pd.DataFrame, observed: tuple[Observation, ...], region: Region, start: int) -> pd.DataFrame:
    """One row per observed figure within the runs' years: observed, model mean and 5%-95% over seeds, model error,
    and the benchmarks (:func:`benchmarks`) with their errors.

    ``county_runs`` is the county table of several seeds (a ``seed`` column), as ``run.py validate`` writes it.
    """
    rows = []
    by_year = county_runs.groupby("year")
    for o in observed:
        if o.year not in by_year.groups or o.year <= start:
            continue
        sim = simulated(by_year.get_group(o.year), o.indicator)
        row = {"year": o.year, "indicator": o.indicator, "use": o.use, "observed": o.value, "model": float(sim.mean()),
               "model_p05": float(sim.quantile(0.05)), "model_p95": float(sim.quantile(0.95))}
        row.update(benchmarks(region, start, o.indicator, o.year))
        for k in ("model", "no_change", "trend", "padis_low", "padis_mid", "padis_high"):
            row[f"error_{k}"] = row[k] - o.value
        rows.append(row)
    return pd.DataFrame(rows)


def scores(table: pd.DataFrame) -> pd.DataFrame:
    """Mean absolute error of the model and each benchmark over the held-out figures, per indicator (population also
    in percent of the observed value). Methods without a value for some figure are scored on the figures they have.

    >>> t = pd.DataFrame({"indicator": ["population"] * 2, "use": ["held_out"] * 2, "observed": [100.0, 200.0],
    ...                   "error_model": [1.0, -2.0], "error_no_change": [0.0, np.nan]})
    >>> scores(t).loc["population", ["model", "model_pct", "no_change"]].tolist()
    [1.5, 1.0, 0.0]
    """
    held = table[table.use == "held_out"]
    methods = [c[len("error_"):] for c in table.columns if c.startswith("error_")]
    out = {}
    for ind, grp in held.groupby("indicator"):
        rec = {}
        for m in methods:
            err = grp[f"error_{m}"]
            ok = err.notna()
            rec[m] = float(err[ok].abs().mean()) if ok.any() else np.nan
            if ind == "population":
                rec[f"{m}_pct"] = float((err[ok].abs() / grp.observed[ok]).mean() * 100) if ok.any() else np.nan
        out[ind] = rec
    return pd.DataFrame(out).T
