"""The labour account: stock-consistent matching, commuting, recruitment, and jobs that bring people."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from geo.region import load_region
from sim import labour as lab
from sim.model import Interventions, MigrationModel
from sim.population import Population
from workflow.runner import simulate


def tiny_population(homes: list[int], ages: list[int] | None = None) -> Population:
    """One person per household, living in the given township indices, nobody working."""
    k = len(homes)
    ages = ages or [30] * k
    z = lambda dt, v=0: np.full(k, v, dt)
    return Population(p_age=np.array(ages, np.int16), p_female=z(bool), p_hh=np.arange(k, dtype=np.int32), p_skill=z(np.int8),
                      p_employed=z(bool), p_sector=z(np.int8, -1), p_work=z(np.int16, -1), p_unemployed=z(bool),
                      p_alive=z(bool, True), p_wage_factor=z(np.float32, 1.0), p_income=z(np.float32),
                      h_township=np.array(homes, np.int16), h_urban=z(bool, True), h_local=z(bool, True), h_tenure=z(np.int8),
                      h_alive=z(bool, True))


def test_match_never_hires_more_than_the_vacancies_and_prefers_near_jobs():
    rng = np.random.default_rng(0)
    pop = tiny_population([0] * 600 + [1] * 400)
    vacancies = np.array([[0.0, 150.0, 100.0], [0.0, 50.4, 0.0]])   # 300.4 jobs for 1000 seekers
    openings = np.array([40.0])                                        # one neighbouring zone
    weights = np.array([[1.0, 0.05, 0.2], [0.05, 1.0, 0.2]])
    hired = lab.match(pop, np.arange(1000), vacancies, openings, weights, rng.random(1000), rng.random(1000))
    occ = lab.occupied(pop, 3)
    assert (occ[:2] <= np.floor(vacancies) + 1e-9).all() and occ[2].sum() <= 40
    assert len(hired) == occ.sum() > 300                      # nearly every job is taken
    assert (pop.p_employed == (pop.p_work >= 0)).all() and (pop.p_sector[pop.p_employed] >= 0).all()
    # township 0's jobs go mostly to township 0's residents
    home0 = pop.h_township[pop.p_hh] == 0
    assert ((pop.p_work == 0) & home0).sum() > 0.8 * (pop.p_work == 0).sum()


def test_shed_excess_lays_off_in_commuters_first_then_residents():
    pop = tiny_population([0] * 10)
    pop.start_work(np.arange(10), np.zeros(10, np.int16), np.ones(10, np.int8))
    jobs = np.array([[0.0, 7.0, 0.0]])
    inc = np.array([[0.0, 2.0, 0.0]])
    laid, held = lab.shed_excess(pop, jobs, inc, np.random.default_rng(1).random(10))
    assert inc[0, 1] == 0.0 and laid.sum() == 3 and pop.p_unemployed.sum() == 3
    assert lab.occupied(pop, 1)[0, 1] + inc[0, 1] <= jobs[0, 1]
    assert (held == lab.occupied(pop, 1)).all()  # the count handed on is the count after the layoffs


@pytest.fixture(scope="module")
def py_run(pingyang):
    m = MigrationModel(pingyang, scale=0.02, seed=3, end=2026)
    states = []
    for _ in range(6):
        m.step()
        pop = m.population
        states.append((lab.occupied(pop, m.n_places)[:m.n] + m.market.in_commuters, m.market.jobs.copy(),
                       pop.p_employed[pop.p_alive].copy(), pop.p_work[pop.p_alive].copy(), dict(m.current)))
    return m, states


def test_labour_invariants_every_year(py_run):
    m, states = py_run
    for filled, jobs, employed, work, current in states:
        assert (filled <= jobs + 1e-6).all()                               # persons working in j <= jobs in j
        assert (employed == (work >= 0)).all()                              # every employed person has a workplace
        assert current["unfilled_jobs"] >= 0 and current["employed"] > 0
    c = pd.DataFrame(m.commuting)
    county = pd.DataFrame(m.datacollector.get_model_vars_dataframe()).set_index("year")
    for year, rows in c.groupby("year"):
        residents = rows[rows.home.isin(m.codes)].persons.sum()
        assert residents == pytest.approx(county.loc[year, "employed"], rel=1e-9)  # commuting sums to employment
        external = rows[~rows.home.isin(m.codes)].persons.sum()
        assert external == pytest.approx(county.loc[year, "in_commuters_external"], rel=1e-6)


def test_baseline_has_no_phantom_vacancies(py_run):
    _, states = py_run
    assert all(s[4]["unfilled_rate"] < 0.05 for s in states)


def test_township_table_has_the_labour_columns(toy):
    r = simulate(toy, "baseline", end=2022, seed=1)
    t = r.townships[r.townships.year == 2022]
    for col in ("jobs", "employed_residents", "workers", "job_vacancies", "in_commuters", "out_commuters"):
        assert col in t and (t[col] >= 0).all(), col
    assert (t.workers <= t.jobs + 1e-6).all()
    # every worker in a township lives there or commutes in
    assert t.workers.sum() == pytest.approx(t.employed_residents.sum() - t.out_commuters_external.sum() + t.in_commuters_external.sum())
    for col in ("employment_rate", "unfilled_jobs", "labour_arrivals", "nonlabour_arrivals"):
        assert col in r.county
    assert set(r.commuting.columns) == {"year", "home", "workplace", "persons"}


def shed_population(region, host: str, added: float, seeds, scale: float = 1.0, end: int = 2028) -> tuple[list[float], list[str]]:
    """Paired-seed difference in residents of the host's commute shed (the host and townships within 30 min by car)."""
    h = region.codes.index(host)
    jobs = {y: np.zeros((len(region.codes), 3)) for y in (2021, 2022, 2023)}
    for y in jobs:
        jobs[y][h, 1] = added / 3
    diffs, shed = [], None
    for seed in seeds:
        pops = []
        for iv in (Interventions(), Interventions(jobs=jobs)):
            m = MigrationModel(region, scale=scale, seed=seed, end=end, interventions=iv)
            m.run()
            car = m.transport.township_minutes(2021)[:, h]
            shed = [c for i, c in enumerate(m.codes) if car[i] <= 30]
            recs = pd.DataFrame(m.township_records)
            pops.append(recs[(recs.year == end) & recs.township.isin(shed)].population.sum())
        diffs.append(pops[1] - pops[0])
    return diffs, shed


