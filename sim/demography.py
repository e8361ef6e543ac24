"""Ageing, deaths, births and household formation, for all persons at once."""

from __future__ import annotations

import functools

import numpy as np

from sim.housing import let_dwellings
from sim.labour import first_in_line
from sim.population import ADULT_AGE, MAX_AGE, RENTER, Population

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


@functools.lru_cache(maxsize=4096)
def life_table(e0: float, slope: float) -> np.ndarray:
    """Death probabilities whose life expectancy at birth is ``e0`` (Gompertz level found by bisection).

    Remembered by ``(e0, slope)`` (read-only): every run of a batch or a history match walks the same life-expectancy
    path, and the bisection costs about 1 ms a table.

    Example
    -------
    >>> round(life_expectancy(life_table(81.12, 0.095)), 2)
    81.12
    """
    lo, hi = -20.0, 0.0
    for _ in range(80):
        mid = (lo + hi) / 2.0
        before = (lo, hi)
        if life_expectancy(gompertz_qx(np.exp(mid), slope)) > e0:
            lo = mid
        else:
            hi = mid
        if (lo, hi) == before:  # the interval can no longer be halved: later rounds would change nothing
            break
    qx = gompertz_qx(np.exp((lo + hi) / 2.0), slope)
    qx.flags.writeable = False  # shared by every caller with the same arguments
    return qx


def path_value(base: float, start_year: int, path: tuple[tuple[int, float], ...], year: int,
               gain: float = 0.0) -> float:
    """A quantity's value in ``year``.

    Without a ``path``: ``base`` in ``start_year``, changing by ``gain`` a year. With one: the path's (year, value)
    points, linear between them, the first point's value before it (a run that starts earlier, e.g. a hindcast) and
    ``gain`` a year after the last.

    >>> path_value(81.12, 2020, ((2020, 81.12), (2025, 82.0), (2030, 82.5)), 2027)
    82.2
    >>> path_value(81.12, 2010, ((2020, 81.12), (2025, 82.0)), 2015), path_value(81.12, 2020, ((2020, 81.12), (2025, 82.0)), 2030, 0.1)
    (81.12, 82.5)
    >>> path_value(77.93, 2020, (), 2025, 0.2)
    78.93
    """
    if not path:
        return round(base + gain * (year - start_year), 10)
    points = sorted((int(y), float(v)) for y, v in path)
    ys, vs = [p[0] for p in points], [p[1] for p in points]
    if year >= ys[-1]:
        return round(vs[-1] + gain * (year - ys[-1]), 10)
    return round(float(np.interp(year, ys, vs)), 10)


def sex_life_expectancies(e0: float, gap: float, sex_ratio_at_birth: float) -> tuple[float, float]:
    """Men's and women's life expectancy at birth whose birth-weighted mean is the both-sex ``e0`` and whose
    difference is ``gap`` (women minus men).

    >>> [round(x, 2) for x in sex_life_expectancies(77.93, 5.51, 111.3)]
    [75.32, 80.83]
    """
    male = sex_ratio_at_birth / (100.0 + sex_ratio_at_birth)
    return e0 - gap * (1.0 - male), e0 + gap * male


def fertility_schedule(tfr: float, peak: float, spread: float) -> np.ndarray:
    """Age-specific fertility rates for ages 0..MAX_AGE (non-zero 15-49) summing to ``tfr``.

    Example
    -------
    >>> round(float(fertility_schedule(1.27, 29, 5.5).sum()), 6)
    1.27
    """
    ages = np.arange(MAX_AGE + 1)
    shape = np.where((ages >= 15) & (ages <= 49), np.exp(-0.5 * ((ages - peak) / spread) ** 2), 0.0)
    return shape / shape.sum() * tfr


def age_one_year(pop: Population) -> None:
    """Every living person grows a year older (up to the last age of the life table)."""
    pop.grow_older()


