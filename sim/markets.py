"""Jobs and housing per township: the market state, vacancy, labour-market tightness and wages.

Who works where is the labour account of :mod:`sim.labour`; the dwelling stock, prices and construction are
:mod:`sim.housing`.

State is a handful of arrays indexed by township (and by urban/rural part for housing).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.params import Markets as MarketParams
from sim.population import DORM, Population



@dataclass
class MarketState:
    jobs: np.ndarray       # (townships, 3) jobs by sector (scaled)
    housing: np.ndarray    # (townships, 2) units: [:, 0] urban, [:, 1] rural (scaled)
    price: np.ndarray      # (townships, 2) price index, 1.0 at the start
    price_level: np.ndarray  # (townships,) yuan/m² at the start, for relative cost
    services: np.ndarray   # (townships,) 0-1
    tightness: np.ndarray  # (townships,) accessible jobs per accessible worker, relative to the county
    in_commuters: np.ndarray | None = None  # (townships, 3) workers living outside the region (scaled)
    vacancy_memory: np.ndarray | None = None  # (townships, 3) smoothed unfilled share of jobs (sim.labour.grow_jobs)

    @property
    def total_jobs(self) -> np.ndarray:
        return self.jobs.sum(axis=1)


def counts_by_part(pop: Population, n_townships: int, size: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(townships, 2) counts per township part (0 urban) from one key per household: living persons (``size``:
    living members per household row), living households (dormitory households included) and occupied dwellings
    (households outside dormitories, as :func:`sim.housing.occupied`). Counted from the columns; the model reads the
    counts the population keeps (:meth:`Population.counts_by_place`), and tests compare the two.

    >>> from types import SimpleNamespace as NS
    >>> pop = NS(h_alive=np.array([True, True, False]), h_tenure=np.array([0, 2, 0]),
    ...          h_township=np.array([0, 0, 1]), h_urban=np.array([True, False, True]))
    >>> [a.tolist() for a in counts_by_part(pop, 2, np.array([3, 1, 0]))]
    [[[3, 1], [0, 0]], [[1, 1], [0, 0]], [[1, 0], [0, 0]]]
    """
    place = pop.h_township.astype(np.intp) * 2 + ~pop.h_urban
    persons = np.bincount(place, weights=size, minlength=2 * n_townships).reshape(n_townships, 2).astype(np.int64)
    living = np.flatnonzero(pop.h_alive)
    households = np.bincount(place[living], minlength=2 * n_townships).reshape(n_townships, 2)
    dorms = living[pop.h_tenure[living] == DORM]
    occupied = households - np.bincount(place[dorms], minlength=2 * n_townships).reshape(n_townships, 2)
    return persons, households, occupied


def vacancy(housing: np.ndarray, households: np.ndarray) -> np.ndarray:
    """Vacant share of units per (township, part); negative if over-occupied (crowding)."""
    return 1.0 - households / np.maximum(housing, 1e-9)


def labour_tightness(minutes: np.ndarray, jobs: np.ndarray, workers: np.ndarray, decay: float) -> np.ndarray:
    """Jobs within commuting reach per worker within reach, relative to the county ratio.

    Both are gravity-weighted sums over townships, so a town near many jobs and few rival
    workers scores above 1.
    """
    w = np.exp(-decay * np.where(np.isfinite(minutes), minutes, np.inf))
    ratio = (w @ jobs) / np.maximum(w @ workers, 1e-9)
    county = jobs.sum() / max(workers.sum(), 1e-9)
    return ratio / max(county, 1e-12)


def assign_incomes(pop: Population, wage_index: np.ndarray, params: MarketParams, rng: np.random.Generator) -> None:
    """Set every person's yearly income: wage if employed, pension if 60 or older, else nothing.

    A wage is ``wage_by_skill[skill] * wage_index[township] * wage_factor``; the wage factor is a
    person's lasting earning power, drawn once (lognormal with mean 1) the first time it is needed.

    Example
    -------
    >>> from sim.params import Markets; from sim.population import DORM, Population
    >>> one = lambda *v, t=None: np.array(v, dtype=t)
    >>> pop = Population(p_age=one(30, 70), p_female=one(0, 1, t=bool), p_hh=one(0, 0), p_skill=one(2, 0),
    ...                  p_employed=one(1, 0, t=bool), p_sector=one(2, -1), p_work=one(0, -1), p_unemployed=one(0, 0, t=bool),
    ...                  p_alive=one(1, 1, t=bool),
    ...                  p_wage_factor=one(1.0, 1.0, t=np.float32), p_income=one(0.0, 0.0, t=np.float32),
    ...                  h_township=one(0), h_urban=one(1, t=bool), h_local=one(1, t=bool), h_tenure=one(0), h_alive=one(1, t=bool))
    >>> assign_incomes(pop, np.array([1.0]), Markets(), np.random.default_rng(0)); pop.p_income.tolist()
    [130000.0, 18000.0]
    """
    new = np.isnan(pop.p_wage_factor)
    if new.any():
        s = params.wage_dispersion
        pop.p_wage_factor[new] = np.exp(rng.normal(-0.5 * s * s, s, int(new.sum())))
    # wages only for the employed (about half the rows), the same arithmetic (float64, then float32) as for all rows
    alive = pop.p_alive
    # a product over every row: a tenth of the time of np.where(pensioner, pension, 0), whose branch on the random
    # mask mispredicts, and of a masked write
    pensioner = pop.p_age >= 60
    pensioner &= alive
    income = pensioner * np.float32(params.pension_yuan)
    emp = np.flatnonzero(pop.p_employed & alive)  # the dead keep their last job's flag until compaction
    # the wage of each (township, skill), one gather per worker instead of two and a product
    by_skill = np.asarray(params.wage_by_skill, np.float32)
    table = (by_skill[None, :] * np.asarray(wage_index)[:, None]).ravel()
    cell = pop.township_of(emp).astype(np.intp) * len(by_skill)
    cell += pop.p_skill[emp]
    wage = table[cell] * pop.p_wage_factor[emp]
    income[emp] = wage.astype(np.float32)
    pop.p_income = income