def test_added_jobs_bring_residents_to_the_commute_shed_and_removed_jobs_take_them(toy):
    region = load_region(toy)
    seeds = range(1, 7)
    gain, shed = shed_population(region, "C", 600, seeds)
    assert "C" in shed and "A" not in shed
    assert np.mean(gain) / 600 > 0.3, gain
    loss, _ = shed_population(region, "C", -600, seeds)
    assert np.mean(loss) < 0, loss


def test_neighbouring_labour_market_takes_out_commuters_and_sends_in_commuters(toy):
    cfg = yaml.safe_load((toy / "region.yaml").read_text(encoding="utf-8"))
    cfg["external_zones"][0]["labour_market"] = True
    (toy / "region.yaml").write_text(yaml.safe_dump(cfg, allow_unicode=True, sort_keys=False), encoding="utf-8")
    r = simulate(toy, "baseline", end=2023, seed=2)
    c = r.county.set_index("year")
    assert (c.out_commuters_external > 0).all() and (c.loc[2021:, "in_commuters_external"] >= 0).all()
    assert "city" in set(r.commuting.workplace)
    # the station side of the county (A, 2 km from the rail station to the city) sends the most out-commuters
    t = r.townships[r.townships.year == 2023].set_index("township")
    share = t.out_commuters_external / t.employed_residents
    assert share["A"] > share["C"]


def test_levers_acting_after_the_end_change_nothing(toy):
    """A scenario whose levers all act after the run's last year gives byte-identical results to the baseline."""
    from geo.region import Edge

    region = load_region(toy)
    later = Interventions(jobs={2026: np.ones((3, 3)) * 500}, housing={2027: np.ones((3, 2)) * 100},
                          parameters={2026: {"moves.hukou_openness": 1.0}}, services={2026: np.full(3, 0.3)},
                          edges=[Edge.model_validate({"id": "late", "from": "C", "to": "X", "mode": "motorway",
                                                      "length_km": 30, "speed_kmh": 120, "open_year": 2026})])
    runs = []
    for iv in (Interventions(), later):
        m = MigrationModel(region, scale=1.0, seed=4, end=2025, interventions=iv)
        m.run()
        runs.append((m.datacollector.get_model_vars_dataframe().to_csv(), pd.DataFrame(m.township_records).to_csv(),
                     pd.DataFrame(m.commuting).to_csv(), pd.DataFrame(m.flows).to_csv()))
    assert runs[0] == runs[1]


def test_step_refuses_to_pass_the_end_year(toy):
    m = MigrationModel(load_region(toy), seed=1, end=2021)
    m.step()
    with pytest.raises(RuntimeError, match="ends in 2021"):
        m.step()


