"""Scenarios: typed, timed policy levers, and their translation into the model's Interventions.

A scenario is a name, a description, an optional base scenario and a list of levers. Each
lever is validated on its own (pydantic, discriminated by ``type``) and then against the
region and the run's years by :func:`compile_levers`, which returns the
:class:`~sim.model.Interventions` the model applies year by year. Reading files and
resolving base scenarios is the caller's job (``cli/scenarios.py``); this module only sees
data.

Example
-------
>>> s = Scenario.model_validate({"name": "platform", "levers": [
...     {"type": "jobs", "township": "A", "sector": "secondary", "jobs": 1000, "years": [2022, 2023]}]})
>>> s.levers[0].year_list()
[2022, 2023]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal, Union

import numpy as np
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from geo.region import MODE_MAX_KMH, Edge, Node, Region, check_length, check_speed, straight_km
from sim.params import Year  # a lever's year outside 1950-2100 is a typing error (and [2021, 10**9] a billion years)

SECTORS = ("primary", "secondary", "tertiary")
SKILLS = ("low", "middle", "high")
# Township codes and node ids are often all digits; YAML reads those as numbers.
Ref = Annotated[str, BeforeValidator(lambda v: str(v) if isinstance(v, int) else v)]
LINK_MODES = Literal["motorway", "trunk", "provincial", "local", "ferry", "rail", "hsr", "metro_rail"]


class _Lever(BaseModel):
    # no NaN or infinity: a .nan passes every range check of the lever and crashes the run in its year
    model_config = ConfigDict(extra="forbid", populate_by_name=True, allow_inf_nan=False)
    source: str = ""  # where in the plans the lever comes from (seed document, table row or line)
    note: str = ""    # anything else a reader needs: estimates and how they were made

    def year_list(self) -> list[int]:
        """The years the lever acts in."""
        if getattr(self, "years", None):
            a, b = self.years
            return list(range(a, b + 1))
        return [self.year]


class _Timed(_Lever):
    """A lever acting once, from ``year`` on, or spread evenly over ``years: [first, last]``."""

    year: Year | None = None
    years: tuple[Year, Year] | None = None

    @model_validator(mode="after")
    def _one_time(self):
        if (self.year is None) == (self.years is None):
            raise ValueError("give either year or years: [first, last]")
        if self.years is not None and self.years[0] > self.years[1]:
            raise ValueError(f"years {list(self.years)}: the first is after the last")
        return self


class NewNode(BaseModel):
    """A node a scenario creates (a new station or junction)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    id: str
    name: str = ""
    kind: Literal["station", "junction", "interchange"] = "junction"
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    township: Ref | None = None


