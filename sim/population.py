"""Synthetic persons and households as numpy columns.

Persons and households are rows of arrays; a person's ``hh`` is the row of its household.
Dead persons and dissolved households stay as rows with ``alive`` False until
:meth:`Population.compact` drops them, so indices are stable within a year.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from sim.education import skills_from_draws
from sim.params import Population as PopulationParams
from sim.parallel import both

OWNER, RENTER, DORM = 0, 1, 2
MAX_AGE = 110
ADULT_AGE = 16  # persons this old or older are adults (a household of children alone is re-homed; sim.demography)
WORKING_AGE = 16  # the youngest age at which a person may work (PRC Labour Law art. 15 forbids hiring under 16)
SECTORS = 3  # primary, secondary, tertiary (p_sector); a worker's job is the cell p_work * SECTORS + p_sector


@dataclass
class Population:
    """Column store for persons (``p_*``) and households (``h_*``).

    Counts the year needs again and again are kept, not counted anew over every row: household sizes, adults and
    oldest members (``h_size``, ``h_adults``, ``h_head``), workers per job cell (:meth:`workers_by_cell`), persons by
    age (:meth:`age_counts`) and residents, households and occupied dwellings per township part
    (:meth:`counts_by_place`). They stay right because rows change only through the methods here: persons are
    added, moved, aged and removed by :meth:`add_persons`, :meth:`move_members`, :meth:`grow_older` (or
    :meth:`birthday`) and :meth:`remove_persons`; jobs change hands by :meth:`start_work` and :meth:`stop_work`;
    households are added, moved, dissolved and removed by :meth:`add_households`, :meth:`relocate`,
    :meth:`dissolve_households` and :meth:`remove_households`. Code that writes those columns directly
    (``p_hh``, ``p_age``, ``p_alive``, ``p_work``, ``p_sector``, ``h_township``, ``h_urban``, ``h_tenure``,
    ``h_alive``) breaks the counts; ``tests/test_model.py`` compares every kept count with a fresh one before each
    stage of the year. Other columns (partners, skills, incomes, hukou, years lived) are written directly.
    """

    p_age: np.ndarray      # int16 years
    p_female: np.ndarray   # bool
    p_hh: np.ndarray       # intp household row (the index type: gathers through it need no conversion)
    p_skill: np.ndarray    # int8: 0 low, 1 middle, 2 high (university)
    p_employed: np.ndarray  # bool
    p_sector: np.ndarray   # int8: -1 none, 0 primary, 1 secondary, 2 tertiary
    p_work: np.ndarray     # int16 workplace: -1 none, 0..n-1 township, n.. neighbouring labour-market zone (sim.labour)
    p_unemployed: np.ndarray  # bool: lost a job and has not found another (seeks harder, more likely to leave)
    p_alive: np.ndarray    # bool
    p_wage_factor: np.ndarray  # float32 personal earning power (lognormal, mean 1); NaN until drawn
    p_income: np.ndarray   # float32 yuan a year: wage if employed, pension if 60+, else 0
    h_township: np.ndarray  # int16 township index
    h_urban: np.ndarray    # bool: lives in the urban part of the township
    h_local: np.ndarray    # bool: local hukou (False = migrant)
    h_tenure: np.ndarray   # int8: OWNER, RENTER, DORM
    h_alive: np.ndarray    # bool
    h_years: np.ndarray | None = None  # int16 years the household has lived in the region (for hukou conversion)
    p_partner: np.ndarray | None = None  # int32 row of the person's partner (same household, other sex), -1 = none
    h_size: np.ndarray | None = None  # intp living members; kept by the methods that add, move and remove persons
    h_adults: np.ndarray | None = None  # intp living members aged ADULT_AGE or more; kept as h_size, and by grow_older
    h_head: np.ndarray | None = None  # int16 age of the oldest living member (-1: none); kept, see head_age

    def __post_init__(self) -> None:
        if self.h_years is None:
            self.h_years = np.zeros(len(self.h_alive), np.int16)
        if self.p_partner is None:
            self.p_partner = np.full(len(self.p_age), -1, np.int32)
        if self.h_size is None:
            self.h_size = np.bincount(self.p_hh[self.p_alive], minlength=len(self.h_alive))
        if self.h_adults is None:
            self.h_adults = np.bincount(self.p_hh[self.p_alive & (self.p_age >= ADULT_AGE)], minlength=len(self.h_alive))
        if self.h_head is None:
            self.h_head = np.full(len(self.h_alive), -1, np.int16)
            np.maximum.at(self.h_head, self.p_hh[self.p_alive], self.p_age[self.p_alive])
        self._stale_heads: list[np.ndarray] = []  # households whose oldest member may have left (see head_age)
        # living workers per job cell (workplace x sector), kept like h_size: jobs change hands only through
        # start_work and stop_work, and workers leave only through remove_persons and remove_households
        working = np.flatnonzero(self.p_alive & (self.p_work >= 0))
        self._job_holders = np.bincount(self._job_cells(working), minlength=0).astype(np.int64)
        # per township part (key township * 2 + rural): residents, living households and occupied dwellings (living
        # households outside dormitories), kept by the methods that add, move and remove persons and households
        self._by_place = np.zeros((3, 0), np.int64)
        self._count_households(np.flatnonzero(self.h_alive), 1)
        # living persons by single year of age, kept as h_size (and shifted by grow_older)
        self._ages = np.bincount(self.p_age[self.p_alive].astype(np.intp), minlength=MAX_AGE + 1).astype(np.int64)
        self._room: dict[str, np.ndarray] = {}  # column -> the longer array it is the start of (see _append)

    def _append(self, name: str, new: np.ndarray) -> None:
        """Append ``new`` to column ``name``. Columns grow every year (births, arrivals), and copying every row for a
        few thousand new ones would cost a pass per column: a column is kept as the start of a longer array, and new
        rows go into the room at its end; only when the room runs out is it copied, with a quarter to spare."""
        arr = getattr(self, name)
        n, k = len(arr), len(new)
        room = self._room.get(name)
        if room is None or arr.base is not room or arr.ctypes.data != room.ctypes.data or len(room) < n + k:
            # no room, or the column was replaced since (compacted, assigned): start a new longer array
            room = np.empty(n + k + (n + k) // 4, arr.dtype)
            room[:n] = arr
            self._room[name] = room
        out = room[: n + k]
        out[n:] = new
        setattr(self, name, out)

    def _gather(self, name: str, source: np.ndarray, rows: np.ndarray) -> None:
        """Set column ``name`` to ``source[rows]``, written into an array with a quarter to spare, so the appends
        after a compaction do not copy every column again (see :meth:`_append`)."""
        room = np.empty(len(rows) + len(rows) // 4, source.dtype)
        out = room[: len(rows)]
        np.take(source, rows, out=out, mode="clip")  # rows are valid; the checking mode would copy when given out
        self._room[name] = room
        setattr(self, name, out)

    @property
    def n_persons(self) -> int:
        return int(self.p_alive.sum())

    @property
    def n_households(self) -> int:
        return int(self.h_alive.sum())

    def household_size(self) -> np.ndarray:
        """Living members per household row (0 for dissolved ones and those that left): a copy of ``h_size``.

        Counting them anew is a pass over every person (over a 15-year run, 0.15 s for 0.4 million households and
        1.7 s for 3 million), so the count is kept up to date by :meth:`add_persons`, :meth:`move_members`,
        :meth:`remove_persons` and :meth:`remove_households`: persons change household or die only through those.
        """
        return self.h_size.copy()

    def workers_by_cell(self, n_places: int) -> np.ndarray:
        """Living persons working in each (workplace, sector) for workplaces ``0..n_places-1``: shape
        (n_places, SECTORS), float.

        The count is kept up to date by :meth:`start_work`, :meth:`stop_work`, :meth:`add_persons`,
        :meth:`remove_persons` and :meth:`remove_households` (at 3 million households counting anew took two passes
        over every person a year, about 1 s a run).

        >>> pop = Population(p_age=np.array([30, 40]), p_female=np.array([False, True]), p_hh=np.array([0, 0]),
        ...                  p_skill=np.array([1, 1]), p_employed=np.array([True, False]), p_sector=np.array([2, -1]),
        ...                  p_work=np.array([1, -1]), p_unemployed=np.array([False, False]),
        ...                  p_alive=np.array([True, True]), p_wage_factor=np.ones(2), p_income=np.zeros(2),
        ...                  h_township=np.array([0]), h_urban=np.array([True]), h_local=np.array([True]),
        ...                  h_tenure=np.array([0]), h_alive=np.array([True]))
        >>> pop.start_work(np.array([1]), np.array([0]), np.array([1]))
        >>> pop.workers_by_cell(2).tolist()
        [[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
        """
        return _first(self._job_holders, n_places * SECTORS).astype(float).reshape(n_places, SECTORS)

    def start_work(self, persons: np.ndarray, work: np.ndarray, sector: np.ndarray) -> None:
        """Living ``persons`` (distinct) without a job take one at workplace ``work`` in ``sector`` (one each)."""
        self._check_living(persons, "hire")
        if (self.p_work[persons] >= 0).any():
            raise ValueError("cannot hire persons who already work (a job is left with stop_work first)")
        self.p_work[persons] = work
        self.p_sector[persons] = sector
        self.p_employed[persons] = True
        self._count_jobs(persons, 1)

    def stop_work(self, persons: np.ndarray) -> None:
        """Living working ``persons`` (distinct) leave their jobs (retirement, separation, layoff)."""
        self._check_living(persons, "end the job of")
        self._count_jobs(persons, -1)
        self.p_work[persons] = -1
        self.p_sector[persons] = -1
        self.p_employed[persons] = False

    def age_counts(self) -> np.ndarray:
        """Living persons by single year of age, 0..MAX_AGE (a copy of the count the population keeps: counting anew
        was a pass over every person a year).

        >>> z = lambda v, t: np.full(2, v, t)
        >>> pop = Population(p_age=np.array([0, 3], np.int16), p_female=z(0, bool), p_hh=np.array([0, 0]),
        ...                  p_skill=z(0, np.int8), p_employed=z(0, bool), p_sector=z(-1, np.int8), p_work=z(-1, np.int16),
        ...                  p_unemployed=z(0, bool), p_alive=z(1, bool), p_wage_factor=z(1, np.float32),
        ...                  p_income=z(0, np.float32), h_township=np.array([0]), h_urban=np.array([True]),
        ...                  h_local=np.array([True]), h_tenure=np.array([0]), h_alive=np.array([True]))
        >>> pop.grow_older(); pop.age_counts()[:5].tolist()
        [0, 1, 0, 0, 1]
        """
        return self._ages.copy()

    def counts_by_place(self, n_townships: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(townships, 2) counts per township part (0 urban): living persons, living households (dormitory households
        included) and occupied dwellings (living households outside dormitories).

        Kept up to date by the methods that add, move and remove persons (:meth:`add_persons`, :meth:`move_members`,
        :meth:`remove_persons`) and households (:meth:`add_households`, :meth:`relocate`,
        :meth:`dissolve_households`, :meth:`remove_households`, :meth:`compact`): counting anew was a pass over every
        household five times a year. :func:`sim.markets.counts_by_part` counts the same from the columns.
        """
        residents, households, occupied = (a.reshape(n_townships, 2) for a in _first(self._by_place, 2 * n_townships))
        return residents, households, occupied

    def occupied_dwellings(self, n_townships: int) -> np.ndarray:
        """(townships, 2) dwellings occupied: living households outside dormitories, by township part (0 urban); the
        kept count of :meth:`counts_by_place` (:func:`sim.housing.occupied` counts the same from the columns)."""
        return self.counts_by_place(n_townships)[2]

    def relocate(self, rows: np.ndarray, township: np.ndarray | None = None, urban: np.ndarray | bool | None = None,
                 tenure: np.ndarray | None = None) -> None:
        """Living households ``rows`` (distinct: a row named twice would be counted out and in twice) move to
        ``township`` and part ``urban`` and now hold ``tenure`` (each left as it is where None); the counts per
        township part follow."""
        rows = np.asarray(rows)
        if not self.h_alive[rows].all():
            raise ValueError(f"cannot relocate households that are not alive (rows {rows[~self.h_alive[rows]][:5].tolist()})")
        self._count_households(rows, -1)
        if township is not None:
            self.h_township[rows] = township
        if urban is not None:
            self.h_urban[rows] = urban
        if tenure is not None:
            self.h_tenure[rows] = tenure
        self._count_households(rows, 1)

    def dissolve_households(self, rows: np.ndarray) -> None:
        """Households ``rows`` (distinct), alive and without a living member, end (their dwellings fall vacant)."""
        rows = np.asarray(rows)
        if (self.h_size[rows] > 0).any() or not self.h_alive[rows].all():
            raise ValueError("only living households without living members can be dissolved")
        self._count_households(rows, -1)
        self.h_alive[rows] = False

    def _place_keys(self, rows: np.ndarray) -> np.ndarray:
        """Township part of households ``rows`` (township * 2, plus 1 if rural), with room kept for it."""
        keys = self.h_township[rows].astype(np.intp) * 2 + ~self.h_urban[rows]
        self._by_place = _with_room(self._by_place, keys)
        return keys

    def _count_households(self, rows: np.ndarray, sign: int) -> None:
        """Living households ``rows`` enter (+1) or leave (-1) their township part, with their members and dwellings."""
        rows = np.asarray(rows)
        keys = self._place_keys(rows)
        np.add.at(self._by_place[0], keys, sign * self.h_size[rows])
        np.add.at(self._by_place[1], keys, sign)
        np.add.at(self._by_place[2], keys[self.h_tenure[rows] != DORM], sign)

    def _count_residents(self, rows: np.ndarray, sign: int) -> None:
        """One person for each entry of household ``rows`` joins (+1) or leaves (-1) its household's township part."""
        np.add.at(self._by_place[0], self._place_keys(np.asarray(rows)), sign)

    def _job_cells(self, persons: np.ndarray) -> np.ndarray:
        return self.p_work[persons].astype(np.intp) * SECTORS + self.p_sector[persons]

    def _count_jobs(self, persons: np.ndarray, sign: int) -> None:
        """Add ``sign`` to the job cell of each of ``persons`` who works."""
        persons = np.asarray(persons)
        persons = persons[self.p_work[persons] >= 0]
        cells = self._job_cells(persons)
        self._job_holders = _with_room(self._job_holders, cells)
        np.add.at(self._job_holders, cells, sign)

    def township_of(self, persons: np.ndarray) -> np.ndarray:
        """The township (index) each of ``persons`` lives in.

        (``take`` gathers a quarter faster than ``[]`` in a micro-benchmark; on the whole year the difference is
        within run-to-run noise.)"""
        return self.h_township.take(self.p_hh.take(persons))

    def move_members(self, persons: np.ndarray, rows: np.ndarray) -> None:
        """Living ``persons`` join household ``rows`` (existing or just added; one per person)."""
        self._check_living(persons, "move")
        persons, rows = np.asarray(persons), np.asarray(rows)
        adult = self.p_age[persons] >= ADULT_AGE
        rows = np.broadcast_to(rows, persons.shape)
        np.subtract.at(self.h_size, self.p_hh[persons], 1)
        np.subtract.at(self.h_adults, self.p_hh[persons[adult]], 1)
        self._count_residents(self.p_hh[persons], -1)
        self._mark_heads(self.p_hh[persons], self.p_age[persons])
        self.p_hh[persons] = rows
        np.add.at(self.h_size, rows, 1)
        np.add.at(self.h_adults, rows[adult], 1)
        self._count_residents(rows, 1)
        np.maximum.at(self.h_head, rows, self.p_age[persons])

    def remove_persons(self, persons: np.ndarray) -> None:
        """Living ``persons`` die (their rows stay, not alive, until :meth:`compact`)."""
        self._check_living(persons, "remove")
        persons = np.asarray(persons)
        self.p_alive[persons] = False
        self._count_jobs(persons, -1)
        np.subtract.at(self.h_size, self.p_hh[persons], 1)
        np.subtract.at(self.h_adults, self.p_hh[persons[self.p_age[persons] >= ADULT_AGE]], 1)
        self._count_residents(self.p_hh[persons], -1)
        np.subtract.at(self._ages, self.p_age[persons], 1)
        self._mark_heads(self.p_hh[persons], self.p_age[persons])

    def grow_older(self) -> None:
        """Every living person is a year older (up to ``MAX_AGE``); those who come of age count as adults."""
        coming_of_age = np.flatnonzero(self.p_alive & (self.p_age == ADULT_AGE - 1))
        np.minimum(self.p_age + 1, MAX_AGE, out=self.p_age, where=self.p_alive)
        np.add.at(self.h_adults, self.p_hh[coming_of_age], 1)
        older = np.zeros_like(self._ages)
        older[1:MAX_AGE] = self._ages[:MAX_AGE - 1]
        older[MAX_AGE] = self._ages[MAX_AGE - 1:].sum()  # the oldest stay at MAX_AGE
        self._ages = older
        np.minimum(self.h_head + 1, MAX_AGE, out=self.h_head, where=self.h_head >= 0)

    def birthday(self, person: int) -> None:
        """One living ``person`` a year older (up to ``MAX_AGE``), with the kept counts: :meth:`grow_older` for one
        person, as the per-agent reference (``sim.reference``) ages them."""
        age = int(self.p_age[person])
        if age == ADULT_AGE - 1:  # comes of age: one more adult in the household
            self.h_adults[self.p_hh[person]] += 1
        self.p_age[person] = min(age + 1, MAX_AGE)
        self._ages[age] -= 1
        self._ages[self.p_age[person]] += 1
        hh = self.p_hh[person]
        self.h_head[hh] = max(self.h_head[hh], self.p_age[person])  # ages only rise: the oldest stays the oldest

    def _check_living(self, persons: np.ndarray, what: str) -> None:
        # the kept sizes count living members: a dead person moved or removed again would count twice
        dead = np.asarray(persons)[~self.p_alive[persons]]
        if len(dead):
            raise ValueError(f"cannot {what} persons who are not alive (rows {dead[:5].tolist()})")

    def remove_households(self, rows: np.ndarray) -> None:
        """Households ``rows`` (distinct) and their members leave the population (for the region's outside)."""
        rows = np.asarray(rows)
        self._count_households(rows[self.h_alive[rows]], -1)
        self.h_alive[rows] = False
        gone = np.zeros(len(self.h_alive), bool)
        gone[rows] = True
        leaving = np.flatnonzero(gone[self.p_hh] & self.p_alive)
        self.p_alive[leaving] = False
        self._count_jobs(leaving, -1)
        np.subtract.at(self._ages, self.p_age[leaving], 1)
        self.h_size[rows] = 0
        self.h_adults[rows] = 0
        self.h_head[rows] = -1

    def household_income(self) -> np.ndarray:
        """Yearly income (yuan) per household row: the sum of its living members' incomes."""
        earners = np.flatnonzero(self.p_alive & (self.p_income != 0))  # adding the zeros would change no sum
        return np.bincount(self.p_hh[earners], weights=self.p_income[earners], minlength=len(self.h_alive))

    def head_age(self) -> np.ndarray:
        """Age of the oldest living member per household (-1 where none): a copy of ``h_head``.

        Finding the oldest member anew is a pass over every person (twice a year: 0.1 s a run at full scale). The
        column is kept instead: joining members, births and arrivals can only raise it and ageing adds a year, which
        are exact updates; a household whose oldest member died, left or moved out is marked, and only the marked
        households are looked at again here.
        """
        self._refresh_heads()
        return self.h_head.copy()

    def _mark_heads(self, rows: np.ndarray, leaving_ages: np.ndarray) -> None:
        """Members aged ``leaving_ages`` leave households ``rows``: where one was the oldest, the head is looked up
        again at the next :meth:`head_age`."""
        gone_head = rows[leaving_ages >= self.h_head[rows]]
        if len(gone_head):
            self._stale_heads.append(gone_head)

    def _refresh_heads(self) -> None:
        if not self._stale_heads:
            return
        rows = np.concatenate(self._stale_heads)  # repeats do no harm below
        self._stale_heads = []
        marked = np.zeros(len(self.h_alive), bool)
        marked[rows] = True
        members = np.flatnonzero(marked[self.p_hh] & self.p_alive)
        self.h_head[rows] = -1
        np.maximum.at(self.h_head, self.p_hh[members], self.p_age[members])

    def add_households(self, township, urban, local, tenure, years=None) -> np.ndarray:
        """Append households (``years`` lived in the region: 0 for newcomers, the default); returns their rows."""
        start = len(self.h_alive)
        n = len(township)
        self._append("h_years", np.zeros(n, np.int16) if years is None else np.asarray(years, np.int16))
        self._append("h_township", np.asarray(township, np.int16))
        self._append("h_urban", np.asarray(urban, bool))
        self._append("h_local", np.asarray(local, bool))
        self._append("h_tenure", np.asarray(tenure, np.int8))
        self._append("h_alive", np.ones(n, bool))
        self._append("h_size", np.zeros(n, np.intp))  # members join with add_persons or move_members
        self._append("h_adults", np.zeros(n, np.intp))
        self._append("h_head", np.full(n, -1, np.int16))
        rows = np.arange(start, start + n)
        self._count_households(rows, 1)
        return rows

    def add_persons(self, age, female, hh, skill, employed, sector, work=None) -> None:
        """Append persons; their wage factor and income are set by :func:`sim.markets.assign_incomes`.

        ``work`` is each person's workplace (-1 = none, the default); ``employed`` must agree with it.
        """
        n = len(age)
        work = np.full(n, -1, np.int16) if work is None else np.asarray(work, np.int16)
        self._append("p_partner", np.full(n, -1, np.int32))
        self._append("p_work", work)
        self._append("p_unemployed", np.zeros(n, bool))
        self._append("p_wage_factor", np.full(n, np.nan, np.float32))
        self._append("p_income", np.zeros(n, np.float32))
        self._append("p_age", np.asarray(age, np.int16))
        self._append("p_female", np.asarray(female, bool))
        self._append("p_hh", np.asarray(hh, np.intp))
        self._append("p_skill", np.asarray(skill, np.int8))
        self._append("p_employed", np.asarray(employed, bool))
        self._append("p_sector", np.asarray(sector, np.int8))
        self._append("p_alive", np.ones(n, bool))
        hh = np.asarray(hh, np.intp)
        np.add.at(self.h_size, hh, 1)
        np.add.at(self.h_adults, hh[self.p_age[len(self.p_age) - n:] >= ADULT_AGE], 1)
        self._count_residents(hh, 1)
        np.add.at(self._ages, self.p_age[len(self.p_age) - n:], 1)
        np.maximum.at(self.h_head, hh, self.p_age[len(self.p_age) - n:])
        self._count_jobs(np.arange(len(self.p_age) - n, len(self.p_age)), 1)

    def compact(self) -> None:
        """Drop dead persons and dissolved households, renumbering household rows."""
        self._refresh_heads()  # the marks name rows that are about to change
        keep_h = self.h_alive & (self.h_size > 0)
        self._count_households(np.flatnonzero(self.h_alive & ~keep_h), -1)  # living but empty: dropped here
        keep_p = self.p_alive & keep_h[self.p_hh]
        rows_p, rows_h = np.flatnonzero(keep_p), np.flatnonzero(keep_h)  # once, not once per column
        self._room.clear()  # every column becomes a new array: the old rooms would only hold memory
        work = [(f.name, rows_p if f.name.startswith("p_") else rows_h)
                for f in fields(self) if f.name not in ("p_partner", "p_hh")]  # these two are renumbered below
        # the columns in two groups of about equal bytes, gathered at the same time (sim.parallel); each column is
        # read when its turn comes, so the old one is freed as soon as it is replaced (not all at the end)
        size = np.cumsum([len(rows) * getattr(self, name).itemsize for name, rows in work])
        split = int(np.searchsorted(size, size[-1] / 2)) + 1

        def gather(part: list[tuple[str, np.ndarray]]) -> None:
            for name, rows in part:
                self._gather(name, getattr(self, name), rows)

        both(lambda: gather(work[:split]), lambda: gather(work[split:]))
        # old row -> new row (-1 where dropped); the person table has one entry more, so a partner of -1 maps to -1
        new_person = np.full(len(keep_p) + 1, -1, np.int32)
        new_person[rows_p] = np.arange(len(rows_p), dtype=np.int32)
        self.p_partner = new_person[self.p_partner[rows_p]]  # [] reads the -1s faster than take; appends add room
        new_household = np.full(len(keep_h), -1, np.intp)
        new_household[rows_h] = np.arange(len(rows_h), dtype=np.intp)
        self._gather("p_hh", new_household, self.p_hh[rows_p])

    def copy(self) -> "Population":
        self._refresh_heads()  # the copy starts without marks
        return Population(**{f.name: getattr(self, f.name).copy() for f in fields(self)})


def _with_room(counts: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """``counts`` (keys along the last axis), lengthened with zeros if a key in ``keys`` lies beyond its end."""
    if len(keys) == 0 or keys.max() < counts.shape[-1]:
        return counts
    grown = np.zeros((*counts.shape[:-1], int(keys.max()) + 1), counts.dtype)
    grown[..., :counts.shape[-1]] = counts
    return grown


def _first(counts: np.ndarray, k: int) -> np.ndarray:
    """A copy of the first ``k`` keys of ``counts`` (along the last axis), zeros for keys never counted."""
    out = np.zeros((*counts.shape[:-1], k), counts.dtype)
    m = min(k, counts.shape[-1])
    out[..., :m] = counts[..., :m]
    return out


def age_distribution(band_shares: tuple[float, float, float], survival: np.ndarray | None = None,
                     young_old_share: float = 0.278, oldest_old_share: float = 0.136) -> np.ndarray:
    """Single-year age shares 0..MAX_AGE matching the census bands 0-14, 15-59, 60+.

    Within bands: fewer young children than teenagers (falling births), a flat working age with a bulge at 40.
    Above 60 the shares follow ``survival`` (the life table's survivors to each age, ``l(x)``; without it a
    geometric decline), with ``young_old_share`` of the 60+ aged 60-64 and ``oldest_old_share`` aged 80+ (China 2020
    census: 60+ 18.70%, 65+ 13.50%, 80+ 2.54% of residents), so the oldest ages hold as many as the mortality and the
    cohorts' sizes leave, and the first year has no death spike.

    Example
    -------
    >>> d = age_distribution((0.16, 0.64, 0.20)); round(float(d[:15].sum()), 6), round(float(d[60:].sum()), 6)
    (0.16, 0.2)
    """
    ages = np.arange(MAX_AGE + 1)
    w = np.zeros(MAX_AGE + 1)
    w[:15] = np.linspace(0.8, 1.1, 15)
    w[15:60] = 1.0 + 0.15 * np.exp(-((ages[15:60] - 40) / 10.0) ** 2)
    w[60:] = 0.93 ** (ages[60:] - 60) if survival is None else survival[60:MAX_AGE + 1]
    out = np.zeros_like(w)
    old = band_shares[2]
    bands = ((0, 15, band_shares[0]), (15, 60, band_shares[1]), (60, 65, old * young_old_share),
             (65, 80, old * (1 - young_old_share - oldest_old_share)), (80, MAX_AGE + 1, old * oldest_old_share))
    for lo, hi, share in bands:
        out[lo:hi] = w[lo:hi] / w[lo:hi].sum() * share
    return out


def quota(shares: np.ndarray, n: int) -> np.ndarray:
    """Integer counts summing to ``n`` closest to ``shares * n`` (largest remainders)."""
    raw = np.asarray(shares, float) / np.sum(shares) * n
    counts = np.floor(raw).astype(np.int64)
    short = n - counts.sum()
    if short > 0:
        counts[np.argsort(-(raw - counts), kind="stable")[:short]] += 1
    return counts


def _household_sizes(target: int, size_shares, rng: np.random.Generator) -> np.ndarray:
    """Household sizes drawn from ``size_shares`` whose sum is exactly ``target`` (last one trimmed)."""
    if target <= 0:
        return np.zeros(0, np.int64)
    p = np.asarray(size_shares, float) / np.sum(size_shares)
    mean = float(np.dot(np.arange(1, len(p) + 1), p))
    sizes = rng.choice(np.arange(1, len(p) + 1), size=int(target / mean * 1.3) + 10, p=p)
    csum = np.cumsum(sizes)
    k = int(np.searchsorted(csum, target))
    sizes = sizes[: k + 1].copy()
    sizes[-1] -= csum[k] - target
    return sizes[sizes > 0]


def _largest_first(keys: np.ndarray, m: int) -> np.ndarray:
    """The rows of the ``m`` largest keys, largest first, ties in row order: the first ``m`` of a stable descending
    argsort, without sorting every key.

    >>> _largest_first(np.array([0.2, 0.9, 0.5, 0.9]), 3).tolist()
    [1, 3, 2]
    """
    if m >= len(keys):
        return np.argsort(-keys, kind="stable")
    top = np.argpartition(-keys, m - 1)[:m]
    kth = keys[top].min()
    if (keys == kth).sum() > (keys[top] == kth).sum():
        return np.argsort(-keys, kind="stable")[:m]  # the m-th key is tied with keys left out: row order decides
    return top[np.lexsort((top, -keys[top]))]


def synthesise(pop: np.ndarray, urban_pop: np.ndarray, migrant_weight: np.ndarray, jobs_by_sector: np.ndarray,
               age_band_shares: tuple[float, float, float], params: PopulationParams, scale: float,
               rng: np.random.Generator, survival: np.ndarray | None = None, year: int = 2020) -> Population:
    """Build persons and households for every township.

    Parameters
    ----------
    pop, urban_pop : residents and urban residents per township (full scale).
    migrant_weight : relative pull of each township on migrants (e.g. its manufacturing jobs).
    jobs_by_sector : (townships, 3) jobs, for the sector mix of workers.
    age_band_shares : county shares aged 0-14, 15-59, 60+.
    params : population parameters.
    scale : fraction of households simulated (1.0 = one agent per real household).
    rng : the model's random generator.
    survival : survivors to each age of the start year's life table (shapes ages 60+; see :func:`age_distribution`).
    year : the start year (persons' birth cohorts, for their education: :mod:`sim.education`).

    Returns
    -------
    Population whose township and urban totals equal ``round(pop * scale)`` and
    ``round(urban_pop * scale)`` exactly, and whose county age shares match the bands.
    """
    n_t = len(pop)
    urban_t = np.round(np.asarray(urban_pop) * scale).astype(np.int64)
    total_t = np.round(np.asarray(pop) * scale).astype(np.int64)
    sizes, town, urban = [], [], []
    for t in range(n_t):
        for is_urban, target in ((True, urban_t[t]), (False, total_t[t] - urban_t[t])):
            s = _household_sizes(int(target), params.household_size_shares, rng)
            sizes.append(s)
            town.append(np.full(len(s), t, np.int16))
            urban.append(np.full(len(s), is_urban))
    sizes = np.concatenate(sizes)
    h_town = np.concatenate(town)
    h_urban = np.concatenate(urban)
    n_h, n_p = len(sizes), int(sizes.sum())

    # Ages: an exact quota of the county distribution; each household's first member is an adult head.
    # int16: the stable sorts by age below are radix sorts at this width (7 -> 1.8 ms each at full scale)
    ages = np.repeat(np.arange(MAX_AGE + 1, dtype=np.int16), quota(age_distribution(age_band_shares, survival, params.aged_60_64_share_of_60plus,
                                                                  params.aged_80_plus_share_of_60plus), n_p))
    adults = np.flatnonzero(ages >= 20)
    heads = rng.choice(adults, size=n_h, replace=False)
    unplaced = np.ones(n_p, bool)  # persons not yet a head or a partner (a mask: cheaper than set differences)
    unplaced[heads] = False
    rest = np.flatnonzero(unplaced)
    # Couples: in a share of the households of two or more, the second member is the head's partner, an adult matched
    # to the heads by rank of age (so partners are of similar age), of the other sex.
    multi = np.flatnonzero(sizes >= 2)
    couples = multi[rng.random(len(multi)) < params.couple_share]
    pool = rest[ages[rest] >= 20]
    couples = couples[:min(len(couples), len(pool))]
    partners = rng.choice(pool, size=len(couples), replace=False)
    couples = couples[np.argsort(ages[heads[couples]], kind="stable")]
    partners = partners[np.argsort(ages[partners], kind="stable")]
    unplaced[partners] = False
    rest = rest[unplaced[rest]]
    rng.shuffle(rest)
    p_hh = np.repeat(np.arange(n_h, dtype=np.intp), sizes)
    first = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    order = np.empty(n_p, np.int64)
    placed = np.zeros(n_p, bool)
    order[first] = heads
    order[first[couples] + 1] = partners
    placed[first] = True
    placed[first[couples] + 1] = True
    order[~placed] = rest
    p_age = ages[order].astype(np.int16)
    p_partner = np.full(n_p, -1, np.int32)
    p_partner[first[couples]] = first[couples] + 1
    p_partner[first[couples] + 1] = first[couples]

    # Migrant households: young heads and small households, weighted by the township's pull.
    head_age = p_age[first]
    w = np.asarray(migrant_weight, float)[h_town] * np.where((head_age >= 20) & (head_age <= 45), 3.0, 1.0) * np.where(sizes <= 3, 1.5, 1.0)
    keys = rng.random(n_h) ** (1.0 / np.maximum(w, 1e-12))
    ranked = _largest_first(keys, min(n_h, int(params.migrant_share * n_p) + 2))  # (every household has a member)
    k = int(np.searchsorted(np.cumsum(sizes[ranked]), params.migrant_share * n_p))
    h_local = np.ones(n_h, bool)
    h_local[ranked[: k + 1]] = False

    local_p = h_local[p_hh]
    u = rng.random(n_p)
    p_skill = skills_from_draws(u, p_age, local_p, year, params)
    working_age = (p_age >= WORKING_AGE) & (p_age < 65)
    p_employed = working_age & (rng.random(n_p) < np.where(local_p, params.employment_rate, min(1.0, params.employment_rate + 0.1)))
    mix = np.asarray(jobs_by_sector, float)
    # a township without jobs (its workers commute out) takes the region's sector mix
    row = mix.sum(axis=1, keepdims=True)
    whole = mix.sum(axis=0) / max(mix.sum(), 1e-12)
    mix = np.where(row > 0, mix / np.maximum(row, 1e-12), whole)
    cum_mix = np.cumsum(mix, axis=1)
    person_town, u_sector = h_town[p_hh], rng.random(n_p)
    # the number of cumulative sector shares below the draw, one sector column at a time (no persons x sectors array)
    sector = sum((u_sector > cum_mix[person_town, j]).astype(np.int8) for j in range(cum_mix.shape[1]))
    p_sector = np.where(p_employed, sector, -1).astype(np.int8)
    p_female = rng.random(n_p) >= params.male_share
    p_female[first[couples] + 1] = ~p_female[first[couples]]

    t_u = rng.random(n_h)
    h_tenure = np.where(
        h_local,
        np.where(t_u < params.owner_share_local, OWNER, RENTER),
        np.where(t_u < params.owner_share_migrant, OWNER, np.where(t_u < params.owner_share_migrant + params.dorm_share_migrant, DORM, RENTER)),
    ).astype(np.int8)
    # years migrant households have lived here: exponential with the given mean (estimated), at most 30; local
    # households count as long settled (30)
    h_years = np.where(h_local, 30, np.minimum(rng.exponential(params.migrant_years_mean, n_h), 30)).astype(np.int16)
    # the kept household counts, read off each household's block of members (every household has one or more)
    # instead of counted anew by Population from scattered rows
    blocks = {} if n_h == 0 else {"h_size": sizes.astype(np.intp), "h_head": np.maximum.reduceat(p_age, first),
                                  "h_adults": np.add.reduceat((p_age >= ADULT_AGE).astype(np.intp), first)}
    return Population(
        h_years=h_years, p_partner=p_partner, **blocks,
        p_age=p_age, p_female=p_female, p_hh=p_hh, p_skill=p_skill, p_employed=p_employed, p_sector=p_sector,
        p_work=np.full(n_p, -1, np.int16), p_unemployed=np.zeros(n_p, bool),
        p_alive=np.ones(n_p, bool), p_wage_factor=np.full(n_p, np.nan, np.float32), p_income=np.zeros(n_p, np.float32),
        h_township=h_town, h_urban=h_urban, h_local=h_local, h_tenure=h_tenure,
        h_alive=np.ones(n_h, bool),
    )


def start_population_params(params: PopulationParams, census: Mapping[str, Any]) -> PopulationParams:
    """The synthetic population's parameters for a start year: the share of residents without local hukou is the
    census year's own (``floating_population`` / ``population``) where region.yaml gives it, so a run from an earlier
    census does not start with a later year's migrants; otherwise ``params.migrant_share``.

    Example
    -------
    >>> from geo.region import Sourced
    >>> p = start_population_params(PopulationParams(), {"population": Sourced(value=800.0, source="x"),
    ...                                                  "floating_population": Sourced(value=120.0, source="x")})
    >>> p.migrant_share
    0.15
    """
    if "floating_population" in census and "population" in census:
        return params.model_copy(update={"migrant_share": census["floating_population"].value / census["population"].value})
    return params
