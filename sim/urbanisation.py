"""Urbanisation as two processes: households moving to the town, and villages reclassified as urban.

1. **Moving to the town.** Each year a rural household seeks a dwelling in the urban part of its own township with a
   chance that follows the town's advantage: the difference of the place utilities of the urban and rural parts
   (prices, vacancy, the stock's size, the urban constant; :func:`sim.choice.place_utility`) and the township's wage
   index, both relative to the start year. It moves only if an urban dwelling is vacant (:func:`sim.housing.admit`),
   so urban housing and jobs drive it. (Moves to other townships' towns are part of the move choice.)
2. **Reclassification** (村改居 / 撤村建居): a planner's timed lever turns a share of a township's rural households,
   with the same share of its rural dwellings, into urban ones where they stand.
"""

from __future__ import annotations

import numpy as np

from sim.labour import first_in_line
from sim.population import DORM, Population


def town_pull(place_u: np.ndarray, place_u_start: np.ndarray, wage: np.ndarray, wage_start: np.ndarray,
              beta_wage: float) -> np.ndarray:
    """(townships,) change since the start year of the urban part's advantage over the rural part, plus the change
    of the log wage index weighted by ``beta_wage``.

    >>> town_pull(np.array([[1.0, 0.0]]), np.array([[0.5, 0.0]]), np.array([1.1]), np.array([1.0]), 0.0).tolist()
    [0.5]
    """
    advantage = place_u[:, 0] - place_u[:, 1]
    advantage_start = place_u_start[:, 0] - place_u_start[:, 1]
    wages = np.log(np.maximum(wage, 1e-9)) - np.log(np.maximum(wage_start, 1e-9))
    return advantage - advantage_start + beta_wage * wages


def urbanisation_rate(base: float, pull: np.ndarray, response: float) -> np.ndarray:
    """(townships,) yearly chance that a rural household seeks an urban dwelling: ``base × exp(response × pull)``,
    at most 1.

    >>> urbanisation_rate(0.03, np.array([0.0, np.log(2.0)]), 1.0).round(3).tolist()
    [0.03, 0.06]
    >>> urbanisation_rate(0.0, np.array([1e12]), 1.0).tolist()  # no overflow (0 x inf would be NaN)
    [0.0]
    """
    # exp(700) is finite and any base above 1e-300 reaches the cap of 1 well before it: an extreme utility weight
    # (a mistyped beta of 1e12) gives the capped chance, not an overflow
    return np.clip(base * np.exp(np.minimum(response * pull, 700.0)), 0.0, 1.0)


def town_seekers(pop: Population, rate: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Rural households (rows) that seek an urban dwelling in their township this year; ``u`` is one draw per row."""
    rural = np.flatnonzero(pop.h_alive & ~pop.h_urban)
    return rural[u[rural] < rate[pop.h_township[rural]]]


def reclassify(pop: Population, stock: np.ndarray, share: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Villages reclassified as urban: in each township a ``share`` of the rural dwellings moves to the urban stock
    (``stock``, townships x [urban, rural], changed in place) and the same share of the rural households living in
    dwellings (drawn in the order ``u``, one draw per household row) becomes urban where it lives; the count is
    rounded so both parts keep occupied ≤ stock. Rural dormitory households go with the same chance.
    Returns the rows reclassified.

    Example
    -------
    >>> z = lambda v, t: np.full(4, v, t)
    >>> pop = Population(p_age=z(40, np.int16), p_female=z(0, bool), p_hh=np.arange(4), p_skill=z(0, np.int8),
    ...                  p_employed=z(0, bool), p_sector=z(-1, np.int8), p_work=z(-1, np.int16), p_unemployed=z(0, bool),
    ...                  p_alive=z(1, bool), p_wage_factor=z(1, np.float32), p_income=z(0, np.float32),
    ...                  h_township=np.array([0, 0, 0, 1]), h_urban=np.array([False, False, True, False]),
    ...                  h_local=z(1, bool), h_tenure=z(0, np.int8), h_alive=z(1, bool))
    >>> stock = np.array([[10.0, 10.0], [5.0, 5.0]])
    >>> reclassify(pop, stock, np.array([1.0, 0.0]), np.zeros(4)).tolist(), stock.tolist()
    ([0, 1], [[20.0, 0.0], [5.0, 5.0]])
    >>> pop.occupied_dwellings(2).tolist()  # the reclassified households now hold urban dwellings
    [[3, 0], [0, 1]]
    """
    n = len(stock)
    share = np.clip(np.asarray(share, float), 0.0, 1.0)
    rural = pop.h_alive & ~pop.h_urban
    dorm = pop.h_tenure == DORM
    in_stock = np.flatnonzero(rural & ~dorm)
    town = pop.h_township[in_stock].astype(np.int64)
    households = np.bincount(town, minlength=n)
    urban_occupied = np.bincount(pop.h_township[pop.h_alive & pop.h_urban & ~dorm], minlength=n)
    moved = stock[:, 1] * share
    low = np.maximum(households - np.floor(stock[:, 1] - moved + 1e-9), 0)
    high = np.maximum(np.floor(stock[:, 0] + moved - urban_occupied + 1e-9), 0)
    k = np.minimum(np.maximum(np.round(share * households), low), high)
    rows = in_stock[first_in_line(town, u[in_stock], k)]
    dorm_rows = np.flatnonzero(rural & dorm)
    rows = np.concatenate([rows, dorm_rows[u[dorm_rows] < share[pop.h_township[dorm_rows]]]])
    pop.relocate(rows, urban=True)
    stock[:, 0] += moved
    stock[:, 1] -= moved
    return rows


