"""MigrationModel: one step is one year, in the order of docs/ODD.md.

1. demography (ageing, deaths, births, leaving home, dissolving)  2. transport (the year's
network and travel times)  3. labour account (separations, job growth, matching, in-commuters,
recruitment)  4. housing  5. moves  6. in-migration (recruits and other arrivals)  7. hukou conversion
8. urbanisation, then indicators. Every rule acts on all households at once (numpy columns).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path

import mesa
import numpy as np
from pyproj import CRS

from geo.accessibility import gravity
from geo.network import Transport
from geo.region import Edge, Node, Region, load_region
from sim import demography as demo
from sim import education
from sim import registration
from sim.agents import Household, Households, Township
from sim import housing as hs
from sim import hukou
from sim import labour as lab
from sim import urbanisation as urb
from sim.choice import ChoiceContext, decide_moves, place_utility
from sim.draws import UniformBuffers
from sim.indicators import (AGE_BAND_COLUMNS, HOUSING_COLUMNS, LABOUR_COLUMNS, county_columns, county_indicators,
                            housing_indicators, labour_indicators, persons_by_township, residents_by_work_and_age)
from sim.markets import MarketState, assign_incomes, labour_tightness, vacancy
from sim.migration import (add_migrants, add_recruits, home_probabilities, newcomer_place_utility, nonlabour_households,
                           zone_shares)
from sim.parallel import both
from sim.params import Params
from sim.population import DORM, RENTER, start_population_params, synthesise

ZONE_DECAY_PER_MIN = 0.01  # how fast an external zone's pull falls with travel time (estimated)
COMPACT_SHARE = 0.05  # compact the population columns when this share of rows is dead or gone


@dataclass
class Interventions:
    """Timed changes a scenario makes (built by ``sim.scenario.compile_levers``; empty = baseline).

    ``jobs[year]`` and ``housing[year]`` are arrays added that year (townships x 3 sectors,
    townships x [urban, rural]), at full scale; ``edges`` are extra links with their own opening
    years, ``nodes`` the new nodes they use, ``closures`` link id -> closing year;
    ``parameters[year]`` are dotted parameter overrides taking effect that year (and kept);
    ``services[year]`` changes of the service score; ``talent[year]`` programme arrivals; ``reclassify[year]`` the
    share of each township's rural area reclassified as urban that year.
    """

    jobs: dict[int, np.ndarray] = field(default_factory=dict)
    housing: dict[int, np.ndarray] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)
    nodes: list[Node] = field(default_factory=list)
    closures: dict[str, int] = field(default_factory=dict)
    parameters: dict[int, dict[str, float]] = field(default_factory=dict)
    services: dict[int, np.ndarray] = field(default_factory=dict)
    talent: dict[int, list] = field(default_factory=dict)
    reclassify: dict[int, np.ndarray] = field(default_factory=dict)


class MigrationModel(mesa.Model):
    """Households moving between townships in response to jobs, housing and transport.

    Parameters
    ----------
    region : a loaded Region or the path of a region folder.
    params : behavioural parameters (defaults if None).
    parameters : dotted overrides, e.g. ``{"demography.tfr": 0.9}`` (plain keywords for ``mesa.batch_run``).
    start, end : first and last year; the population is built for ``start`` (a census year of the region).
    scale : share of households simulated, 0.01 to 1.0; counts are reported at full scale.
    seed : random seed (``rng`` is accepted as an alias, as ``mesa.batch_run`` passes it). None, as Mesa passes for
        a run without a given seed (``batch_run(..., iterations=3)`` or ``rng=[None]``), draws a fresh one from the
        operating system, kept in ``model.seed`` so the run can be repeated; a numpy Generator gives its next draw.
    interventions : scenario changes (empty = baseline).

    Example
    -------
    >>> m = MigrationModel("configs/<region>", scale=0.01, end=2022, seed=1)   # doctest: +SKIP
    >>> m.run()                                                                  # doctest: +SKIP
    >>> m.datacollector.get_model_vars_dataframe().loc[:, "population"]         # doctest: +SKIP
    """

    def __init__(self, region: Region | str | Path, params: Params | None = None,
                 parameters: dict[str, float] | None = None, start: int = 2020, end: int = 2035,
                 scale: float = 1.0, seed: int | np.random.Generator | None = 42,
                 rng: int | np.random.Generator | None = None, interventions: Interventions | None = None):
        seed = rng if rng is not None else seed
        # a fresh seed within numpy's portable range, so that MigrationModel(..., seed=model.seed) repeats the run;
        # from a generator (Mesa 3 accepts one as rng), the seed is its next draw
        if seed is None:
            seed = int(np.random.SeedSequence().generate_state(1)[0])
        elif isinstance(seed, np.random.Generator):
            seed = int(seed.integers(2 ** 32))
        seed = int(seed)
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
        self.uniforms = UniformBuffers(self.np_rng)  # the year's draws for every person or household (sim.draws)
        self.codes = self.region.codes
        self.n = len(self.codes)
        cfg = self.region.config
        if start not in cfg.census or not all(k in cfg.census[start] for k in ("age_0_14", "age_15_59", "age_60_plus")):
            raise ValueError(f"region.yaml has no census age structure for the start year {start} (census.{start}.age_0_14 ...)")
        if start not in self.region.census_years:
            raise ValueError(f"the township table has no populations for the start year {start} (columns pop_{start}, "
                             f"urban_pop_{start}; census years there: {self.region.census_years})")
        self.groups = {g: np.array([self.codes.index(c) for c in grp.members]) for g, grp in cfg.groups.items()}
        self.zones = cfg.external_zones

        frame = self.region.frame()
        eco = frame[["jobs_primary", "jobs_secondary", "jobs_tertiary"]].to_numpy(float)
        self.population = synthesise(
            pop=frame[f"pop_{start}"].to_numpy(), urban_pop=frame[f"urban_pop_{start}"].to_numpy(),
            migrant_weight=eco[:, 1] / np.maximum(frame[f"pop_{start}"].to_numpy(), 1),
            jobs_by_sector=eco, age_band_shares=tuple(cfg.census[start][k].value for k in ("age_0_14", "age_15_59", "age_60_plus")),
            params=start_population_params(self.params.population, cfg.census[start]), scale=scale, rng=self.np_rng,
            survival=self._start_survival(), year=start)
        # the draws of who has higher education among those coming of age: a stream of their own (spawned, so the
        # model's stream is untouched), so the education rule cannot shift any other decision's draws
        self.education_rng = self.np_rng.spawn(1)[0]
        # the region's hukou holders living elsewhere (sim.registration), in the agents' scale; None without a census
        # registered population for the start year
        registered = cfg.census[start].get("hukou_population")
        self.registered_away = None if registered is None else registration.away_at_start(
            registered.value * scale, float(self.population.h_size @ self.population.h_local))
        # economy.csv describes its own year; a run from another census year scales jobs and housing by population
        pop_ratio = frame[f"pop_{start}"].to_numpy() / np.maximum(frame[f"pop_{self.region.economy_year}"].to_numpy(), 1)
        self.market = MarketState(
            jobs=eco * scale * pop_ratio[:, None],
            housing=frame[["housing_urban", "housing_rural"]].to_numpy(float) * scale * pop_ratio[:, None],
            price=np.ones((self.n, 2)),
            price_level=frame["price_yuan_m2"].to_numpy(float) / frame["price_yuan_m2"].mean(),
            services=frame["services"].to_numpy(float),
            tightness=np.ones(self.n),
            in_commuters=np.zeros((self.n, 3)),
            vacancy_memory=np.zeros((self.n, 3)),
        )
        self.transport = Transport.from_region(self.region, extra_edges=self.interventions.edges,
                                                closures=self.interventions.closures, extra_nodes=self.interventions.nodes)
        # workplaces: the townships, then the neighbouring labour markets
        self.labour_zones = [z for z in self.zones if z.labour_market]
        self.n_places = self.n + len(self.labour_zones)
        self.workplace_ids = [*self.codes, *(z.id for z in self.labour_zones)]
        self.zone_jobs = np.array([z.population for z in self.labour_zones], float) * self.params.markets.external_jobs_per_resident
        self._recruits = np.zeros((self.n, 3), np.int64)
        self._labour_flows: dict[str, float] = defaultdict(float)
        self._commute_cache: dict[tuple, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self._set_commute(start)
        self._initial_jobs()
        # The housing table was estimated from all households; dormitory households live in employers' dormitories,
        # outside the housing stock, so the stock at the start leaves them out (vacancy as estimated).
        _, households, occupied = self.population.counts_by_place(self.n)
        self.market.housing = np.maximum(self.market.housing - households + occupied, 0.0)
        # The stock account starts with occupied <= stock: where the estimated stock is short, it is raised (reported).
        short = np.maximum(occupied - self.market.housing, 0.0)
        self.market.housing += short
        self.start_housing_added = float(short.sum() / scale)
        # where: township code -> dwellings added (urban and rural parts together), for the run's record
        self.start_housing_added_by_township = {c: round(float(v), 1) for c, v in zip(self.codes, short.sum(axis=1) / scale)
                                                if v > 0}
        given = frame[["capacity_urban", "capacity_rural"]].to_numpy(float) * scale * pop_ratio[:, None]
        self.housing_capacity = hs.capacity(self.market.housing, self.params.housing, given)
        self.start_vacancy = vacancy(self.market.housing, occupied)
        assign_incomes(self.population, np.ones(self.n), self.params.markets, self.np_rng)
        # a TFR given as a parameter (a sweep, a calibration, the constructor) holds from the start instead of the path
        self._tfr_lever = "demography.tfr" in (parameters or {})
        self._apply_demography_params()

        crs = CRS.from_user_input(cfg.crs.metric)
        self.townships = [Township(self, geom, crs, code, self.region.township(code).name_en, i)
                          for i, (code, geom) in enumerate(self.region.polygons.geometry.items())]
        self._space = None

        self.flows: list[dict] = []
        self.commuting: list[dict] = []
        self.township_records: list[dict] = []
        self._year_flows: dict[str, float] = {}
        self._moves = np.zeros((self.n, 2))  # persons in, out per township this year
        self._births_t = np.zeros(self.n)
        self._deaths_t = np.zeros(self.n)
        self.access = np.ones(self.n)
        # alternative-specific constants of the move choice (region data, from run.py constants), scaled by a weight
        # so a sweep can switch them off
        rc = self.region.constants
        self.constants = (np.array([[rc[c].urban, rc[c].rural] for c in self.codes]) if rc else None)
        self.context: ChoiceContext | None = None
        # the start year's wage index, so the first year's choices are not a jump from a flat start
        self.market.tightness = self._tightness(self.transport.township_minutes(start))
        self.datacollector = mesa.DataCollector(
            model_reporters={"year": "year", **{c: (lambda m, c=c: m.current[c]) for c in [*county_columns(self.groups), *LABOUR_COLUMNS, *HOUSING_COLUMNS]}})
        self._update_context()
        # fixed constants cancel in the change since the start, so the town's pull leaves them out on both sides
        self._town_start = (place_utility(replace(self.context, constants=None), self.moves), self.context.wage.copy())
        self._collect()

    # ------------------------------------------------------------------ set-up helpers
    @property
    def moves(self):
        return self.params.moves

    def _start_survival(self) -> np.ndarray:
        """Survivors to each age, both sexes, of the start year's life table (shapes the start population's old ages)."""
        d = self.params.demography
        e0 = demo.path_value(d.life_expectancy, self.start, d.life_expectancy_path, self.start, d.life_expectancy_gain)
        qx = demo.life_table(e0, d.gompertz_slope)
        return np.concatenate([[1.0], np.cumprod(1.0 - qx)])[:-1]

    def _apply_demography_params(self, year: int | None = None) -> None:
        """This year's life tables (both-sex life expectancy along its path, split by the sex gap) and fertility
        schedule (the TFR path, until a fertility lever sets the TFR)."""
        d, year = self.params.demography, self.start if year is None else year
        e0 = demo.path_value(d.life_expectancy, self.start, d.life_expectancy_path, year, d.life_expectancy_gain)
        e_male, e_female = demo.sex_life_expectancies(e0, d.life_expectancy_sex_gap, d.sex_ratio_at_birth)
        self.qx_male = demo.life_table(e_male, d.gompertz_slope)
        self.qx_female = demo.life_table(e_female, d.gompertz_slope)
        tfr = d.tfr if self._tfr_lever or not d.tfr_path else demo.path_value(d.tfr, self.start, d.tfr_path, year)
        self.asfr = demo.fertility_schedule(tfr, d.fertility_peak_age, d.fertility_spread)
        self.life_expectancy, self.tfr = e0, tfr

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
        if year > self.end:  # before anything changes: a refused step leaves the model as it was
            raise RuntimeError(f"the model ends in {self.end}; it cannot step to {year}")
        self._enter_year(year)
        # the counts the stages need (household sizes, workers, dwellings...) are kept by the population, not handed on
        self._demography()
        education.come_of_age(self.population, year, self.params.population, self.education_rng)
        minutes = self.transport.township_minutes(year)
        self._labour(year, minutes)
        occupied = self._housing(year)
        self._update_context(minutes, occupied)
        self._move()
        free = self._in_migration()
        self._convert_hukou()
        self._urbanise(free)
        # after in-migration, so newcomers have incomes in this year's indicators
        assign_incomes(self.population, self.market.tightness ** self.params.markets.wage_tightness_elasticity,
                       self.params.markets, self.np_rng)
        self._remember_vacancies()
        # dropping the dead and the departed costs a pass over every column: done once they are 5% of the rows
        pop = self.population
        if (~pop.p_alive).mean() > COMPACT_SHARE or (~pop.h_alive).mean() > COMPACT_SHARE:
            pop.compact()
        if self.registered_away is not None:
            f = self._year_flows
            self.registered_away = registration.next_away(
                self.registered_away, (f["births"] - f["deaths"]) / max(float(pop.age_counts().sum()), 1.0),
                self.params.hukou.transfer_out_rate, f["local_leavers"], f["local_returns"])
        self.year = year
        self._collect()
        if self.year >= self.end:
            self.running = False

    @property
    def space(self):
        """The townships in a mesa-geo ``GeoSpace`` (metric CRS), built on first use: the yearly step does not need
        it, so runs and batch workers never import mesa-geo.

        >>> model.space.get_neighbors(model.townships[0])      # doctest: +SKIP
        """
        if self._space is None:
            import mesa_geo as mg

            self._space = mg.GeoSpace(crs=self.region.config.crs.metric, warn_crs_conversion=False)
            self._space.add_agents(self.townships)
        return self._space

    def run(self) -> None:
        """Step until the end year."""
        while self.running and self.year < self.end:
            self.step()

    def _enter_year(self, year: int) -> None:
        self._year_flows = defaultdict(float)
        self._labour_flows = defaultdict(float)
        self._moves = np.zeros((self.n, 2))
        self._births_t = np.zeros(self.n)
        self._deaths_t = np.zeros(self.n)
        overrides = self.interventions.parameters.get(year)
        if overrides:
            self.params = self.params.with_overrides(overrides)
            self._tfr_lever = self._tfr_lever or "demography.tfr" in overrides
        self._apply_demography_params(year)
        if year in self.interventions.services:
            self.market.services = np.clip(self.market.services + self.interventions.services[year], 0.0, 1.0)

    def _demography(self) -> None:
        """The year's births, deaths and household changes."""
        pop, rng, d = self.population, self.np_rng, self.params.demography
        demo.age_one_year(pop)
        pop.h_years[pop.h_alive] += 1
        died = demo.deaths(pop, self.qx_male, self.qx_female, self.uniforms.draw(len(pop.p_age)))
        self._deaths_t = np.bincount(pop.township_of(died), minlength=self.n)
        born_hh = demo.births(pop, self.asfr, d.sex_ratio_at_birth, rng, d.births_to_partnered_share)
        self._births_t = np.bincount(pop.h_township[born_hh], minlength=self.n)
        demo.dissolve_empty(pop)  # before leaving home, so the dwellings of those who died are free
        # households form and split; every new household needs a vacant dwelling (sim.housing)
        # (one count of vacant dwellings serves the three: they only let dwellings, and take them off the count)
        free = self._free_dwellings()
        demo.leave_home(pop, d.leave_home_rate, d.leave_home_ages, rng, free)
        pairs = demo.form_partnerships(pop, d.partnership_rate, d.partnership_ages, rng, free)
        split = demo.separate(pop, d.separation_rate, rng, free)
        # children left without an adult (by deaths, or two siblings partnering at once) join kin
        demo.rehome_minors(pop, rng)
        demo.dissolve_empty(pop)
        self._year_flows["partnerships"] += float(len(pairs))
        self._year_flows["separations"] += float(len(split))
        self._year_flows["births"] = float(self._births_t.sum())
        self._year_flows["deaths"] = float(self._deaths_t.sum())

    # ------------------------------------------------------------------ labour (sim.labour)
    def _zone_minutes(self, year: int, transit: bool) -> np.ndarray:
        """(townships, labour zones) minutes from each seat to the nearest of a zone's nodes (its centre and stations)."""
        tr, out = self.transport, []
        for z in self.labour_zones:
            out.append(tr.minutes(year, tr.seat_nodes, [z.node, *z.stations], transit).min(axis=1))
        return np.stack(out, axis=1) if out else np.zeros((self.n, 0))

    def _set_commute(self, year: int) -> None:
        """This year's commute weights and minutes from every township to every workplace, by car and without
        (computed once per state of the network and commute parameters: most years change neither)."""
        lb, tr = self.params.labour, self.transport
        key = (tr.signature(year), lb.commute_decay_per_min, lb.commute_max_minutes)
        if key in self._commute_cache:
            self.commute_w, self.commute_min, self.in_reach = self._commute_cache[key]
            return
        car_t = np.hstack([tr.township_minutes(year), self._zone_minutes(year, False)])
        transit = self.region.config.routing.transit
        if transit is None:
            car, bus_t = 1.0, car_t
        else:
            car = transit.car_availability.value
            bus_t = np.hstack([tr.township_minutes(year, transit=True), self._zone_minutes(year, True)])
        self.commute_w = lab.commute_weights(car_t, bus_t, car, lb.commute_decay_per_min, lb.commute_max_minutes)
        self.commute_min = lab.composite_minutes(self.commute_w, lb.commute_decay_per_min)
        # share of each township's vacancies the zones' workers would take, before the fill rate
        self.in_reach = lab.in_commuter_reach(self.zone_jobs, self.commute_w[:, self.n:].T)
        self._commute_cache[key] = (self.commute_w, self.commute_min, self.in_reach)

    def _openings(self, years: float = 1.0) -> np.ndarray:
        """Jobs in the neighbouring zones open to the region's residents: a yearly flow (``years`` of it)."""
        return self.zone_jobs * self.scale * self.params.labour.external_openings_per_1000_jobs / 1000.0 * years

    def _vacancies(self, held: np.ndarray | None = None) -> np.ndarray:
        """(townships, 3) jobs not held by a resident or an in-commuter (``held``: residents working in each township
        and sector, if known; counted otherwise)."""
        mk = self.market
        held = lab.occupied(self.population, self.n_places)[:self.n] if held is None else held
        return mk.jobs - held - mk.in_commuters

    def _initial_jobs(self) -> None:
        """Place the start year's workers on the jobs by the same gravity matching as later years, until jobs or
        workers run out; the neighbouring zones take ``labour.out_commuter_share_start`` of the workers (split by the
        zones' openings). A share ``labour.unemployment_rate_start`` of the willing workers starts unemployed (between
        jobs). Vacancies left are filled by in-commuters as far as the zones reach; workers left over start unemployed
        too; jobs still unfilled beyond the normal vacancy rate are dropped from the (estimated) job table."""
        pop, lb, rng = self.population, self.params.labour, self.np_rng
        willing = np.flatnonzero(pop.p_alive & pop.p_employed)
        pop.p_employed[:] = False
        pop.p_sector[:] = -1
        # the start year's unemployed: a share of the willing workers is between jobs, as in any year
        between = willing[rng.random(len(willing)) < lb.unemployment_rate_start]
        pop.p_unemployed[between] = True
        willing = np.setdiff1d(willing, between, assume_unique=True)
        openings = self._openings()
        stock = openings / max(openings.sum(), 1e-300) * lb.out_commuter_share_start * len(willing)
        for _ in range(10):
            rest = willing[pop.p_work[willing] < 0]
            taken = lab.occupied(pop, self.n_places)[self.n:].sum(axis=1)
            n_p = len(pop.p_age)
            hired = lab.match(pop, rest, self._vacancies(), stock - taken, self.commute_w, rng.random(n_p), rng.random(n_p))
            if len(hired) == 0:
                break
        pop.p_unemployed[willing[pop.p_work[willing] < 0]] = True
        mk = self.market
        mk.in_commuters = np.maximum(self._vacancies(), 0.0) * self.in_reach[:, None]
        # The job table is an estimate; jobs that neither the start population nor in-commuters hold are not taken as
        # real, so the start year is not in a recruitment spike: each (township, sector) keeps at most the normal
        # vacancy rate. The jobs removed are reported (start_jobs_removed, full scale).
        filled = mk.jobs - self._vacancies()
        keep = np.minimum(mk.jobs, filled / (1.0 - lb.normal_vacancy_rate))
        self.start_jobs_removed = float((mk.jobs - keep).sum() / self.scale)
        mk.jobs = keep

    def _labour(self, year: int, minutes: np.ndarray) -> None:
        """The year's labour account: separations, job growth and layoffs, residents' job search, in-commuters,
        and the vacancies left for recruitment from outside (created in :meth:`_in_migration`)."""
        pop, mk, lb, rng = self.population, self.market, self.params.labour, self.np_rng
        n_p = len(pop.p_age)
        lost = lab.quit_jobs(pop, lb.separation_rate, lb.retirement_age, self.uniforms.draw(n_p))
        mk.in_commuters *= 1.0 - lb.separation_rate
        added = self.interventions.jobs.get(year)
        if added is not None:
            # tradable jobs that levers add bring local service jobs with them (the local multiplier)
            added = added + lab.local_service_jobs(added, persons_by_township(pop, self.n), lb.local_multiplier)
        mk.jobs = lab.grow_jobs(mk.jobs, self.params.markets.job_growth, mk.vacancy_memory, lb.normal_vacancy_rate,
                                lb.vacancy_feedback, None if added is None else added * self.scale)
        laid_off, held = lab.shed_excess(pop, mk.jobs, mk.in_commuters, self.uniforms.draw(n_p))
        self._set_commute(year)
        search = lab.seekers(pop, lb.search_rate_inactive, lb.search_rate_unemployed, lb.retirement_age,
                             self.uniforms.draw(n_p))
        vac = self._vacancies(held)
        # the one rule that needs two sets of draws at once takes them from two buffers
        hired = lab.match(pop, search, vac, self._openings(), self.commute_w, self.uniforms.draw(n_p),
                          self.uniforms.draw(n_p, 1))
        vac -= lab.hires_by_cell(pop, hired, self.n)
        in_hires = np.maximum(vac, 0.0) * lb.in_commute_fill_rate * self.in_reach[:, None]
        mk.in_commuters += in_hires
        vac -= in_hires
        mv = self.moves
        rate = np.clip(np.asarray(lb.recruit_rate) * np.exp(mv.beta_hukou * mv.hukou_openness), 0.0, 1.0)
        self._recruits = rng.binomial(np.floor(np.maximum(vac, 0.0) + 1e-9).astype(np.int64), rate[None, :])
        self._labour_flows.update(job_losses=float(lost.sum() + laid_off.sum()), hires=float(len(hired)))
        mk.tightness = self._tightness(minutes)
        self.access = self._accessibility(year, minutes)

    def _tightness(self, minutes: np.ndarray) -> np.ndarray:
        """Jobs within reach per resident of working age within reach, relative to the county (the wage index's base)."""
        able, workers = lab.labour_force_by_township(self.population, self.n, self.params.labour.retirement_age)
        return labour_tightness(minutes, self.market.total_jobs, np.maximum(able, workers), self.params.markets.commute_decay_per_min)

    def _remember_vacancies(self) -> None:
        """Smooth the unfilled share of jobs at the end of the year, for the job-growth feedback."""
        mk, a = self.market, self.params.labour.vacancy_memory_weight
        share = np.maximum(self._vacancies(), 0.0) / np.maximum(mk.jobs, 1e-9)
        mk.vacancy_memory = (1 - a) * mk.vacancy_memory + a * share

    def _accessibility(self, year: int, minutes: np.ndarray) -> np.ndarray:
        """Gravity job accessibility, neighbouring labour markets included, relative to this year's county mean.

        Relative each year: a place is attractive for being better placed than the others, so a link that helps
        every township alike changes no one's choice; what a link does for the county as a whole it does through the
        trips that exist (commutes kept or made possible, the distance of moves, arrivals recruited to jobs)."""
        m, tr = self.params.markets, self.transport
        zone_jobs = self.zone_jobs * self.scale

        def by(transit: bool, township_minutes: np.ndarray) -> np.ndarray:
            acc = gravity(township_minutes, self.market.total_jobs, m.commute_decay_per_min)
            if self.labour_zones:
                acc = acc + gravity(self._zone_minutes(year, transit), zone_jobs, m.commute_decay_per_min)
            return acc

        acc = by(False, minutes)
        transit = self.region.config.routing.transit
        if transit is not None:
            # a composite of travellers with and without a car, so rail and bus projects count too
            car = transit.car_availability.value
            acc = car * acc + (1 - car) * by(True, tr.township_minutes(year, transit=True))
        return acc / float(acc.mean())

    def _housing(self, year: int) -> np.ndarray:
        """Villages reclassified this year, then prices, construction, rural demolition and the units scenarios add
        (sim.housing); scenario units raise the part's capacity too (the plan rezones for them). Returns the occupied
        dwellings (townships x parts), which nothing here changes."""
        mk, hp, pop = self.market, self.params.housing, self.population
        share = self.interventions.reclassify.get(year)
        if share is not None:
            before = self.market.housing[:, 0].copy()
            rows = urb.reclassify(pop, mk.housing, share, self.uniforms.draw(len(pop.h_alive)))
            self.housing_capacity[:, 0] += mk.housing[:, 0] - before
            self.housing_capacity[:, 1] = np.maximum(self.housing_capacity[:, 1] - (mk.housing[:, 0] - before), mk.housing[:, 1])
            self._year_flows["reclassified"] += float(pop.h_size[rows].sum())
        occ = pop.occupied_dwellings(self.n)
        vac = vacancy(mk.housing, occ)
        target = hs.equilibrium_vacancy(self.start_vacancy, hp)
        mk.price = hs.update_prices(mk.price, vac, target, hp)
        built = hs.construction(mk.housing, mk.price, vac, target, self.housing_capacity, hp)
        removed = hs.demolition(mk.housing, occ, target, hp)
        mk.housing = mk.housing + built - removed
        added = self.interventions.housing.get(year)
        if added is not None:
            mk.housing += added * self.scale
            self.housing_capacity = np.maximum(self.housing_capacity + added * self.scale, mk.housing)
        self._year_flows["dwellings_built"] += float(built.sum() + (0.0 if added is None else added.sum() * self.scale))
        self._year_flows["dwellings_removed"] += float(removed.sum())
        return occ

    def _free_dwellings(self) -> np.ndarray:
        """(townships, 2) whole vacant dwellings per part that can be let right now (sim.housing.free_dwellings)."""
        stock = self.market.housing
        held = hs.held_vacant(stock, self.start_vacancy, self.params.housing)
        return hs.free_dwellings(stock, self.population.occupied_dwellings(self.n), held)

    def _update_context(self, minutes: np.ndarray | None = None, occupied: np.ndarray | None = None) -> None:
        """The move choice's view of the places this year (``occupied``: dwellings occupied now, the population's
        count if not given)."""
        if occupied is None:
            occupied = self.population.occupied_dwellings(self.n)
        if minutes is None:
            minutes = self.transport.township_minutes(self.year)
            self.access = self._accessibility(self.year, minutes)
        mk = self.market
        self.context = ChoiceContext(
            access=self.access, wage=mk.tightness ** self.params.markets.wage_tightness_elasticity,
            price=mk.price_level[:, None] * mk.price, services=mk.services,
            vacancy=vacancy(mk.housing, occupied),
            minutes=minutes, target_vacancy=hs.equilibrium_vacancy(self.start_vacancy, self.params.housing), size=mk.housing,
            commute=self.commute_min,
            constants=None if self.constants is None else self.constants * self.moves.constants_weight)

    def _move(self) -> None:
        """Households weigh moving and choose."""
        pop, rng, m = self.population, self.np_rng, self.moves
        size = pop.h_size  # nobody joins a household here; those who leave are counted before they go
        considering, choice = decide_moves(pop, self.context, m, rng)
        origin = pop.h_township[considering].astype(np.int64)
        leave = choice == 2 * self.n
        # Leavers go first and free their dwellings. A move to another township part needs a vacant dwelling there:
        # each round lets in as many as are vacant (a random queue) and the moves made free dwellings for the next
        # round; households still without one stay where they are. A dormitory household that chooses its own part
        # stays in the dormitory.
        lv = considering[leave]
        self._leave(lv, origin[leave], size[lv])
        own = origin * 2 + (~pop.h_urban[considering])
        seeking = np.flatnonzero(~leave & (choice != own))
        free = self._free_dwellings().reshape(-1)
        for _ in range(3):
            if len(seeking) == 0:
                break
            ok = hs.admit(choice[seeking], free, rng.random(len(seeking)))
            go, seeking = seeking[ok], seeking[~ok]
            rows = considering[go]
            # the dwellings taken, and those left behind (a dormitory household leaves none)
            left = own[go][pop.h_tenure[rows] != DORM]
            free += np.bincount(left, minlength=len(free)) - np.bincount(choice[go], minlength=len(free))
            dest_town = choice[go] // 2
            other = dest_town != origin[go]
            self._record_moves(origin[go][other], dest_town[other], size[rows[other]])
            pop.relocate(rows, dest_town, choice[go] % 2 == 0,
                         np.where(pop.h_tenure[rows] == DORM, RENTER, pop.h_tenure[rows]))
        self._year_flows["moves_blocked"] += float(len(seeking))

    def _leave(self, lv: np.ndarray, origin: np.ndarray, persons: np.ndarray) -> None:
        """Households ``lv`` (rows, with their townships and sizes) leave the county for the external zones, drawn by
        the zones' pull from the main centre."""
        pop, rng = self.population, self.np_rng
        centre = self._centre_node()
        zone_minutes = self.transport.minutes(self.year + 1, [centre], [z.node for z in self.zones])[0]
        zw = zone_shares(np.array([z.population for z in self.zones], float), zone_minutes, ZONE_DECAY_PER_MIN)
        zone = rng.choice(len(self.zones), size=len(lv), p=zw) if len(lv) else np.zeros(0, int)
        self._record_external(origin, zone, persons, outgoing=True)
        self._year_flows["local_leavers"] += float(persons[pop.h_local[lv]].sum())
        pop.remove_households(lv)
        self._zone_prob = zw

    def _in_migration(self) -> np.ndarray:
        """Recruits to this year's vacancies (with their households), then arrivals that are not labour-driven.
        Returns the vacant dwellings (townships x parts) after them."""
        pop, rng, m, mv = self.population, self.np_rng, self.params.migration, self.moves
        u = newcomer_place_utility(self.context, mv)
        cell = np.repeat(np.arange(self.n * 3), self._recruits.reshape(-1))
        home = home_probabilities(u, self.commute_min[:, :self.n] / 60.0, mv.beta_commute_per_hour)
        # arrivals choose among parts with a vacant dwelling; those who still find none do not come (turned_away)
        vacant = self._free_dwellings()
        free = vacant.reshape(-1)  # a view: arrivals take their dwellings off it
        home = home * (free > 0)[None, :]
        home /= np.maximum(home.sum(axis=1, keepdims=True), 1e-300)
        skills = education.Skills(self.year + 1, self.params.population)
        recruits, away_r = add_recruits(pop, cell // 3, cell % 3, home, self.market.housing, m, rng, skills, free)
        prob = np.exp(u.reshape(-1) - u.max()) * (free > 0)
        prob = prob / prob.sum() if prob.sum() > 0 else np.full(len(prob), 1.0 / len(prob))
        count = nonlabour_households(float(pop.p_alive.sum()), m, rng)
        migrants, away_m = add_migrants(pop, count, prob, m, rng, skills, free)
        talent, away_t = self._talent(prob, free)
        others = np.concatenate([migrants, talent])
        self._year_flows["turned_away"] += float(away_r + away_m + away_t)
        sizes = pop.h_size
        self._labour_flows["labour_arrivals"] += float(sizes[recruits].sum())
        self._labour_flows["recruits"] += float(len(recruits))
        self._labour_flows["nonlabour_arrivals"] += float(sizes[others].sum())
        rows = np.concatenate([recruits, others])
        # local-hukou arrivals come back to the region's registered population; a programme's registrations are new
        back = np.concatenate([recruits, migrants])
        self._year_flows["local_returns"] += float(sizes[back][pop.h_local[back]].sum())
        zone = rng.choice(len(self.zones), size=len(rows), p=self._zone_prob) if len(rows) else np.zeros(0, int)
        self._record_external(pop.h_township[rows].astype(np.int64), zone, sizes[rows], outgoing=False)
        return vacant

    def _centre_node(self) -> str:
        if "main_centre" in self.groups:
            return self.region.seat_node(self.codes[self.groups["main_centre"][0]])
        return self.transport.seat_nodes[0]

    def _talent(self, place_prob: np.ndarray, free: np.ndarray) -> tuple[np.ndarray, int]:
        """Arrivals of this year's in-migration programmes (``talent`` levers): one-person households, who need a
        vacant dwelling like other arrivals (``free``, flattened township parts, reduced in place by those let).
        Returns their rows and how many found none."""
        pop, rng, out, turned_away = self.population, self.np_rng, [], 0
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
            skills = education.Skills(self.year + 1, self.params.population, only=flow.skill)
            rows, away = add_migrants(pop, count, prob, profile, rng, skills, free)
            out.append(rows)
            turned_away += away
        return (np.concatenate(out) if out else np.zeros(0, np.int64)), turned_away

    def _convert_hukou(self) -> None:
        """Migrant households registering local hukou (sim.hukou); persons converted are reported."""
        pop = self.population
        rows = hukou.convert(pop, self.moves.hukou_openness, self.params.hukou, self.uniforms.draw(len(pop.h_alive)))
        self._year_flows["hukou_conversions"] += float(pop.h_size[rows].sum())

    def _urbanise(self, free: np.ndarray) -> None:
        """Rural households seeking an urban dwelling in their own township (sim.urbanisation), at a rate that follows
        the town's advantage and wages since the start; only as many move as urban dwellings are vacant (``free``,
        townships x parts)."""
        pop, rng, ctx = self.population, self.np_rng, self.context
        u_place = place_utility(replace(ctx, constants=None), self.moves)
        pull = urb.town_pull(u_place, self._town_start[0], ctx.wage, self._town_start[1], self.moves.beta_wage)
        rate = urb.urbanisation_rate(self.params.urbanisation.rural_to_urban_rate, pull, self.params.urbanisation.response)
        seekers = urb.town_seekers(pop, rate, self.uniforms.draw(len(pop.h_alive)))
        in_stock = pop.h_tenure[seekers] != DORM
        ok = np.ones(len(seekers), bool)
        ok[in_stock] = hs.admit(pop.h_township[seekers[in_stock]].astype(np.int64) * 2,
                                free, rng.random(int(in_stock.sum())))
        pop.relocate(seekers[ok], urban=True)
        self._year_flows["to_town"] += float(pop.h_size[seekers[ok]].sum())

    # ------------------------------------------------------------------ bookkeeping
    def _record_moves(self, origin: np.ndarray, dest: np.ndarray, persons: np.ndarray) -> None:
        # bincount, not np.add.at into a column (a strided view: its slow path); the sums are whole persons, exact
        self._moves[:, 0] += np.bincount(dest, weights=persons, minlength=self.n)
        self._moves[:, 1] += np.bincount(origin, weights=persons, minlength=self.n)
        if len(origin):
            key = origin * self.n + dest
            hh = np.bincount(key, minlength=self.n * self.n)
            ps = np.bincount(key, weights=persons, minlength=self.n * self.n)
            for k in np.flatnonzero(hh):
                self.flows.append({"year": self.year + 1, "origin": self.codes[k // self.n], "destination": self.codes[k % self.n],
                                   "households": hh[k] / self.scale, "persons": ps[k] / self.scale})

    def _record_external(self, town: np.ndarray, zone: np.ndarray, persons: np.ndarray, outgoing: bool) -> None:
        col = 1 if outgoing else 0
        self._moves[:, col] += np.bincount(town, weights=persons, minlength=self.n)
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

    def _record_commuting(self, commute: np.ndarray) -> None:
        """This year's commuting matrix as rows (home, workplace, persons), in-commuters from the zones included
        (split over the zones by their jobs and commute weight)."""
        year, ids = self.year, self.workplace_ids
        for i, j in zip(*np.nonzero(commute)):
            self.commuting.append({"year": year, "home": self.codes[i], "workplace": ids[j], "persons": commute[i, j] / self.scale})
        if self.labour_zones:
            pull = self.zone_jobs[None, :] * self.commute_w[:, self.n:]  # (townships, zones)
            share = pull / np.maximum(pull.sum(axis=1, keepdims=True), 1e-300)
            flows = self.market.in_commuters.sum(axis=1)[:, None] * share
            for j, k in zip(*np.nonzero(flows > 0)):
                self.commuting.append({"year": year, "home": self.labour_zones[k].id, "workplace": self.codes[j],
                                       "persons": flows[j, k] / self.scale})

    def _collect(self) -> None:
        """The year's indicators and township records."""
        pop, mk = self.population, self.market
        size = pop.h_size
        by_part, hh_part, in_stock = pop.counts_by_place(self.n)  # kept by the population, no pass over the rows
        persons, urban = by_part.sum(axis=1), by_part[:, 0]
        # two passes over the person rows that read and write nothing in common: at the same time (sim.parallel)
        hh_income, (commute, ages) = both(pop.household_income,  # commute: home township x workplace
                                          lambda: residents_by_work_and_age(pop, self.n, self.n_places))
        self.current = county_indicators(pop, self.groups, self.n, self.scale, self._year_flows, persons, urban, hh_income,
                                         size, registered_away=self.registered_away)
        self.current.update(labour_indicators(pop, mk.jobs, mk.in_commuters, self.n, self.scale,
                                              self.params.labour.retirement_age, self._labour_flows, commute))
        self.current.update(housing_indicators(mk.housing, in_stock, mk.price, self.scale, self._year_flows))
        self._record_commuting(commute)
        work_here = commute[:, :self.n].sum(axis=0) + mk.in_commuters.sum(axis=1)
        vac = vacancy(mk.housing.sum(axis=1, keepdims=True), in_stock.sum(axis=1, keepdims=True))[:, 0]
        part_vac = vacancy(mk.housing, in_stock)
        # over every row: a household that is gone has no living members, so its income is 0 and adds nothing
        income = np.bincount(pop.h_township, weights=hh_income, minlength=self.n)
        hh_price = (mk.price * np.maximum(hh_part, 1e-9)).sum(axis=1) / np.maximum(hh_part.sum(axis=1), 1e-9)
        for i, t in enumerate(self.townships):
            rec = {"year": self.year, "township": t.code, "population": persons[i] / self.scale,
                   "households": hh_part[i].sum() / self.scale, "urban_population": urban[i] / self.scale,
                   "jobs": mk.total_jobs[i] / self.scale, "housing_units": mk.housing[i].sum() / self.scale,
                   "vacancy": float(vac[i]), "price_index": float(hh_price[i]),
                   "dwellings_urban": mk.housing[i, 0] / self.scale, "dwellings_rural": mk.housing[i, 1] / self.scale,
                   "vacancy_urban": float(part_vac[i, 0]), "vacancy_rural": float(part_vac[i, 1]),
                   "price_urban": float(mk.price[i, 0]), "price_rural": float(mk.price[i, 1]),
                   "mean_household_income": float(income[i] / max(hh_part[i].sum(), 1)), "accessibility": float(self.access[i]),
                   "births": self._births_t[i] / self.scale if self.year > self.start else 0.0,
                   "deaths": self._deaths_t[i] / self.scale if self.year > self.start else 0.0,
                   "in_moves": self._moves[i, 0] / self.scale, "out_moves": self._moves[i, 1] / self.scale,
                   "employed_residents": commute[i].sum() / self.scale, "workers": work_here[i] / self.scale,
                   "job_vacancies": max(mk.total_jobs[i] - work_here[i], 0.0) / self.scale,
                   "in_commuters": (work_here[i] - commute[i, i]) / self.scale,
                   "in_commuters_external": mk.in_commuters[i].sum() / self.scale,
                   "out_commuters": (commute[i].sum() - commute[i, i]) / self.scale,
                   "out_commuters_external": commute[i, self.n:].sum() / self.scale,
                   **{col: ages[i, b] / self.scale for b, col in enumerate(AGE_BAND_COLUMNS)}}
            self.township_records.append(rec)
            t.population, t.urban_population, t.households = rec["population"], rec["urban_population"], rec["households"]
            t.jobs, t.housing_units, t.vacancy = rec["jobs"], rec["housing_units"], rec["vacancy"]
            t.price_index, t.accessibility = rec["price_index"], rec["accessibility"]
            t.net_migration = rec["in_moves"] - rec["out_moves"]
            t.employed_residents, t.workers, t.job_vacancies = rec["employed_residents"], rec["workers"], rec["job_vacancies"]
            t.in_commuters, t.out_commuters = rec["in_commuters"], rec["out_commuters"]
            t.aged0_14, t.aged15_59, t.aged60 = (rec[c] for c in AGE_BAND_COLUMNS)
        self.datacollector.collect(self)
