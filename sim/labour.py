"""The labour account: jobs by township and sector, who works where, commuting, and the vacancies that recruit migrants.

Workplaces are numbered ``0..n-1`` for the region's townships and ``n..n+Z-1`` for the neighbouring labour-market
zones (external zones with ``labour_market: true``); ``-1`` means no job. Every person's workplace is the column
``Population.p_work``. The account is stock-consistent by construction:

- residents working in township ``j`` and sector ``s`` plus in-commuters from outside the region never exceed the
  jobs there (:func:`shed_excess` lays off where jobs shrink; :func:`match` rations hires to vacancies);
- every employed person has a workplace, and the commuting matrix (home x workplace) sums to employment.

All functions act on whole columns at once; nothing loops over persons.
"""

from __future__ import annotations

import numpy as np

from sim.population import SECTORS, WORKING_AGE, Population


def commute_weights(car_minutes: np.ndarray, transit_minutes: np.ndarray, car_share: float, decay: float,
                    max_minutes: float) -> np.ndarray:
    """Weight of a workplace seen from a home: ``car_share * exp(-decay t_car) + (1-car_share) * exp(-decay t_transit)``.

    Trips longer than ``max_minutes`` by a mode count as impossible by that mode (weight 0).

    Example
    -------
    >>> commute_weights(np.array([[0.0, 200.0]]), np.array([[0.0, 200.0]]), 0.5, 0.05, 90).tolist()
    [[1.0, 0.0]]
    """
    def by(t):
        t = np.where(np.isfinite(t), t, np.inf)
        return np.where(t <= max_minutes, np.exp(-decay * np.where(np.isfinite(t), t, 0.0)), 0.0)
    return car_share * by(car_minutes) + (1.0 - car_share) * by(transit_minutes)


def composite_minutes(weights: np.ndarray, decay: float) -> np.ndarray:
    """Commute time equivalent to a weight (the log-sum over modes): ``-log(w) / decay``; ``inf`` where w = 0.

    >>> composite_minutes(np.array([1.0, np.exp(-1.0), 0.0]), 0.05).round(6).tolist()
    [0.0, 20.0, inf]
    """
    with np.errstate(divide="ignore"):
        # + 0.0 turns the -0.0 of a weight of 1 into 0.0 and leaves every other value as it is
        return np.where(weights > 0, -np.log(np.maximum(weights, 1e-300)) / decay + 0.0, np.inf)


def occupied(pop: Population, n_places: int) -> np.ndarray:
    """Living residents working in each (workplace, sector) for workplaces ``0..n_places-1``: shape (n_places, 3).

    The population keeps this count (:meth:`Population.workers_by_cell`): no pass over the persons."""
    return pop.workers_by_cell(n_places)


def rank_within(groups: np.ndarray, key: np.ndarray) -> np.ndarray:
    """Rank (0, 1, ...) of each element within its group, in order of ``key``.

    >>> rank_within(np.array([1, 0, 1, 1]), np.array([0.5, 0.1, 0.2, 0.9])).tolist()
    [1, 0, 0, 2]
    """
    order = np.lexsort((key, groups))
    g = groups[order]
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    first = np.repeat(starts, np.diff(np.r_[starts, len(g)]))
    rank = np.empty(len(groups), np.int64)
    rank[order] = np.arange(len(g)) - first
    return rank


def first_in_line(groups: np.ndarray, key: np.ndarray, places: np.ndarray) -> np.ndarray:
    """Which elements get one of their group's ``places`` when each group serves its elements in order of ``key``:
    ``rank_within(groups, key) < places[groups]``, ranking only the groups with more elements than places (the others
    serve everyone), which is most of the work saved where few groups are crowded.

    >>> first_in_line(np.array([1, 0, 1, 1]), np.array([0.5, 0.1, 0.2, 0.9]), np.array([5, 2])).tolist()
    [True, True, True, False]
    """
    groups = np.asarray(groups, np.int64)
    places = np.asarray(places)
    crowded = np.flatnonzero(np.bincount(groups, minlength=len(places))[groups] > places[groups])
    ok = np.ones(len(groups), bool)
    if len(crowded):
        g = groups[crowded]
        ok[crowded] = rank_within(g, np.asarray(key)[crowded]) < places[g]
    return ok


