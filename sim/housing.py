"""Dwellings as a stock with occupancy: who may move in, how prices and the stock respond.

Housing is counted per township part (``[:, 0]`` urban, ``[:, 1]`` rural) in dwellings. A household occupies one
dwelling unless it lives in an employer's dormitory (tenure ``DORM``), which is outside the stock. The stock account
is: occupied ≤ stock in every part at every moment. Every rule that puts a household into a dwelling (a move, a young
adult leaving home, an arrival, a move to the town) goes through :func:`admit`, which lets in at most the vacant
dwellings of each part and turns the rest away; departures free dwellings first.

Prices respond to vacancy against a target within documented bounds; construction responds to price and to a
shortage of vacant dwellings up to a capacity per part (land and zoning); rural dwellings left empty are partly
demolished or abandoned each year (they leave the stock).
"""

from __future__ import annotations

import numpy as np

from sim.labour import first_in_line
from sim.params import Housing as HousingParams
from sim.population import DORM, Population


def occupied(pop: Population, n_townships: int) -> np.ndarray:
    """(townships, 2) dwellings occupied: living households outside dormitories, by township part (0 urban), counted
    from the columns (the model reads the count the population keeps, :meth:`Population.occupied_dwellings`; tests
    compare the two).

    Example
    -------
    >>> from types import SimpleNamespace as NS
    >>> pop = NS(h_alive=np.array([True, True, False, True]), h_tenure=np.array([0, DORM, 0, 1]),
    ...          h_township=np.array([0, 0, 1, 1]), h_urban=np.array([True, True, True, False]))
    >>> occupied(pop, 2).tolist()
    [[1, 0], [0, 1]]
    """
    rows = np.flatnonzero(pop.h_alive & (pop.h_tenure != DORM))  # select first: a third of the work of a weighted count
    place = pop.h_township[rows].astype(np.int64) * 2 + ~pop.h_urban[rows]
    return np.bincount(place, minlength=2 * n_townships).astype(np.int64).reshape(n_townships, 2)


def free_dwellings(stock: np.ndarray, occupied_now: np.ndarray, held: np.ndarray | float = 0.0) -> np.ndarray:
    """Whole vacant dwellings per part that can be let (the stock is fractional at a scale below 1; only whole ones
    can be let); ``held``: dwellings per part that stand empty but are not on the market (:func:`held_vacant`).

    >>> free_dwellings(np.array([[10.6, 3.0]]), np.array([[8, 3]])).tolist()
    [[2, 0]]
    >>> free_dwellings(np.array([[10.6, 3.0]]), np.array([[8, 3]]), held=np.array([[1.5, 0.0]])).tolist()
    [[1, 0]]
    """
    return np.maximum(np.floor(stock - held - occupied_now + 1e-9), 0).astype(np.int64)


def held_vacant(stock: np.ndarray, start_vacancy: np.ndarray, p: HousingParams) -> np.ndarray:
    """Dwellings per part that stand empty but are never let: ``held_vacant_share`` of the part's start-year vacant
    share, applied to its stock now (second and investment homes held empty, village houses of those who work
    elsewhere). Only the rest of the vacancy is on the market; the vacancy that prices and utilities see still counts
    every empty dwelling.

    >>> from sim.params import Housing
    >>> held_vacant(np.array([[100.0, 50.0]]), np.array([[0.1, 0.2]]), Housing(held_vacant_share=0.5)).tolist()
    [[5.0, 5.0]]
    """
    return p.held_vacant_share * np.maximum(start_vacancy, 0.0) * stock


