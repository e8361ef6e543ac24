"""Load a region folder (``configs/<region>/``) and validate it into typed objects.

A region folder holds ``region.yaml`` (names, groups, targets, routing parameters and
the names of the other files), a township table, an economy table, the county outline,
township polygons and the transport network as node and edge tables. Every problem is
reported as one :class:`RegionDataError` naming the file, the line or field, and what
was expected, so a planner editing a CSV can fix it without reading code.

Example
-------
>>> from geo.region import load_region
>>> region = load_region("configs/<region>")          # doctest: +SKIP
>>> region.townships[0].code, region.total_population(2020)  # doctest: +SKIP
('A', 10500)
"""

from __future__ import annotations

import difflib
import math
import re
import reprlib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import geopandas as gpd
import networkx as nx
import pandas as pd
import yaml
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, create_model, field_validator, model_validator
from pyproj import CRS
from pyproj.exceptions import CRSError

from geo.errors import RegionDataError  # noqa: F401  (defined apart so the command line can name it without geopandas)

#: Transport modes an edge may have. Modes listed in ``routing.boarding_minutes`` are
#: boarded at stops (rail, ferry); the others are driven.
MODES = ("motorway", "trunk", "provincial", "local", "ferry", "rail", "hsr", "metro_rail")
NODE_KINDS = ("seat", "station", "interchange", "junction", "external")
#: Share of a polygon's area that may lie outside the outline before it is rejected.
OUTSIDE_TOLERANCE = 0.01
#: Largest count of residents, jobs or dwellings a row may give: far above any township or city, and small enough that
#: the model's counts cannot overflow (a value of 10**20 passed every other check and broke the housing account).
MAX_COUNT = 10**9
# the years a region's data may hold, as run.py's --start and --end (cli.argtypes and sim.params.Year, kept apart from
# geopandas for a fast start, say the same)
FIRST_YEAR, LAST_YEAR = 1950, 2100
Year = Annotated[int, Field(ge=FIRST_YEAR, le=LAST_YEAR)]
#: census facts that are shares of the residents, counts of persons, and the age bands a run starts from
CENSUS_AGE_BANDS = ("age_0_14", "age_15_59", "age_60_plus")
CENSUS_SHARES = (*CENSUS_AGE_BANDS, "urbanisation")
CENSUS_COUNTS = ("population", "floating_population", "hukou_population", "population_trend")


# --------------------------------------------------------------------------------------
# region.yaml schema
# --------------------------------------------------------------------------------------
class _Strict(BaseModel):
    # no NaN or infinity: "inf" or "nan" in a table passes every range check and spreads through the run
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Sourced(_Strict):
    value: float
    source: str
    persons: int | None = None


class CRSConfig(_Strict):
    input: str
    metric: str

    @field_validator("input", "metric")
    @classmethod
    def _known_crs(cls, v: str) -> str:
        try:
            CRS.from_user_input(v)
        except CRSError as exc:
            raise ValueError(f"unknown coordinate reference system {v!r} (expected e.g. EPSG:4326)") from exc
        return v

    @field_validator("metric")
    @classmethod
    def _projected(cls, v: str) -> str:
        if not CRS.from_user_input(v).is_projected:
            raise ValueError(f"{v} is not a projected CRS in metres (expected e.g. a UTM or Gauss-Kruger EPSG code)")
        return v


FileName = Annotated[str, Field(min_length=1)]  # an empty name would be the region folder itself


class FilesConfig(_Strict):
    townships: FileName
    economy: FileName
    outline: FileName
    polygons: FileName
    nodes: FileName
    edges: FileName
    projects: FileName | None = None
    observed: FileName | None = None  # published statistics after the start year, for out-of-sample checks (Observation)
    constants: FileName | None = None  # alternative-specific constants of the move choice per township part (Constant)


class GroupConfig(_Strict):
    label: str
    members: list[str] = Field(min_length=1)
    source: str


class ExternalZone(_Strict):
    id: str
    name: str
    node: str
    population: int = Field(ge=0, le=10**10, validation_alias=AliasChoices("population", "pop_2020"))  # residents, for weights (at most 10**10, above the world's)
    labour_market: bool = False  # near enough to commute: a workplace for residents, a source of in-commuters
    stations: list[str] = []  # further nodes where the zone is reached (e.g. its rail stations); the nearest counts
    stations_source: str | None = None
    source: str


class Target(_Strict):
    label: str
    unit: str
    kind: Literal["min", "max"]
    by_year: dict[Year, float]
    source: str

    @model_validator(mode="after")
    def _shares_are_shares(self):
        # the plans print shares as percentages (首位度 53%): copied as printed, a target of 53 could never be met
        if self.unit.strip().lower() == "share":
            for year, value in self.by_year.items():
                if not 0 <= value <= 1:
                    hint = f" ({value:g} looks like a percentage: write {value / 100:g})" if 1 < value <= 100 else ""
                    raise ValueError(f"by_year {year}: a share is from 0 to 1, got {value:g}{hint}")
        return self

    def met(self, value: float, year: int) -> bool | None:
        """Whether ``value`` meets the target for ``year`` (None when there is no target that year)."""
        if year not in self.by_year:
            return None
        goal = self.by_year[year]
        return value >= goal if self.kind == "min" else value <= goal


Band = tuple[Annotated[float, Field(ge=0, le=MAX_COUNT)], Annotated[float, Field(ge=0, le=MAX_COUNT)],
             Annotated[float, Field(ge=0, le=MAX_COUNT)]]


class Projection(_Strict):
    source: str
    tfr: dict[Literal["low", "mid", "high"], Annotated[float, Field(gt=0, le=8)]]
    resident: dict[Year, Band]
    hukou: dict[Year, Band]

    @model_validator(mode="after")
    def _ordered(self):
        for name in ("resident", "hukou"):
            for year, (low, mid, high) in getattr(self, name).items():
                if not low <= mid <= high:
                    raise ValueError(f"{name} {year}: expected [low, mid, high] in that order, got [{low:g}, {mid:g}, {high:g}]")
        return self


class TransitConfig(_Strict):
    """Travel without a car: buses on the roads (slower, with a wait) plus the rail and ferry lines."""

    car_availability: Sourced          # share of trips with a car at hand
    bus_speed_factor: Sourced          # bus speed as a share of the road's car speed
    bus_boarding_minutes: Sourced      # walk to the stop and wait


class RoutingConfig(_Strict):
    boarding_minutes: dict[str, Sourced]
    intrazonal_speed_kmh: Sourced
    gravity_decay_per_min: Sourced
    accessibility_thresholds_min: list[int] = Field(min_length=1)
    transit: TransitConfig | None = None  # None: everyone travels by the fastest mode

    @field_validator("boarding_minutes")
    @classmethod
    def _modes(cls, v: dict[str, Sourced]) -> dict[str, Sourced]:
        for mode, minutes in v.items():
            if mode not in MODES:
                raise ValueError(f"unknown mode {mode!r} (expected one of {', '.join(MODES)})")
            if minutes.value < 0:
                raise ValueError(f"boarding time for {mode} is negative ({minutes.value})")
        return v

    @model_validator(mode="after")
    def _positive(self) -> "RoutingConfig":
        if self.intrazonal_speed_kmh.value <= 0:
            raise ValueError(f"intrazonal_speed_kmh must be positive, got {self.intrazonal_speed_kmh.value}")
        if self.gravity_decay_per_min.value < 0:
            raise ValueError(f"gravity_decay_per_min must be >= 0, got {self.gravity_decay_per_min.value}")
        return self


class CircleTarget(_Strict):
    modes: list[str] | None = None
    group: str | None = None
    nodes: list[str] | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> "CircleTarget":
        if sum(x is not None for x in (self.modes, self.group, self.nodes)) != 1:
            raise ValueError("give exactly one of modes, group or nodes")
        return self


