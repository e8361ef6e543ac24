"""The move decision: who considers moving, and a multinomial logit over places.

Alternatives are every township's urban part and rural part (index ``2*j`` and ``2*j+1``)
and leaving the county (index ``2*n``). Staying is choosing one's own place. Households
that share origin township, part and hukou type face the same probabilities, so the engine
computes one probability row per such cell and draws for all households at once;
:func:`choose_one` is the same rule written for a single household, as a readable reference.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sim.params import Moves
from sim.population import DORM, OWNER, RENTER, Population


@dataclass(frozen=True)
class ChoiceContext:
    """What households know about places this year (township arrays; housing by [urban, rural] part)."""

    access: np.ndarray       # (n,) jobs within reach (gravity, neighbouring cities included), relative to the start-year county mean
    wage: np.ndarray         # (n,) wage index (labour-market tightness), 1 = county
    price: np.ndarray        # (n, 2) housing cost index relative to the county, per part
    services: np.ndarray     # (n,) 0-1
    vacancy: np.ndarray      # (n, 2) vacant share of units
    minutes: np.ndarray      # (n, n) travel minutes between seats
    target_vacancy: float
    size: np.ndarray | None = None  # (n, 2) housing units per part: a place's size (None = equal sizes)
    leave_reference: np.ndarray | None = None  # (n, 2) place utilities of the start year (None = this year's)

    @property
    def n(self) -> int:
        return len(self.access)


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
    return u


def cell_probabilities(ctx: ChoiceContext, m: Moves) -> np.ndarray:
    """Cumulative choice probabilities, shape (n*2*2 cells, 2n+1 alternatives).

    Cell ``(i*2 + part)*2 + local`` is a household in township ``i``, part ``part`` (0 urban),
    with local hukou ``local`` (1) or migrant (0).
    """
    n = ctx.n
    base = place_utility(ctx, m).reshape(-1)                     # (2n,) alternative order j*2+part
    dist = np.repeat(ctx.minutes, 2, axis=1) / 60.0               # (n, 2n)
    dist[np.repeat(np.eye(n, dtype=bool), 2, axis=1)] = 0.0       # moves within the township
    ref = base.reshape(n, 2) if ctx.leave_reference is None else ctx.leave_reference
    util = np.empty((n, 2, 2, 2 * n + 1))
    for part in (0, 1):
        for local in (0, 1):
            v = base[None, :] - m.beta_distance_per_hour * dist
            v += (1 - local) * m.beta_hukou * m.hukou_openness
            own_town = np.repeat(np.eye(n), 2, axis=1)
            v += local * m.local_ties * own_town
            v[np.arange(n), np.arange(n) * 2 + part] += m.stay_bonus
            # Leaving is valued against the place as it was at the start: a place that has improved since
            # keeps more of its people, one that has declined loses more.
            leave = ref[:, part] + m.leave_constant + (1 - local) * m.leave_migrant
            util[:, part, local, :-1] = v
            util[:, part, local, -1] = leave
    util = util.reshape(n * 4, 2 * n + 1)
    util -= util.max(axis=1, keepdims=True)
    p = np.exp(util)
    p /= p.sum(axis=1, keepdims=True)
    return np.cumsum(p, axis=1)


def household_cells(pop: Population, rows: np.ndarray) -> np.ndarray:
    """Cell index of each household row."""
    return (pop.h_township[rows].astype(np.int64) * 2 + (~pop.h_urban[rows])) * 2 + pop.h_local[rows]


def consider_probability(head_age: np.ndarray, tenure: np.ndarray, m: Moves) -> np.ndarray:
    """Yearly chance that a household weighs moving: by the head's life stage and by tenure."""
    stage = np.where(head_age < 35, m.consider_rate_young, np.where(head_age < 55, m.consider_rate_mid, m.consider_rate_old))
    factor = np.select([tenure == OWNER, tenure == RENTER, tenure == DORM],
                       [m.tenure_factor_owner, m.tenure_factor_renter, m.tenure_factor_dorm], 1.0)
    return np.clip(stage * factor, 0.0, 1.0)


def choose(cum_prob: np.ndarray, cells: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Chosen alternative per household: the first whose cumulative probability exceeds ``u``.

    Example
    -------
    >>> choose(np.array([[0.2, 0.7, 1.0]]), np.array([0, 0, 0]), np.array([0.1, 0.5, 0.9])).tolist()
    [0, 1, 2]
    """
    rows = cum_prob[cells]
    return np.minimum((u[:, None] >= rows).sum(axis=1), cum_prob.shape[1] - 1)


def choose_one(township: int, urban: bool, local: bool, u: float, ctx: ChoiceContext, m: Moves) -> int:
    """The same decision for one household, written plainly (the slow reference).

    Returns the chosen alternative: ``2*j + part`` for township j (part 0 urban, 1 rural), or ``2n`` to leave.
    """
    n = ctx.n
    part_here = 0 if urban else 1
    utilities = []
    for j in range(n):
        for part in (0, 1):
            v = (m.beta_access * math.log(max(ctx.access[j], 1e-9))
                 + m.beta_wage * math.log(max(ctx.wage[j], 1e-9))
                 - m.beta_price * math.log(max(ctx.price[j, part], 1e-9))
                 + m.beta_services * ctx.services[j]
                 + m.beta_vacancy * min(max(math.log(max(ctx.vacancy[j, part], 0.005) / ctx.target_vacancy), -3.0), 1.0))
            if part == 0:
                v += m.beta_urban
            if ctx.size is not None:
                v += m.beta_size * math.log(max(ctx.size[j, part], 1e-9))
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
            utilities.append(v)
    if ctx.leave_reference is not None:
        own_place = ctx.leave_reference[township, part_here]
    utilities.append(own_place + m.leave_constant + (0.0 if local else m.leave_migrant))
    top = max(utilities)
    weights = [math.exp(v - top) for v in utilities]
    total = sum(weights)
    running = 0.0
    for k, w in enumerate(weights):
        running += w / total
        if u < running:
            return k
    return len(weights) - 1
