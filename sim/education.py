"""Education: who has higher education (大专及以上), by birth cohort and hukou.

A person's skill (``p_skill``: 0 low, 1 middle, 2 high = higher education) is settled once, in the year the person
reaches ``education_age`` (18 by default: the census counts students in college as having higher education), and
kept for life; younger persons have skill 0 until then. Whether a person has higher education depends on the birth
cohort: the share is a line in the birth year through the 1995 cohort's share (``higher_education_1995``, changing by
``higher_education_trend`` per birth year), kept between ``higher_education_min`` and ``higher_education_max``.
Migrants (no local hukou) reach ``higher_education_migrant_factor`` times it. Of those without higher education, a
share has middle skill (senior secondary or vocational).

The level and the trend are fitted to census facts (:func:`fit_education`): the share of all residents with higher
education in two censuses and the share of the main working ages 20-59 in the later one. So the start population has
the census's attainment, and the cohorts that come of age during a run carry the trend on.

Skills set wages (sim.markets) and so incomes; they enter no move decision.

Example
-------
>>> from sim.params import Population
>>> p = Population(higher_education_1995=0.3, higher_education_trend=0.01)
>>> higher_education_chance(np.array([1955, 1995, 2005]), np.array([True, True, False]), p).round(3).tolist()
[0.01, 0.3, 0.168]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from sim.params import Population as PopulationParams

if TYPE_CHECKING:  # sim.population builds the start population with this module's rule
    from sim.population import Population

COHORT_YEAR = 1995  # the birth year whose share is the level (aged 25 in 2020: most have finished college)
LOW, MIDDLE, HIGH = 0, 1, 2
MAIN_WORKING_AGES = (20, 59)  # 主要劳动年龄人口: the ages of the plans' higher-education indicator


def higher_education_chance(birth_year: np.ndarray, local: np.ndarray, p: PopulationParams) -> np.ndarray:
    """Chance that a person born in ``birth_year``, with local hukou (``local``) or without, has higher education.

    Parameters
    ----------
    birth_year : birth years (any integer array).
    local : True for local hukou, same shape.
    p : the population parameters (``higher_education_*``).

    Returns
    -------
    float array of chances from 0 to 1.

    Example
    -------
    >>> p = PopulationParams(higher_education_1995=0.2, higher_education_trend=0.02, higher_education_max=0.5)
    >>> higher_education_chance(np.array([2000, 2030]), np.array([True, True]), p).round(2).tolist()
    [0.3, 0.5]
    """
    share = np.clip(p.higher_education_1995 + p.higher_education_trend * (np.asarray(birth_year, float) - COHORT_YEAR),
                    p.higher_education_min, p.higher_education_max)
    return np.where(local, share, np.minimum(share * p.higher_education_migrant_factor, 1.0))


def skills_from_draws(u: np.ndarray, age: np.ndarray, local: np.ndarray, year: int, p: PopulationParams) -> np.ndarray:
    """Skills of persons aged ``age`` in ``year`` from one uniform draw each: high (2) below their cohort's chance of
    higher education, then middle (1), else low (0); persons younger than ``education_age`` have 0 (not settled yet).

    Example
    -------
    >>> p = PopulationParams(higher_education_1995=0.3, higher_education_trend=0.0, middle_skill_share_local=0.5)
    >>> skills_from_draws(np.array([0.1, 0.5, 0.9, 0.1]), np.array([18, 18, 18, 10]), np.ones(4, bool), 2020, p).tolist()
    [2, 1, 0, 0]
    """
    age = np.asarray(age)
    high = higher_education_chance(year - age.astype(np.int64), local, p)
    middle = (1.0 - high) * np.where(local, p.middle_skill_share_local, p.middle_skill_share_migrant)
    skill = np.where(u < high, HIGH, np.where(u < high + middle, MIDDLE, LOW)).astype(np.int8)
    skill[age < p.education_age] = LOW
    return skill


@dataclass(frozen=True)
class Skills:
    """How the skills of arriving persons are set in ``year``: by cohort and hukou (:func:`skills_from_draws`), or,
    with ``only``, one skill for every arrival of ``education_age`` or older (a programme that recruits graduates).

    >>> Skills(2021, PopulationParams(), only=HIGH).of(np.array([0.9, 0.9]), np.array([30, 5]), np.array([False, False])).tolist()
    [2, 0]
    """

    year: int
    params: PopulationParams
    only: int | None = None

    def of(self, u: np.ndarray, age: np.ndarray, local: np.ndarray) -> np.ndarray:
        """Skills (int8) of persons aged ``age`` with local hukou ``local``, from one uniform draw each (``u``)."""
        if self.only is not None:
            return np.where(np.asarray(age) >= self.params.education_age, self.only, LOW).astype(np.int8)
        return skills_from_draws(u, age, local, self.year, self.params)


def come_of_age(pop: Population, year: int, p: PopulationParams, rng: np.random.Generator) -> np.ndarray:
    """Settle the skill of every living person who is ``education_age`` this year (after the year's birthdays), by
    cohort and the household's hukou.

    Draws one number per such person from ``rng`` (a stream of its own in the model, so this rule leaves every other
    decision's draws as they were). Returns their rows.

    Example
    -------
    >>> from sim.population import Population
    >>> z = lambda v, t: np.full(3, v, t)
    >>> pop = Population(p_age=np.array([17, 18, 19], np.int16), p_female=z(0, bool), p_hh=np.zeros(3, np.intp),
    ...                  p_skill=z(0, np.int8), p_employed=z(0, bool), p_sector=z(-1, np.int8), p_work=z(-1, np.int16),
    ...                  p_unemployed=z(0, bool), p_alive=z(1, bool), p_wage_factor=z(1, np.float32),
    ...                  p_income=z(0, np.float32), h_township=np.array([0], np.int16), h_urban=np.array([True]),
    ...                  h_local=np.array([True]), h_tenure=np.array([0], np.int8), h_alive=np.array([True]))
    >>> p = PopulationParams(higher_education_min=1.0, higher_education_max=1.0)
    >>> come_of_age(pop, 2021, p, np.random.default_rng(0)).tolist(), pop.p_skill.tolist()
    ([1], [0, 2, 0])
    """
    rows = np.flatnonzero(pop.p_alive & (pop.p_age == p.education_age))
    if len(rows):
        pop.p_skill[rows] = skills_from_draws(rng.random(len(rows)), pop.p_age[rows], pop.h_local[pop.p_hh[rows]], year, p)
    return rows


def higher_education_shares(pop: Population, ages: np.ndarray | None = None) -> tuple[float, float]:
    """Shares of living residents with higher education: of all residents (the census's "per 100,000" divided by
    100,000) and of those aged 20-59 (the plans' 主要劳动年龄人口受过高等教育比例). ``ages``: living persons by single
    year of age, when the caller has them (:meth:`Population.age_counts`).

    Example
    -------
    >>> from sim.population import Population
    >>> z = lambda v, t: np.full(4, v, t)
    >>> pop = Population(p_age=np.array([5, 25, 40, 70], np.int16), p_female=z(0, bool), p_hh=np.zeros(4, np.intp),
    ...                  p_skill=np.array([0, 2, 1, 2], np.int8), p_employed=z(0, bool), p_sector=z(-1, np.int8),
    ...                  p_work=z(-1, np.int16), p_unemployed=z(0, bool), p_alive=z(1, bool), p_wage_factor=z(1, np.float32),
    ...                  p_income=z(0, np.float32), h_township=np.array([0], np.int16), h_urban=np.array([True]),
    ...                  h_local=np.array([True]), h_tenure=np.array([0], np.int8), h_alive=np.array([True]))
    >>> higher_education_shares(pop)
    (0.5, 0.5)
    """
    ages = pop.age_counts() if ages is None else ages
    high = np.flatnonzero((pop.p_skill == HIGH) & pop.p_alive)
    by_age = np.bincount(pop.p_age[high], minlength=len(ages))
    lo, hi = MAIN_WORKING_AGES
    total, main = ages.sum(), ages[lo:hi + 1].sum()
    return (float(len(high) / total) if total else float("nan"),
            float(by_age[lo:hi + 1].sum() / main) if main else float("nan"))


def expected_shares(counts: np.ndarray, year: int, p: PopulationParams) -> tuple[float, float]:
    """Expected shares with higher education (all residents, ages 20-59) of residents counted by hukou and age.

    ``counts`` is (2, ages): row 0 migrants, row 1 local hukou, column the age in ``year``.

    Example
    -------
    >>> c = np.zeros((2, 60)); c[1, 30] = c[1, 10] = 1
    >>> expected_shares(c, 2020, PopulationParams(higher_education_1995=0.4, higher_education_trend=0.0))
    (0.2, 0.4)
    """
    ages = np.arange(counts.shape[1])
    settled = ages >= p.education_age
    chance = np.stack([higher_education_chance(year - ages, np.full(len(ages), k == 1), p) for k in (0, 1)]) * settled
    high = (counts * chance).sum(axis=0)
    lo, hi = MAIN_WORKING_AGES
    return float(high.sum() / counts.sum()), float(high[lo:hi + 1].sum() / counts[:, lo:hi + 1].sum())


@dataclass(frozen=True)
class Census:
    """Residents of a census year counted by hukou and age (``counts`` as in :func:`expected_shares`), and the shares
    with higher education the census reports: of all residents, and of ages 20-59 where known (None)."""

    year: int
    counts: np.ndarray
    share_all: float
    share_main: float | None = None


def fit_education(censuses: list[Census], p: PopulationParams) -> tuple[PopulationParams, dict[str, float]]:
    """``p`` with the cohort level and trend (``higher_education_1995``, ``higher_education_trend``) that come
    closest, in least squares of the shares, to every census's shares with higher education; the floor, ceiling,
    migrant factor and education age are taken from ``p``.

    Returns the fitted parameters and each fact's miss (model minus census, in shares), keyed ``share_all_<year>``
    and ``share_20_59_<year>``: with more facts than the two values, the misses show how well one cohort line fits.

    Example
    -------
    >>> c = np.ones((2, 90))
    >>> p = PopulationParams(higher_education_1995=0.3, higher_education_trend=0.01)
    >>> facts = [Census(2010, c, expected_shares(c, 2010, p)[0]), Census(2020, c, *expected_shares(c, 2020, p))]
    >>> q, miss = fit_education(facts, PopulationParams())
    >>> round(q.higher_education_1995, 4), round(q.higher_education_trend, 5), max(abs(v) for v in miss.values()) < 1e-6
    (0.3, 0.01, True)
    """
    from scipy.optimize import least_squares  # only when fitting: a run never imports scipy

    def with_(x: np.ndarray) -> PopulationParams:
        return p.model_copy(update={"higher_education_1995": float(x[0]), "higher_education_trend": float(x[1])})

    names = [n for c in censuses for n in (f"share_all_{c.year}", f"share_20_59_{c.year}")[:1 + (c.share_main is not None)]]

    def residuals(x: np.ndarray) -> np.ndarray:
        q, out = with_(x), []
        for c in censuses:
            got = expected_shares(c.counts, c.year, q)
            out += [got[0] - c.share_all] + ([got[1] - c.share_main] if c.share_main is not None else [])
        return np.array(out)

    # the floor and the ceiling make the residuals bend: several starts, the closest kept
    fits = [least_squares(residuals, x0, bounds=([0.0, -0.05], [1.0, 0.05]), xtol=1e-12, ftol=1e-12)
            for x0 in ([0.3, 0.01], [0.15, 0.0], [0.5, 0.03])]
    best = min(fits, key=lambda f: f.cost)
    return with_(best.x), dict(zip(names, residuals(best.x).tolist()))