class TimeCircle(_Strict):
    id: str
    label: str
    from_: Literal["all"] | dict[Literal["group"], str] = Field(alias="from")
    to: CircleTarget
    minutes: float = Field(gt=0)
    source: str


class RegionConfig(_Strict):
    name: str
    name_local: str | None = None
    code: str | None = None
    crs: CRSConfig
    files: FilesConfig
    groups: dict[str, GroupConfig]
    # leavers go to these zones and arrivals come from them: a region needs at least one
    external_zones: list[ExternalZone] = Field(min_length=1)
    census: dict[int, dict[str, Sourced]]
    economy_year: int | None = None  # year of economy.csv's jobs and housing (default: the latest census year)
    targets: dict[str, Target]
    projection: Projection | None = None
    routing: RoutingConfig
    time_circles: list[TimeCircle] = []

    @field_validator("census")
    @classmethod
    def _census_facts(cls, census: dict[int, dict[str, Sourced]]) -> dict[int, dict[str, Sourced]]:
        # the facts a run starts from or is fitted to; other keys are recorded as given
        for year, facts in census.items():
            for key, fact in facts.items():
                if (key in CENSUS_SHARES or key.endswith("_share")) and not 0 <= fact.value <= 1:
                    raise ValueError(f"census {year} {key}: expected a share from 0 to 1, got {fact.value:g}")
                if key in CENSUS_COUNTS and not 0 <= fact.value <= MAX_COUNT:
                    raise ValueError(f"census {year} {key}: expected persons from 0 to {MAX_COUNT:,}, got {fact.value:g}")
            bands = [facts[k].value for k in CENSUS_AGE_BANDS if k in facts]
            if len(bands) == len(CENSUS_AGE_BANDS) and abs(sum(bands) - 1) > 0.01:
                raise ValueError(f"census {year}: {' + '.join(CENSUS_AGE_BANDS)} must add up to 1 (within 0.01), got "
                                 f"{' + '.join(f'{b:g}' for b in bands)} = {sum(bands):g}")
            if "floating_population" in facts and "population" in facts and not (
                    0 < facts["population"].value and facts["floating_population"].value <= facts["population"].value):
                raise ValueError(f"census {year}: floating_population ({facts['floating_population'].value:g}) must be at most "
                                 f"population ({facts['population'].value:g}), which must be above 0")
        return census


# --------------------------------------------------------------------------------------
# CSV row schemas
# --------------------------------------------------------------------------------------
YEAR_COLUMN = re.compile(r"(urban_)?pop_(\d{4})")


class Township(_Strict):
    """A row of the township table. Residents and urban residents come as a pair of columns ``pop_YYYY`` and
    ``urban_pop_YYYY`` for each census year the region has (:func:`township_model` adds them)."""

    code: str
    name_zh: str
    name_en: str
    kind: str
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    area_km2: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _urban_within_total(self) -> "Township":
        for year in self.census_years():
            if getattr(self, f"urban_pop_{year}") > getattr(self, f"pop_{year}"):
                raise ValueError(f"urban_pop_{year} exceeds pop_{year}")
        return self

    @classmethod
    def census_years(cls) -> list[int]:
        """The years with population columns."""
        return sorted(int(m.group(2)) for k in cls.model_fields if (m := YEAR_COLUMN.fullmatch(k)) and not m.group(1))

    def population(self, year: int) -> int:
        if f"pop_{year}" not in type(self).model_fields:
            raise KeyError(f"no pop_{year} column in the township table (census years: {self.census_years()})")
        return getattr(self, f"pop_{year}")

    def urban_population(self, year: int) -> int:
        if f"urban_pop_{year}" not in type(self).model_fields:
            raise KeyError(f"no urban_pop_{year} column in the township table (census years: {self.census_years()})")
        return getattr(self, f"urban_pop_{year}")


_TOWNSHIP_MODELS: dict[tuple[int, ...], type[Township]] = {}


def township_model(years) -> type[Township]:
    """The township row model for a region whose census years are ``years``: the identity columns plus
    ``pop_YYYY`` and ``urban_pop_YYYY`` (whole persons, at least 0) for each year.

    >>> township_model([2015]).census_years()
    [2015]
    """
    key = tuple(sorted(int(y) for y in years))
    if key not in _TOWNSHIP_MODELS:
        cols = {}
        for y in key:
            cols[f"pop_{y}"] = (int, Field(ge=0, le=MAX_COUNT))
            cols[f"urban_pop_{y}"] = (int, Field(ge=0, le=MAX_COUNT))
        _TOWNSHIP_MODELS[key] = create_model(f"Township{'_'.join(map(str, key))}", __base__=Township, **cols)
    return _TOWNSHIP_MODELS[key]


def township_years(path: Path) -> list[int]:
    """Census years of a township table from its header: every year with both pop_YYYY and urban_pop_YYYY.

    A year with only one of the pair, or no year at all, is a RegionDataError naming the missing column.
    """
    if not path.exists():
        raise RegionDataError(path, "file not found (expected the township table)")
    if path.is_dir():
        raise RegionDataError(path, "a folder, not a file (expected the township table as a CSV file; check the name in "
                                    "region.yaml's files)")
    try:
        header = list(pd.read_csv(path, nrows=0, dtype=str, encoding="utf-8").columns)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise RegionDataError(path, unreadable_csv(path, exc)) from exc
    total = {int(m.group(2)) for c in header if (m := YEAR_COLUMN.fullmatch(c)) and not m.group(1)}
    urban = {int(m.group(2)) for c in header if (m := YEAR_COLUMN.fullmatch(c)) and m.group(1)}
    missing = [f"pop_{y}" for y in sorted(urban - total)] + [f"urban_pop_{y}" for y in sorted(total - urban)]
    if missing:
        raise RegionDataError(path, f"missing column(s) {', '.join(missing)} (each census year needs pop_YYYY and urban_pop_YYYY)")
    if not total:
        raise RegionDataError(path, "missing column(s) pop_YYYY and urban_pop_YYYY (residents and urban residents of at "
                                    "least one census year, e.g. pop_2020, urban_pop_2020)")
    return sorted(total)


class Economy(_Strict):
    code: str
    jobs_primary: int = Field(ge=0, le=MAX_COUNT)
    jobs_secondary: int = Field(ge=0, le=MAX_COUNT)
    jobs_tertiary: int = Field(ge=0, le=MAX_COUNT)
    housing_urban: int = Field(ge=0, le=MAX_COUNT)
    housing_rural: int = Field(ge=0, le=MAX_COUNT)
    price_yuan_m2: float = Field(gt=0)
    services: float = Field(ge=0, le=1)
    # most dwellings the part may hold (land and zoning), where a plan gives it; empty = params housing.*_capacity_factor
    capacity_urban: int | None = Field(None, ge=0, le=MAX_COUNT)
    capacity_rural: int | None = Field(None, ge=0, le=MAX_COUNT)

    @property
    def jobs(self) -> int:
        return self.jobs_primary + self.jobs_secondary + self.jobs_tertiary


class Constant(_Strict):
    """Alternative-specific constants of the move choice for one township (``constants.csv``, written by
    ``run.py constants``): added to the utility of its urban and rural part."""

    code: str
    urban: float
    rural: float
    source: str = Field(min_length=1)


OBSERVED_INDICATORS = ("population", "urbanisation", "birth_rate", "death_rate", "aged60_share")


