"""Ageing, deaths, births and household formation, for all persons at once."""

from __future__ import annotations

import numpy as np

from sim.population import MAX_AGE, RENTER, Population

INFANT_MORTALITY = 0.002  # first-year death probability (Zhejiang-level infant mortality, estimated)


def gompertz_qx(level: float, slope: float) -> np.ndarray:
    """Yearly death probabilities for ages 0..MAX_AGE from a Gompertz hazard ``level * exp(slope * age)``."""
    ages = np.arange(MAX_AGE + 1)
    cum_hazard = level / slope * np.exp(slope * ages) * (np.exp(slope) - 1.0)
    qx = 1.0 - np.exp(-cum_hazard)
    qx[0] = max(qx[0], INFANT_MORTALITY)
    qx[-1] = 1.0
    return qx


def life_expectancy(qx: np.ndarray) -> float:
    """Period life expectancy at birth from yearly death probabilities (deaths at mid-year)."""
    lx = np.concatenate([[1.0], np.cumprod(1.0 - qx)])
    return float(((lx[:-1] + lx[1:]) / 2.0).sum())


def life_table(e0: float, slope: float) -> np.ndarray:
    """Death probabilities whose life expectancy at birth is ``e0`` (Gompertz level found by bisection).

    Example
    -------
    >>> round(life_expectancy(life_table(81.12, 0.095)), 2)
    81.12
    """
    lo, hi = -20.0, 0.0
    for _ in range(80):
        mid = (lo + hi) / 2.0
        if life_expectancy(gompertz_qx(np.exp(mid), slope)) > e0:
            lo = mid
        else:
            hi = mid
    return gompertz_qx(np.exp((lo + hi) / 2.0), slope)


def fertility_schedule(tfr: float, peak: float, spread: float) -> np.ndarray:
    """Age-specific fertility rates for ages 0..MAX_AGE (non-zero 15-49) summing to ``tfr``.

    Example
    -------
    >>> round(fertility_schedule(1.27, 29, 5.5).sum(), 6)
    1.27
    """
    ages = np.arange(MAX_AGE + 1)
    shape = np.where((ages >= 15) & (ages <= 49), np.exp(-0.5 * ((ages - peak) / spread) ** 2), 0.0)
    return shape / shape.sum() * tfr


def age_one_year(pop: Population) -> None:
    np.minimum(pop.p_age + 1, MAX_AGE, out=pop.p_age, where=pop.p_alive)


def deaths(pop: Population, qx_male: np.ndarray, qx_female: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Mark persons dead where ``u < q(age, sex)``; returns the indices of those who died."""
    q = np.where(pop.p_female, qx_female[pop.p_age], qx_male[pop.p_age])
    died = pop.p_alive & (u < q)
    pop.p_alive[died] = False
    pop.p_employed[died] = False
    return np.flatnonzero(died)


def births(pop: Population, asfr: np.ndarray, sex_ratio: float, u: np.ndarray, u_sex: np.ndarray) -> np.ndarray:
    """Each living woman gives birth with probability ``asfr[age]``; babies join her household.

    ``u`` has one draw per person, ``u_sex`` one per potential birth (same length). Returns the
    household rows of the births.
    """
    mothers = np.flatnonzero(pop.p_alive & pop.p_female & (u < asfr[pop.p_age]))
    hh = pop.p_hh[mothers]
    female = u_sex[: len(mothers)] < 100.0 / (100.0 + sex_ratio)
    n = len(mothers)
    pop.add_persons(np.zeros(n), female, hh, np.zeros(n), np.zeros(n, bool), np.full(n, -1))
    return hh


def leave_home(pop: Population, rate: float, ages: tuple[int, int], u: np.ndarray) -> np.ndarray:
    """Young adults who are not the head (oldest) of their household start one of their own, in the same place.

    Returns the indices of the persons who left.
    """
    head = pop.head_age()
    young = pop.p_alive & (pop.p_age >= ages[0]) & (pop.p_age <= ages[1]) & (pop.p_age < head[pop.p_hh])
    leavers = np.flatnonzero(young & (u < rate))
    old_hh = pop.p_hh[leavers]
    new_hh = pop.add_households(pop.h_township[old_hh], pop.h_urban[old_hh], pop.h_local[old_hh],
                                np.full(len(leavers), RENTER), pop.h_years[old_hh])
    pop.p_hh[leavers] = new_hh
    return leavers


def dissolve_empty(pop: Population) -> int:
    """Households with no living member end; returns how many ended."""
    empty = pop.h_alive & (pop.household_size() == 0)
    pop.h_alive[empty] = False
    return int(empty.sum())
