"""Agents: townships on the map (mesa-geo) and households as views onto the population columns."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import mesa
import numpy as np


class Township(mesa.Agent):
    """A township: its polygon (``geometry``, a shapely polygon in ``crs``, a pyproj CRS), and this year's figures
    (updated by the model after each step).

    It has what a mesa-geo ``GeoAgent`` has for a ``GeoSpace`` (``geometry``, ``crs``, ``__geo_interface__``); the
    model puts the townships in a GeoSpace when ``model.space`` is first used, so a run that never draws a map does
    not import mesa-geo (and its libpysal, scikit-learn: about a second of start-up).
    """

    def __init__(self, model, geometry, crs, code: str, name: str, index: int):
        super().__init__(model)
        self.geometry, self.crs = geometry, crs
        self.code, self.name, self.index = code, name, index
        self.population = 0.0
        self.urban_population = 0.0
        self.households = 0.0
        self.jobs = 0.0
        self.housing_units = 0.0
        self.vacancy = 0.0
        self.price_index = 1.0
        self.accessibility = 0.0
        self.net_migration = 0.0
        self.employed_residents = 0.0
        self.workers = 0.0
        self.job_vacancies = 0.0
        self.in_commuters = 0.0
        self.out_commuters = 0.0
        self.aged0_14 = 0.0  # residents by age group (sim.indicators.AGE_BAND_COLUMNS)
        self.aged15_59 = 0.0
        self.aged60 = 0.0

    def __repr__(self) -> str:
        return f"Township({self.code} {self.name}, population={self.population:,.0f})"

    @property
    def __geo_interface__(self) -> dict:
        """The township as a GeoJSON feature (its figures as properties), as mesa-geo agents are."""
        props = {k: v for k, v in vars(self).items() if isinstance(v, (int, float, str)) and k not in ("unique_id",)}
        return {"type": "Feature", "geometry": self.geometry.__geo_interface__, "properties": props}


class Household:
    """A read-only view of one household row, for inspection (the yearly step never loops over these).

    Example
    -------
    >>> h = model.household(0)                 # doctest: +SKIP
    >>> h.township, h.size, h.members_age      # doctest: +SKIP
    """

    def __init__(self, model, row: int):
        self.model, self.row = model, row

    @property
    def _pop(self):
        return self.model.population

    @property
    def township(self) -> str:
        return self.model.codes[int(self._pop.h_township[self.row])]

    @property
    def urban(self) -> bool:
        return bool(self._pop.h_urban[self.row])

    @property
    def local_hukou(self) -> bool:
        return bool(self._pop.h_local[self.row])

    @property
    def tenure(self) -> str:
        return ("owner", "renter", "dormitory")[int(self._pop.h_tenure[self.row])]

    @property
    def income(self) -> float:
        """Yearly household income in yuan (sum over members)."""
        p = self._pop
        members = (p.p_hh == self.row) & p.p_alive
        return float(p.p_income[members].sum())

    @property
    def members_age(self) -> list[int]:
        p = self._pop
        return sorted((p.p_age[(p.p_hh == self.row) & p.p_alive]).tolist(), reverse=True)

    @property
    def size(self) -> int:
        return len(self.members_age)

    def __repr__(self) -> str:
        return f"Household(row={self.row}, township={self.township}, size={self.size}, tenure={self.tenure})"


class Households:
    """The living households as a collection, in the spirit of Mesa's ``AgentSet``.

    Attributes are read for all households at once from the numpy columns (``get``), subsets are
    boolean masks (``select``), and iterating yields :class:`Household` views. Row numbers are
    valid until the end of the year's step, when dead rows are compacted away.

    Example
    -------
    >>> hh = model.households                                  # doctest: +SKIP
    >>> len(hh), hh.get("size").mean()                           # doctest: +SKIP
    >>> renters = hh.select(lambda h: h["tenure"] == 1)           # doctest: +SKIP
    >>> renters.agg("income", np.median)                         # doctest: +SKIP
    >>> {k: len(v) for k, v in hh.groupby("township").items()}    # doctest: +SKIP
    """

    #: attributes ``get`` knows, each a function of the population returning one value per household row
    ATTRIBUTES: dict[str, Callable] = {
        "township": lambda p: p.h_township,
        "urban": lambda p: p.h_urban,
        "local_hukou": lambda p: p.h_local,
        "tenure": lambda p: p.h_tenure,
        "size": lambda p: p.household_size(),
        "head_age": lambda p: p.head_age(),
        "income": lambda p: p.household_income(),
    }

    def __init__(self, model, rows: np.ndarray | None = None):
        self.model = model
        self.rows = np.flatnonzero(model.population.h_alive) if rows is None else np.asarray(rows, np.int64)

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[Household]:
        return (Household(self.model, int(r)) for r in self.rows)

    def __getitem__(self, i: int) -> Household:
        return Household(self.model, int(self.rows[i]))

    def get(self, attr: str) -> np.ndarray:
        """One attribute for every household in the set, as an array (township is its index)."""
        if attr not in self.ATTRIBUTES:
            raise KeyError(f"unknown household attribute {attr!r}; known: {', '.join(self.ATTRIBUTES)}")
        return np.asarray(self.ATTRIBUTES[attr](self.model.population))[self.rows]

    def select(self, condition: Callable[[dict[str, np.ndarray]], np.ndarray] | np.ndarray | None = None,
               at_most: int | float = float("inf")) -> "Households":
        """The households where ``condition`` holds: a boolean mask over the set, or a function that
        receives a dict-like of attribute arrays and returns such a mask (None: all of them).

        ``at_most`` keeps the first of them, as in Mesa's ``AgentSet.select``: a whole number of households, or, as a
        float up to 1.0, a share of the whole set (``0.1``: a tenth of it, rounded down)."""
        if condition is None:
            rows = self.rows
        else:
            if callable(condition):
                condition = condition(_Columns(self))
            mask = np.asarray(condition, bool)
            if mask.shape != self.rows.shape:
                raise ValueError(f"select needs one boolean per household ({len(self.rows)}), got shape {mask.shape}")
            rows = self.rows[mask]
        if at_most < float("inf"):
            limit = int(at_most * len(self.rows)) if isinstance(at_most, float) and at_most <= 1.0 else int(at_most)
            rows = rows[:max(limit, 0)]
        return Households(self.model, rows)

    def agg(self, attr: str, func: Callable[[np.ndarray], float]) -> float:
        """Apply ``func`` (e.g. ``np.mean``) to one attribute over the set."""
        return func(self.get(attr))

    def groupby(self, attr: str) -> dict:
        """Split the set by the values of an attribute (township codes for ``township``)."""
        values = self.get(attr)
        out = {}
        for v in np.unique(values):
            key = self.model.codes[int(v)] if attr == "township" else v.item()
            out[key] = Households(self.model, self.rows[values == v])
        return out

    def __repr__(self) -> str:
        return f"Households({len(self)} households)"


class _Columns:
    """Lazy attribute arrays of a household set, for ``select`` conditions."""

    def __init__(self, hh: Households):
        self.hh, self.cache = hh, {}

    def __getitem__(self, attr: str) -> np.ndarray:
        if attr not in self.cache:
            self.cache[attr] = self.hh.get(attr)
        return self.cache[attr]


class HouseholdAgent(mesa.Agent):
    """The per-agent reference: one Python call per household per year for the move decision.

    Used by :class:`sim.reference.ReferenceMoves` with ``shuffle_do("step")``; slow on purpose.
    """

    def __init__(self, model, row: int, u: float):
        super().__init__(model)
        self.row, self.u, self.choice = row, u, None

    def step(self) -> None:
        from sim.choice import choose_one

        m, p = self.model, self.model.population
        members = np.flatnonzero((p.p_hh == self.row) & p.p_alive)
        workers = members[p.p_work[members] >= 0]
        anchor = int(p.p_work[workers[0]]) if len(workers) else None  # the first-listed worker's workplace
        self.choice = choose_one(int(p.h_township[self.row]), bool(p.h_urban[self.row]), bool(p.h_local[self.row]),
                                 self.u, m.context, m.moves, anchor, bool(p.p_unemployed[members].any()))
