"""The per-agent reference of the whole year: every decision a person or household makes, written as one Python call
per agent, with the same draws as the engine.

The engine decides for all persons or households at once over numpy columns. This module decides the same things
one agent at a time (ageing, death, giving birth, leaving home, seeking a partner, separating, losing a job, looking
for work, coming of age with an education, weighing a move and choosing where to, registering hukou, seeking a town dwelling, earning an income), so
that a run inside :func:`per_agent_rules` is the slow reference of the whole year: it must give the same results,
draw for draw, and its time against the engine's is the speed-up the columns buy (benchmarks/bench_model.py).

What stays shared: the markets that clear between agents (pairing partners, letting dwellings, matching workers to
jobs, arrivals from outside) and the year's counts (household sizes, indicators), which both versions compute from
the same columns.

Example
-------
>>> model = MigrationModel(region, scale=0.01, seed=1)      # doctest: +SKIP
>>> with per_agent_rules():                                  # doctest: +SKIP
...     model.run()                                          # same results as without, many times slower
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from sim import demography, education, hukou, labour, model as model_module, urbanisation
from sim.choice import ChoiceContext, choose_one
from sim.demography import birth_rates
from sim.labour import household_anchor, household_jobless
from sim.params import Hukou, Markets, Moves, Population as PopulationParams
from sim.population import ADULT_AGE, OWNER, WORKING_AGE, Population


# ---------------------------------------------------------------- persons
def age_one_year(pop: Population) -> None:
    """Every living person grows a year older (up to the last age of the life table)."""
    alive = pop.p_alive.tolist()
    for i in range(len(alive)):
        if alive[i]:
            pop.birthday(i)


def deaths(pop: Population, qx_male: np.ndarray, qx_female: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Each living person dies with the probability of their age and sex; a partner left behind is widowed."""
    alive, female, age, draw = pop.p_alive.tolist(), pop.p_female.tolist(), pop.p_age.tolist(), u.tolist()
    died = []
    for i in range(len(alive)):
        if alive[i] and draw[i] < (qx_female if female[i] else qx_male)[age[i]]:
            pop.remove_persons(np.array([i]))
            pop.p_employed[i] = False
            partner = int(pop.p_partner[i])
            if partner >= 0:
                pop.p_partner[partner] = -1
            pop.p_partner[i] = -1
            died.append(i)
    return np.array(died, np.int64)


def birth_mothers(pop: Population, asfr: np.ndarray, rng: np.random.Generator,
                  births_to_partnered: float | None = None) -> np.ndarray:
    """Each woman of a fertile age gives birth with her age's (and partnership's) probability."""
    fertile = np.flatnonzero(asfr > 0)
    if len(fertile) == 0:  # as the engine: no mothers, and no draws
        return np.empty(0, np.int64)
    lo, hi = int(fertile.min()), int(fertile.max())
    alive, female, age, partner = pop.p_alive.tolist(), pop.p_female.tolist(), pop.p_age.tolist(), pop.p_partner.tolist()
    women = [i for i in range(len(alive)) if alive[i] and female[i] and lo <= age[i] <= hi]
    rate_p = rate_s = asfr
    if births_to_partnered is not None:
        # the county's rates for partnered and single women, from how many of each age are partnered
        n_w, n_p = np.zeros(len(asfr), np.int64), np.zeros(len(asfr), np.int64)
        for i in women:
            n_w[age[i]] += 1
            n_p[age[i]] += partner[i] >= 0
        rate_p, rate_s = birth_rates(asfr, np.where(n_w > 0, n_p / np.maximum(n_w, 1), 0.0), births_to_partnered)
    draw = rng.random(len(women)).tolist()
    return np.array([i for i, x in zip(women, draw) if x < (rate_p if partner[i] >= 0 else rate_s)[age[i]]], np.int64)