def deaths(pop: Population, qx_male: np.ndarray, qx_female: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Mark persons dead where ``u < q(age, sex)``; returns the indices of those who died."""
    # one look-up in the two tables laid end to end (men, then women) instead of two look-ups and a choice
    table = np.concatenate([qx_male, qx_female])
    q = table[pop.p_age + pop.p_female * np.int16(len(qx_male))]
    died = np.flatnonzero(pop.p_alive & (u < q))
    pop.remove_persons(died)
    pop.p_employed[died] = False
    unpartner(pop, died)  # the survivor is widowed
    return died


def unpartner(pop: Population, persons: np.ndarray) -> None:
    """End the partnerships of ``persons`` (both sides)."""
    partner = pop.p_partner[persons]
    pop.p_partner[partner[partner >= 0]] = -1
    pop.p_partner[persons] = -1


def birth_rates(asfr: np.ndarray, partnered_share: np.ndarray, births_to_partnered: float) -> tuple[np.ndarray, np.ndarray]:
    """Age-specific birth probabilities of partnered and of unpartnered women, so that ``births_to_partnered`` of the
    births are to partnered women and the total is ``asfr`` (hence the TFR path) whatever the share of women
    partnered at each age (``partnered_share``, ages 0..MAX_AGE).

    >>> p, u = birth_rates(np.array([0.1, 0.1]), np.array([0.5, 1.0]), 0.9)
    >>> p.round(3).tolist(), u.round(3).tolist(), round(float(0.5 * p[0] + 0.5 * u[0]), 3)
    ([0.18, 0.1], [0.02, 0.0], 0.1)
    """
    s = np.clip(partnered_share, 0.0, 1.0)
    share_p = np.where(s <= 0, 0.0, np.where(s >= 1, 1.0, births_to_partnered))
    partnered = np.where(s > 0, asfr * share_p / np.maximum(s, 1e-12), 0.0)
    single = np.where(s < 1, asfr * (1 - share_p) / np.maximum(1 - s, 1e-12), 0.0)
    return np.minimum(partnered, 1.0), np.minimum(single, 1.0)


def birth_mothers(pop: Population, asfr: np.ndarray, rng: np.random.Generator,
                  births_to_partnered: float | None = None) -> np.ndarray:
    """The women (person rows) who give birth this year: each living woman of a fertile age with probability
    ``asfr[age]``, or by :func:`birth_rates` for partnered and unpartnered women (one draw per woman of fertile age)."""
    fertile = np.flatnonzero(asfr > 0)
    if len(fertile) == 0:  # a TFR of 0 (a scenario's extreme): no mothers, and no draws
        return np.empty(0, np.int64)
    women = np.flatnonzero(pop.p_alive & pop.p_female & (pop.p_age >= fertile.min()) & (pop.p_age <= fertile.max()))
    age = pop.p_age[women]
    if births_to_partnered is None:
        rate = asfr[age]
    else:
        ages = len(asfr)
        cell = age + (pop.p_partner[women] >= 0) * ages  # the age among unpartnered women, then among partnered
        counts = np.bincount(cell, minlength=2 * ages)
        n_p = counts[ages:]
        n_w = counts[:ages] + n_p
        rate_p, rate_s = birth_rates(asfr, np.where(n_w > 0, n_p / np.maximum(n_w, 1), 0.0), births_to_partnered)
        rate = np.concatenate([rate_s, rate_p])[cell]
    return women[rng.random(len(women)) < rate]


def births(pop: Population, asfr: np.ndarray, sex_ratio: float, rng: np.random.Generator,
           births_to_partnered: float | None = None) -> np.ndarray:
    """Each living woman gives birth with probability ``asfr[age]``; babies join her household.

    With ``births_to_partnered``, the probabilities differ for partnered and unpartnered women
    (:func:`birth_rates`) so that this share of births is to partnered women. Returns the household rows of the births.
    """
    mothers = birth_mothers(pop, asfr, rng, births_to_partnered)
    hh = pop.p_hh[mothers]
    n = len(mothers)
    female = rng.random(n) < 100.0 / (100.0 + sex_ratio)
    pop.add_persons(np.zeros(n), female, hh, np.zeros(n), np.zeros(n, bool), np.full(n, -1))
    return hh


def home_leavers(pop: Population, rate: float, ages: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """The persons who want a home of their own this year: unpartnered, aged ``ages``, not the oldest of their
    household, each with probability ``rate`` (one draw per such person)."""
    head = pop.head_age()
    young = np.flatnonzero(pop.p_alive & (pop.p_age >= ages[0]) & (pop.p_age <= ages[1]) & (pop.p_partner < 0))
    young = young[pop.p_age[young] < head[pop.p_hh[young]]]
    return young[rng.random(len(young)) < rate]


def leave_home(pop: Population, rate: float, ages: tuple[int, int], rng: np.random.Generator,
               free: np.ndarray | None = None) -> np.ndarray:
    """Young unpartnered adults who are not the head (oldest) of their household start one of their own with
    probability ``rate``, in the same place (singles, who may later partner: :func:`form_partnerships`).

    A new household needs a vacant dwelling in its township part: ``free`` (townships x parts, whole dwellings; reduced
    in place by those let) are handed out in random order; those who find none stay at home (``free=None``: everyone
    finds one). Returns the indices of the persons who left.
    """
    leavers = home_leavers(pop, rate, ages, rng)
    if free is not None:
        hh = pop.p_hh[leavers]
        place = pop.h_township[hh].astype(np.int64) * 2 + (~pop.h_urban[hh])
        leavers = leavers[let_dwellings(place, free, rng.random(len(leavers)))]
    old_hh = pop.p_hh[leavers]
    new_hh = pop.add_households(pop.h_township[old_hh], pop.h_urban[old_hh], pop.h_local[old_hh],
                                np.full(len(leavers), RENTER), pop.h_years[old_hh])
    pop.move_members(leavers, new_hh)
    return leavers


def partner_seekers(pop: Population, rate: float, ages: tuple[int, int], rng: np.random.Generator,
                    size: np.ndarray) -> np.ndarray:
    """The persons who seek a partner this year: unpartnered, aged ``ages`` (ADULT_AGE at least), not the only adult
    of a household with others (``size``: living members per household), each with probability ``rate``."""
    a0, a1 = ages
    sole_carer = (pop.h_adults == 1) & (size > 1)  # per household
    eligible = np.flatnonzero(pop.p_alive & (pop.p_partner < 0) & (pop.p_age >= max(a0, ADULT_AGE)) & (pop.p_age <= a1))
    eligible = eligible[~sole_carer[pop.p_hh[eligible]]]
    return eligible[rng.random(len(eligible)) < rate]


def form_partnerships(pop: Population, rate: float, ages: tuple[int, int], rng: np.random.Generator,
                      free: np.ndarray | None = None) -> np.ndarray:
    """Unpartnered men and women aged ``ages`` seek a partner with probability ``rate``; in each township the seekers
    of the sex in short supply all pair, with as many of the other sex drawn at random, matched by rank of age
    (partners of similar age). Where they live:

    - if the man lives alone, the woman joins him; else if she lives alone, he joins her (a dwelling is freed);
    - otherwise (both live with others, e.g. their parents) the couple starts a household in the man's township part,
      which needs a vacant dwelling (``free``, townships x parts, handed out in random order and reduced in place by
      those let): couples who find none do not form this year.

    A single parent (the only adult of a household with others) does not seek here, so no child is left alone.
    Returns the (man, woman) pairs formed, shape (pairs, 2).
    """
    size = pop.h_size
    seekers = partner_seekers(pop, rate, ages, rng, size)
    key = rng.random(len(seekers))  # random order within township and sex
    town = pop.township_of(seekers).astype(np.int64)
    n_t = int(pop.h_township.max()) + 1 if len(pop.h_township) else 0
    is_man = ~pop.p_female[seekers]
    k = np.minimum(np.bincount(town[is_man], minlength=n_t), np.bincount(town[~is_man], minlength=n_t))
    picked = []
    for sex in (is_man, ~is_man):
        idx = np.flatnonzero(sex)
        idx = idx[first_in_line(town[idx], key[idx], k)]
        idx = idx[np.lexsort((pop.p_age[seekers[idx]], town[idx]))]  # by (township, age): pairs line up by rank of age
        picked.append(seekers[idx])
    men, women = picked
    ok = pop.p_hh[men] != pop.p_hh[women]
    men, women = men[ok], women[ok]
    man_alone = size[pop.p_hh[men]] == 1
    woman_alone = size[pop.p_hh[women]] == 1
    new = ~man_alone & ~woman_alone
    if free is not None and new.any():
        hh = pop.p_hh[men[new]]
        place = pop.h_township[hh].astype(np.int64) * 2 + (~pop.h_urban[hh])
        keep = np.ones(len(men), bool)
        keep[np.flatnonzero(new)[~let_dwellings(place, free, rng.random(len(place)))]] = False
        men, women, man_alone, woman_alone, new = men[keep], women[keep], man_alone[keep], woman_alone[keep], new[keep]
    # she joins him / he joins her; the household left behind ends when empty (dissolve_empty)
    pop.move_members(women[man_alone], pop.p_hh[men[man_alone]])
    join_her = ~man_alone & woman_alone
    pop.move_members(men[join_her], pop.p_hh[women[join_her]])
    if new.any():
        hm, hw = pop.p_hh[men[new]], pop.p_hh[women[new]]
        rows = pop.add_households(pop.h_township[hm], pop.h_urban[hm], pop.h_local[hm] | pop.h_local[hw],
                                  np.full(int(new.sum()), RENTER), np.maximum(pop.h_years[hm], pop.h_years[hw]))
        pop.move_members(men[new], rows)
        pop.move_members(women[new], rows)
    pop.p_partner[men] = women
    pop.p_partner[women] = men
    return np.stack([men, women], axis=1)


def separating(pop: Population, rate: float, rng: np.random.Generator) -> np.ndarray:
    """The partners who leave a couple this year: each couple separates with probability ``rate``, and the man or
    the woman leaves with equal chance (two draws per couple, the second only for those who separate)."""
    men = np.flatnonzero(pop.p_alive & ~pop.p_female & (pop.p_partner >= 0))
    men = men[rng.random(len(men)) < rate]
    return np.where(rng.random(len(men)) < 0.5, men, pop.p_partner[men])


def separate(pop: Population, rate: float, rng: np.random.Generator, free: np.ndarray | None = None) -> np.ndarray:
    """Couples separate with probability ``rate`` a year. One partner (the man or the woman with equal chance) leaves
    for a household of one in the same township part, which needs a vacant dwelling (``free``, handed out in random
    order and reduced in place by those let; couples who find none stay together this year); children stay. Returns
    the persons who left.
    """
    leaver = separating(pop, rate, rng)
    hh = pop.p_hh[leaver]
    if free is not None:
        place = pop.h_township[hh].astype(np.int64) * 2 + (~pop.h_urban[hh])
        got = let_dwellings(place, free, rng.random(len(place)))
        leaver, hh = leaver[got], hh[got]
    unpartner(pop, leaver)
    rows = pop.add_households(pop.h_township[hh], pop.h_urban[hh], pop.h_local[hh], np.full(len(hh), RENTER), pop.h_years[hh])
    pop.move_members(leaver, rows)
    return leaver


def rehome_minors(pop: Population, rng: np.random.Generator) -> np.ndarray:
    """Children left without an adult (their parents died or left) join another household with an adult in the same
    township, drawn at random: kin who take them in. Their own household ends (:func:`dissolve_empty`) and its
    dwelling is freed. Returns the persons moved.

    Example
    -------
    >>> from sim.population import Population
    >>> one = lambda *v, t=None: np.array(v, dtype=t)
    >>> pop = Population(p_age=one(40, 8, 5), p_female=one(1, 0, 1, t=bool), p_hh=one(0, 1, 1, t=np.intp),
    ...                  p_skill=one(0, 0, 0), p_employed=one(0, 0, 0, t=bool), p_sector=one(-1, -1, -1),
    ...                  p_work=one(-1, -1, -1), p_unemployed=one(0, 0, 0, t=bool), p_alive=one(1, 1, 1, t=bool),
    ...                  p_wage_factor=one(1, 1, 1, t=np.float32), p_income=one(0, 0, 0, t=np.float32),
    ...                  h_township=one(0, 0), h_urban=one(1, 1, t=bool), h_local=one(1, 1, t=bool), h_tenure=one(0, 0),
    ...                  h_alive=one(1, 1, t=bool))
    >>> rehome_minors(pop, np.random.default_rng(0)).tolist(), pop.p_hh.tolist(), pop.h_size.tolist()
    ([1, 2], [0, 0, 0], [3, 0])
    """
    alive = pop.p_alive
    n_h = len(pop.h_alive)
    has_adult = pop.h_adults > 0  # (aged ADULT_AGE or more)
    has_member = pop.h_size > 0
    orphaned = pop.h_alive & has_member & ~has_adult
    hosts = np.flatnonzero(pop.h_alive & has_adult)
    if not orphaned.any() or len(hosts) == 0:
        return np.zeros(0, np.int64)
    hosts = hosts[np.argsort(pop.h_township[hosts], kind="stable")]
    host_town = pop.h_township[hosts]
    rows = np.flatnonzero(orphaned)
    town = pop.h_township[rows]
    lo = np.searchsorted(host_town, town, side="left")
    hi = np.searchsorted(host_town, town, side="right")
    # a township with no household with an adult left sends its children to any household of the region
    lo, hi = np.where(hi > lo, lo, 0), np.where(hi > lo, hi, len(hosts))
    new_home = np.full(n_h, -1, np.int64)
    new_home[rows] = hosts[np.minimum(lo + (rng.random(len(rows)) * (hi - lo)).astype(np.int64), hi - 1)]
    persons = np.flatnonzero(alive & orphaned[pop.p_hh])
    pop.move_members(persons, new_home[pop.p_hh[persons]])
    return persons


def dissolve_empty(pop: Population) -> int:
    """Households with no living member end; returns how many ended."""
    empty = np.flatnonzero(pop.h_alive & (pop.h_size == 0))
    pop.dissolve_households(empty)
    return len(empty)
