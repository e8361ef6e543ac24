"""Agents: townships on the map (mesa-geo) and households as views onto the population columns."""

from __future__ import annotations

import mesa
import mesa_geo as mg


class Township(mg.GeoAgent):
    """A township: its polygon, and this year's figures (updated by the model after each step)."""

    def __init__(self, model, geometry, crs, code: str, name: str, index: int):
        super().__init__(model, geometry, crs)
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

    def __repr__(self) -> str:
        return f"Township({self.code} {self.name}, population={self.population:,.0f})"


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
    def members_age(self) -> list[int]:
        p = self._pop
        return sorted((p.p_age[(p.p_hh == self.row) & p.p_alive]).tolist(), reverse=True)

    @property
    def size(self) -> int:
        return len(self.members_age)

    def __repr__(self) -> str:
        return f"Household(row={self.row}, township={self.township}, size={self.size}, tenure={self.tenure})"


class HouseholdAgent(mesa.Agent):
    """The per-agent reference: one Python call per household per year for the move decision.

    Used by :class:`sim.reference.ReferenceMoves` with ``shuffle_do("step")``; slow on purpose.
    """

    def __init__(self, model, row: int, u: float):
        super().__init__(model)
        self.row, self.u, self.choice = row, u, None

    def step(self) -> None:
        from sim.choice import choose_one

        p = self.model.population
        self.choice = choose_one(int(p.h_township[self.row]), bool(p.h_urban[self.row]), bool(p.h_local[self.row]),
                                 self.u, self.model.context, self.model.moves)