def home_leavers(pop: Population, rate: float, ages: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Each unpartnered young adult who is not the oldest of the household wants a home of their own with ``rate``."""
    head = pop.head_age().tolist()
    alive, age, partner, hh = pop.p_alive.tolist(), pop.p_age.tolist(), pop.p_partner.tolist(), pop.p_hh.tolist()
    young = [i for i in range(len(alive))
             if alive[i] and ages[0] <= age[i] <= ages[1] and partner[i] < 0 and age[i] < head[hh[i]]]
    draw = rng.random(len(young)).tolist()
    return np.array([i for i, x in zip(young, draw) if x < rate], np.int64)


def partner_seekers(pop: Population, rate: float, ages: tuple[int, int], rng: np.random.Generator,
                    size: np.ndarray) -> np.ndarray:
    """Each unpartnered adult of partnering age, unless the only adult of a household with others, seeks a partner."""
    alive, age, partner, hh = pop.p_alive.tolist(), pop.p_age.tolist(), pop.p_partner.tolist(), pop.p_hh.tolist()
    adults = [0] * len(pop.h_alive)
    for i in range(len(alive)):
        if alive[i] and age[i] >= ADULT_AGE:
            adults[hh[i]] += 1
    members = size.tolist()
    lo = max(ages[0], ADULT_AGE)
    eligible = [i for i in range(len(alive)) if alive[i] and partner[i] < 0 and lo <= age[i] <= ages[1]
                and not (adults[hh[i]] == 1 and members[hh[i]] > 1)]
    draw = rng.random(len(eligible)).tolist()
    return np.array([i for i, x in zip(eligible, draw) if x < rate], np.int64)


def separating(pop: Population, rate: float, rng: np.random.Generator) -> np.ndarray:
    """Each couple separates with ``rate``; the man or the woman leaves with equal chance."""
    alive, female, partner = pop.p_alive.tolist(), pop.p_female.tolist(), pop.p_partner.tolist()
    men = [i for i in range(len(alive)) if alive[i] and not female[i] and partner[i] >= 0]
    split = [i for i, x in zip(men, rng.random(len(men)).tolist()) if x < rate]
    return np.array([i if x < 0.5 else partner[i] for i, x in zip(split, rng.random(len(split)).tolist())], np.int64)


def come_of_age(pop: Population, year: int, p: PopulationParams, rng: np.random.Generator) -> np.ndarray:
    """Each living person who reaches the education age this year has higher education with the chance of their birth
    cohort and hukou, else middle skill with the middle share, else low skill."""
    alive, age, hh = pop.p_alive.tolist(), pop.p_age.tolist(), pop.p_hh.tolist()
    rows = [i for i in range(len(alive)) if alive[i] and age[i] == p.education_age]
    draw = rng.random(len(rows)).tolist()
    for i, u in zip(rows, draw):
        local = bool(pop.h_local[hh[i]])
        share = min(max(p.higher_education_1995 + p.higher_education_trend * (year - age[i] - education.COHORT_YEAR),
                        p.higher_education_min), p.higher_education_max)
        high = share if local else min(share * p.higher_education_migrant_factor, 1.0)
        middle = (1.0 - high) * (p.middle_skill_share_local if local else p.middle_skill_share_migrant)
        pop.p_skill[i] = education.HIGH if u < high else education.MIDDLE if u < high + middle else education.LOW
    return np.array(rows, np.int64)


def quit_jobs(pop: Population, rate: float, retirement_age: int, u: np.ndarray) -> np.ndarray:
    """Each worker retires at ``retirement_age`` or loses the job with ``rate`` (and then seeks work)."""
    alive, work, age, draw = pop.p_alive.tolist(), pop.p_work.tolist(), pop.p_age.tolist(), u.tolist()
    lost = np.zeros(len(alive), bool)
    for i in range(len(alive)):
        if alive[i] and work[i] >= 0:
            retire = age[i] >= retirement_age
            if retire or draw[i] < rate:
                pop.stop_work(np.array([i]))
                if not retire:
                    lost[i] = pop.p_unemployed[i] = True
        if pop.p_unemployed[i] and age[i] >= retirement_age:  # the unemployed stop seeking at retirement age
            pop.p_unemployed[i] = False
    return lost


def job_seekers(pop: Population, accept_inactive: float, accept_unemployed: float, retirement_age: int,
                u: np.ndarray) -> np.ndarray:
    """Each non-working person of working age looks for work, the unemployed more often."""
    alive, work, age = pop.p_alive.tolist(), pop.p_work.tolist(), pop.p_age.tolist()
    unemployed, draw = pop.p_unemployed.tolist(), u.tolist()
    return np.array([i for i in range(len(alive)) if alive[i] and work[i] < 0 and WORKING_AGE <= age[i] < retirement_age
                     and draw[i] < (accept_unemployed if unemployed[i] else accept_inactive)], np.int64)


def assign_incomes(pop: Population, wage_index: np.ndarray, params: Markets, rng: np.random.Generator) -> None:
    """Each person's income: a wage if employed, a pension from 60, else nothing (wage factors drawn once)."""
    new = np.isnan(pop.p_wage_factor)
    if new.any():  # one draw per newcomer to the labour force, in row order as the engine draws them
        s = params.wage_dispersion
        factors = np.exp(rng.normal(-0.5 * s * s, s, int(new.sum())))
        for i, f in zip(np.flatnonzero(new).tolist(), factors.tolist()):
            pop.p_wage_factor[i] = f
    alive, employed, age, skill = pop.p_alive.tolist(), pop.p_employed.tolist(), pop.p_age.tolist(), pop.p_skill.tolist()
    town, hh, factor = pop.h_township.tolist(), pop.p_hh.tolist(), pop.p_wage_factor.tolist()
    by_skill = [float(np.float32(w)) for w in params.wage_by_skill]
    index, pension = wage_index.tolist(), float(np.float32(params.pension_yuan))
    income = np.zeros(len(alive), np.float32)
    for i in range(len(alive)):
        if alive[i] and employed[i]:
            income[i] = by_skill[skill[i]] * index[town[hh[i]]] * factor[i]
        elif alive[i] and age[i] >= 60:
            income[i] = pension
    pop.p_income = income


# ---------------------------------------------------------------- households
def consider_one(head_age: int, tenure: int, m: Moves, jobless: bool, years: int) -> float:
    """One household's chance of weighing a move this year (as :func:`sim.choice.consider_probability`)."""
    stage = m.consider_rate_young if head_age < 35 else m.consider_rate_mid if head_age < 55 else m.consider_rate_old
    factor = (m.tenure_factor_owner, m.tenure_factor_renter, m.tenure_factor_dorm)[tenure]
    factor = factor * (m.jobless_consider_factor if jobless else 1.0)
    factor = factor * (m.newcomer_consider_factor if years < m.newcomer_years else 1.0)
    return min(max(stage * factor, 0.0), 1.0)


def decide_moves(pop: Population, ctx: ChoiceContext, m: Moves,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Each household weighs moving, and those who do choose among every township part and leaving."""
    no_work = ctx.anchors - 1
    head, anchor, jobless = pop.head_age().tolist(), household_anchor(pop, none=no_work).tolist(), household_jobless(pop).tolist()
    rows = np.flatnonzero(pop.h_alive).tolist()
    tenure, years = pop.h_tenure.tolist(), pop.h_years.tolist()
    draw = rng.random(len(rows)).tolist()
    considering = [r for r, x in zip(rows, draw) if x < consider_one(head[r], tenure[r], m, jobless[r], years[r])]
    town, urban, local = pop.h_township.tolist(), pop.h_urban.tolist(), pop.h_local.tolist()
    choice = [choose_one(town[r], urban[r], local[r], x, ctx, m, None if anchor[r] == no_work else anchor[r], jobless[r])
              for r, x in zip(considering, rng.random(len(considering)).tolist())]
    return np.array(considering, np.int64), np.array(choice, np.int64)


def convert_hukou(pop: Population, openness: float, p: Hukou, u: np.ndarray) -> np.ndarray:
    """Each migrant household registers local hukou with a chance by years of residence and tenure."""
    alive, local, years, tenure, draw = (pop.h_alive.tolist(), pop.h_local.tolist(), pop.h_years.tolist(),
                                         pop.h_tenure.tolist(), u.tolist())
    rows = []
    for r in range(len(alive)):
        if alive[r] and not local[r] and years[r] >= p.min_years:
            rate = p.conversion_rate * (p.owner_factor if tenure[r] == OWNER else 1.0) * (1.0 + p.openness_gain * openness)
            if draw[r] < min(max(rate, 0.0), 1.0):
                pop.h_local[r] = True
                rows.append(r)
    return np.array(rows, np.int64)


def town_seekers(pop: Population, rate: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Each rural household seeks a dwelling in its township's town with the township's rate."""
    alive, urban, town, draw, by_town = (pop.h_alive.tolist(), pop.h_urban.tolist(), pop.h_township.tolist(),
                                         u.tolist(), rate.tolist())
    return np.array([r for r in range(len(alive)) if alive[r] and not urban[r] and draw[r] < by_town[town[r]]], np.int64)


#: (module, name, per-agent version): the engine functions the reference replaces
RULES = (
    (demography, "age_one_year", age_one_year),
    (demography, "deaths", deaths),
    (demography, "birth_mothers", birth_mothers),
    (demography, "home_leavers", home_leavers),
    (demography, "partner_seekers", partner_seekers),
    (demography, "separating", separating),
    (education, "come_of_age", come_of_age),
    (labour, "quit_jobs", quit_jobs),
    (labour, "seekers", job_seekers),
    (model_module, "decide_moves", decide_moves),
    (hukou, "convert", convert_hukou),
    (urbanisation, "town_seekers", town_seekers),
    (model_module, "assign_incomes", assign_incomes),
)


@contextmanager
def per_agent_rules() -> Iterator[None]:
    """Within the block, every model decides agent by agent (the engine's names are looked up when called, so the
    module attributes are swapped and put back after). For tests and benchmarks: not thread-safe."""
    saved = [(module, name, getattr(module, name)) for module, name, _ in RULES]
    try:
        for module, name, slow in RULES:
            setattr(module, name, slow)
        yield
    finally:
        for module, name, fast in saved:
            setattr(module, name, fast)