class Observation(_Strict):
    """A published county figure for one year (``observed.csv``): kept out of every fit unless ``use`` is ``fit``.

    ``population`` in persons at the year's end, ``urbanisation`` and ``aged60_share`` as shares, ``birth_rate`` and
    ``death_rate`` per 1,000 residents.
    """

    year: Year
    indicator: Literal["population", "urbanisation", "birth_rate", "death_rate", "aged60_share"]
    value: float = Field(ge=0)
    use: Literal["fit", "held_out"]
    source: str = Field(min_length=1)

    @model_validator(mode="after")
    def _in_its_unit(self):
        # a bulletin prints shares as percentages (城镇化率65.2%) and rates per 1,000 (出生率5.01‰): the commonest
        # slip is to copy the number as printed into a column that wants the share
        if self.indicator in ("urbanisation", "aged60_share") and self.value > 1:
            raise ValueError(f"{self.indicator} is a share from 0 to 1; {self.value:g} looks like a percentage "
                             f"(write {self.value / 100:g})" if self.value <= 100 else
                             f"{self.indicator} is a share from 0 to 1, got {self.value:g}")
        if self.indicator in ("birth_rate", "death_rate") and self.value > 1000:
            raise ValueError(f"{self.indicator} is per 1,000 residents (at most 1,000), got {self.value:g}")
        if self.indicator == "population" and self.value > MAX_COUNT:
            raise ValueError(f"population {self.value:,.0f} is more than {MAX_COUNT:,} persons")
        return self


class Node(_Strict):
    id: str
    name: str
    kind: Literal["seat", "station", "interchange", "junction", "external"]
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    township: str | None = None


# The fastest a link of each mode may run, km/h: above China's design speeds (JTG B01-2014: expressways 120,
# first-class highways 100, second-class 80; CRH lines 350; conventional rail 200; urban and suburban rail 160). A
# speed above them is a typing error (600 for 60), which would make every trip through the link nearly free.
MODE_MAX_KMH = {"motorway": 130, "trunk": 120, "provincial": 100, "local": 80, "ferry": 60, "rail": 200, "hsr": 400,
                "metro_rail": 160}


def check_speed(mode: str, speed_kmh: float) -> str | None:
    """Why ``speed_kmh`` is not a speed a ``mode`` link may run at (None if it is).

    >>> check_speed("local", 60) is None, check_speed("local", 600)
    (True, 'a local link at 600 km/h is faster than any link of its mode runs (at most 80 km/h)')
    """
    top = MODE_MAX_KMH.get(mode)
    if top is not None and speed_kmh > top:
        return f"a {mode} link at {speed_kmh:g} km/h is faster than any link of its mode runs (at most {top} km/h)"
    return None


class Edge(_Strict):
    id: str
    u: str = Field(alias="from")
    v: str = Field(alias="to")
    mode: Literal["motorway", "trunk", "provincial", "local", "ferry", "rail", "hsr", "metro_rail"]
    length_km: float = Field(gt=0)
    speed_kmh: float = Field(gt=0)
    open_year: int | None = None
    close_year: int | None = None
    project: str = ""

    @model_validator(mode="after")
    def _years(self) -> "Edge":
        if self.open_year is not None and self.close_year is not None and self.open_year > self.close_year:
            raise ValueError(f"open_year {self.open_year} is after close_year {self.close_year}")
        if self.u == self.v:
            raise ValueError(f"edge joins node {self.u!r} to itself")
        if (why := check_speed(self.mode, self.speed_kmh)) is not None:
            raise ValueError(why)
        return self

    def is_open(self, year: int) -> bool:
        """Open in ``year``: opened in or before it and not yet closed (closing year excluded)."""
        opened = self.open_year is not None and self.open_year <= year
        return opened and (self.close_year is None or year < self.close_year)

    @property
    def minutes(self) -> float:
        return self.length_km / self.speed_kmh * 60.0


class ProjectLink(Edge):
    """A link of a planned project, without an opening year: scenarios open it (``key`` groups a
    project's links; ``replaces`` is a baseline or project link it supersedes, closed when this one opens)."""

    key: str
    replaces: str | None = None
    plan_open_year: int | None = None

    def opened(self, year: int) -> Edge:
        """This link as a network edge opening in ``year``."""
        return Edge.model_validate({"id": self.id, "from": self.u, "to": self.v, "mode": self.mode, "length_km": self.length_km,
                                    "speed_kmh": self.speed_kmh, "open_year": year, "project": self.project})


# --------------------------------------------------------------------------------------
# The loaded region
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Region:
    """A validated region: townships, economy, geometry and network, all cross-checked."""

    path: Path
    config: RegionConfig
    townships: tuple[Township, ...]
    economy: dict[str, Economy]
    nodes: dict[str, Node]
    edges: tuple[Edge, ...]
    projects: tuple[ProjectLink, ...]
    outline: gpd.GeoSeries  # metric CRS
    polygons: gpd.GeoDataFrame | None  # index = township code, metric CRS, in table order; None if not loaded
    meta: dict[str, Any] = field(default_factory=dict)
    observed: tuple[Observation, ...] = ()  # published statistics after the census (files.observed)
    constants: dict[str, Constant] = field(default_factory=dict)  # move-choice constants per township (files.constants)

    @property
    def codes(self) -> list[str]:
        return [t.code for t in self.townships]

    @property
    def census_years(self) -> list[int]:
        """Years with township populations (the ``pop_YYYY`` columns of the township table)."""
        return type(self.townships[0]).census_years()

    @property
    def economy_year(self) -> int:
        """The year economy.csv describes: region.yaml ``economy_year``, else the latest census year."""
        return self.config.economy_year or self.census_years[-1]

    def township(self, code: str) -> Township:
        for t in self.townships:
            if t.code == code:
                return t
        raise KeyError(code)

    def find_township(self, name: str) -> str | None:
        """The code of the township a user names: its code, English name (any case), Chinese name, or Chinese name
        without its administrative suffix (区, 县, 市, 镇, 乡, 街道; also an ethnic 畲族乡-style ending); None if none.

        Example
        -------
        >>> region.find_township("新河"), region.find_township("新河镇"), region.find_township("Xinhe")  # doctest: +SKIP
        ('T03', 'T03', 'T03')
        """
        key = str(name).strip()
        for t in self.townships:
            if key in (t.code, t.name_zh) or key.lower() == t.name_en.lower() or short_name(key) == short_name(t.name_zh):
                return t.code
        return None

    def total_population(self, year: int) -> int:
        return sum(t.population(year) for t in self.townships)

    def group_members(self, group: str) -> list[str]:
        return list(self.config.groups[group].members)

    @property
    def approximate_polygons(self) -> bool:
        """True when the township polygons are generated approximations (``run.py polygons``), not real boundaries."""
        return bool(self.meta.get("approximate_polygons", False))

    def boundary_note(self) -> str:
        """What a map should say about its boundaries: a note for generated polygons, nothing for real outlines.

        >>> region.boundary_note()   # doctest: +SKIP
        'township boundaries approximate'
        """
        return "township boundaries approximate" if self.approximate_polygons else ""

    def seat_node(self, code: str) -> str:
        """The network node id of a township's seat."""
        return self.meta["seat_nodes"][code]

    def area_km2(self) -> pd.Series:
        """Township areas from their polygons, km² (the table's area where polygons are not loaded)."""
        if self.polygons is None:
            return pd.Series({t.code: t.area_km2 for t in self.townships}, dtype=float)
        return self.polygons.geometry.area / 1e6

    def frame(self) -> pd.DataFrame:
        """Townships with economy columns as one DataFrame indexed by code."""
        df = pd.DataFrame([t.model_dump() for t in self.townships]).set_index("code")
        eco = pd.DataFrame([e.model_dump() for e in self.economy.values()]).set_index("code")
        return df.join(eco)


# Limits that keep a hostile or mistaken YAML file from hanging a command: region files are a few kilobytes, so
# these leave room for any real file, but refuse a "billion laughs" file whose aliases expand exponentially.
YAML_MAX_BYTES = 5_000_000
YAML_MAX_NODES = 200_000