class NewLink(BaseModel):
    """A link a scenario defines itself; ``length_km`` defaults to the straight line x 1.3."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, allow_inf_nan=False)
    id: str | None = None
    u: Ref = Field(alias="from")
    v: Ref = Field(alias="to")
    mode: LINK_MODES
    speed_kmh: float = Field(gt=0)
    length_km: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _speed(self):
        if (why := check_speed(self.mode, self.speed_kmh)) is not None:
            raise ValueError(why)
        return self


class _LinkChoice(_Lever):
    """Links named by a planned project's ``project`` key or by ``links`` ids (one of the two)."""

    year: Year
    project: str | None = None
    links: list[Ref] | None = None

    def _one_of(self, *extra: str):
        given = [k for k in ("project", "links", *extra) if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of {', '.join(('project', 'links', *extra))}")
        return self


class AddLink(_LinkChoice):
    """Open links from ``year``: a planned project, planned links by id, or new links (``new``)."""

    type: Literal["add_link"]
    new: list[NewLink] | None = None
    nodes: list[NewNode] = []

    @model_validator(mode="after")
    def _check(self):
        return self._one_of("new")


class UpgradeLink(_LinkChoice):
    """From ``year``, links run faster (``speed_kmh``) or as another mode; or a planned upgrade ``project``."""

    type: Literal["upgrade_link"]
    speed_kmh: float | None = Field(None, gt=0)
    mode: LINK_MODES | None = None

    @model_validator(mode="after")
    def _check(self):
        self._one_of()
        if self.links is not None and self.speed_kmh is None and self.mode is None:
            raise ValueError("an upgrade of links needs speed_kmh or mode")
        return self


class CloseLink(_LinkChoice):
    """Links close from ``year`` on (a bridge closed, a line withdrawn)."""

    type: Literal["close_link"]

    @model_validator(mode="after")
    def _check(self):
        return self._one_of()


class AddStation(_Lever):
    """Trains stop at ``station`` from ``year``: an access road joins it to ``township``'s seat.

    ``station`` is an existing node id or a new node; a new node on a line names the line's link
    (``on_link``), which is split in two at the station.
    """

    type: Literal["add_station"]
    year: Year
    station: Ref | NewNode
    township: Ref
    on_link: Ref | None = None
    access_km: float | None = Field(None, gt=0)
    access_speed_kmh: float = Field(40.0, gt=0, le=MODE_MAX_KMH["trunk"])  # the access link is a trunk road


class Jobs(_Timed):
    """Jobs added in a township and sector (spread evenly over ``years``); negative jobs are jobs lost (a plant closes)."""

    type: Literal["jobs"]
    township: Ref
    sector: Literal["primary", "secondary", "tertiary"]
    jobs: float

    @model_validator(mode="after")
    def _nonzero(self):
        if self.jobs == 0:
            raise ValueError("jobs must not be 0 (positive adds jobs, negative removes them)")
        return self


class StationArea(_Timed):
    """A station-area (TOD) package: jobs and urban dwellings in the township of a station, spread over ``years``.

    The planner's package around a new station (offices, services, housing); the station itself is an
    ``add_station`` lever. ``station`` names the station's node, for the record and as a check.
    """

    type: Literal["station_area"]
    township: Ref
    station: str | None = None
    jobs_secondary: float = Field(0.0, ge=0)
    jobs_tertiary: float = Field(0.0, ge=0)
    housing_units: float = Field(0.0, ge=0)


class Housing(_Timed):
    """Housing units added in the urban or rural part of a township (spread evenly over ``years``)."""

    type: Literal["housing"]
    township: Ref
    part: Literal["urban", "rural"] = "urban"
    units: float = Field(ge=0)


class Reclassify(_Timed):
    """Villages reclassified as urban (村改居 / 撤村建居): ``share`` of the township's rural households and dwellings
    becomes urban where they stand, in ``year`` or spread over ``years`` (the same share of what is left each year, so
    the total is ``share``)."""

    type: Literal["reclassify"]
    township: Ref
    share: float = Field(gt=0, le=1)


class Hukou(_Lever):
    """Openness of hukou registration for migrants from ``year`` (0 = as in 2020, 1 = fully open)."""

    type: Literal["hukou"]
    year: Year
    openness: float = Field(ge=0, le=1)


class Talent(_Timed):
    """An in-migration programme: persons a year of a target group, on top of ordinary arrivals.

    ``additional_share`` is the part of the programme's count that would not have come anyway.
    ``township`` fixes where they settle; without it they choose like other newcomers.
    """

    type: Literal["talent"]
    persons_per_year: float = Field(gt=0)
    skill: Literal["low", "middle", "high"] = "high"
    age_mean: float = Field(25.0, ge=16, le=60)
    additional_share: float = Field(1.0, ge=0, le=1)
    local_hukou_share: float = Field(0.5, ge=0, le=1)
    township: Ref | None = None


class Fertility(_Lever):
    """Total fertility rate from ``year`` on, or a path ``{year: tfr}`` interpolated linearly between its years."""

    type: Literal["fertility"]
    tfr: float | dict[Year, float]
    year: Year | None = None

    @model_validator(mode="after")
    def _check(self):
        values = self.tfr.values() if isinstance(self.tfr, dict) else [self.tfr]
        if any(not 0.3 <= v <= 5 for v in values):
            raise ValueError("tfr must be between 0.3 and 5")
        if isinstance(self.tfr, dict):
            if self.year is not None or len(self.tfr) < 1:
                raise ValueError("a tfr path {year: value} takes no separate year")
        elif self.year is None:
            raise ValueError("a single tfr needs a year")
        return self

    def year_list(self) -> list[int]:
        return sorted(self.tfr) if isinstance(self.tfr, dict) else [self.year]


class Services(_Lever):
    """Schools, hospitals or amenities: the township's service score (0-1) changes by ``change`` from ``year``."""

    type: Literal["services"]
    year: Year
    township: Ref
    change: float = Field(ge=-1, le=1)


class Parameter(_Lever):
    """Any behavioural parameter (``section.name`` of params.yaml) takes ``value`` from ``year``."""

    type: Literal["parameter"]
    year: Year
    name: str
    value: float


Lever = Annotated[Union[AddLink, UpgradeLink, CloseLink, AddStation, Jobs, StationArea, Housing, Reclassify, Hukou, Talent,
                        Fertility, Services, Parameter], Field(discriminator="type")]
LEVER_TYPES = ("add_link", "upgrade_link", "close_link", "add_station", "jobs", "station_area", "housing", "reclassify", "hukou", "talent",
               "fertility", "services", "parameter")


class Scenario(BaseModel):
    """A scenario file: name, description, optional base scenario(s) it extends, and its own levers.

    ``title`` and ``title_zh`` are what readers see instead of the name (page and report); ``description_zh`` is the
    description in Chinese."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # no NaN or infinity in a file
    name: str
    title: str = ""
    title_zh: str = ""
    description: str = ""
    description_zh: str = ""
    base: str | list[str] | None = None
    levers: list[Lever] = []

    @field_validator("base", mode="before")
    @classmethod
    def _names(cls, value):
        """One message for any other shape (pydantic would report one error per member of the union)."""
        if value is None or isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            return value
        raise ValueError("expected the name of a scenario, or a list of names")


def _region_jobs(region: Region) -> int:
    return sum(e.jobs for e in region.economy.values())


def _region_dwellings(region: Region) -> int:
    return sum(e.housing_urban + e.housing_rural for e in region.economy.values())


def _check_jobs_size(i: int, lv: Jobs, region: Region, t: int, so_far: dict) -> None:
    """A job loss cannot exceed the jobs of township ``t`` (the base year's plus earlier levers', ``so_far``), and a
    gain larger than the whole region's employment is a typing error, not a plan."""
    code = list(region.codes)[t]
    there = getattr(region.economy[code], f"jobs_{lv.sector}") + so_far.get((t, SECTORS.index(lv.sector)), 0.0)
    total = _region_jobs(region)
    if lv.jobs < 0 and -lv.jobs > there:
        raise LeverError(i, "jobs", f"a loss of {-lv.jobs:,.0f} {lv.sector} jobs is more than {code} has ({there:,.0f}); "
                                    "expected at most that many")
    if lv.jobs > total:
        raise LeverError(i, "jobs", f"{lv.jobs:,.0f} jobs is more than the whole region's {total:,} jobs; expected a "
                                    "plausible programme (split it over several levers if it is real)")


def _check_station_area_size(i: int, lv: StationArea, region: Region) -> None:
    """A station-area package larger than the whole region's jobs or dwellings is a typing error, not a plan."""
    total, dwellings = _region_jobs(region), _region_dwellings(region)
    if lv.jobs_secondary + lv.jobs_tertiary > total:
        raise LeverError(i, "jobs_tertiary", f"{lv.jobs_secondary + lv.jobs_tertiary:,.0f} jobs is more than the whole "
                                             f"region's {total:,} jobs; expected a plausible station-area package")
    if lv.housing_units > max(dwellings, 1):
        raise LeverError(i, "housing_units", f"{lv.housing_units:,.0f} dwellings is more than the whole region has "
                                             f"({dwellings:,}); expected a plausible station-area package")


def _check_talent_size(i: int, lv: Talent, region: Region, start: int) -> None:
    """A programme that brings more persons a year than the region has residents is a typing error, not a plan."""
    residents = sum(t.population(start) for t in region.townships)
    if lv.persons_per_year > residents:
        raise LeverError(i, "persons_per_year", f"{lv.persons_per_year:,.0f} persons a year is more than the region's "
                                                f"{residents:,} residents in {start}; expected a plausible programme")


class LeverError(ValueError):
    """A lever that does not fit the region or the run; ``index`` is its position in the list given."""

    def __init__(self, index: int, field: str, message: str):
        super().__init__(f"levers[{index}].{field}: {message}")
        self.index, self.field, self.message = index, field, message


@dataclass
class TalentFlow:
    """Persons a programme brings in one year (full-scale count, before sampling)."""

    persons: float
    skill: int
    age_mean: float
    local_hukou_share: float
    township: int | None


def _straight_km(a: Node | NewNode, b: Node | NewNode) -> float:
    return straight_km(a.lon, a.lat, b.lon, b.lat)


def compile_levers(levers: list, region: Region, start: int, end: int):
    """Check levers against the region and the run, and turn them into Interventions.

    Parameters
    ----------
    levers : validated levers (base scenario's first), e.g. ``Scenario.levers``.
    region : the loaded region (township codes, nodes, edges, planned projects).
    start, end : the run's first and last year; a lever must act in ``start + 1 .. end``.

    Returns
    -------
    sim.model.Interventions

    Raises
    ------
    LeverError naming the lever's index and field.

    Example
    -------
    >>> iv = compile_levers(Scenario.model_validate(yaml_dict).levers, region, 2020, 2035)   # doctest: +SKIP
    """
    from sim.model import Interventions  # the model imports nothing from here

    codes = list(region.codes)
    n = len(codes)
    iv = Interventions()
    jobs_change: dict[tuple[int, int], float] = {}  # net jobs of the levers so far, by (township, sector)
    nodes: dict[str, Node | NewNode] = dict(region.nodes)
    edges: dict[str, Edge] = {e.id: e for e in region.edges}
    planned = {e.id: e for e in region.projects}
    by_key: dict[str, list] = {}
    for e in region.projects:
        by_key.setdefault(e.key, []).append(e)
    added: dict[str, Edge] = {}
    closures: dict[str, int] = {}
    tfr_points: dict[int, float] = {}

    def town(i: int, ref: str, field: str = "township") -> int:
        """A township by code, English name or Chinese name (with or without 镇, 乡, 区, 县, 市, 街道)."""
        code = region.find_township(ref)
        if code is None:
            known = ", ".join(f"{t.code} {t.name_zh} {t.name_en}" for t in region.townships)
            raise LeverError(i, field, f"unknown township {ref!r} (give a code or name: {known})")
        return codes.index(code)

    def check_years(i: int, lever) -> None:
        for y in lever.year_list():
            if not start < y <= end:
                last = max(year for lv in levers for year in lv.year_list())
                fix = (f"run to --end {last} to include every lever of the scenario" if y > end else
                       f"a lever acts from the first simulated year, {start + 1}")
                raise LeverError(i, "year", f"year {y} is outside the run {start}-{end} (a lever acts from {start + 1} to "
                                            f"{end}); {fix}, or remove the lever")

    def link(i: int, link_id: str) -> Edge:
        if link_id in added:
            return added[link_id]
        if link_id in edges:
            return edges[link_id]
        hint = " (a planned link: open it with add_link first)" if link_id in planned else ""
        raise LeverError(i, "links", f"unknown link {link_id!r}{hint}")

    def project(i: int, key: str) -> list:
        if key not in by_key:
            raise LeverError(i, "project", f"unknown project {key!r} (known: {', '.join(sorted(by_key))})")
        return by_key[key]

    def open_edge(e: Edge) -> None:
        added[e.id] = e

    def close(i: int, link_id: str, year: int) -> None:
        e = link(i, link_id)
        if e.open_year is not None and e.open_year >= year:
            raise LeverError(i, "year", f"link {link_id!r} opens in {e.open_year}, not before {year}: nothing to close or upgrade")
        closures[link_id] = min(year, closures.get(link_id, year))

    def need_node(i: int, node_id: str, field: str) -> Node | NewNode:
        if node_id not in nodes:
            raise LeverError(i, field, f"unknown node {node_id!r} (not in the region's nodes or the scenario's new nodes)")
        return nodes[node_id]

    for i, lv in enumerate(levers):
        check_years(i, lv)
        if isinstance(lv, (AddLink, UpgradeLink, CloseLink)):
            if isinstance(lv, AddLink):
                for nd in lv.nodes:
                    if nd.id in nodes:
                        raise LeverError(i, "nodes", f"node {nd.id!r} already exists")
                    nodes[nd.id] = nd
            if isinstance(lv, AddLink) and lv.links is not None:
                unknown = [x for x in lv.links if x not in planned]
                if unknown:
                    raise LeverError(i, "links", f"not planned link(s) {', '.join(unknown)} (add_link opens links of the "
                                                 "projects file; define other links under new)")
            if lv.project is not None or (lv.links is not None and not isinstance(lv, CloseLink)
                                          and all(x in planned for x in lv.links)):
                chosen = project(i, lv.project) if lv.project is not None else [planned[x] for x in lv.links]
                if isinstance(lv, CloseLink):
                    for p in chosen:
                        close(i, p.id, lv.year)
                    continue
                for p in chosen:
                    if p.replaces is not None and (p.replaces in edges or p.replaces in added):
                        close(i, p.replaces, lv.year)
                    open_edge(p.opened(lv.year))
            elif isinstance(lv, AddLink):
                for k, nl in enumerate(lv.new):
                    a, b = need_node(i, nl.u, f"new[{k}].from"), need_node(i, nl.v, f"new[{k}].to")
                    eid = nl.id or f"{lv.type}_{i}_{k}"
                    if eid in edges or eid in added:
                        raise LeverError(i, f"new[{k}].id", f"link id {eid!r} already exists")
                    if nl.length_km is not None and (why := check_length(nl.length_km, a, b)) is not None:
                        raise LeverError(i, f"new[{k}].length_km", why)
                    open_edge(Edge.model_validate({"id": eid, "from": nl.u, "to": nl.v, "mode": nl.mode,
                                                   "length_km": nl.length_km or max(round(_straight_km(a, b) * 1.3, 2), 0.1),
                                                   "speed_kmh": nl.speed_kmh, "open_year": lv.year, "project": f"scenario lever {i}"}))
            elif isinstance(lv, UpgradeLink):
                for x in lv.links:
                    old = link(i, x)
                    why = check_speed(lv.mode or old.mode, lv.speed_kmh or old.speed_kmh)
                    if why is not None:
                        raise LeverError(i, "speed_kmh", f"link {x!r}: {why}")
                    close(i, x, lv.year)
                    open_edge(old.model_copy(update={"id": f"{x}@{lv.year}", "open_year": lv.year, "close_year": None,
                                                     "speed_kmh": lv.speed_kmh or old.speed_kmh, "mode": lv.mode or old.mode}))
            else:  # CloseLink by ids
                for x in lv.links:
                    close(i, x, lv.year)
        elif isinstance(lv, AddStation):
            t = town(i, lv.township)
            if isinstance(lv.station, NewNode):
                if lv.station.id in nodes:
                    raise LeverError(i, "station", f"node {lv.station.id!r} already exists; name it by id instead")
                if lv.on_link is None:
                    raise LeverError(i, "on_link", "a new station needs on_link: the id of the line's link it sits on")
                st = lv.station.model_copy(update={"kind": "station", "township": lv.township})
                nodes[st.id] = st
                line = link(i, lv.on_link)
                if line.mode not in ("rail", "hsr", "metro_rail"):
                    raise LeverError(i, "on_link", f"link {lv.on_link!r} is {line.mode}, not a rail line")
                a, b = nodes[line.u], nodes[line.v]
                da, db = _straight_km(a, st), _straight_km(st, b)
                share = da / max(da + db, 1e-9)
                # from the later of the two years the line runs in two halves through the station
                opens = max(lv.year, line.open_year or lv.year)
                closures[line.id] = min(opens, closures.get(line.id, opens))
                for part, (u, v, frac) in enumerate(((line.u, st.id, share), (st.id, line.v, 1 - share))):
                    open_edge(line.model_copy(update={"id": f"{line.id}~{st.id}{part}", "u": u, "v": v, "open_year": opens,
                                                      "close_year": None, "length_km": max(line.length_km * frac, 0.1)}))
            else:
                st = need_node(i, lv.station, "station")
            seat = nodes[region.seat_node(codes[t])]
            km = lv.access_km or max(round(_straight_km(st, seat) * 1.3, 2), 0.1)
            open_edge(Edge.model_validate({"id": f"station_access_{st.id}_{i}", "from": st.id, "to": seat.id, "mode": "trunk",
                                           "length_km": km, "speed_kmh": lv.access_speed_kmh, "open_year": lv.year,
                                           "project": f"station access ({lv.township})"}))
        elif isinstance(lv, Jobs):
            t, sector, years = town(i, lv.township), SECTORS.index(lv.sector), lv.year_list()
            _check_jobs_size(i, lv, region, t, jobs_change)
            jobs_change[(t, sector)] = jobs_change.get((t, sector), 0.0) + lv.jobs
            for y in years:
                iv.jobs.setdefault(y, np.zeros((n, 3)))[t, sector] += lv.jobs / len(years)
        elif isinstance(lv, StationArea):
            t, years = town(i, lv.township), lv.year_list()
            _check_station_area_size(i, lv, region)
            if lv.station is not None:
                st = nodes.get(lv.station)
                if st is None:
                    raise LeverError(i, "station", f"unknown node {lv.station!r} (a station of network/nodes.csv or of an add_station lever)")
            for y in years:
                iv.jobs.setdefault(y, np.zeros((n, 3)))[t, 1:] += np.array([lv.jobs_secondary, lv.jobs_tertiary]) / len(years)
                iv.housing.setdefault(y, np.zeros((n, 2)))[t, 0] += lv.housing_units / len(years)
        elif isinstance(lv, Housing):
            t, part, years = town(i, lv.township), ("urban", "rural").index(lv.part), lv.year_list()
            dwellings = _region_dwellings(region)
            if lv.units > max(dwellings, 1):
                raise LeverError(i, "units", f"{lv.units:,.0f} dwellings is more than the whole region has ({dwellings:,}); "
                                             "expected a plausible building programme")
            for y in years:
                iv.housing.setdefault(y, np.zeros((n, 2)))[t, part] += lv.units / len(years)
        elif isinstance(lv, Reclassify):
            t, years = town(i, lv.township), lv.year_list()
            each = 1.0 - (1.0 - lv.share) ** (1.0 / len(years))
            for y in years:
                row = iv.reclassify.setdefault(y, np.zeros(n))
                row[t] = 1.0 - (1.0 - row[t]) * (1.0 - each)
        elif isinstance(lv, Hukou):
            iv.parameters.setdefault(lv.year, {})["moves.hukou_openness"] = lv.openness
        elif isinstance(lv, Talent):
            t = None if lv.township is None else town(i, lv.township)
            _check_talent_size(i, lv, region, start)
            for y in lv.year_list():
                iv.talent.setdefault(y, []).append(TalentFlow(lv.persons_per_year * lv.additional_share, SKILLS.index(lv.skill),
                                                              lv.age_mean, lv.local_hukou_share, t))
        elif isinstance(lv, Fertility):
            tfr_points.update(lv.tfr if isinstance(lv.tfr, dict) else {lv.year: lv.tfr})
        elif isinstance(lv, Services):
            iv.services.setdefault(lv.year, np.zeros(n))[town(i, lv.township)] += lv.change
        elif isinstance(lv, Parameter):
            from sim.params import field_type

            if field_type(lv.name) is None:
                raise LeverError(i, "name", f"unknown parameter {lv.name!r} (expected section.name from params.yaml, e.g. moves.beta_access)")
            iv.parameters.setdefault(lv.year, {})[lv.name] = lv.value

    for y, tfr in _interpolate(tfr_points, end).items():
        iv.parameters.setdefault(y, {})["demography.tfr"] = tfr
    iv.nodes = [Node.model_validate(nd.model_dump()) if isinstance(nd, NewNode) else nd
                for k, nd in nodes.items() if k not in region.nodes]
    for k in [k for k in closures if k in added]:  # links the scenario itself opened and later closed
        added[k] = added[k].model_copy(update={"close_year": closures.pop(k)})
    iv.edges = list(added.values())
    iv.closures = closures
    return iv


def _interpolate(points: dict[int, float], end: int) -> dict[int, float]:
    """Yearly values along a path of (year, value) points (the model keeps the last one afterwards).

    >>> _interpolate({2022: 1.0, 2024: 2.0}, 2025)
    {2022: 1.0, 2023: 1.5, 2024: 2.0}
    """
    if not points:
        return {}
    ys = sorted(points)
    out = {}
    for y in range(ys[0], min(ys[-1], end) + 1):
        out[y] = float(np.interp(y, ys, [points[k] for k in ys]))
    return out
