"""Arrivals from outside the region: workers recruited to vacancies, and a smaller flow that is not labour-driven.

- **Recruits** fill the vacancies that residents and in-commuters left (:mod:`sim.labour`). Each recruit arrives
  employed at the job's township and sector, with a household of a documented migrant type (single in a dormitory
  or renting, couple, couple with one or two children: the planners' 带眷系数 of dependants per worker), and chooses
  where to live from the workplace (:func:`home_probabilities`).
- **Other arrivals** (returnees, family reunion, students) are a flow proportional to the resident persons.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from sim.choice import ChoiceContext, place_utility
from sim.education import Skills
from sim.housing import let_dwellings
from sim.params import Migration, Moves
from sim.population import DORM, RENTER, Population

RECRUIT_SIZES = (1, 2, 3, 4)  # single, couple, couple + 1 child, couple + 2 children


def zone_shares(populations: np.ndarray, minutes: np.ndarray, decay_per_min: float) -> np.ndarray:
    """Share of the households leaving the region that goes to each external zone (and of arrivals coming from it):
    the zone's residents times ``exp(-decay_per_min * minutes)``, minutes from the main centre over this year's
    network (``inf`` where the network does not reach the zone).

    A region may have years in which no zone is reached (its only link out opens later), zones of 0 residents, or
    zones so far that every weight is below the smallest float. Leavers still leave, so the shares then fall back,
    in turn, to the pull measured from the nearest reached zone, to residents alone, and to equal shares.

    >>> zone_shares(np.array([100.0, 300.0]), np.array([10.0, np.inf]), 0.01).tolist()
    [1.0, 0.0]
    >>> zone_shares(np.array([100.0, 300.0]), np.array([np.inf, np.inf]), 0.01).tolist()
    [0.25, 0.75]
    >>> zone_shares(np.array([0.0, 0.0]), np.array([5.0, 9.0]), 0.01).tolist()
    [0.5, 0.5]
    """
    reached = np.isfinite(minutes)
    w = populations * np.exp(-decay_per_min * np.where(reached, minutes, 1e6))
    if not w.sum() > 0 and reached.any():
        w = populations * np.where(reached, np.exp(-decay_per_min * (np.where(reached, minutes, 0) - minutes[reached].min())), 0.0)
    if not w.sum() > 0:
        w = populations.astype(float)
    if not w.sum() > 0:
        w = np.ones(len(populations))
    return w / w.sum()


def newcomer_place_utility(ctx: ChoiceContext, moves: Moves) -> np.ndarray:
    """(n, 2) utility of each township part for households arriving from outside: the movers' place utility without
    the region's move-choice constants, which are balanced on moves within the region (``run.py constants``) and
    stand for what the movers' weights miss about moving between places here, not for where newcomers settle; with
    the hukou term (``beta_hukou`` × openness) that draws migrants.

    Example
    -------
    >>> from sim.choice import ChoiceContext
    >>> ctx = ChoiceContext(access=np.ones(2), wage=np.ones(2), price=np.ones((2, 2)), services=np.zeros(2),
    ...                     vacancy=np.full((2, 2), 0.1), minutes=np.zeros((2, 2)), target_vacancy=0.1,
    ...                     constants=np.array([[3.0, 0.0], [0.0, 0.0]]))
    >>> bool((newcomer_place_utility(ctx, Moves()) == place_utility(replace(ctx, constants=None), Moves())).all())
    True
    """
    return place_utility(replace(ctx, constants=None), moves) + moves.beta_hukou * moves.hukou_openness


def home_probabilities(place_utility: np.ndarray, commute_hours: np.ndarray, beta_commute_per_hour: float) -> np.ndarray:
    """Where a worker with a job at each workplace lives: (workplaces, 2n) logit probabilities over township parts.

    ``place_utility`` is (n, 2) (:func:`sim.choice.place_utility`, hukou terms included by the caller);
    ``commute_hours`` is (n, workplaces).

    >>> home_probabilities(np.zeros((2, 2)), np.array([[0.0], [np.inf]]), 1.0).round(3).tolist()
    [[0.5, 0.5, 0.0, 0.0]]
    """
    u = place_utility.reshape(-1)[None, :] - beta_commute_per_hour * np.repeat(np.where(np.isfinite(commute_hours), commute_hours, 1e3).T, 2, axis=1)
    u = u - u.max(axis=1, keepdims=True)
    p = np.exp(u)
    return p / p.sum(axis=1, keepdims=True)


def create_households(pop: Population, township: np.ndarray, urban: np.ndarray, local: np.ndarray, tenure: np.ndarray,
                      sizes: np.ndarray, head_age: np.ndarray, skills: Skills,
                      rng: np.random.Generator, head_work: np.ndarray | None = None,
                      head_sector: np.ndarray | None = None) -> np.ndarray:
    """Append households of ``sizes`` members: a head, a partner of similar age and the other sex (``p_partner``),
    then children aged 0-10.

    Members of ``education_age`` or older have the skills of their cohort and hukou (``skills``: the year and the
    population parameters, :func:`sim.education.skills_from_draws`), or the one skill a programme recruits. The head
    works at ``head_work`` in ``head_sector`` when given (a recruit); everyone else arrives without a job and looks
    for one like residents do. Returns the new household rows.
    """
    count = len(township)
    if count == 0:
        return np.zeros(0, np.int64)
    rows = pop.add_households(township, urban, local, tenure)
    sizes = np.asarray(sizes, np.int64)
    hh = np.repeat(rows, sizes)
    member = np.arange(len(hh)) - np.repeat(np.cumsum(sizes) - sizes, sizes)  # 0, 1, ... within each household
    head = np.repeat(np.asarray(head_age), sizes)
    age = np.where(member == 0, head, np.where(member == 1, np.clip(head + rng.integers(-3, 4, len(hh)), 18, 65),
                                                rng.integers(0, 11, len(hh))))
    female = rng.random(len(hh)) < 0.45
    # the second member is the head's partner, of the other sex (heads of couples are mostly men, as 0.8 of the
    # partners were women before partnerships were modelled)
    couple_head = (member == 0) & (np.repeat(sizes, sizes) >= 2)
    female[couple_head] = rng.random(int(couple_head.sum())) < 0.2
    female[member == 1] = ~female[np.flatnonzero(member == 1) - 1]
    skill = skills.of(rng.random(len(hh)), age, np.repeat(np.asarray(local, bool), sizes))
    work = np.full(len(hh), -1, np.int64)
    sector = np.full(len(hh), -1, np.int64)
    if head_work is not None:
        is_head = member == 0
        work[is_head] = head_work
        sector[is_head] = head_sector
    first = len(pop.p_age)
    pop.add_persons(age, female, hh, skill, work >= 0, sector, work)
    partner = first + np.flatnonzero(member == 1)
    pop.p_partner[partner] = partner - 1
    pop.p_partner[partner - 1] = partner
    return rows


def seek_dwellings(place: np.ndarray, dorm: np.ndarray, free: np.ndarray | None, u: np.ndarray) -> np.ndarray:
    """Which arrivals find a home: those in dormitories always (outside the housing stock), the others while their
    township part has vacant dwellings (:func:`sim.housing.admit`; ``free`` is reduced in place by the dwellings let;
    ``free=None`` admits everyone).

    >>> seek_dwellings(np.array([0, 0, 0]), np.array([True, False, False]), np.array([1, 0]), np.array([0.1, 0.5, 0.2])).tolist()
    [True, False, True]
    """
    ok = np.ones(len(place), bool)
    if free is not None:
        need = ~dorm
        ok[need] = let_dwellings(place[need], free, u[need])
    return ok


def add_migrants(pop: Population, count: int, place_prob: np.ndarray, m: Migration, rng: np.random.Generator,
                 skills: Skills, free: np.ndarray | None = None) -> tuple[np.ndarray, int]:
    """``count`` arriving households that are not recruited to a job, in places drawn from ``place_prob``
    (flattened township x part): households of 1-3 (``m.size_shares``), young heads, renting or in dormitories.

    Those who need a dwelling arrive only while their part has a vacant one (``free``, flattened like
    ``place_prob``). Returns the new household rows and the number of households turned away.
    """
    if count <= 0:
        return np.zeros(0, np.int64), 0
    places = rng.choice(len(place_prob), size=count, p=place_prob)
    local = rng.random(count) < m.local_hukou_share
    tenure = np.where(rng.random(count) < 0.35, DORM, RENTER)
    size = 1 + np.searchsorted(np.cumsum(m.size_shares) / np.sum(m.size_shares), rng.random(count), side="right")
    size = np.minimum(size, 3)
    head_age = np.clip(np.round(rng.normal(m.age_mean, m.age_sd, count)), 18, 60).astype(int)
    ok = seek_dwellings(places, tenure == DORM, free, rng.random(count))
    rows = create_households(pop, places[ok] // 2, places[ok] % 2 == 0, local[ok], tenure[ok], size[ok], head_age[ok],
                             skills, rng)
    return rows, int((~ok).sum())


def nonlabour_households(persons: float, m: Migration, rng: np.random.Generator) -> int:
    """This year's count of households arriving for other reasons than a job: Poisson with mean
    ``persons / 1000 x nonlabour_per_1000_persons / mean size`` (so the flow follows persons, not households)."""
    shares = np.asarray(m.size_shares, float) / np.sum(m.size_shares)
    mean_size = float(np.dot(np.arange(1, len(shares) + 1), shares))
    return int(rng.poisson(persons / 1000.0 * m.nonlabour_per_1000_persons / mean_size))


def add_recruits(pop: Population, workplace: np.ndarray, sector: np.ndarray, home_prob: np.ndarray,
                 dorm_prob: np.ndarray, m: Migration, rng: np.random.Generator,
                 skills: Skills, free: np.ndarray | None = None) -> tuple[np.ndarray, int]:
    """Households of recruited workers: one row per recruit, head employed at ``workplace`` (a township index) in
    ``sector``.

    Household type from ``m.recruit_household_shares`` (single, couple, couple + 1 child, couple + 2 children); a
    share ``m.recruit_dorm_share`` of singles lives in a dormitory in the workplace township (part drawn from
    ``dorm_prob``, (n, 2)); everyone else chooses a home from ``home_prob`` (workplaces x 2n) and comes only while
    that part has a vacant dwelling (``free``, flattened township x part): a recruit who finds none does not come,
    and the job stays vacant. Returns the rows and the number of recruits turned away.
    """
    count = len(workplace)
    if count == 0:
        return np.zeros(0, np.int64), 0
    shares = np.asarray(m.recruit_household_shares, float)
    sizes = np.asarray(RECRUIT_SIZES)[np.searchsorted(np.cumsum(shares) / shares.sum(), rng.random(count), side="right").clip(0, 3)]
    dorm = (sizes == 1) & (rng.random(count) < m.recruit_dorm_share)
    cum = np.cumsum(home_prob[workplace], axis=1)
    place = np.minimum((rng.random(count)[:, None] >= cum).sum(axis=1), home_prob.shape[1] - 1)
    dorm_rural = rng.random(count) >= dorm_prob[workplace, 0] / np.maximum(dorm_prob[workplace].sum(axis=1), 1e-12)
    place = np.where(dorm, workplace * 2 + dorm_rural, place)
    local = rng.random(count) < m.recruit_local_hukou_share
    tenure = np.where(dorm, DORM, RENTER)
    head_age = np.clip(np.round(rng.normal(m.age_mean, m.age_sd, count)), 18, 60).astype(int)
    ok = seek_dwellings(place, dorm, free, rng.random(count))
    rows = create_households(pop, place[ok] // 2, place[ok] % 2 == 0, local[ok], tenure[ok], sizes[ok], head_age[ok],
                             skills, rng, head_work=workplace[ok], head_sector=sector[ok])
    return rows, int((~ok).sum())