def _expanded_nodes(node, memo: dict) -> int:
    """How many nodes ``node`` stands for once every alias is expanded (memoised: an alias costs its whole tree)."""
    key = id(node)
    if key not in memo:
        memo[key] = 0  # guards against recursive aliases
        children = node.value if isinstance(node.value, list) else []
        n = 1
        for child in children:
            n += sum(_expanded_nodes(c, memo) for c in child) if isinstance(child, tuple) else _expanded_nodes(child, memo)
            if n > YAML_MAX_NODES:
                break
        memo[key] = n
    return memo[key]


class _Bounded:
    """A loader that refuses a document expanding to more than YAML_MAX_NODES nodes, and a key given twice in one
    mapping (YAML keeps the last, so a lever or parameter written twice would silently lose its first value)."""

    def get_single_node(self):
        node = super().get_single_node()
        if node is not None and _expanded_nodes(node, {}) > YAML_MAX_NODES:
            raise yaml.composer.ComposerError(None, None, f"the document expands to more than {YAML_MAX_NODES:,} values "
                                              "(aliases *name repeated within each other)", node.start_mark)
        return node

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            first: dict = {}
            for key_node, _ in node.value:  # the keys as written; those a merge (<<: *x) brings may be replaced
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node)
                if key in first:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"the key {key!r} is given twice in one mapping (first on line {first[key] + 1}); "
                                    "YAML would keep only the second", key_node.start_mark)
                first[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep)


class _BoundedLoader(_Bounded, yaml.SafeLoader):
    pass


# libyaml's parser (where PyYAML has it) reads the region's files in 0.01 s instead of 0.13 s, with the same safe
# constructor; but it recurses in C and crashes the process on collections nested some 30,000 deep ("- - - ..." or
# "[[[..."). Every collection starts at one of the characters - : ? [ {, so a text with few of them cannot nest deeper
# than their number: libyaml reads those (the region's files have a few hundred), the Python parser the rest.
if hasattr(yaml, "CSafeLoader"):
    class _FastBoundedLoader(_Bounded, yaml.CSafeLoader):
        pass
else:
    _FastBoundedLoader = _BoundedLoader
FAST_YAML_MAX_INDICATORS = 10_000  # libyaml was tested safe to 20,000 levels


# key：value typed with a Chinese input method on; the files' keys are ASCII names, so Chinese text in a value or a
# list ("- 注：...") is not taken for one
FULL_WIDTH_KEY = re.compile(r"^[ \t\u3000]*(- )?[A-Za-z_][A-Za-z0-9_.]*[ \u3000]*：")


def full_width_typing(text: str) -> tuple[int, str] | None:
    """The first line where a Chinese input method left a full-width colon after a key, or a full-width space in the
    indentation: YAML reads neither as its own, and its error then points at a later line.

    >>> full_width_typing("name: x\\nlevers：\\n")
    (2, "a full-width colon '：' after the key (typed with a Chinese input method); YAML needs ':'")
    """
    for number, line in enumerate(text.splitlines(), 1):
        if FULL_WIDTH_KEY.match(line):
            return number, "a full-width colon '：' after the key (typed with a Chinese input method); YAML needs ':'"
        if line[: len(line) - len(line.lstrip())].count("\u3000"):
            return number, "a full-width space in the indentation (typed with a Chinese input method); indent with spaces"
    return None


def load_yaml(path: Path, text: str | None = None):
    """Parse a YAML file (or its ``text``) safely and within limits; a RegionDataError naming the file and line for
    malformed YAML, a file over YAML_MAX_BYTES or one whose aliases expand it past YAML_MAX_NODES values.

    >>> load_yaml(Path("x.yaml"), "a: [1, 2]")
    {'a': [1, 2]}
    """
    path = Path(path)
    if text is None:
        if path.stat().st_size > YAML_MAX_BYTES:
            raise RegionDataError(path, f"file larger than {YAML_MAX_BYTES:,} bytes (expected a short YAML file)")
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            if looks_like_gbk(path):
                raise RegionDataError(path, f"not UTF-8 text: {GBK_HINT}; save it with the encoding UTF-8, or convert "
                                            "it: iconv -f gbk -t utf-8") from None
            raise RegionDataError(path, f"not UTF-8 text (byte {exc.start}): expected a YAML file") from None
    if len(text) > YAML_MAX_BYTES:
        raise RegionDataError(path, f"text larger than {YAML_MAX_BYTES:,} characters (expected a short YAML file)")
    try:
        fast = sum(text.count(c) for c in "-:?[{") <= FAST_YAML_MAX_INDICATORS
        return yaml.load(text, Loader=_FastBoundedLoader if fast else _BoundedLoader)  # noqa: S506 (safe loaders)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        typed = full_width_typing(text)
        if typed:  # the likelier cause, on its own line: YAML's error points past it
            line, problem = typed
        raise RegionDataError(path, f"malformed YAML: {problem}", line=line) from None
    except RecursionError:
        raise RegionDataError(path, "malformed YAML: nested too deeply") from None


def read_yaml(path: Path, what: str = "the region description region.yaml",
              keys: str = "name, crs, files, ...") -> dict:
    """A YAML file as a mapping; a missing file, malformed YAML or a non-mapping is a RegionDataError naming the file
    (and the line, for malformed YAML). ``what`` and ``keys`` word the messages.

    >>> read_yaml(Path("missing.yaml"), "a sweep file")  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    geo.errors.RegionDataError: missing.yaml: file not found (expected a sweep file)
    """
    path = Path(path)
    if not path.exists():
        raise RegionDataError(path, f"file not found (expected {what})")
    if not path.is_file():
        raise RegionDataError(path, f"not a file (expected {what})")
    data = load_yaml(path)
    if not isinstance(data, dict):
        raise RegionDataError(path, f"expected a mapping of keys ({keys}) at the top level")
    return data


def read_model(path: Path, model: type[BaseModel], what: str, keys: str) -> BaseModel:
    """A YAML file validated into ``model``; every problem is a RegionDataError naming the file and the field.

    ``what`` and ``keys`` word the messages, as for :func:`read_yaml`.
    """
    raw = read_yaml(path, what, keys)
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise _pydantic_error(Path(path), exc, model) from exc


def _short_repr(value, limit: int = 80) -> str:
    """repr of a value, bounded in depth and length.

    >>> _short_repr(list(range(100)))
    '[0, 1, 2, 3, ...]'
    """
    r = reprlib.Repr(maxlevel=2, maxlist=4, maxtuple=4, maxdict=4, maxstring=60, maxother=60)
    text = r.repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


FULL_WIDTH = re.compile("[\u3000\uff01-\uff5e]")  # the ideographic space and the full-width forms of ASCII


def validation_message(err: dict) -> str:
    """The message of one pydantic error, without the "Value error, " pydantic puts before a validator's own words.

    >>> validation_message({"type": "value_error", "msg": "Value error, shares must add up to 1"})
    'shares must add up to 1'
    """
    return err["msg"].removeprefix("Value error, ") if err.get("type") == "value_error" else err["msg"]


def _is_model(t) -> bool:
    return isinstance(t, type) and issubclass(t, BaseModel)


def _keys_of(model: type[BaseModel]) -> list[str]:
    """The keys a file may give for ``model``: each field's alias where it has one, else its name."""
    return [f.alias or name for name, f in model.model_fields.items()]


def _field(model: type[BaseModel], key) -> Any:
    for name, f in model.model_fields.items():
        choices = getattr(f.validation_alias, "choices", [f.validation_alias])
        if key == name or key == f.alias or key in choices:
            return f.annotation
    return None


def _tag_member(members: list, tag) -> Any:
    """The member of a union of lever-like models whose ``type`` is the literal ``tag`` (pydantic puts a
    discriminated union's tag in an error's location)."""
    for m in members:
        if _is_model(m) and "type" in m.model_fields and typing.get_args(m.model_fields["type"].annotation) == (tag,):
            return m
    return None


