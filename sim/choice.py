"""The move decision: who considers moving, and a multinomial logit over places.

Alternatives are every township's urban part and rural part (index ``2*j`` and ``2*j+1``)
and leaving the county (index ``2*n``). Staying is choosing one's own place. Households
that share origin township, part, hukou type, workplace (the "anchor": where its main earner works,
see :func:`sim.labour.household_anchor`) and job loss face the same probabilities, so the engine
computes one probability row per such cell and draws for all households at once;
:func:`choose_one` is the same rule written for a single household, as a readable reference.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sim.labour import household_anchor, household_jobless
from sim.parallel import both
from sim.params import Moves
from sim.population import DORM, OWNER, RENTER, Population


@dataclass(frozen=True)
class ChoiceContext:
    """What households know about places this year (township arrays; housing by [urban, rural] part)."""

    access: np.ndarray       # (n,) jobs within reach (gravity, neighbouring cities included), relative to this year's county mean
    wage: np.ndarray         # (n,) wage index (labour-market tightness), 1 = county
    price: np.ndarray        # (n, 2) housing cost index relative to the county, per part
    services: np.ndarray     # (n,) 0-1
    vacancy: np.ndarray      # (n, 2) vacant share of units
    minutes: np.ndarray      # (n, n) travel minutes between seats
    target_vacancy: float | np.ndarray  # (n, 2) vacancy at which a part is in balance (sim.housing.equilibrium_vacancy)
    size: np.ndarray | None = None  # (n, 2) housing units per part: a place's size (None = equal sizes)
    commute: np.ndarray | None = None  # (n, n_places) commute minutes from each township to each workplace (None = no workplaces)
    constants: np.ndarray | None = None  # (n, 2) alternative-specific constants per township part (None = none)

    @property
    def n(self) -> int:
        return len(self.access)

    @property
    def anchors(self) -> int:
        """Number of workplace classes: every workplace, plus one for households where nobody works."""
        return (0 if self.commute is None else self.commute.shape[1]) + 1


MAX_COMMUTE_HOURS = 5.0  # an unreachable workplace costs as much as a five-hour commute
CHOOSE_BLOCK = 8192  # households per block in :func:`choose` (x 33 alternatives for 16 townships: about 2 MB)


def commute_cost(ctx: ChoiceContext, m: Moves) -> np.ndarray:
    """(anchors, 2n) disutility of commuting from each township part to each workplace; 0 for the no-worker row."""
    out = np.zeros((ctx.anchors, 2 * ctx.n))
    if ctx.commute is not None:
        hours = np.minimum(ctx.commute / 60.0, MAX_COMMUTE_HOURS)  # (n, places)
        out[:-1] = m.beta_commute_per_hour * np.repeat(hours.T, 2, axis=1)
    return out


def vacancy_term(vacancy: np.ndarray, target: float) -> np.ndarray:
    """log(vacancy / target), floored and capped, so full places repel and empty ones attract a little."""
    return np.clip(np.log(np.maximum(vacancy, 0.005) / target), -3.0, 1.0)


def place_utility(ctx: ChoiceContext, m: Moves) -> np.ndarray:
    """(n, 2) utility of living in each township part, before distance, ties and staying."""
    u = (m.beta_access * np.log(np.maximum(ctx.access, 1e-9))[:, None]
         + m.beta_wage * np.log(np.maximum(ctx.wage, 1e-9))[:, None]
         - m.beta_price * np.log(np.maximum(ctx.price, 1e-9))
         + m.beta_services * ctx.services[:, None]
         + m.beta_vacancy * vacancy_term(ctx.vacancy, ctx.target_vacancy))
    u[:, 0] += m.beta_urban
    if ctx.size is not None:
        # Places are aggregates of dwellings: a part with twice the units is twice as likely, other things equal.
        u += m.beta_size * np.log(np.maximum(ctx.size, 1e-9))
    if ctx.constants is not None:
        u += ctx.constants
    return u


def cell_probabilities(ctx: ChoiceContext, m: Moves) -> np.ndarray:
    """Cumulative choice probabilities, shape (cells, 2n+1 alternatives).

    Cell ``(((i*2 + part)*2 + local)*anchors + anchor)*2 + jobless`` is a household in township ``i``, part ``part``
    (0 urban), with local hukou ``local`` (1) or migrant (0), whose main earner works at ``anchor`` (``anchors - 1``
    = nobody works), and with (1) or without (0) a member who lost a job.
    """
    n, a = ctx.n, ctx.anchors
    base = place_utility(ctx, m).reshape(-1)                     # (2n,) alternative order j*2+part
    dist = np.repeat(ctx.minutes, 2, axis=1) / 60.0               # (n, 2n)
    own_town = np.repeat(np.eye(n, dtype=bool), 2, axis=1)
    dist[own_town] = 0.0                                          # moves within the township
    ref = base.reshape(n, 2)
    local = np.array([0.0, 1.0])
    # axes: origin i, part, local, anchor, jobless, alternative
    v = (base - m.beta_distance_per_hour * dist)[:, None, None, None, None, :]
    v = v + ((1 - local) * m.beta_hukou * m.hukou_openness)[None, None, :, None, None, None]
    v = v + (local[None, :, None] * m.local_ties * own_town[:, None, :])[:, None, :, None, None, :]
    v = v - commute_cost(ctx, m)[None, None, None, :, None, :]
    stay = np.zeros((n, 2, 2 * n))
    stay[np.arange(n), 0, np.arange(n) * 2] = m.stay_bonus
    stay[np.arange(n), 1, np.arange(n) * 2 + 1] = m.stay_bonus
    v = v + stay[:, :, None, None, None, :]
    v = np.broadcast_to(v, (n, 2, 2, a, 2, 2 * n))
    # Leaving is valued against the place as it is this year: what holds people in the county is what ties them to
    # it (staying, local ties, a commute that would be lost, the other places within reach), not how a place's
    # utility compares with an earlier year's. A lost job pushes people out.
    leave = (ref[:, :, None, None, None] + m.leave_constant + ((1 - local) * m.leave_migrant)[None, None, :, None, None]
             + (np.array([0.0, 1.0]) * m.beta_jobless_leave)[None, None, None, None, :])
    leave = np.broadcast_to(leave, (n, 2, 2, a, 2))[..., None]
    util = np.concatenate([v, leave], axis=-1).reshape(n * 4 * a * 2, 2 * n + 1)
    util = util - util.max(axis=1, keepdims=True)
    p = np.exp(util)
    p /= p.sum(axis=1, keepdims=True)
    return np.cumsum(p, axis=1)


def household_cells(pop: Population, rows: np.ndarray, anchor: np.ndarray | None = None, jobless: np.ndarray | None = None,
                    anchors: int = 1) -> np.ndarray:
    """Cell index of each household row (see :func:`cell_probabilities`).

    ``anchor`` and ``jobless`` are per household row (all rows; :func:`sim.labour.household_anchor`,
    :func:`sim.labour.household_jobless`); ``anchors`` is ``ChoiceContext.anchors``. Without them every household
    counts as having no worker and no job loss.
    """
    a = np.full(len(rows), anchors - 1, np.int64) if anchor is None else anchor[rows].astype(np.int64)
    j = np.zeros(len(rows), np.int64) if jobless is None else jobless[rows].astype(np.int64)
    base = (pop.h_township[rows].astype(np.int64) * 2 + (~pop.h_urban[rows])) * 2 + pop.h_local[rows]
    return (base * anchors + a) * 2 + j


def consider_probability(head_age: np.ndarray, tenure: np.ndarray, m: Moves, jobless: np.ndarray | None = None,
                         years: np.ndarray | None = None) -> np.ndarray:
    """Yearly chance that a household weighs moving: by the head's life stage and by tenure, raised after a job loss
    and in the first ``m.newcomer_years`` years after arriving in the region (``years``: years lived there)."""
    # look-up tables by life stage (heads under 35, under 55, older) and by tenure code, one pass each
    stage_of = (head_age >= 35).view(np.uint8) + (head_age >= 55)  # np.digitize(head_age, (35, 55)), a third the time
    stage = np.array([m.consider_rate_young, m.consider_rate_mid, m.consider_rate_old])[stage_of]
    by_tenure = np.zeros(max(OWNER, RENTER, DORM) + 1)
    by_tenure[[OWNER, RENTER, DORM]] = m.tenure_factor_owner, m.tenure_factor_renter, m.tenure_factor_dorm
    factor = by_tenure[tenure]
    if jobless is not None:
        factor = factor * np.where(jobless, m.jobless_consider_factor, 1.0)
    if years is not None:
        factor = factor * np.where(years < m.newcomer_years, m.newcomer_consider_factor, 1.0)
    return np.clip(stage * factor, 0.0, 1.0)


def choose(cum_prob: np.ndarray, cells: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Chosen alternative per household: the first whose cumulative probability exceeds ``u``.

    Example
    -------
    >>> choose(np.array([[0.2, 0.7, 1.0]]), np.array([0, 0, 0]), np.array([0.1, 0.5, 0.9])).tolist()
    [0, 1, 2]
    """
    out = np.empty(len(cells), np.intp)
    # in blocks, so each block's rows of cumulative probabilities stay in the CPU cache: one (households x
    # alternatives) array for 400,000 deciders (a region of 3 million households) is 100 MB and took twice as long
    for start in range(0, len(cells), CHOOSE_BLOCK):
        block = slice(start, start + CHOOSE_BLOCK)
        out[block] = (u[block, None] >= cum_prob.take(cells[block], axis=0)).sum(axis=1)
    return np.minimum(out, cum_prob.shape[1] - 1)


