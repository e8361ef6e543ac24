"""In-migration from the external zones, sized by the county's attractiveness."""

from __future__ import annotations

import numpy as np

from sim.params import Migration
from sim.population import DORM, RENTER, Population


def logsum(place_utility: np.ndarray) -> float:
    """Expected maximum utility over all places: the county's attractiveness to a newcomer."""
    top = place_utility.max()
    return float(top + np.log(np.exp(place_utility - top).sum()))


def arrivals(n_households: int, attract_now: float, attract_start: float, m: Migration, connectivity_ratio: float = 1.0) -> float:
    """Expected in-migrant households this year: a base rate per 1000 resident households,
    scaled by exp(elasticity x change in attractiveness since the start year) and by the change in
    connectivity to the origin zones (ratio to the start year) to the power ``connectivity_elasticity``.

    Example
    -------
    >>> from sim.params import Migration
    >>> arrivals(1000, 0.0, 0.0, Migration(in_households_per_1000=10.0))
    10.0
    """
    return (n_households / 1000.0 * m.in_households_per_1000 * float(np.exp(m.attractiveness_elasticity * (attract_now - attract_start)))
            * connectivity_ratio ** m.connectivity_elasticity)


def zone_connectivity(populations: np.ndarray, minutes: np.ndarray, decay_per_min: float) -> float:
    """How well the county is connected to the places migrants come from: sum of population x exp(-decay x minutes).

    >>> round(zone_connectivity(np.array([100.0, 50.0]), np.array([0.0, np.inf]), 0.01), 6)
    100.0
    """
    t = np.where(np.isfinite(minutes), minutes, np.inf)
    return float(np.sum(np.where(np.isfinite(t), np.asarray(populations, float) * np.exp(-decay_per_min * np.where(np.isfinite(t), t, 0.0)), 0.0)))


def add_migrants(pop: Population, count: int, place_prob: np.ndarray, m: Migration, rng: np.random.Generator,
                 skill_shares: tuple[float, float, float], employment_rate: float) -> np.ndarray:
    """Create ``count`` in-migrant households in places drawn from ``place_prob`` (flattened township x part).

    Profiles: household of 1-3 (a young adult, a partner of similar age, a child), mostly
    migrant hukou, renting or in dormitories. Returns the new household rows.
    """
    if count <= 0:
        return np.zeros(0, np.int64)
    places = rng.choice(len(place_prob), size=count, p=place_prob)
    township, urban = places // 2, places % 2 == 0
    local = rng.random(count) < m.local_hukou_share
    tenure = np.where(rng.random(count) < 0.35, DORM, RENTER)
    rows = pop.add_households(township, urban, local, tenure)
    size = 1 + np.searchsorted(np.cumsum(m.size_shares) / np.sum(m.size_shares), rng.random(count), side="right")
    size = np.minimum(size, 3)
    head_age = np.clip(np.round(rng.normal(m.age_mean, m.age_sd, count)), 18, 60).astype(int)
    hh = np.repeat(rows, size)
    member = np.arange(len(hh)) - np.repeat(np.cumsum(size) - size, size)  # 0, 1, ... within each household
    head = np.repeat(head_age, size)
    age = np.where(member == 0, head, np.where(member == 1, np.clip(head + rng.integers(-3, 4, len(hh)), 18, 65),
                                                rng.integers(0, 11, len(hh))))
    female = np.where(member == 1, rng.random(len(hh)) < 0.8, rng.random(len(hh)) < 0.45)
    adult = age >= 18
    skill = np.where(adult, np.searchsorted(np.cumsum(skill_shares) / np.sum(skill_shares), rng.random(len(hh)), side="right"), 0)
    employed = adult & (age < 65) & (rng.random(len(hh)) < min(1.0, employment_rate + 0.1))
    sector = np.where(employed, np.where(rng.random(len(hh)) < 0.65, 1, 2), -1)
    pop.add_persons(age, female, hh, skill, employed, sector)
    return rows