def test_hsr_station_cuts_rail_times_from_its_township_to_the_outside(pingyang):
    """The 温福高铁 station at 鳌江 (scenario wenfu_hsr) shortens trips without a car from 鳌江 and its catchment to
    Wenzhou and Fujian from 2026, not before, and lengthens none."""
    from pathlib import Path

    from workflow.scenarios import build_interventions, load_scenario

    folder = Path("configs/pingyang")
    models = {}
    for name in ("baseline", "wenfu_hsr"):
        iv = build_interventions(pingyang, load_scenario(folder, name), 2020, 2035)
        models[name] = MigrationModel(pingyang, scale=0.002, seed=1, end=2021, interventions=iv)
    base, hsr = models["baseline"], models["wenfu_hsr"]
    zones = [z.id for z in base.labour_zones]
    aj, wz = base.codes.index("330326101"), zones.index("wenzhou_city")
    for year in (2025, 2026):
        b, h = base._zone_minutes(year, transit=True), hsr._zone_minutes(year, transit=True)
        assert (h <= b + 1e-9).all()
        if year == 2025:
            assert np.allclose(b, h)
        else:
            assert b[aj, wz] - h[aj, wz] > 5
    fj = lambda m: m.transport.minutes(2026, m.transport.seat_nodes, ["FUJIAN"], transit=True)[aj, 0]
    assert fj(base) - fj(hsr) > 10


def test_local_multiplier_adds_service_jobs_for_lever_jobs_only(toy):
    """Factory jobs a lever adds bring service jobs (the local multiplier), spread by residents; the baseline, which has
    no lever jobs, is the same whatever the multiplier; and jobs never exceed what was there plus what was added."""
    from sim.params import Params

    region = load_region(toy)
    h = region.codes.index("C")
    jobs = {2021: np.zeros((len(region.codes), 3))}
    jobs[2021][h, 1] = 600.0

    def run(multiplier: float, iv: Interventions) -> MigrationModel:
        p = Params().with_overrides({"labour.local_multiplier": multiplier})
        m = MigrationModel(region, params=p, scale=1.0, seed=5, end=2021, interventions=iv)
        m.run()
        return m

    none, one = run(0.0, Interventions()), run(1.0, Interventions())
    assert np.array_equal(none.market.jobs, one.market.jobs)            # no lever jobs: the multiplier does nothing
    plain, induced = run(0.0, Interventions(jobs=jobs)), run(1.0, Interventions(jobs=jobs))
    extra = induced.market.jobs.sum(axis=0) - plain.market.jobs.sum(axis=0)
    assert extra[2] == pytest.approx(600.0, rel=0.15)                   # one service job per factory job, in year one
    assert abs(extra[1]) < 60                                            # the factory jobs themselves as without it
    assert (induced.market.jobs[:, 2] > plain.market.jobs[:, 2]).sum() >= 2   # spread over townships, not the host only


def test_labour_force_by_township_equals_a_count_per_person():
    """The one-pass count of working-age residents and workers by home township, dead rows (who keep their last
    job's flag until compaction) included, against a plain loop over the persons."""
    rng = np.random.default_rng(3)
    from types import SimpleNamespace as NS
    n_hh, n_p, n = 50, 400, 7
    pop = NS(p_age=rng.integers(0, 100, n_p).astype(np.int16), p_hh=rng.integers(0, n_hh, n_p),
             p_alive=rng.random(n_p) < 0.9, p_employed=rng.random(n_p) < 0.5,
             h_township=rng.integers(0, n, n_hh).astype(np.int16))
    able, workers = lab.labour_force_by_township(pop, n, retirement_age=60)
    want_able, want_workers = np.zeros(n), np.zeros(n)
    for i in range(n_p):
        if pop.p_alive[i]:
            t = pop.h_township[pop.p_hh[i]]
            want_able[t] += 16 <= pop.p_age[i] < 60
            want_workers[t] += pop.p_employed[i]
    assert (~pop.p_alive & pop.p_employed).any()  # the case the count must leave out
    assert able.tolist() == want_able.tolist() and workers.tolist() == want_workers.tolist()


def test_a_township_without_jobs_has_residents_working_elsewhere(toy):
    """A township whose economy row has no jobs (a dormitory suburb, or a new region's placeholder): its employed
    residents take the region's sector mix at the start (no NaN shares) and work in other townships."""
    import warnings

    e = pd.read_csv(toy / "economy.csv", dtype={"code": str})
    e.loc[0, ["jobs_primary", "jobs_secondary", "jobs_tertiary"]] = 0
    e.to_csv(toy / "economy.csv", index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        m = MigrationModel(toy, scale=1.0, seed=2, end=2022)
        m.step()
    pop = m.population
    home = m.codes.index(e.code[0])
    here = pop.p_alive & (pop.h_township[pop.p_hh] == home) & pop.p_employed
    assert here.any() and (pop.p_work[here] != home).all()
    assert len(set(pop.p_sector[here].tolist())) > 1  # the region's mix, not all in one sector
