"""The plan's indicators computed from the population columns.

Shares are independent of scale; counts are divided by ``scale`` to report full-county figures.
See docs/indicators.md for definitions.
"""

from __future__ import annotations

import numpy as np

from sim.population import Population

COUNTY_COLUMNS = ["population", "households", "hukou_population", "migrant_population", "births", "deaths",
                  "in_migrants", "out_migrants", "primacy", "gupanshan_share", "shuitou_share", "western_share",
                  "urbanisation", "aged0_14_share", "aged60_share", "dependency_ratio",
                  "mean_household_income"]


def persons_by_township(pop: Population, n: int) -> np.ndarray:
    return np.bincount(pop.h_township[pop.p_hh[pop.p_alive]], minlength=n)


def urban_persons_by_township(pop: Population, n: int) -> np.ndarray:
    alive = pop.p_alive
    hh = pop.p_hh[alive]
    return np.bincount(pop.h_township[hh], weights=pop.h_urban[hh], minlength=n).astype(np.int64)


def group_share(by_township: np.ndarray, members: np.ndarray) -> float:
    """Share of the county living in a group of townships (member indices)."""
    total = by_township.sum()
    return float(by_township[members].sum() / total) if total else float("nan")


def county_indicators(pop: Population, groups: dict[str, np.ndarray], n: int, scale: float, flows: dict[str, float]) -> dict[str, float]:
    """One year's county indicators.

    ``groups`` maps main_centre / gupanshan / shuitou / western to township indices (any may be absent);
    ``flows`` holds the year's births, deaths, in_migrants and out_migrants as simulated persons.
    """
    alive = pop.p_alive
    age = pop.p_age[alive]
    by_t = persons_by_township(pop, n)
    total = by_t.sum()
    young = int((age < 15).sum())
    old = int((age >= 60).sum())
    working = int(total - young - old)
    local = pop.h_local[pop.p_hh[alive]]
    out = {
        "population": total / scale,
        "households": pop.n_households / scale,
        "hukou_population": int(local.sum()) / scale,
        "migrant_population": int((~local).sum()) / scale,
        "births": flows.get("births", 0) / scale,
        "deaths": flows.get("deaths", 0) / scale,
        "in_migrants": flows.get("in_migrants", 0) / scale,
        "out_migrants": flows.get("out_migrants", 0) / scale,
        "urbanisation": float(urban_persons_by_township(pop, n).sum() / total) if total else float("nan"),
        "aged0_14_share": young / total if total else float("nan"),
        "aged60_share": old / total if total else float("nan"),
        "dependency_ratio": (young + old) / working if working else float("nan"),
        "mean_household_income": float(pop.household_income()[pop.h_alive].mean()) if pop.n_households else float("nan"),
    }
    for key, name in (("main_centre", "primacy"), ("gupanshan", "gupanshan_share"), ("shuitou", "shuitou_share"), ("western", "western_share")):
        out[name] = group_share(by_t, groups[key]) if key in groups else float("nan")
    return {k: out[k] for k in COUNTY_COLUMNS}
