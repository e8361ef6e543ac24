"""Jobs and housing per township: supply, matching, vacancy, prices and construction.

State is a handful of arrays indexed by township (and by urban/rural part for housing).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.params import Markets as MarketParams
from sim.population import Population

SEPARATION_RATE = 0.05  # yearly share of workers who lose or leave their job (estimated)
RETIREMENT_AGE = 65


@dataclass
class MarketState:
    jobs: np.ndarray       # (townships, 3) jobs by sector (scaled)
    housing: np.ndarray    # (townships, 2) units: [:, 0] urban, [:, 1] rural (scaled)
    price: np.ndarray      # (townships, 2) price index, 1.0 at the start
    price_level: np.ndarray  # (townships,) yuan/m² at the start, for relative cost
    services: np.ndarray   # (townships,) 0-1
    tightness: np.ndarray  # (townships,) accessible jobs per accessible worker, relative to the county

    @property
    def total_jobs(self) -> np.ndarray:
        return self.jobs.sum(axis=1)


def households_by_part(pop: Population, n_townships: int) -> np.ndarray:
    """Living households per (township, part) with part 0 urban, 1 rural."""
    alive = pop.h_alive
    idx = pop.h_township[alive].astype(np.int64) * 2 + (~pop.h_urban[alive]).astype(np.int64)
    return np.bincount(idx, minlength=2 * n_townships).reshape(n_townships, 2)


def vacancy(housing: np.ndarray, households: np.ndarray) -> np.ndarray:
    """Vacant share of units per (township, part); negative if over-occupied (crowding)."""
    return 1.0 - households / np.maximum(housing, 1e-9)


def grow_jobs(jobs: np.ndarray, growth: tuple[float, float, float], added: np.ndarray | None = None) -> np.ndarray:
    """Trend growth by sector plus jobs added by interventions (same shape)."""
    out = jobs * (1.0 + np.asarray(growth))
    if added is not None:
        out = out + added
    return np.maximum(out, 0.0)


def labour_tightness(minutes: np.ndarray, jobs: np.ndarray, workers: np.ndarray, decay: float) -> np.ndarray:
    """Jobs within commuting reach per worker within reach, relative to the county ratio.

    Both are gravity-weighted sums over townships, so a town near many jobs and few rival
    workers scores above 1.
    """
    w = np.exp(-decay * np.where(np.isfinite(minutes), minutes, np.inf))
    ratio = (w @ jobs) / np.maximum(w @ workers, 1e-9)
    county = jobs.sum() / max(workers.sum(), 1e-9)
    return ratio / max(county, 1e-12)


def match_jobs(pop: Population, tightness: np.ndarray, jobs: np.ndarray, base_rate: float, u: np.ndarray, u_sector: np.ndarray) -> None:
    """Separations and retirements, then job seekers find work with a chance rising with local tightness.

    Sector follows the mix of jobs reachable from the home township.
    """
    alive = pop.p_alive
    retire = alive & pop.p_employed & (pop.p_age >= RETIREMENT_AGE)
    pop.p_employed[retire] = False
    separate = alive & pop.p_employed & (u < SEPARATION_RATE)
    pop.p_employed[separate] = False
    town = pop.h_township[pop.p_hh]
    seekers = alive & ~pop.p_employed & (pop.p_age >= 16) & (pop.p_age < RETIREMENT_AGE) & ~separate
    p_find = np.clip(base_rate * tightness[town], 0.0, 0.97)
    found = seekers & (u >= SEPARATION_RATE) & ((u - SEPARATION_RATE) / (1 - SEPARATION_RATE) < p_find)
    pop.p_employed[found] = True
    mix = jobs / np.maximum(jobs.sum(axis=1, keepdims=True), 1e-9)
    cum = np.cumsum(mix, axis=1)[town[found]]
    pop.p_sector[found] = (u_sector[found][:, None] > cum).sum(axis=1)
    pop.p_sector[~pop.p_employed] = -1


def assign_incomes(pop: Population, wage_index: np.ndarray, params: MarketParams, rng: np.random.Generator) -> None:
    """Set every person's yearly income: wage if employed, pension if 60 or older, else nothing.

    A wage is ``wage_by_skill[skill] * wage_index[township] * wage_factor``; the wage factor is a
    person's lasting earning power, drawn once (lognormal with mean 1) the first time it is needed.

    Example
    -------
    >>> from sim.params import Markets; from sim.population import Population
    >>> one = lambda *v, t=None: np.array(v, dtype=t)
    >>> pop = Population(p_age=one(30, 70), p_female=one(0, 1, t=bool), p_hh=one(0, 0), p_skill=one(2, 0),
    ...                  p_employed=one(1, 0, t=bool), p_sector=one(2, -1), p_alive=one(1, 1, t=bool),
    ...                  p_wage_factor=one(1.0, 1.0, t=np.float32), p_income=one(0.0, 0.0, t=np.float32),
    ...                  h_township=one(0), h_urban=one(1, t=bool), h_local=one(1, t=bool), h_tenure=one(0), h_alive=one(1, t=bool))
    >>> assign_incomes(pop, np.array([1.0]), Markets(), np.random.default_rng(0)); pop.p_income.tolist()
    [130000.0, 18000.0]
    """
    new = np.isnan(pop.p_wage_factor)
    if new.any():
        s = params.wage_dispersion
        pop.p_wage_factor[new] = np.exp(rng.normal(-0.5 * s * s, s, int(new.sum())))
    town = pop.h_township[pop.p_hh]
    wage = np.asarray(params.wage_by_skill, np.float32)[pop.p_skill] * wage_index[town] * pop.p_wage_factor
    pension = np.where(pop.p_age >= 60, np.float32(params.pension_yuan), np.float32(0.0))
    pop.p_income = np.where(pop.p_employed, wage, pension).astype(np.float32)
    pop.p_income[~pop.p_alive] = 0.0


def update_housing(state: MarketState, households: np.ndarray, params: MarketParams, added: np.ndarray | None = None) -> None:
    """Prices respond to vacancy against its target; construction responds to price.

    ``added`` (same shape as housing) are units delivered by interventions.
    """
    vac = vacancy(state.housing, households)
    state.price *= np.exp(params.price_elasticity * (params.target_vacancy - vac))
    np.clip(state.price, 0.2, 5.0, out=state.price)
    build = state.housing * (params.natural_construction + params.construction_response * np.maximum(state.price - 1.0, 0.0))
    state.housing += build
    if added is not None:
        state.housing += added