def _label(member) -> str:
    """How pydantic names a member of a union in an error's location (``int``, ``list[int]``, a model's class name)."""
    return member.__name__ if isinstance(member, type) else str(member).replace("typing.", "").lower()


def _walk(t, loc: tuple) -> tuple[str, Any, int | None]:
    """Follow a pydantic error location ``loc`` through the type ``t``.

    Returns the location as a file's reader writes it (``levers[0].year (fertility)``: a list index in brackets, a
    discriminated union's tag in parentheses at the end, the name pydantic gives a member of any other union left
    out), the type found there (None when the location leaves what the types describe), and, when the location
    passes through such an other union, how many parts of ``loc`` lead to it (else None).
    """
    parts, tags, union_at = [], [], None
    for i, key in enumerate(loc):
        if key == "[key]":  # pydantic's mark of a mapping's key that failed: the key is already in the location
            continue
        while typing.get_origin(t) is Annotated:
            t = typing.get_args(t)[0]
        if typing.get_origin(t) in (typing.Union, types.UnionType):
            choices = [m for m in typing.get_args(t) if m is not type(None)]
            tagged = _tag_member(choices, key)
            if tagged is not None:
                t = tagged
                tags.append(str(key))
                continue
            if len(choices) > 1:  # pydantic names the member of a plain union that failed
                t, union_at = next((m for m in choices if _label(m) == key), None), i
                continue
            t = choices[0]
        if isinstance(key, int):
            parts.append(f"[{key}]")
            t = typing.get_args(t)[0] if typing.get_origin(t) in (list, tuple, set) and typing.get_args(t) else None
            continue
        parts.append(f".{key}" if parts else str(key))
        if _is_model(t):
            t = _field(t, key)
        elif typing.get_origin(t) is dict:
            t = typing.get_args(t)[1]
        else:
            t = None
    text = "".join(parts) + (f" ({', '.join(tags)})" if tags else "")
    return text, t, union_at


def _union_error(errors: list[dict], first: dict, at: int) -> dict:
    """Of the errors pydantic reports for each member of the plain union that ``first`` passes through (its location
    has ``at`` parts before the member's name), the one that went deepest into the value: a list of seeds with one
    bad seed is reported as that seed, not as 'not an integer'. When none went deeper than the others, one error
    that names every member."""
    prefix = tuple(first["loc"][:at])
    mine = [e for e in errors if tuple(e["loc"][:at]) == prefix and len(e["loc"]) > at]
    deepest = max(len(e["loc"]) for e in mine)
    best = [e for e in mine if len(e["loc"]) == deepest]
    if len(best) == 1 and deepest > at + 1:
        return best[0]
    labels = list(dict.fromkeys(_in_words(str(e["loc"][at])) for e in mine))
    return {**mine[0], "type": "union", "msg": f"expected {' or '.join(labels)}"}


_WORDS = {"int": "a whole number", "float": "a number", "str": "a text", "bool": "true or false"}
_PLURAL = {"int": "whole numbers", "float": "numbers", "str": "texts"}


def _in_words(label: str) -> str:
    """A union member's pydantic name as a planner reads it: ``list[int]`` is 'a list of whole numbers'.

    >>> _in_words("int"), _in_words("list[str]"), _in_words("literal['all']")
    ('a whole number', 'a list of texts', "'all'")
    """
    if label in _WORDS:
        return _WORDS[label]
    if m := re.fullmatch(r"list\[(\w+)\]", label):
        return f"a list of {_PLURAL.get(m[1], m[1])}"
    if label.startswith("literal[") and label.endswith("]"):
        return label[len("literal["):-1]
    return "a mapping" if label.startswith("dict[") or label[:1].isupper() else label