def admit(place: np.ndarray, free: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Which of the households seeking a dwelling in ``place`` (flattened township part, ``2*j + part``) get one.

    Each part lets in at most ``free`` (flattened the same way) seekers, in the random order ``u`` (one draw per
    seeker): a queue with random arrival. Returns a boolean mask over the seekers.

    Example
    -------
    >>> admit(np.array([0, 0, 0, 1]), np.array([2, 5]), np.array([0.9, 0.1, 0.5, 0.3])).tolist()
    [False, True, True, True]
    """
    place = np.asarray(place, np.int64)
    if len(place) == 0:
        return np.zeros(0, bool)
    return first_in_line(place, u, np.asarray(free).reshape(-1))


def let_dwellings(place: np.ndarray, free: np.ndarray, u: np.ndarray) -> np.ndarray:
    """:func:`admit`, and the dwellings let taken off ``free`` (township x part, changed in place), so rules that only
    let dwellings can hand one count on instead of recounting. Returns the mask of seekers let in.

    >>> free = np.array([[2, 1]]); let_dwellings(np.array([0, 0, 0, 1]), free, np.array([0.9, 0.1, 0.5, 0.3])).tolist()
    [False, True, True, True]
    >>> free.tolist()
    [[0, 0]]
    """
    ok = admit(place, free, u)
    flat = free.reshape(-1)  # a view: the caller's array changes
    flat -= np.bincount(np.asarray(place, np.int64)[ok], minlength=len(flat))
    return ok


def equilibrium_vacancy(start_vacancy: np.ndarray, p: HousingParams) -> np.ndarray:
    """Vacancy at which a part's prices are stable: its start-year vacancy (structural vacancy: second homes, the
    empty houses of villagers who work elsewhere), but at least ``target_vacancy`` (a part that starts fuller is in
    shortage and its prices rise).

    >>> from sim.params import Housing
    >>> equilibrium_vacancy(np.array([[0.04, 0.25]]), Housing()).tolist()
    [[0.1, 0.25]]
    """
    return np.maximum(start_vacancy, p.target_vacancy)


def update_prices(price: np.ndarray, vacant_share: np.ndarray, target: np.ndarray, p: HousingParams) -> np.ndarray:
    """Next year's price index: ``log`` change ``price_elasticity × (target − vacancy)`` with ``target`` the part's
    :func:`equilibrium_vacancy`, at most ``price_max_change`` either way in a year, and kept within
    ``[price_min, price_max]`` of the start level.

    >>> from sim.params import Housing
    >>> update_prices(np.array([[1.0, 1.0]]), np.array([[0.10, 0.60]]), np.array([[0.1, 0.1]]), Housing()).round(3).tolist()
    [[1.0, 0.905]]
    """
    change = np.clip(p.price_elasticity * (target - vacant_share), -p.price_max_change, p.price_max_change)
    return np.clip(price * np.exp(change), p.price_min, p.price_max)


def construction(stock: np.ndarray, price: np.ndarray, vacant_share: np.ndarray, target: np.ndarray,
                 capacity: np.ndarray, p: HousingParams) -> np.ndarray:
    """Dwellings completed this year per part: a share of the stock that rises with the price above its start level
    (``construction_response``) and with the shortfall of vacancy below its ``target`` (``shortage_construction``),
    at most ``max_build_rate`` of the stock, and never beyond ``capacity`` (land and zoning). The price term fades as
    vacancy rises above the target and is gone at twice it: builders do not add to a glut of unsold dwellings
    whatever the price.

    >>> from sim.params import Housing
    >>> construction(np.array([[100.0, 100.0]]), np.array([[1.2, 1.2]]), np.array([[0.0, 0.15]]),
    ...              np.array([[0.1, 0.1]]), np.array([[200.0, 200.0]]), Housing()).round(2).tolist()
    [[3.0, 0.5]]
    """
    glut = np.clip(1.0 - (vacant_share - target) / np.maximum(target, 1e-9), 0.0, 1.0)
    rate = (p.construction_response * np.maximum(price - 1.0, 0.0) * glut
            + p.shortage_construction * np.maximum(target - vacant_share, 0.0))
    return np.minimum(stock * np.minimum(rate, p.max_build_rate), np.maximum(capacity - stock, 0.0))


def demolition(stock: np.ndarray, occupied_now: np.ndarray, target: np.ndarray, p: HousingParams) -> np.ndarray:
    """Rural dwellings leaving the stock this year: ``rural_demolition_rate`` of the empty ones beyond the part's
    ``target`` vacancy (villages that empty are partly demolished, merged or abandoned). Urban dwellings stay.

    >>> from sim.params import Housing
    >>> demolition(np.array([[100.0, 100.0]]), np.array([[50, 50]]), np.array([[0.1, 0.1]]), Housing()).round(2).tolist()
    [[0.0, 4.0]]
    """
    out = np.zeros_like(stock)
    surplus = stock[:, 1] * (1.0 - target[:, 1]) - occupied_now[:, 1]
    out[:, 1] = p.rural_demolition_rate * np.maximum(surplus, 0.0)
    return out


def capacity(stock: np.ndarray, p: HousingParams, given: np.ndarray | None = None) -> np.ndarray:
    """Most dwellings each part may ever hold: ``given`` where the region states it (NaN = not stated), otherwise the
    start stock times ``urban_capacity_factor`` / ``rural_capacity_factor``.

    >>> from sim.params import Housing
    >>> capacity(np.array([[100.0, 50.0]]), Housing(), np.array([[np.nan, 80.0]])).tolist()
    [[150.0, 80.0]]
    """
    cap = stock * np.array([p.urban_capacity_factor, p.rural_capacity_factor])[None, :]
    if given is not None:
        cap = np.where(np.isfinite(given), given, cap)
    return np.maximum(cap, stock)
