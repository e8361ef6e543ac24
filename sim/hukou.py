"""Hukou conversion (落户): migrant households registering local hukou after years of residence.

A migrant household that has lived in the region for ``min_years`` or more converts in a year with probability
``conversion_rate`` x ``owner_factor`` (home owners) x (1 + ``openness_gain`` x openness), at most 1. Openness is the
policy lever ``moves.hukou_openness`` (0: the start year's rules, 1: fully open), so a hukou reform changes who
becomes local, not only who comes and stays.
"""

from __future__ import annotations

import numpy as np

from sim.params import Hukou
from sim.population import OWNER, Population


def conversion_probability(years: np.ndarray, tenure: np.ndarray, openness: float, p: Hukou) -> np.ndarray:
    """Yearly chance that a migrant household converts, by years of residence and tenure.

    >>> from sim.params import Hukou
    >>> conversion_probability(np.array([2, 6, 6]), np.array([1, 1, 0]), 0.0, Hukou()).tolist()
    [0.0, 0.01, 0.03]
    >>> conversion_probability(np.array([6]), np.array([1]), 1.0, Hukou()).round(6).tolist()
    [0.05]
    """
    rate = p.conversion_rate * np.where(tenure == OWNER, p.owner_factor, 1.0) * (1.0 + p.openness_gain * openness)
    return np.where(years >= p.min_years, np.clip(rate, 0.0, 1.0), 0.0)


def convert(pop: Population, openness: float, p: Hukou, u: np.ndarray) -> np.ndarray:
    """Migrant households that register local hukou this year (``u``: one uniform draw per household row).

    Sets ``h_local`` and returns the converted household rows.
    """
    migrant = np.flatnonzero(pop.h_alive & ~pop.h_local)
    prob = conversion_probability(pop.h_years[migrant], pop.h_tenure[migrant], openness, p)
    rows = migrant[u[migrant] < prob]
    pop.h_local[rows] = True
    return rows