def _pydantic_error(file: Path, exc: ValidationError, model: type[BaseModel], line: int | None = None) -> RegionDataError:
    """One RegionDataError for the first problem pydantic found in ``file`` validating ``model``: the field written as
    the file spells it (``levers[0].year (fertility)``), and an unknown key with the keys allowed there."""
    err = exc.errors()[0]
    if err.get("type") == "missing":  # a mistyped key leaves its field missing: the typo is the news
        typo = next((e for e in exc.errors() if e.get("type") == "extra_forbidden" and e["loc"][:-1] == err["loc"][:-1]), None)
        err = typo or err
    union_at = _walk(model, tuple(err["loc"]))[2]
    if union_at is not None:
        err = _union_error(exc.errors(), err, union_at)
    loc = tuple(err["loc"])
    text, there, _ = _walk(model, loc)
    if err.get("type") == "model_type" and _is_model(there):  # pydantic names the class: say what the file needs
        err = {**err, "msg": f"expected a mapping of keys ({', '.join(_keys_of(there))})"}
    if err.get("type") == "extra_forbidden" and loc:
        *head, key = loc
        parent, where, _ = _walk(model, tuple(head))
        if _is_model(where):
            allowed = _keys_of(where)
            close = difflib.get_close_matches(str(key).lower(), allowed, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            if isinstance(key, str) and FULL_WIDTH.search(key):
                hint += " (the name holds full-width characters, typed with a Chinese input method)"
            return RegionDataError(file, f"unknown key {_short_repr(key)}{'' if parent else ' at the top level'}{hint} "
                                         f"(expected keys: {', '.join(allowed)})", line=line, field=parent or None)
    field_text = text or None
    got = err.get("input")
    # reprlib bounds the text of a huge or deeply nested value (a YAML alias bomb would otherwise print for minutes)
    got_text = "" if isinstance(got, dict) or got is None else f" (got {_short_repr(got)})"
    msg = validation_message(err)
    if got_text and err.get("type") == "value_error" and _short_repr(got) in msg:  # a validator's words show it
        got_text = ""
    # full-width characters (a Chinese input method's digits, commas, colons, spaces) look like their ASCII twins in
    # the message; say which part holds them
    if any(isinstance(part, str) and FULL_WIDTH.search(part) for part in err["loc"]):
        got_text += " (the name holds full-width characters, typed with a Chinese input method)"
    elif isinstance(got, str) and FULL_WIDTH.search(got):
        got_text += " (it holds full-width characters, typed with a Chinese input method: use ASCII digits and points)"
    return RegionDataError(file, f"{msg}{got_text}", line=line, field=field_text)


def load_config(path: str | Path) -> RegionConfig:
    """Read and validate ``region.yaml`` (or a folder holding one).

    Parameters
    ----------
    path : folder or file path.

    Returns
    -------
    RegionConfig

    Example
    -------
    >>> load_config("configs/<region>").crs.metric  # doctest: +SKIP
    'EPSG:4549'
    """
    p = Path(path)
    file = p / "region.yaml" if p.is_dir() else p
    data = read_yaml(file)
    try:
        return RegionConfig.model_validate(data)
    except ValidationError as exc:
        raise _pydantic_error(file, exc, RegionConfig) from exc


def looks_like_gbk(path: Path) -> bool:
    """True if ``path``, not UTF-8, reads as Chinese text in GBK (GB18030): the encoding of Excel's "CSV" and of
    Notepad's "ANSI" on a Chinese Windows, so the likely cause when a planner's edited file is refused.

    >>> import tempfile
    >>> f = Path(tempfile.mkdtemp()) / "t.csv"; _ = f.write_bytes("code,名称\\n1,甲镇\\n".encode("gbk"))
    >>> looks_like_gbk(f)
    True
    """
    try:
        path.read_bytes().decode("gb18030")
    except (UnicodeDecodeError, OSError):
        return False
    return True


GBK_HINT = "it looks like Chinese text in GBK (what Excel and Notepad on a Chinese Windows save by default)"


def unreadable_csv(path: Path, exc: Exception) -> str:
    """The message for a CSV file that cannot be read: with the fix when it is Chinese text in GBK (Excel's "CSV UTF-8"
    is what the region files need)."""
    if isinstance(exc, UnicodeDecodeError) and looks_like_gbk(path):
        return (f"not a readable UTF-8 CSV file: {GBK_HINT}; save it as \"CSV UTF-8\" instead, or convert it: "
                "iconv -f gbk -t utf-8")
    return f"not a readable UTF-8 CSV file: {exc}"


CODE_COLUMNS = ("code", "township")  # columns of township codes (often 9 or 12 digits in official statistics)
EXCEL_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?[eE][+-]?\d+")  # 1.23457E+08: what Excel makes of the code 123456789


def _read_csv(path: Path, model: type[BaseModel], what: str) -> list:
    if not path.exists():
        raise RegionDataError(path, f"file not found (expected {what})")
    if path.is_dir():
        raise RegionDataError(path, f"a folder, not a file (expected {what} as a CSV file; check the name in region.yaml's files)")
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise RegionDataError(path, unreadable_csv(path, exc)) from exc
    _check_shape(path)
    required = [f.alias or name for name, f in model.model_fields.items() if f.is_required()]
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise RegionDataError(path, f"missing column(s) {', '.join(missing)} (expected columns: {', '.join(required)})")
    known = {f.alias or name for name, f in model.model_fields.items()}
    rows = []
    for i, rec in enumerate(df.to_dict("records")):
        values = {k: (None if v.strip() == "" else v.strip()) for k, v in rec.items() if k in known}
        for k in CODE_COLUMNS:
            if values.get(k) and EXCEL_NUMBER.fullmatch(values[k]):
                raise RegionDataError(path, f"{values[k]!r} is a township code in scientific notation, as Excel writes a "
                                            "long code it took for a number (and the digits it dropped are lost); "
                                            "restore the full codes and format the column as Text before saving",
                                      line=i + 2, field=k)
        try:
            rows.append(model.model_validate(values))
        except ValidationError as exc:
            raise _pydantic_error(path, exc, model, line=i + 2) from exc
    if not rows:
        raise RegionDataError(path, f"no rows (expected {what})")
    return rows


def _check_shape(path: Path) -> None:
    """A column named twice in the header, or a row with fewer cells than the header, as a RegionDataError naming the
    line. pandas reads both without a word: the second column becomes ``name.1``, and a short row is padded with
    empty cells, so a value forgotten in the middle of a row shifts the others into the wrong columns.

    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "t.csv"
    >>> _ = p.write_text("code,pop,pop\\nA,1,2\\n")
    >>> _check_shape(p)
    Traceback (most recent call last):
    ...
    geo.errors.RegionDataError: ...t.csv, line 1: column 'pop' is named twice in the header
    """
    import csv

    with open(path, encoding="utf-8", newline="") as f:
        rows = csv.reader(f)
        header = next(rows, [])
        seen = set()
        for name in header:
            if name.strip() in seen:
                raise RegionDataError(path, f"column {name.strip()!r} is named twice in the header", line=1)
            seen.add(name.strip())
        for row in rows:
            if row and any(cell.strip() for cell in row) and len(row) < len(header):
                raise RegionDataError(path, f"{len(row)} cells where the header has {len(header)} columns (a value left "
                                            "out shifts the rest into the wrong columns; leave an empty cell instead: ,,)",
                                      line=rows.line_num)


def _unique(path: Path, rows: list, key: str) -> None:
    seen: dict[str, int] = {}
    for i, r in enumerate(rows):
        k = getattr(r, key)
        if k in seen:
            raise RegionDataError(path, f"duplicate {key} {k!r} (first on line {seen[k]})", line=i + 2, field=key)
        seen[k] = i + 2


def read_geometry(path: Path, what: str) -> gpd.GeoDataFrame:
    """A geometry file (GeoPackage, GeoJSON, Shapefile) with its CRS; clear errors for a missing, unreadable,
    CRS-less or empty file."""
    if not path.exists():
        raise RegionDataError(path, f"file not found (expected {what})")
    try:
        gdf = gpd.read_file(path)
    except Exception as exc:  # pyogrio raises several types for unreadable files
        raise RegionDataError(path, f"cannot read geometry ({exc}); expected a GeoPackage, GeoJSON or Shapefile") from exc
    if not isinstance(gdf, gpd.GeoDataFrame) or "geometry" not in gdf:
        raise RegionDataError(path, f"a table without geometry; expected {what} in a GeoPackage, GeoJSON or Shapefile")
    if gdf.crs is None:
        raise RegionDataError(path, "no coordinate reference system (expected one, e.g. EPSG:4326, stored in the file)")
    if len(gdf) == 0:
        raise RegionDataError(path, f"no features (expected {what})")
    if gdf.crs.is_geographic:
        # a feature with latitude and longitude swapped (a latitude of 120) projects to infinite or NaN coordinates,
        # and every check of areas after that passes silently
        b = gdf.geometry.bounds  # NaN for an empty geometry, which the caller names as such

        def inside(x0, x1, y0, y1):
            return (x0 >= -180) & (x1 <= 180) & (y0 >= -90) & (y1 <= 90)

        bad = (b.notna().all(axis=1) & ~inside(b.minx, b.maxx, b.miny, b.maxy)).to_numpy()
        if bad.any():
            i = int(bad.argmax())
            row = b.iloc[i]
            swapped = inside(row.miny, row.maxy, row.minx, row.maxx)
            raise RegionDataError(path, f"feature {i + 1}: coordinates outside longitude -180..180 and latitude -90..90 "
                                        f"of {gdf.crs.to_string()} (x {row.minx:g} to {row.maxx:g}, y {row.miny:g} to "
                                        f"{row.maxy:g})" + ("; are longitude and latitude swapped?" if swapped else ""))
    return gdf


def _check_geometry(path: Path, gdf: gpd.GeoDataFrame, label_col: str | None) -> None:
    for i, (geom, label) in enumerate(zip(gdf.geometry, gdf[label_col] if label_col else range(len(gdf)))):
        name = f"feature {i + 1}" + (f" ({label_col} {label})" if label_col else "")
        if geom is None or geom.is_empty:
            raise RegionDataError(path, f"{name}: empty geometry (expected a polygon)")
        if geom.geom_type not in ("Polygon", "MultiPolygon"):
            raise RegionDataError(path, f"{name}: geometry is a {geom.geom_type} (expected Polygon or MultiPolygon)")
        if not geom.is_valid:
            from shapely.validation import explain_validity

            raise RegionDataError(path, f"{name}: invalid polygon ({explain_validity(geom)})")


def load_polygons(path: Path, codes: list[str], outline: gpd.GeoSeries, metric: str) -> gpd.GeoDataFrame:
    """Read township polygons (any format GDAL reads, with a ``code`` column) and check them.

    Returns a GeoDataFrame indexed by code, in ``codes`` order, in the metric CRS. Errors:
    missing CRS, invalid or empty polygons, a township without a polygon or a polygon
    without a township, or a polygon lying outside the county outline.
    """
    gdf = read_geometry(path, "township polygons with a 'code' column")
    if "code" not in gdf.columns:
        raise RegionDataError(path, f"missing column 'code' (expected the township code; columns: {', '.join(map(str, gdf.columns))})")
    gdf["code"] = gdf["code"].astype(str)
    _check_geometry(path, gdf, "code")
    dup = gdf["code"][gdf["code"].duplicated()].tolist()
    if dup:
        raise RegionDataError(path, f"more than one polygon for code {dup[0]!r}", field="code")
    have, want = set(gdf["code"]), set(codes)
    if want - have:
        raise RegionDataError(path, f"no polygon for township(s) {', '.join(sorted(want - have))} (every township in the table needs one)", field="code")
    if have - want:
        raise RegionDataError(path, f"polygon(s) for unknown township code(s) {', '.join(sorted(have - want))} (not in the township table)", field="code")
    gdf = gdf.to_crs(metric).set_index("code").loc[codes]
    county = outline.union_all()
    for code, geom in gdf.geometry.items():
        outside = geom.difference(county).area
        if outside > OUTSIDE_TOLERANCE * geom.area:
            raise RegionDataError(
                path,
                f"polygon of township {code} lies {outside / geom.area:.0%} outside the county outline (at most {OUTSIDE_TOLERANCE:.0%} allowed)",
                field="geometry",
            )
    return gdf


NODE_TOLERANCE_KM = 5.0  # how far a node may lie from its township's polygon (approximate polygons, border interchanges)


def _check_places(path: Path, places: list[tuple[int, str, str, float, float]], outline: gpd.GeoSeries,
                  polygons: gpd.GeoDataFrame | None, metric: str) -> None:
    """Every place ``(line, label, township, lat, lon)`` lies within NODE_TOLERANCE_KM of its township's polygon (of
    the county outline when the polygons are not read): a latitude or longitude mistyped by a degree puts a seat
    100 km away, where it draws the maps and measures new links wrongly while nothing else notices."""
    if not places:
        return
    points = gpd.GeoSeries(gpd.points_from_xy([p[4] for p in places], [p[3] for p in places]), crs="EPSG:4326").to_crs(metric)
    county = outline.union_all()
    for (line, label, township, _, _), point in zip(places, points):
        own = polygons is not None and township in polygons.index
        km = point.distance(polygons.geometry[township] if own else county) / 1000.0
        if km > NODE_TOLERANCE_KM:
            where = f"township {township}'s polygon" if own else "the county outline"
            raise RegionDataError(path, f"{label} lies {km:,.1f} km from {where} (at most {NODE_TOLERANCE_KM:g} km); "
                                        "check its lat and lon", line=line, field="lat")


# A link's length against the straight line between its nodes: roads and rails are longer than the straight line,
# but node positions are often approximate (a seat for a whole town), so the first region's shortest link is 0.42
# times its straight line and its longest 4.4 times. These bounds catch a decimal point dropped or added, not a
# careful estimate.
LENGTH_MIN_RATIO, LENGTH_MAX_RATIO = 0.25, 5.0
LENGTH_SLACK_KM = (1.0, 10.0)  # added below the low bound and above the high one, for links between close nodes


def check_length(length_km: float, a: Node, b: Node) -> str | None:
    """Why ``length_km`` is not plausible for a link between nodes ``a`` and ``b`` (None if it is): it must lie between
    LENGTH_MIN_RATIO and LENGTH_MAX_RATIO times their straight line, with LENGTH_SLACK_KM. A length typed 0.7 for
    7.0 makes a road ten times faster, and every travel time through it wrong.

    >>> a, b = Node(id="a", name="a", kind="junction", lat=30.0, lon=120.0), Node(id="b", name="b", kind="junction", lat=30.0, lon=120.1)
    >>> check_length(12.0, a, b) is None, check_length(1.2, a, b)[:61]
    (True, 'length_km 1.2 for a link whose nodes a and b are 9.6 km apart')
    """
    line = straight_km(a.lon, a.lat, b.lon, b.lat)
    low, high = LENGTH_MIN_RATIO * line - LENGTH_SLACK_KM[0], LENGTH_MAX_RATIO * line + LENGTH_SLACK_KM[1]
    if low <= length_km <= high:
        return None
    return (f"length_km {length_km:g} for a link whose nodes {a.id} and {b.id} are {line:.1f} km apart in a straight "
            f"line (expected {max(low, 0):.1f} to {high:.1f} km: a decimal point dropped or added, or a node's lat or lon "
            "mistyped?)")


def _check_lengths(path: Path, links: list[Edge], nodes: dict[str, Node]) -> None:
    """Every link's ``length_km`` is plausible for the straight line between its two nodes (:func:`check_length`)."""
    for i, e in enumerate(links):
        if (why := check_length(e.length_km, nodes[e.u], nodes[e.v])) is not None:
            raise RegionDataError(path, why, line=i + 2, field="length_km")


def _check_network(folder: Path, cfg: RegionConfig, nodes: dict[str, Node], edges: list[Edge], codes: set[str],
                   projects: list[ProjectLink] = ()) -> dict[str, str]:
    nfile, efile = folder / cfg.files.nodes, folder / cfg.files.edges
    for i, n in enumerate(nodes.values()):
        if n.township is not None and n.township not in codes:
            raise RegionDataError(nfile, f"unknown township code {n.township!r} (not in {cfg.files.townships})", line=i + 2, field="township")
    seats: dict[str, str] = {}
    for n in nodes.values():
        if n.kind == "seat":
            if n.township is None:
                raise RegionDataError(nfile, f"seat node {n.id!r} names no township", field="township")
            seats[n.township] = n.id
    missing = codes - set(seats)
    if missing:
        raise RegionDataError(nfile, f"no seat node (kind 'seat') for township(s) {', '.join(sorted(missing))}", field="kind")
    for i, e in enumerate(edges):
        for end, col in ((e.u, "from"), (e.v, "to")):
            if end not in nodes:
                hint = " (a township code with no seat node?)" if end in codes else ""
                raise RegionDataError(efile, f"unknown node {end!r}{hint}; expected an id from {cfg.files.nodes}", line=i + 2, field=col)
    if any(e.open_year is None for e in edges):
        bad = next(i for i, e in enumerate(edges) if e.open_year is None)
        raise RegionDataError(efile, "open_year is empty (baseline edges need an opening year; planned projects go in the projects file)", line=bad + 2, field="open_year")
    g = nx.Graph()
    g.add_nodes_from(nodes)
    g.add_edges_from((e.u, e.v) for e in edges)
    # every seat must be reachable without any planned project...
    base = nx.node_connected_component(g, next(iter(seats.values())))
    cut_off = sorted(c for c, n in seats.items() if n not in base)
    if cut_off:
        raise RegionDataError(efile, f"township seat(s) of {', '.join(cut_off)} cannot be reached over the baseline edges")
    # ...and every node from the rest once all projects are built
    g.add_edges_from((e.u, e.v) for e in projects)
    parts = sorted(nx.connected_components(g), key=len, reverse=True)
    if len(parts) > 1:
        stray = sorted(set().union(*parts[1:]))
        raise RegionDataError(efile, f"network is disconnected: node(s) {', '.join(stray[:10])} cannot be reached from the rest")
    return seats


def load_region(path: str | Path, *, polygons: bool = True) -> Region:
    """Load and validate a region folder.

    Parameters
    ----------
    path : the region folder, e.g. ``configs/<region>``.
    polygons : read and check the township polygons (False while generating them).

    Returns
    -------
    Region, with polygons and outline in the region's metric CRS.

    Raises
    ------
    RegionDataError naming the file, line or field and what was expected.

    Example
    -------
    >>> r = load_region("configs/<region>")   # doctest: +SKIP
    >>> len(r.townships)                        # doctest: +SKIP
    3
    """
    folder = Path(path)
    if not folder.is_dir():
        raise RegionDataError(folder, "region folder not found (expected a folder holding region.yaml)")
    cfg = load_config(folder)
    f = cfg.files

    townships = _read_csv(folder / f.townships, township_model(township_years(folder / f.townships)), "the township table")
    _unique(folder / f.townships, townships, "code")
    codes = [t.code for t in townships]
    codeset = set(codes)

    years = type(townships[0]).census_years()
    if cfg.economy_year is not None and cfg.economy_year not in years:
        raise RegionDataError(folder / "region.yaml", f"economy_year {cfg.economy_year} is not a census year of {f.townships} "
                              f"(years with pop_YYYY columns: {years})", field="economy_year")

    economy_rows = _read_csv(folder / f.economy, Economy, "jobs, housing, price and services per township")
    _unique(folder / f.economy, economy_rows, "code")
    eco = {e.code: e for e in economy_rows}
    for i, e in enumerate(economy_rows):
        if e.code not in codeset:
            raise RegionDataError(folder / f.economy, f"unknown township code {e.code!r} (not in {f.townships})", line=i + 2, field="code")
    if codeset - set(eco):
        raise RegionDataError(folder / f.economy, f"no row for township(s) {', '.join(sorted(codeset - set(eco)))}", field="code")

    yaml_file = folder / "region.yaml"
    for gname, group in cfg.groups.items():
        for m in group.members:
            if m not in codeset:
                raise RegionDataError(yaml_file, f"unknown township code {m!r} (not in {f.townships})", field=f"groups.{gname}.members")

    node_rows = _read_csv(folder / f.nodes, Node, "network nodes")
    _unique(folder / f.nodes, node_rows, "id")
    nodes = {n.id: n for n in node_rows}
    edges = _read_csv(folder / f.edges, Edge, "network edges")
    _unique(folder / f.edges, edges, "id")
    projects: list[ProjectLink] = []
    if f.projects:
        pfile = folder / f.projects
        projects = _read_csv(pfile, ProjectLink, "planned project links")
        _unique(pfile, projects, "id")
        edge_ids = {e.id for e in edges}
        known_links = edge_ids | {e.id for e in projects}
        for i, e in enumerate(projects):
            for end, col in ((e.u, "from"), (e.v, "to")):
                if end not in nodes:
                    raise RegionDataError(pfile, f"unknown node {end!r}; expected an id from {f.nodes}", line=i + 2, field=col)
            if e.id in edge_ids:
                raise RegionDataError(pfile, f"id {e.id!r} is also a baseline edge in {f.edges}", line=i + 2, field="id")
            if e.replaces is not None and e.replaces not in known_links:
                raise RegionDataError(pfile, f"replaces unknown link {e.replaces!r} (expected an id from {f.edges} or {f.projects})",
                                      line=i + 2, field="replaces")
    observed: list[Observation] = []
    if f.observed:
        ofile = folder / f.observed
        observed = _read_csv(ofile, Observation, "published statistics: year, indicator, value, use, source")
        seen: set[tuple[int, str]] = set()
        for i, o in enumerate(observed):
            if (o.year, o.indicator) in seen:
                raise RegionDataError(ofile, f"{o.indicator} {o.year} is given twice", line=i + 2, field="indicator")
            seen.add((o.year, o.indicator))
    constants: dict[str, Constant] = {}
    if f.constants:
        cfile = folder / f.constants
        rows = _read_csv(cfile, Constant, "move-choice constants: code, urban, rural, source")
        _unique(cfile, rows, "code")
        for i, c in enumerate(rows):
            if c.code not in codeset:
                raise RegionDataError(cfile, f"unknown township code {c.code!r} (not in {f.townships})", line=i + 2, field="code")
        if set(codeset) - {c.code for c in rows}:
            raise RegionDataError(cfile, f"no row for township(s) {', '.join(sorted(set(codeset) - {c.code for c in rows}))}", field="code")
        constants = {c.code: c for c in rows}
    seats = _check_network(folder, cfg, nodes, edges, codeset, projects)
    for z in cfg.external_zones:
        if z.node not in nodes:
            raise RegionDataError(yaml_file, f"external zone {z.id!r} names unknown node {z.node!r}", field="external_zones.node")
        for st in z.stations:
            if st not in nodes:
                raise RegionDataError(yaml_file, f"external zone {z.id!r} names unknown station node {st!r}", field="external_zones.stations")
    for c in cfg.time_circles:
        group = c.to.group or (c.from_["group"] if isinstance(c.from_, dict) else None)
        if group is not None and group not in cfg.groups:
            raise RegionDataError(yaml_file, f"time circle {c.id!r} names unknown group {group!r}", field="time_circles")
        for n in c.to.nodes or []:
            if n not in nodes:
                raise RegionDataError(yaml_file, f"time circle {c.id!r} names unknown node {n!r}", field="time_circles")

    outline_gdf = read_geometry(folder / f.outline, "the county outline")
    _check_geometry(folder / f.outline, outline_gdf, None)
    outline = outline_gdf.to_crs(cfg.crs.metric).geometry
    polys = load_polygons(folder / f.polygons, codes, outline, cfg.crs.metric) if polygons else None
    _check_places(folder / f.townships, [(i + 2, f"the seat of {t.code}", t.code, t.lat, t.lon)
                                          for i, t in enumerate(townships)], outline, polys, cfg.crs.metric)
    _check_places(folder / f.nodes, [(i + 2, f"node {n.id!r} of township {n.township}", n.township, n.lat, n.lon)
                                     for i, n in enumerate(nodes.values()) if n.township is not None],
                  outline, polys, cfg.crs.metric)
    # after the nodes' places: a node put 100 km away is named as such, not as the lengths of its links
    _check_lengths(folder / f.edges, edges, nodes)
    if f.projects:
        _check_lengths(folder / f.projects, projects, nodes)

    return Region(
        path=folder,
        config=cfg,
        townships=tuple(townships),
        economy=eco,
        nodes=nodes,
        edges=tuple(edges),
        projects=tuple(projects),
        observed=tuple(observed),
        constants=constants,
        outline=outline,
        polygons=polys,
        meta={"seat_nodes": seats,
              # polygons made by run.py polygons carry quality "approximate ..."; real outlines do not
              "approximate_polygons": polys is not None and "quality" in polys.columns
              and polys["quality"].astype(str).str.startswith("approximate").any()},
    )


ADMIN_SUFFIXES = ("街道", "镇", "乡", "区", "县", "市")


def short_name(name: str) -> str:
    """A Chinese place name without its administrative suffix, for matching what users type.

    Strips one of 街道 镇 乡 区 县 市, then 自治 and a one-character ethnic name with 族 (as in 畲族乡), as long as
    two characters remain.

    >>> [short_name(x) for x in ("东城区", "新河镇", "山溪畲族乡", "云岭畲族自治县", "北山县", "南门街道", "市")]
    ['东城', '新河', '山溪', '云岭', '北山', '南门', '市']
    """
    out = name.strip()
    for suffix in ADMIN_SUFFIXES:
        if out.endswith(suffix) and len(out) - len(suffix) >= 2:
            out = out[: -len(suffix)]
            break
    if out.endswith("自治") and len(out) >= 4:
        out = out[:-2]
    if out.endswith("族") and len(out) >= 4:
        out = out[:-2]
    return out


def straight_km(lon_a: float, lat_a: float, lon_b: float, lat_b: float) -> float:
    """Straight-line distance in km between two lon/lat points (equirectangular; fine within a region).

    >>> round(straight_km(120.0, 30.0, 120.1, 30.0), 2)
    9.64
    """
    lat = math.radians((lat_a + lat_b) / 2)
    return math.hypot((lon_a - lon_b) * 111.32 * math.cos(lat), (lat_a - lat_b) * 110.57)


def seat_points(townships: list[Township] | tuple[Township, ...], crs_in: str, crs_metric: str) -> gpd.GeoSeries:
    """Township seats as points in the metric CRS, indexed by code.

    Example
    -------
    >>> pts = seat_points(region.townships, "EPSG:4326", "EPSG:4549")  # doctest: +SKIP
    """
    return gpd.GeoSeries(
        gpd.points_from_xy([t.lon for t in townships], [t.lat for t in townships]),
        index=[t.code for t in townships],
        crs=crs_in,
    ).to_crs(crs_metric)


def intrazonal_minutes(area_km2: float, speed_kmh: float) -> float:
    """Average trip time inside a township: two thirds of the radius of a disc of its area, at ``speed_kmh``.

    Example
    -------
    >>> round(intrazonal_minutes(math.pi * 9, 30), 1)   # radius 3 km -> 2 km at 30 km/h
    4.0
    """
    radius = math.sqrt(area_km2 / math.pi)
    return (2.0 / 3.0) * radius / speed_kmh * 60.0