def quit_jobs(pop: Population, rate: float, retirement_age: int, u: np.ndarray) -> np.ndarray:
    """Retirements and separations (quits, dismissals, firm exits) at a yearly ``rate``.

    Returns the mask of persons who lost a job this year (not the retirees); they become unemployed seekers.
    """
    emp = pop.p_alive & (pop.p_work >= 0)
    retire = emp & (pop.p_age >= retirement_age)
    lost = emp & ~retire & (u < rate)
    pop.stop_work(np.flatnonzero(retire | lost))  # few: index writes beat three masked passes over every person
    pop.p_unemployed[lost] = True
    idle = np.flatnonzero(pop.p_unemployed)
    pop.p_unemployed[idle[pop.p_age[idle] >= retirement_age]] = False
    return lost


def shed_excess(pop: Population, jobs: np.ndarray, in_commuters: np.ndarray,
                u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where jobs fell below the workers in a (township, sector), in-commuters go first, then residents at random.

    ``in_commuters`` (n, 3) is reduced in place. Returns the mask of residents laid off and the residents working in
    each (township, sector) after the layoffs (:func:`occupied`, shape (n, 3)).
    """
    n = len(jobs)
    occ = occupied(pop, n)[:n]
    excess = occ + in_commuters - jobs
    cut = np.minimum(np.maximum(excess, 0.0), in_commuters)
    in_commuters -= cut
    excess_res = np.ceil(np.maximum(excess - cut, 0.0) - 1e-9).astype(np.int64)
    if not excess_res.any():
        return np.zeros(len(pop.p_age), bool), occ
    w = np.flatnonzero(pop.p_alive & (pop.p_work >= 0) & (pop.p_work < n))
    cell = pop.p_work[w].astype(np.int64) * SECTORS + pop.p_sector[w]
    laid_off = first_in_line(cell, u[w], excess_res.reshape(-1))
    go = w[laid_off]
    occ = occ - np.bincount(cell[laid_off], minlength=n * SECTORS).reshape(n, SECTORS)
    pop.stop_work(go)
    pop.p_unemployed[go] = True
    out = np.zeros(len(pop.p_age), bool)
    out[go] = True
    return out, occ


def balanced_flows(origins: np.ndarray, destinations: np.ndarray, weights: np.ndarray, iterations: int = 60) -> np.ndarray:
    """A doubly-constrained gravity model: flows ``T[i, j] = a_i b_j weights[i, j]`` whose rows sum to ``origins`` and
    columns to ``destinations`` (Furness balancing; the totals must be equal, cells with weight 0 stay 0).

    Rows or columns that no positive weight reaches get no flow.

    Example
    -------
    >>> t = balanced_flows(np.array([10.0, 30.0]), np.array([20.0, 20.0]), np.array([[1.0, 0.1], [0.1, 1.0]]))
    >>> t.sum(axis=1).round(6).tolist(), t.sum(axis=0).round(6).tolist()
    ([10.0, 30.0], [20.0, 20.0])
    """
    t = np.asarray(weights, float) * (np.asarray(origins, float)[:, None] > 0) * (np.asarray(destinations, float)[None, :] > 0)
    for _ in range(iterations):
        t *= (origins / np.maximum(t.sum(axis=1), 1e-300))[:, None]
        t *= (destinations / np.maximum(t.sum(axis=0), 1e-300))[None, :]
    return t


def match(pop: Population, seekers: np.ndarray, vacancies: np.ndarray, openings: np.ndarray, weights: np.ndarray,
          u_place: np.ndarray, u_rank: np.ndarray) -> np.ndarray:
    """Seekers are matched to vacancies by a doubly-constrained gravity model; hires never exceed vacancies.

    Parameters
    ----------
    pop : the population (``p_work``, ``p_sector``, ``p_employed``, ``p_unemployed`` are set for the hired).
    seekers : person rows that look for and would take a job this year.
    vacancies : (n, 3) unfilled jobs per township and sector (region scale).
    openings : (Z,) jobs per year open to the region's residents in each neighbouring zone.
    weights : (n, n+Z) commute weight from each home township to each workplace (:func:`commute_weights`).
    u_place, u_rank : uniform draws per person row (which job, and the order in the queue where jobs are short).

    Returns
    -------
    The person rows hired. Expected flows from each home township to each (workplace, sector) are balanced so that
    every home sends its seekers and every vacancy receives its share (:func:`balanced_flows`), with a column "no job"
    that takes the seekers the vacancies cannot (reachable from every home at weight 1, so competition for near jobs
    decides who is left over); each seeker draws from its home's row. Where more draw a cell than it has whole
    vacancies, a random queue decides.

    Example
    -------
    See ``tests/test_labour.py``.
    """
    n = len(vacancies)
    z = len(openings)
    if len(seekers) == 0:
        return seekers
    supply = np.floor(np.concatenate([np.maximum(vacancies, 0.0).reshape(-1), np.maximum(openings, 0.0)]) + 1e-9)  # (3n + Z,)
    w_cells = np.concatenate([np.repeat(weights[:, :n], SECTORS, axis=1), weights[:, n:n + z]], axis=1)
    home = pop.township_of(seekers).astype(np.int64)
    origin = np.bincount(home, minlength=len(weights)).astype(float)
    reachable = (w_cells * supply > 0).any(axis=1)
    origin = np.where(reachable, origin, 0.0)
    # the "no job" column: whatever of the seekers the vacancies cannot take, at a weight that does not fall with distance
    none = max(origin.sum() - supply.sum(), 0.0) + 1e-6 * origin.sum()
    dest = np.concatenate([supply, [none]])
    dest *= origin.sum() / max(dest.sum(), 1e-300)
    w_all = np.concatenate([w_cells, np.ones((len(weights), 1))], axis=1)
    flows = balanced_flows(origin, dest, w_all)
    cum = np.cumsum(flows, axis=1) / np.maximum(flows.sum(axis=1), 1e-300)[:, None]
    keep_reach = reachable[home]
    seekers, home = seekers[keep_reach], home[keep_reach]
    cell = np.empty(len(seekers), np.int64)
    u = u_place[seekers]
    for i in np.unique(home):  # one search per home township, not per person: no (persons x cells) array
        at = home == i
        cell[at] = np.searchsorted(cum[i], u[at], side="right")
    cell = np.minimum(cell, len(dest) - 1)
    has_job = cell < len(supply)
    seekers, cell = seekers[has_job], cell[has_job]
    cap = supply.astype(np.int64)
    keep = first_in_line(cell, u_rank[seekers], cap)
    hired, cell = seekers[keep], cell[keep]
    county = cell < n * SECTORS
    # jobs in the neighbouring zones are not split by sector; the person takes the zone's commonest (tertiary)
    pop.start_work(hired, np.where(county, cell // SECTORS, n + (cell - n * SECTORS)).astype(np.int16),
                   np.where(county, cell % SECTORS, 2).astype(np.int8))
    pop.p_unemployed[hired] = False
    return hired


def hires_by_cell(pop: Population, hired: np.ndarray, n: int) -> np.ndarray:
    """(n, 3) persons among ``hired`` working in each township and sector (hires outside the region are left out)."""
    w = hired[pop.p_work[hired] < n]
    return np.bincount(pop.p_work[w].astype(np.int64) * SECTORS + pop.p_sector[w], minlength=n * SECTORS).reshape(n, SECTORS).astype(float)


def seekers(pop: Population, accept_inactive: float, accept_unemployed: float, retirement_age: int,
            u: np.ndarray) -> np.ndarray:
    """Person rows looking for work this year: the unemployed (who lost a job) with chance ``accept_unemployed``,
    other non-working persons of working age with chance ``accept_inactive`` (entrants, returners, partners).
    """
    free = pop.p_alive & (pop.p_work < 0) & (pop.p_age >= WORKING_AGE) & (pop.p_age < retirement_age)
    p = np.where(pop.p_unemployed, accept_unemployed, accept_inactive)
    return np.flatnonzero(free & (u < p))


def in_commuter_reach(zone_jobs: np.ndarray, weights_from_zones: np.ndarray) -> np.ndarray:
    """(n,) share of a township's vacancies that workers living in the neighbouring zones would fill in a year,
    before the fill rate: the zones' jobs-weighted commute weight to the township.

    >>> in_commuter_reach(np.array([3.0, 1.0]), np.array([[1.0, 0.0], [0.0, 1.0]])).tolist()
    [0.75, 0.25]
    """
    w = np.asarray(zone_jobs, float)
    return (w[:, None] * weights_from_zones).sum(axis=0) / max(float(w.sum()), 1e-12)


def grow_jobs(jobs: np.ndarray, growth: tuple[float, float, float], vacancy_memory: np.ndarray, normal_vacancy: float,
              feedback: float, added: np.ndarray | None = None) -> np.ndarray:
    """Trend growth by sector, slowed where vacancies have persisted, plus jobs added (or removed) by levers.

    A (township, sector) whose smoothed vacancy rate stays above ``normal_vacancy`` grows
    ``feedback x (rate - normal)`` slower each year: firms that cannot hire do not expand (and shed unfillable posts).

    >>> grow_jobs(np.array([[100.0, 100.0, 100.0]]), (0.0, 0.1, 0.0), np.array([[0.0, 0.25, 0.0]]), 0.05, 1.0).tolist()
    [[100.0, 90.0, 100.0]]
    """
    rate = np.asarray(growth, float)[None, :] - feedback * np.maximum(vacancy_memory - normal_vacancy, 0.0)
    out = jobs * (1.0 + rate)
    if added is not None:
        out = out + added
    return np.maximum(out, 0.0)


def local_service_jobs(added: np.ndarray, residents: np.ndarray, multiplier: float) -> np.ndarray:
    """Local (non-tradable) jobs induced by tradable jobs that levers add: ``multiplier`` service jobs per primary or
    secondary job added anywhere in the region, spread over the townships in proportion to their residents (local
    services follow the households that buy them, wherever the workers live).

    The trend growth of the baseline already carries its own local jobs, so only jobs added by levers induce more; a
    loss of tradable jobs removes service jobs alike.

    Parameters
    ----------
    added : (townships, 3) jobs added by levers this year (primary, secondary, tertiary).
    residents : (townships,) residents now.
    multiplier : service jobs per tradable job (``labour.local_multiplier``).

    Returns
    -------
    (townships, 3): the service jobs to add (the tertiary column; the others are zero).

    >>> local_service_jobs(np.array([[0.0, 100.0, 50.0], [0.0, 0.0, 0.0]]), np.array([300.0, 100.0]), 1.0).tolist()
    [[0.0, 0.0, 75.0], [0.0, 0.0, 25.0]]
    """
    out = np.zeros_like(np.asarray(added, float))
    tradable = float(np.asarray(added, float)[:, :2].sum())
    total = float(np.sum(residents))
    if tradable != 0.0 and total > 0.0 and multiplier > 0.0:
        out[:, 2] = multiplier * tradable * np.asarray(residents, float) / total
    return out


def household_anchor(pop: Population, none: int) -> np.ndarray:
    """Per household row: the workplace of its first-listed worker (the head where the head works), or ``none`` if
    nobody works. Movers weigh the commute to this workplace."""
    w = np.flatnonzero(pop.p_alive & (pop.p_work >= 0))
    first = np.full(len(pop.h_alive), len(pop.p_age), np.int64)
    np.minimum.at(first, pop.p_hh[w], w)
    work = np.empty(len(pop.p_age) + 1, np.int64)  # one row more: households without a worker point past the end
    work[:-1] = pop.p_work
    work[-1] = none
    return work[first]


def household_jobless(pop: Population) -> np.ndarray:
    """Per household row: True if a member is unemployed (lost a job and has not found another)."""
    out = np.zeros(len(pop.h_alive), bool)
    out[pop.p_hh[pop.p_alive & pop.p_unemployed]] = True
    return out


def commuting_matrix(pop: Population, n_homes: int, n_places: int) -> np.ndarray:
    """(homes, workplaces) employed residents by home township and workplace (townships, then zones)."""
    w = np.flatnonzero((pop.p_work >= 0) & pop.p_alive)  # the dead keep their last workplace until compaction
    idx = pop.township_of(w).astype(np.int64) * n_places + pop.p_work[w]
    return np.bincount(idx, minlength=n_homes * n_places).reshape(n_homes, n_places).astype(float)


def labour_force_by_township(pop: Population, n_townships: int, retirement_age: int) -> tuple[np.ndarray, np.ndarray]:
    """Living residents of working age (``WORKING_AGE`` to ``retirement_age``) and living workers, by home township.

    One pass over the persons: each falls in one cell of (township, of working age, works), so the two counts
    share the gather of the home township (the tightness needs both every year).

    Returns
    -------
    (working_age, workers), floats of length ``n_townships``.

    Example
    -------
    >>> from types import SimpleNamespace as NS   # the columns it reads
    >>> pop = NS(p_age=np.array([30, 70, 40, 10]), p_hh=np.array([0, 0, 1, 1]), p_alive=np.ones(4, bool),
    ...          p_employed=np.array([True, True, False, False]), h_township=np.array([1, 0]))
    >>> [c.tolist() for c in labour_force_by_township(pop, 2, retirement_age=60)]
    [[1.0, 1.0], [0.0, 2.0]]
    """
    cell = np.left_shift((pop.p_age >= WORKING_AGE) & (pop.p_age < retirement_age), 1, dtype=np.uint8)
    cell |= pop.p_employed
    cell *= pop.p_alive  # the dead keep their last job's flag until compaction; they count nowhere
    key = np.take(pop.h_township.astype(np.intp) << 2, pop.p_hh)  # 4 cells a township: first the township, then cell
    key += cell
    counts = np.bincount(key, minlength=4 * n_townships).reshape(n_townships, 4)
    return (counts[:, 2] + counts[:, 3]).astype(float), (counts[:, 1] + counts[:, 3]).astype(float)