def choose_one(township: int, urban: bool, local: bool, u: float, ctx: ChoiceContext, m: Moves,
               anchor: int | None = None, jobless: bool = False) -> int:
    """The same decision for one household, written plainly (the slow reference).

    ``anchor`` is the workplace of its main earner (None = nobody works); ``jobless`` whether a member lost a job.
    Returns the chosen alternative: ``2*j + part`` for township j (part 0 urban, 1 rural), or ``2n`` to leave.
    """
    n = ctx.n
    part_here = 0 if urban else 1
    target = np.broadcast_to(ctx.target_vacancy, (n, 2))
    utilities = []
    for j in range(n):
        for part in (0, 1):
            v = (m.beta_access * math.log(max(ctx.access[j], 1e-9))
                 + m.beta_wage * math.log(max(ctx.wage[j], 1e-9))
                 - m.beta_price * math.log(max(ctx.price[j, part], 1e-9))
                 + m.beta_services * ctx.services[j]
                 + m.beta_vacancy * min(max(math.log(max(ctx.vacancy[j, part], 0.005) / target[j, part]), -3.0), 1.0))
            if part == 0:
                v += m.beta_urban
            if ctx.size is not None:
                v += m.beta_size * math.log(max(ctx.size[j, part], 1e-9))
            if ctx.constants is not None:
                v += ctx.constants[j, part]
            if j == township and part == part_here:
                own_place = v
            if j != township:
                v -= m.beta_distance_per_hour * ctx.minutes[township, j] / 60.0
            elif local:
                v += m.local_ties
            if not local:
                v += m.beta_hukou * m.hukou_openness
            if j == township and part == part_here:
                v += m.stay_bonus
            if anchor is not None and ctx.commute is not None:
                v -= m.beta_commute_per_hour * min(ctx.commute[j, anchor] / 60.0, MAX_COMMUTE_HOURS)
            utilities.append(v)
    utilities.append(own_place + m.leave_constant + (0.0 if local else m.leave_migrant) + (m.beta_jobless_leave if jobless else 0.0))
    top = max(utilities)
    weights = [math.exp(v - top) for v in utilities]
    total = sum(weights)
    running = 0.0
    for k, w in enumerate(weights):
        running += w / total
        if u < running:
            return k
    return len(weights) - 1


