"""MigrationModel: one step is one year, in the order of docs/ODD.md.

1. demography (ageing, deaths, births, leaving home, dissolving)  2. transport (the year's
network and travel times)  3. jobs  4. housing  5. moves  6. in-migration  7. urbanisation,
then indicators. Every rule acts on all households at once (numpy columns).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path

import mesa
import mesa_geo as mg
import numpy as np

from geo.accessibility import gravity
from geo.network import Transport
from geo.region import Edge, Node, Region, load_region
from sim import demography as demo
from sim.agents import Household, Households, Township
from sim.choice import ChoiceContext, cell_probabilities, choose, consider_probability, household_cells, place_utility
from sim.indicators import county_columns, county_indicators, persons_by_township, urban_persons_by_township
from sim.markets import MarketState, assign_incomes, grow_jobs, households_by_part, labour_tightness, match_jobs, update_housing, vacancy
from sim.migration import add_migrants, arrivals, logsum, zone_connectivity
from sim.params import Params
from sim.population import DORM, RENTER, synthesise

ZONE_DECAY_PER_MIN = 0.01  # how fast an external zone's pull falls with travel time (estimated)


@dataclass
class Interventions:
    """Timed changes a scenario makes (built by ``sim.scenario.compile_levers``; empty = baseline).

    ``jobs[year]`` and ``housing[year]`` are arrays added that year (townships x 3 sectors,
    townships x [urban, rural]), at full scale; ``edges`` are extra links with their own opening
    years, ``nodes`` the new nodes they use, ``closures`` link id -> closing year;
    ``parameters[year]`` are dotted parameter overrides taking effect that year (and kept);
    ``services[year]`` changes of the service score; ``talent[year]`` programme arrivals.
    """

    jobs: dict[int, np.ndarray] = field(default_factory=dict)
    housing: dict[int, np.ndarray] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)
    nodes: list[Node] = field(default_factory=list)
    closures: dict[str, int] = field(default_factory=dict)
    parameters: dict[int, dict[str, float]] = field(default_factory=dict)
    services: dict[int, np.ndarray] = field(default_factory=dict)
    talent: dict[int, list] = field(default_factory=dict)


class MigrationModel(mesa.Model):
    """Households moving between townships in response to jobs, housing and transport.

    Parameters
    ----------
    region : a loaded Region or the path of a region folder.
    params : behavioural parameters (defaults if None).
    parameters : dotted overrides, e.g. ``{"demography.tfr": 0.9}`` (plain keywords for ``mesa.batch_run``).
    start, end : first and last year; the population is built for ``start`` (a census year of the region).
    scale : share of households simulated, 0.01 to 1.0; counts are reported at full scale.
    seed : random seed (``rng`` is accepted as an alias, as ``mesa.batch_run`` passes it).
    interventions : scenario changes (empty = baseline).

    Example
    -------
    >>> m = MigrationModel("configs/<region>", scale=0.01, end=2022, seed=1)   # doctest: +SKIP
    >>> m.run()                                                                  # doctest: +SKIP
    >>> m.datacollector.get_model_vars_dataframe().loc[:, "population"]         # doctest: +SKIP
    """

    def __init__(self, region: Region | str | Path, params: Params | None = None,
                 parameters: dict[str, float] | None = None, start: int = 2020, end: int = 2035,
                 scale: float = 1.0, seed: int = 42, rng: int | None = None,
                 interventions: Interventions | None = None):
        seed = int(rng) if rng is not None else int(seed)
        super().__init__(rng=seed)
        if not 0.001 <= scale <= 1.0:
            raise ValueError(f"scale must be between 0.001 and 1.0, got {scale}")
        if end < start:
            raise ValueError(f"end year {end} is before start year {start}")
        self.region = region if isinstance(region, Region) else load_region(region)
        self.params = (params or Params()).with_overrides(parameters or {})
        self.interventions = interventions or Interventions()
        self.start, self.end, self.year, self.scale, self.seed = start, end, start, scale, seed
        self.np_rng = np.random.default_rng(seed)
        self.codes = self.region.codes
        self.n = len(self.codes)
        cfg = self.region.config
        if start not in cfg.census or not all(k in cfg.census[start] for k in ("age_0_14", "age_15_59", "age_60_plus")):
            raise ValueError(f"region.yaml has no census age structure for the start year {start} (census.{start}.age_0_14 ...)")
        self.groups = {g: np.array([self.codes.index(c) for c in grp.members]) for g, grp in cfg.groups.items()}
        self.zones = cfg.external_zones

        frame = self.region.frame()
        eco = frame[["jobs_primary", "jobs_secondary", "jobs_tertiary"]].to_numpy(float)
        self.population = synthesise(
            pop=frame[f"pop_{start}"].to_numpy(), urban_pop=frame[f"urban_pop_{start}"].to_numpy(),
            migrant_weight=eco[:, 1] / np.maximum(frame[f"pop_{start}"].to_numpy(), 1),
            jobs_by_sector=eco, age_band_shares=tuple(cfg.census[start][k].value for k in ("age_0_14", "age_15_59", "age_60_plus")),
            params=self.params.population, scale=scale, rng=self.np_rng)
        pop_ratio = frame[f"pop_{start}"].to_numpy() / np.maximum(frame["pop_2020"].to_numpy(), 1)
        self.market = MarketState(
            jobs=eco * scale * pop_ratio[:, None],
            housing=frame[["housing_urban", "housing_rural"]].to_numpy(float) * scale * pop_ratio[:, None],
            price=np.ones((self.n, 2)),
            price_level=frame["price_yuan_m2"].to_numpy(float) / frame["price_yuan_m2"].mean(),
            services=frame["services"].to_numpy(float),
            tightness=np.ones(self.n),
        )
        assign_incomes(self.population, np.ones(self.n), self.params.markets, self.np_rng)
        self.transport = Transport.from_region(self.region, extra_edges=self.interventions.edges,
                                                closures=self.interventions.closures, extra_nodes=self.interventions.nodes)
        self._apply_demography_params()

        self.space = mg.GeoSpace(crs=cfg.crs.metric, warn_crs_conversion=False)
        self.townships = [Township(self, geom, cfg.crs.metric, code, self.region.township(code).name_en, i)
                          for i, (code, geom) in enumerate(self.region.polygons.geometry.items())]
        self.space.add_agents(self.townships)

        self.flows: list[dict] = []
        self.township_records: list[dict] = []
        self._year_flows: dict[str, float] = {}
        self._moves = np.zeros((self.n, 2))  # persons in, out per township this year
        self._births_t = np.zeros(self.n)
        self._deaths_t = np.zeros(self.n)
        self._attract_start = None
        self._connectivity_start: float | None = None
        self._access_start_mean: float | None = None
        self._leave_reference = None
        self.access = np.ones(self.n)
        self.context: ChoiceContext | None = None
        self.datacollector = mesa.DataCollector(
            model_reporters={"year": "year", **{c: (lambda m, c=c: m.current[c]) for c in county_columns(self.groups)}})
        self._update_context()
        self._collect()

    # ------------------------------------------------------------------ set-up helpers
    @property
    def moves(self):
        return self.params.moves

    def _apply_demography_params(self) -> None:
        d = self.params.demography
        self.qx_male = demo.life_table(d.life_expectancy_male, d.gompertz_slope)
        self.qx_female = demo.life_table(d.life_expectancy_female, d.gompertz_slope)
        self.asfr = demo.fertility_schedule(d.tfr, d.fertility_peak_age, d.fertility_spread)

    def household(self, row: int) -> Household:
        """A view of one household row."""
        return Household(self, row)

    @property
    def households(self) -> Households:
        """All living households, as an AgentSet-like collection over the numpy columns."""
        return Households(self)

    # ------------------------------------------------------------------ the year
    def step(self) -> None:
        year = self.year + 1
        self._enter_year(year)
        self._demography()
        minutes = self.transport.township_minutes(year)
        self._jobs(year, minutes)
        self._housing(year)
        self._update_context(minutes)
        self._move()
        self._in_migration(minutes)
        self._urbanise()
        # after in-migration, so newcomers have incomes in this year's indicators
        assign_incomes(self.population, self.market.tightness ** self.params.markets.wage_tightness_elasticity,
                       self.params.markets, self.np_rng)
        self.population.compact()
        self.year = year
        self._collect()
        if self.year >= self.end:
            self.running = False

    def run(self) -> None:
        """Step until the end year."""
        while self.running and self.year < self.end:
            self.step()

    def _enter_year(self, year: int) -> None:
        self._year_flows = defaultdict(float)
        self._moves = np.zeros((self.n, 2))
        self._births_t = np.zeros(self.n)
        self._deaths_t = np.zeros(self.n)
        overrides = self.interventions.parameters.get(year)
        if overrides:
            self.params = self.params.with_overrides(overrides)
            self._apply_demography_params()
        if year in self.interventions.services:
            self.market.services = np.clip(self.market.services + self.interventions.services[year], 0.0, 1.0)

    def _demography(self) -> None:
        pop, rng, d = self.population, self.np_rng, self.params.demography
        demo.age_one_year(pop)
        died = demo.deaths(pop, self.qx_male, self.qx_female, rng.random(len(pop.p_age)))
        self._deaths_t = np.bincount(pop.h_township[pop.p_hh[died]], minlength=self.n)
        n = len(pop.p_age)
        born_hh = demo.births(pop, self.asfr, d.sex_ratio_at_birth, rng.random(n), rng.random(n))
        self._births_t = np.bincount(pop.h_township[born_hh], minlength=self.n)
        demo.leave_home(pop, d.leave_home_rate, d.leave_home_ages, rng.random(len(pop.p_age)))
        demo.dissolve_empty(pop)
        self._year_flows["births"] = float(self._births_t.sum())
        self._year_flows["deaths"] = float(self._deaths_t.sum())

    def _jobs(self, year: int, minutes: np.ndarray) -> None:
        pop, mk, m = self.population, self.market, self.params.markets
        added = self.interventions.jobs.get(year)
        mk.jobs = grow_jobs(mk.jobs, m.job_growth, None if added is None else added * self.scale)
        alive = pop.p_alive
        workers = np.bincount(pop.h_township[pop.p_hh[alive & pop.p_employed]], minlength=self.n).astype(float)
        seekers = np.bincount(pop.h_township[pop.p_hh[alive & (pop.p_age >= 16) & (pop.p_age < 65)]], minlength=self.n).astype(float)
        mk.tightness = labour_tightness(minutes, mk.total_jobs, np.maximum(seekers, workers), m.commute_decay_per_min)
        n = len(pop.p_age)
        match_jobs(pop, mk.tightness, mk.jobs, m.job_finding_rate, self.np_rng.random(n), self.np_rng.random(n))
        self.access = self._accessibility(year, minutes)

    def _accessibility(self, year: int, minutes: np.ndarray) -> np.ndarray:
        """Gravity job accessibility, neighbouring labour markets included, relative to the start year's county mean
        (so a new link that helps everyone raises everyone's access)."""
        m, tr = self.params.markets, self.transport
        near = [z for z in self.zones if z.labour_market]
        zone_jobs = np.array([z.pop_2020 for z in near], float) * m.external_jobs_per_resident * self.scale

        def by(transit: bool, township_minutes: np.ndarray) -> np.ndarray:
            acc = gravity(township_minutes, self.market.total_jobs, m.commute_decay_per_min)
            if near:
                to_zones = tr.minutes(year, tr.seat_nodes, [z.node for z in near], transit)
                acc = acc + gravity(to_zones, zone_jobs, m.commute_decay_per_min)
            return acc

        acc = by(False, minutes)
        transit = self.region.config.routing.transit
        if transit is not None:
            # a composite of travellers with and without a car, so rail and bus projects count too
            car = transit.car_availability.value
            acc = car * acc + (1 - car) * by(True, tr.township_minutes(year, transit=True))
        if self._access_start_mean is None:
            self._access_start_mean = float(acc.mean())
        return acc / self._access_start_mean

    def _housing(self, year: int) -> None:
        added = self.interventions.housing.get(year)
        update_housing(self.market, households_by_part(self.population, self.n), self.params.markets,
                       None if added is None else added * self.scale)

    def _update_context(self, minutes: np.ndarray | None = None) -> None:
        if minutes is None:
            minutes = self.transport.township_minutes(self.year)
            self.access = self._accessibility(self.year, minutes)
        mk = self.market
        self.context = ChoiceContext(
            access=self.access, wage=mk.tightness ** self.params.markets.wage_tightness_elasticity,
            price=mk.price_level[:, None] * mk.price, services=mk.services,
            vacancy=vacancy(mk.housing, households_by_part(self.population, self.n)),
            minutes=minutes, target_vacancy=self.params.markets.target_vacancy, size=mk.housing,
            leave_reference=self._leave_reference)
        if self._leave_reference is None:
            self._leave_reference = place_utility(self.context, self.moves)
            self.context = replace(self.context, leave_reference=self._leave_reference)
        if self._attract_start is None:
            self._attract_start = self._attractiveness()

    def _attractiveness(self) -> float:
        """The county's pull on a newcomer: the log-sum of place utilities, with each place's size taken as its
        share of the county's housing and vacancy at its target. Arrivals already scale with the number of households, so a county that only
        grows (more units everywhere) must not look more attractive; without this, growth feeds on itself."""
        m, ctx = self.moves, self.context
        if ctx.size is not None:
            # weights, not a preference: log sum_j share_j exp(u_j) is the utility of the average dwelling, which
            # does not rise when people merely concentrate (as it would with beta_size != 1)
            ctx = replace(ctx, size=ctx.size / max(float(ctx.size.sum()), 1e-9))
            m = m.model_copy(update={"beta_size": 1.0})
        # Vacancy is left out too: villages that empty out have many vacant homes, which attracts movers inside
        # the county a little but says nothing about the county's pull on people from outside.
        ctx = replace(ctx, vacancy=np.full_like(ctx.vacancy, ctx.target_vacancy))
        return logsum(place_utility(ctx, m) + m.beta_hukou * m.hukou_openness)

    def _zone_weights(self, minutes_from_centre: np.ndarray) -> np.ndarray:
        pops = np.array([z.pop_2020 for z in self.zones], float)
        w = pops * np.exp(-ZONE_DECAY_PER_MIN * np.where(np.isfinite(minutes_from_centre), minutes_from_centre, 1e6))
        return w / w.sum()

    def _move(self) -> None:
        pop, rng, m = self.population, self.np_rng, self.moves
        rows = np.flatnonzero(pop.h_alive)
        head = pop.head_age()[rows]
        p = consider_probability(head, pop.h_tenure[rows], m)
        considering = rows[rng.random(len(rows)) < p]
        cum = cell_probabilities(self.context, m)
        choice = choose(cum, household_cells(pop, considering), rng.random(len(considering)))
        size = pop.household_size()
        origin = pop.h_township[considering].astype(np.int64)
        leave = choice == 2 * self.n
        dest_town = choice // 2
        moved_town = ~leave & (dest_town != origin)
        within = ~leave & (dest_town == origin) & ((choice % 2 == 0) != pop.h_urban[considering])
        # within-township moves between the urban and rural part
        w_rows = considering[within]
        pop.h_urban[w_rows] = choice[within] % 2 == 0
        # moves between townships
        mv = considering[moved_town]
        self._record_moves(origin[moved_town], dest_town[moved_town], size[mv])
        pop.h_township[mv] = dest_town[moved_town]
        pop.h_urban[mv] = choice[moved_town] % 2 == 0
        pop.h_tenure[mv] = np.where(pop.h_tenure[mv] == DORM, RENTER, pop.h_tenure[mv])
        # leaving the county
        lv = considering[leave]
        centre = self._centre_node()
        zone_minutes = self.transport.minutes(self.year + 1, [centre], [z.node for z in self.zones])[0]
        zw = self._zone_weights(zone_minutes)
        zone = rng.choice(len(self.zones), size=len(lv), p=zw) if len(lv) else np.zeros(0, int)
        self._record_external(origin[leave], zone, size[lv], outgoing=True)
        pop.h_alive[lv] = False
        pop.p_alive[np.isin(pop.p_hh, lv) & pop.p_alive] = False
        self._zone_prob = zw

    def _in_migration(self, minutes: np.ndarray) -> None:
        pop, rng, m = self.population, self.np_rng, self.params.migration
        connectivity = self._connectivity(self.year + 1)
        if self._connectivity_start is None:
            self._connectivity_start = self._connectivity(self.start)
        expected = arrivals(pop.n_households, self._attractiveness(), self._attract_start, m, connectivity / self._connectivity_start)
        count = int(rng.poisson(expected))
        u = place_utility(self.context, self.moves).reshape(-1) + self.moves.beta_hukou * self.moves.hukou_openness
        prob = np.exp(u - u.max())
        prob /= prob.sum()
        rows = add_migrants(pop, count, prob, m, rng, self.params.population.skill_shares_migrant, self.params.population.employment_rate)
        rows = np.concatenate([rows, self._talent(prob)])
        size = pop.household_size()[rows]
        zone = rng.choice(len(self.zones), size=len(rows), p=self._zone_prob) if len(rows) else np.zeros(0, int)
        self._record_external(pop.h_township[rows].astype(np.int64), zone, size, outgoing=False)

    def _connectivity(self, year: int) -> float:
        """Population of the external zones weighted by travel time from the main centre (without a car where
        the region has transit settings: migrants come by train and coach)."""
        transit = self.region.config.routing.transit is not None
        mins = self.transport.minutes(year, [self._centre_node()], [z.node for z in self.zones], transit)[0]
        return zone_connectivity(np.array([z.pop_2020 for z in self.zones], float), mins, ZONE_DECAY_PER_MIN)

    def _centre_node(self) -> str:
        if "main_centre" in self.groups:
            return self.region.seat_node(self.codes[self.groups["main_centre"][0]])
        return self.transport.seat_nodes[0]

    def _talent(self, place_prob: np.ndarray) -> np.ndarray:
        """Arrivals of this year's in-migration programmes (``talent`` levers): one-person households."""
        pop, rng, out = self.population, self.np_rng, []
        for flow in self.interventions.talent.get(self.year + 1, []):
            expected = flow.persons * self.scale
            count = int(expected) + int(rng.random() < expected - int(expected))
            if flow.township is None:
                prob = place_prob
            else:  # the programme's township, urban part
                prob = np.zeros_like(place_prob)
                prob[2 * flow.township] = 1.0
            profile = self.params.migration.model_copy(update={
                "size_shares": (1.0, 0.0, 0.0), "age_mean": flow.age_mean, "age_sd": 2.0, "local_hukou_share": flow.local_hukou_share})
            skills = tuple(float(k == flow.skill) for k in range(3))
            out.append(add_migrants(pop, count, prob, profile, rng, skills, self.params.population.employment_rate))
        return np.concatenate(out) if out else np.zeros(0, np.int64)

    def _urbanise(self) -> None:
        pop = self.population
        rural = np.flatnonzero(pop.h_alive & ~pop.h_urban)
        go = rural[self.np_rng.random(len(rural)) < self.params.urbanisation.rural_to_urban_rate]
        pop.h_urban[go] = True

    # ------------------------------------------------------------------ bookkeeping
    def _record_moves(self, origin: np.ndarray, dest: np.ndarray, persons: np.ndarray) -> None:
        np.add.at(self._moves[:, 0], dest, persons)
        np.add.at(self._moves[:, 1], origin, persons)
        if len(origin):
            key = origin * self.n + dest
            hh = np.bincount(key, minlength=self.n * self.n)
            ps = np.bincount(key, weights=persons, minlength=self.n * self.n)
            for k in np.flatnonzero(hh):
                self.flows.append({"year": self.year + 1, "origin": self.codes[k // self.n], "destination": self.codes[k % self.n],
                                   "households": hh[k] / self.scale, "persons": ps[k] / self.scale})

    def _record_external(self, town: np.ndarray, zone: np.ndarray, persons: np.ndarray, outgoing: bool) -> None:
        col = 1 if outgoing else 0
        np.add.at(self._moves[:, col], town, persons)
        self._year_flows["out_migrants" if outgoing else "in_migrants"] += float(persons.sum())
        if len(town):
            nz = len(self.zones)
            key = town * nz + zone
            hh = np.bincount(key, minlength=self.n * nz)
            ps = np.bincount(key, weights=persons, minlength=self.n * nz)
            for k in np.flatnonzero(hh):
                t, z = self.codes[k // nz], self.zones[k % nz].id
                self.flows.append({"year": self.year + 1, "origin": t if outgoing else z, "destination": z if outgoing else t,
                                   "households": hh[k] / self.scale, "persons": ps[k] / self.scale})

    def _collect(self) -> None:
        pop, mk = self.population, self.market
        self.current = county_indicators(pop, self.groups, self.n, self.scale, self._year_flows)
        persons = persons_by_township(pop, self.n)
        urban = urban_persons_by_township(pop, self.n)
        hh_part = households_by_part(pop, self.n)
        vac = vacancy(mk.housing.sum(axis=1, keepdims=True), hh_part.sum(axis=1, keepdims=True))[:, 0]
        income = np.bincount(pop.h_township[pop.h_alive], weights=pop.household_income()[pop.h_alive], minlength=self.n)
        hh_price = (mk.price * np.maximum(hh_part, 1e-9)).sum(axis=1) / np.maximum(hh_part.sum(axis=1), 1e-9)
        for i, t in enumerate(self.townships):
            rec = {"year": self.year, "township": t.code, "population": persons[i] / self.scale,
                   "households": hh_part[i].sum() / self.scale, "urban_population": urban[i] / self.scale,
                   "jobs": mk.total_jobs[i] / self.scale, "housing_units": mk.housing[i].sum() / self.scale,
                   "vacancy": float(vac[i]), "price_index": float(hh_price[i]),
                   "mean_household_income": float(income[i] / max(hh_part[i].sum(), 1)), "accessibility": float(self.access[i]),
                   "births": self._births_t[i] / self.scale if self.year > self.start else 0.0,
                   "deaths": self._deaths_t[i] / self.scale if self.year > self.start else 0.0,
                   "in_moves": self._moves[i, 0] / self.scale, "out_moves": self._moves[i, 1] / self.scale}
            self.township_records.append(rec)
            t.population, t.urban_population, t.households = rec["population"], rec["urban_population"], rec["households"]
            t.jobs, t.housing_units, t.vacancy = rec["jobs"], rec["housing_units"], rec["vacancy"]
            t.price_index, t.accessibility = rec["price_index"], rec["accessibility"]
            t.net_migration = rec["in_moves"] - rec["out_moves"]
        self.datacollector.collect(self)
