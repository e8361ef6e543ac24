"""The plan's indicators computed from the population columns.

Shares are independent of scale; counts are divided by ``scale`` to report full-county figures.
See docs/indicators.md for definitions.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from sim.education import higher_education_shares
from sim.population import WORKING_AGE, Population

# Counts, then (see county_columns) one share per township group of the region, then the rest.
COUNT_COLUMNS = ["population", "households", "hukou_population", "migrant_population", "births", "deaths",
                 "in_migrants", "out_migrants"]
RATE_COLUMNS = ["urbanisation", "aged0_14_share", "aged60_share", "dependency_ratio", "mean_household_income"]
EXTRA_COLUMNS = ["hukou_conversions", "mean_household_size", "partnered_share", "partnerships", "separations",
                 "migrant_share", "higher_education_share", "higher_education_20_59", "registered_population"]
FLOW_COLUMNS = ["births", "deaths", "in_migrants", "out_migrants", "labour_arrivals", "nonlabour_arrivals", "recruits",
                "job_losses", "hires", "hukou_conversions"]
# The labour account (sim.labour), after the plan's columns: counts at full scale, rates as shares.
LABOUR_COLUMNS = ["jobs", "employed", "employment_rate", "unemployed", "unfilled_jobs", "unfilled_rate",
                  "out_commuters_external", "in_commuters_external", "labour_arrivals", "nonlabour_arrivals", "recruits",
                  "job_losses", "hires"]


def group_column(group: str) -> str:
    """The county column of a township group's share: the main centre's share is the plan's ``primacy``.

    >>> group_column("main_centre"), group_column("coast")
    ('primacy', 'coast_share')
    """
    return "primacy" if group == "main_centre" else f"{group}_share"


def county_columns(groups: Iterable[str]) -> list[str]:
    """The county table's columns for a region whose township groups (region.yaml ``groups``) are ``groups``.

    >>> county_columns(["main_centre", "coast"])[8:10]
    ['primacy', 'coast_share']
    """
    return [*COUNT_COLUMNS, *(group_column(g) for g in groups), *RATE_COLUMNS, *EXTRA_COLUMNS]


def persons_by_township(pop: Population, n: int) -> np.ndarray:
    """Living residents per township (the count the population keeps: :meth:`Population.counts_by_place`)."""
    return pop.counts_by_place(n)[0].sum(axis=1)


def urban_persons_by_township(pop: Population, n: int) -> np.ndarray:
    """Living residents in the urban part, per township (the count the population keeps)."""
    return pop.counts_by_place(n)[0][:, 0].copy()


# The township age groups: 0-14, 15-59 and 60 and over, as the census tables and the county's ageing indicators.
AGE_BAND_EDGES = (15, 60)
AGE_BAND_COLUMNS = ("aged0_14", "aged15_59", "aged60")


def residents_by_work_and_age(pop: Population, n: int, n_places: int) -> tuple[np.ndarray, np.ndarray]:
    """Employed residents by home township and workplace, and residents by township and age group, in one pass.

    Both are counts of the same living persons by home township, so one gather of each person's township through
    its household serves both: each person falls in one cell of (home, age group, workplace or none). Counted
    apart, the age groups cost the year's collection as much again as the commuting count (10 ms at full scale).

    Parameters
    ----------
    pop : the population.
    n : townships (homes).
    n_places : workplaces: the townships, then the neighbouring labour-market zones.

    Returns
    -------
    (commute, ages): (n, n_places) floats, the employed residents of home i working at j (the same as
    :func:`sim.labour.commuting_matrix`); (n, 3) integers, the residents aged 0-14, 15-59 and 60 and over
    (:data:`AGE_BAND_COLUMNS`).

    Example
    -------
    >>> z = lambda v, t: np.full(3, v, t)
    >>> pop = Population(p_age=np.array([4, 70, 30], np.int16), p_female=z(0, bool), p_hh=np.array([0, 1, 1]),
    ...                  p_skill=z(0, np.int8), p_employed=z(0, bool), p_sector=z(-1, np.int8),
    ...                  p_work=np.array([-1, -1, 1], np.int16), p_unemployed=z(0, bool),
    ...                  p_alive=np.array([True, True, True]), p_wage_factor=z(1, np.float32), p_income=z(0, np.float32),
    ...                  h_township=np.array([1, 0], np.int16), h_urban=np.array([True, True]),
    ...                  h_local=np.array([True, True]), h_tenure=np.array([0, 0]), h_alive=np.array([True, True]))
    >>> commute, ages = residents_by_work_and_age(pop, 2, 3)
    >>> commute.tolist(), ages.tolist()
    ([[0.0, 1.0, 0.0], [0.0, 0.0, 0.0]], [[0, 1, 1], [1, 0, 0]])
    """
    column = n_places + 1  # workplace + 1: 0 is "works nowhere"
    cells = len(AGE_BAND_COLUMNS) * column
    # int16 where the cells fit: the key is a pass over every person, and bincount reads it once more
    kind = np.int16 if n * cells < np.iinfo(np.int16).max else np.int64
    key = pop.h_township[pop.p_hh].astype(kind, copy=False) * kind(cells)
    for edge in AGE_BAND_EDGES:
        key += (pop.p_age >= edge) * kind(column)
    key += pop.p_work
    key += kind(1)
    key[~pop.p_alive] = n * cells  # the dead (who keep their last workplace until compaction) are counted apart
    counts = np.bincount(key, minlength=n * cells + 1)[:n * cells].reshape(n, len(AGE_BAND_COLUMNS), column)
    return counts[:, :, 1:].sum(axis=1).astype(float), counts.sum(axis=2)


def labour_indicators(pop: Population, jobs: np.ndarray, in_commuters: np.ndarray, n: int, scale: float,
                      retirement_age: int, flows: dict[str, float], commute: np.ndarray) -> dict[str, float]:
    """One year's county labour figures (:data:`LABOUR_COLUMNS`).

    ``jobs`` and ``in_commuters`` are (townships, 3) at model scale; ``commute`` is the (homes, workplaces) count of
    employed residents (:func:`residents_by_work_and_age`), workplaces ``>= n`` outside the region. The employment
    rate is employed residents over residents aged 16 to ``retirement_age``.
    """
    alive = pop.p_alive
    employed, in_county = int(commute.sum()), int(commute[:, :n].sum())
    able = np.count_nonzero(alive & (pop.p_age >= WORKING_AGE) & (pop.p_age < retirement_age))
    filled = in_county + float(in_commuters.sum())
    total_jobs = float(jobs.sum())
    out = {"jobs": total_jobs / scale, "employed": employed / scale,
           "employment_rate": employed / able if able else float("nan"),
           "unemployed": np.count_nonzero(alive & pop.p_unemployed) / scale,
           "unfilled_jobs": max(total_jobs - filled, 0.0) / scale,
           "unfilled_rate": max(total_jobs - filled, 0.0) / total_jobs if total_jobs else float("nan"),
           "out_commuters_external": (employed - in_county) / scale,
           "in_commuters_external": float(in_commuters.sum()) / scale}
    for k in ("labour_arrivals", "nonlabour_arrivals", "recruits", "job_losses", "hires"):
        out[k] = flows.get(k, 0.0) / scale
    return out


# The housing account (sim.housing, sim.urbanisation): dwellings at full scale, price indices weighted by occupied
# dwellings, and the year's flows: completions, removals, arrivals turned away and moves blocked for want of a vacant
# dwelling, persons moving to their township's town, and persons in reclassified villages.
HOUSING_COLUMNS = ["dwellings", "vacant_dwellings", "vacancy_rate", "urban_price_index", "rural_price_index",
                   "dwellings_built", "dwellings_removed", "turned_away", "moves_blocked", "to_town", "reclassified"]


def housing_indicators(stock: np.ndarray, occupied: np.ndarray, price: np.ndarray, scale: float,
                       flows: dict[str, float]) -> dict[str, float]:
    """One year's county housing figures (:data:`HOUSING_COLUMNS`); ``stock``, ``occupied`` and ``price`` are
    (townships, [urban, rural]) at model scale.

    >>> r = housing_indicators(np.array([[10.0, 5.0]]), np.array([[9, 3]]), np.array([[1.2, 0.9]]), 0.5, {})
    >>> r["dwellings"], r["vacant_dwellings"], round(r["vacancy_rate"], 3), r["urban_price_index"]
    (30.0, 6.0, 0.2, 1.2)
    """
    total = float(stock.sum())
    weight = np.maximum(occupied, 1e-9)
    out = {"dwellings": total / scale, "vacant_dwellings": (total - float(occupied.sum())) / scale,
           "vacancy_rate": 1.0 - float(occupied.sum()) / total if total else float("nan"),
           "urban_price_index": float((price[:, 0] * weight[:, 0]).sum() / weight[:, 0].sum()),
           "rural_price_index": float((price[:, 1] * weight[:, 1]).sum() / weight[:, 1].sum())}
    for k in ("dwellings_built", "dwellings_removed", "turned_away", "moves_blocked", "to_town", "reclassified"):
        out[k] = flows.get(k, 0.0) / scale
    return out


def group_share(by_township: np.ndarray, members: np.ndarray) -> float:
    """Share of the county living in a group of townships (member indices)."""
    total = by_township.sum()
    return float(by_township[members].sum() / total) if total else float("nan")


def county_indicators(pop: Population, groups: dict[str, np.ndarray], n: int, scale: float, flows: dict[str, float],
                      by_township: np.ndarray | None = None, urban_by_township: np.ndarray | None = None,
                      household_income: np.ndarray | None = None, size: np.ndarray | None = None,
                      registered_away: float | None = None) -> dict[str, float]:
    """One year's county indicators.

    ``groups`` maps each township group of the region to its township indices (each gives a share, see
    :func:`county_columns`); ``flows`` holds the year's births, deaths, in_migrants and out_migrants as simulated persons.
    ``by_township``, ``urban_by_township`` (persons, urban persons), ``household_income`` and ``size`` (living
    members; both per household row) are computed when not given. ``registered_away`` is the region's hukou holders
    living elsewhere (:mod:`sim.registration`, simulated persons): the registered population is the local-hukou
    residents plus them (NaN without it).
    """
    alive = pop.p_alive
    ages = pop.age_counts()  # living persons by single year of age, kept by the population
    by_t = persons_by_township(pop, n) if by_township is None else by_township
    urban_t = urban_persons_by_township(pop, n) if urban_by_township is None else urban_by_township
    total = by_t.sum()
    young = int(ages[:15].sum())
    old = int(ages[60:].sum())
    adults = int(ages[20:].sum())
    working = int(total - young - old)
    size = pop.household_size() if size is None else size
    local = int(size @ pop.h_local)  # persons in households of local hukou (a product: no masked copy of the sizes)
    migrants = int(total) - local
    educated, educated_20_59 = higher_education_shares(pop, ages)
    out = {
        "population": total / scale,
        "households": pop.n_households / scale,
        "hukou_population": local / scale,
        "migrant_population": migrants / scale,
        "births": flows.get("births", 0) / scale,
        "deaths": flows.get("deaths", 0) / scale,
        "in_migrants": flows.get("in_migrants", 0) / scale,
        "out_migrants": flows.get("out_migrants", 0) / scale,
        "urbanisation": float(urban_t.sum() / total) if total else float("nan"),
        "aged0_14_share": young / total if total else float("nan"),
        "aged60_share": old / total if total else float("nan"),
        "dependency_ratio": (young + old) / working if working else float("nan"),
        "mean_household_income": float((pop.household_income() if household_income is None else household_income)[pop.h_alive].mean())
        if pop.n_households else float("nan"),
        "hukou_conversions": flows.get("hukou_conversions", 0) / scale,
        "mean_household_size": total / pop.n_households if pop.n_households else float("nan"),
        # share of residents aged 20 or more who live with a partner
        "partnered_share": np.count_nonzero(alive & (pop.p_partner >= 0) & (pop.p_age >= 20)) / adults if adults else float("nan"),
        "partnerships": flows.get("partnerships", 0) / scale,
        "separations": flows.get("separations", 0) / scale,
        "migrant_share": migrants / total if total else float("nan"),
        # residents with higher education (大专及以上): of all, and of the main working ages 20-59
        "higher_education_share": educated,
        "higher_education_20_59": educated_20_59,
        "registered_population": float("nan") if registered_away is None else (local + registered_away) / scale,
    }
    for group, members in groups.items():
        out[group_column(group)] = group_share(by_t, members)
    return {k: out[k] for k in county_columns(groups)}