def decide_moves(pop: Population, ctx: ChoiceContext, m: Moves,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """This year's move decisions of every living household: who weighs moving (:func:`consider_probability`, one
    draw per household) and what they choose (:func:`choose`, one draw per household weighing it).

    Returns the household rows that weighed moving and their choices (``2*j + part``, or ``2n`` to leave the region).
    """
    rows = np.flatnonzero(pop.h_alive)

    def weigh() -> tuple[np.ndarray, np.ndarray]:
        jobless = household_jobless(pop)
        p = consider_probability(pop.head_age()[rows], pop.h_tenure[rows], m, jobless[rows], pop.h_years[rows])
        return rows[rng.random(len(rows)) < p], jobless

    # each household's workplace is a pass over the persons that weighing does not need: made at the same time on
    # the helper thread (sim.parallel), while the draws stay in this thread, in their order
    (considering, jobless), anchor = both(weigh, lambda: household_anchor(pop, none=ctx.anchors - 1))  # last: nobody works
    cells = household_cells(pop, considering, anchor, jobless, ctx.anchors)
    return considering, choose(cell_probabilities(ctx, m), cells, rng.random(len(considering)))


def cell_weights(pop: Population, anchor: np.ndarray, jobless: np.ndarray, anchors: int, m: Moves, n: int) -> np.ndarray:
    """Expected households weighing a move this year, per choice cell (:func:`household_cells` order): the sum of
    :func:`consider_probability` over the cell's living households."""
    rows = np.flatnonzero(pop.h_alive)
    p = consider_probability(pop.head_age()[rows], pop.h_tenure[rows], m, jobless[rows], pop.h_years[rows])
    cells = household_cells(pop, rows, anchor, jobless, anchors)
    return np.bincount(cells, weights=p, minlength=n * 4 * anchors * 2)


def expected_flows(ctx: ChoiceContext, m: Moves, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Expected moves between township parts in a year: (inflow, outflow) per part (flattened ``2*j + part``), moves
    within the county only, from ``weights`` = expected considering households per cell (:func:`household_cells`
    order, the sum of :func:`consider_probability` over the cell's households)."""
    n = ctx.n
    cum = cell_probabilities(ctx, m)
    p = np.diff(np.concatenate([np.zeros((len(cum), 1)), cum], axis=1), axis=1)[:, : 2 * n]  # without leaving
    # a cell is (((i*2 + part)*2 + local)*anchors + anchor)*2 + jobless, so its own part i*2 + part is cell // (4*anchors)
    own = np.arange(len(cum)) // (4 * ctx.anchors)
    moves = weights[:, None] * p
    moves[np.arange(len(cum)), own] = 0.0  # staying in one's own part is not a move
    inflow = moves.sum(axis=0)
    outflow = np.bincount(own, weights=moves.sum(axis=1), minlength=2 * n)
    return inflow, outflow


def balance_constants(ctx: ChoiceContext, m: Moves, weights: np.ndarray, target_inflow: np.ndarray | None = None,
                      shares: np.ndarray | None = None, iterations: int = 200, step: float = 0.5) -> np.ndarray:
    """Alternative-specific constants per township part (n, 2) that make the expected moves within the county bring
    each part a given number of movers a year (flattened ``2*j + part``): ``target_inflow``; or, with ``shares``
    (e.g. each part's share of the households), that share of all movers, so movers choose places in proportion to
    where households live, the usual calibration of a location-choice model's constants to its base year; or,
    with neither, as many as leave the part (no net drift).

    Each iteration raises a part's constant by ``step × ln(target / inflow)``; constants are returned with mean zero
    (only differences matter). ``ctx.constants`` is the starting point (None = zeros).
    """
    from dataclasses import replace

    n = ctx.n
    c = np.zeros(2 * n) if ctx.constants is None else np.asarray(ctx.constants, float).reshape(-1).copy()
    for _ in range(iterations):
        inflow, outflow = expected_flows(replace(ctx, constants=c.reshape(n, 2)), m, weights)
        if target_inflow is not None:
            want = np.asarray(target_inflow, float).reshape(-1)
        elif shares is not None:
            want = inflow.sum() * np.asarray(shares, float).reshape(-1) / np.sum(shares)
        else:
            want = outflow
        c += step * np.log(np.maximum(want, 1e-9) / np.maximum(inflow, 1e-9))
        c -= c.mean()
    return c.reshape(n, 2)
