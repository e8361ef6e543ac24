"""Education: the start population's attainment is the census's, cohorts coming of age carry the fitted trend on,
skills are settled once, the indicator counts what it says, and the talent lever moves it."""

from pathlib import Path

import numpy as np
import pytest

from sim import education
from sim.education import HIGH, Census, expected_shares, fit_education, higher_education_chance
from sim.model import MigrationModel
from sim.params import Population as PopulationParams
from workflow.io import load_params

ROOT = Path(__file__).resolve().parents[1]
PINGYANG = ROOT / "configs" / "pingyang"


def counts_by_hukou_and_age(pop) -> np.ndarray:
    alive = np.flatnonzero(pop.p_alive)
    c = np.zeros((2, 111))
    np.add.at(c, (pop.h_local[pop.p_hh[alive]].astype(int), pop.p_age[alive].astype(int)), 1)
    return c


@pytest.fixture(scope="module")
def params():
    return load_params(PINGYANG)


@pytest.fixture(scope="module")
def start_2020(pingyang, params):
    return MigrationModel(pingyang, params=params, scale=0.1, seed=42, end=2021)


def test_start_population_has_the_census_attainment(pingyang, start_2020):
    census = pingyang.config.census[2020]
    got_all, got_main = start_2020.current["higher_education_share"], start_2020.current["higher_education_20_59"]
    # 86,000 residents at scale 0.1: a binomial share of about 0.1 has a standard error of 0.001
    assert got_all == pytest.approx(census["university_per_100k"].value / 1e5, abs=0.004)
    assert got_main == pytest.approx(census["higher_education_20_59_share"].value, abs=0.005)
    pop = start_2020.population
    assert not np.any(pop.p_skill[pop.p_age < start_2020.params.population.education_age]), "children have no skill yet"


def test_stored_cohort_profile_is_the_fit(pingyang, params, start_2020):
    """params.yaml says the level and trend are fitted to the 2020 census over the start population: refit them."""
    census = pingyang.config.census[2020]
    fact = Census(2020, counts_by_hukou_and_age(start_2020.population), census["university_per_100k"].value / 1e5,
                  census["higher_education_20_59_share"].value)
    fitted, miss = fit_education([fact], params.population)
    assert max(abs(v) for v in miss.values()) < 1e-4
    # the stored fit was made at full scale; this one at 0.1 differs by the sampling of who is a migrant
    assert fitted.higher_education_1995 == pytest.approx(params.population.higher_education_1995, abs=0.005)
    assert fitted.higher_education_trend == pytest.approx(params.population.higher_education_trend, abs=0.0003)


def test_fit_reports_what_one_line_cannot_hold():
    """Three facts and two values: the misses are returned, not hidden."""
    c = np.ones((2, 90))
    truth = PopulationParams(higher_education_1995=0.3, higher_education_trend=0.01)
    early, late = expected_shares(c, 2010, truth), expected_shares(c, 2020, truth)
    _, exact = fit_education([Census(2010, c, early[0]), Census(2020, c, *late)], PopulationParams())
    assert max(abs(v) for v in exact.values()) < 1e-6
    _, off = fit_education([Census(2010, c, early[0] - 0.03), Census(2020, c, *late)], PopulationParams())
    assert set(off) == {"share_all_2010", "share_all_2020", "share_20_59_2020"}
    assert max(abs(v) for v in off.values()) > 0.005


def test_cohorts_coming_of_age_follow_the_line(params):
    """Over many persons, the share reaching higher education is the cohort's chance, by hukou."""
    p = params.population
    n = 200_000
    rng = np.random.default_rng(7)
    for year in (2025, 2035):
        for local in (True, False):
            skills = education.skills_from_draws(rng.random(n), np.full(n, p.education_age), np.full(n, local), year, p)
            want = higher_education_chance(np.array([year - p.education_age]), np.array([local]), p)[0]
            assert (skills == HIGH).mean() == pytest.approx(want, abs=4 * np.sqrt(want * (1 - want) / n))
    later = higher_education_chance(np.array([2017]), np.array([True]), p)[0]
    assert later > higher_education_chance(np.array([1995]), np.array([True]), p)[0], "the fitted trend rises"


def test_skills_are_settled_once_and_only_at_the_education_age(pingyang, params):
    m = MigrationModel(pingyang, params=params, scale=0.02, seed=3, end=2024)
    age = params.population.education_age
    for _ in range(4):
        pop = m.population
        before = pop.p_skill.copy()
        rows = education.come_of_age(pop, m.year + 1, params.population, np.random.default_rng(m.year))
        changed = np.flatnonzero(before != pop.p_skill)
        assert set(changed) <= set(rows.tolist())
        assert np.all(pop.p_age[rows] == age) and np.all(pop.p_alive[rows])
        m.step()
        pop = m.population
        assert not np.any(pop.p_skill[pop.p_alive & (pop.p_age < age)]), "nobody under the education age has a skill"


def test_indicator_counts_residents_aged_20_59_with_higher_education(pingyang, params):
    m = MigrationModel(pingyang, params=params, scale=0.02, seed=4, end=2023)
    m.run()
    pop = m.population
    alive = pop.p_alive
    main = alive & (pop.p_age >= 20) & (pop.p_age <= 59)
    assert m.current["higher_education_20_59"] == pytest.approx((main & (pop.p_skill == HIGH)).sum() / main.sum())
    assert m.current["higher_education_share"] == pytest.approx((alive & (pop.p_skill == HIGH)).sum() / alive.sum())
    county = m.datacollector.get_model_vars_dataframe()
    # younger cohorts are better educated than the older ones they replace: the share rises year by year
    assert county.higher_education_20_59.is_monotonic_increasing


def test_education_draws_leave_every_other_decision_alone(pingyang, params):
    """The education rule draws from a stream of its own: other attainment gives the same moves, births and deaths."""
    runs = []
    for level in (params.population.higher_education_1995, 0.05):
        p = params.with_overrides({"population.higher_education_1995": level})
        m = MigrationModel(pingyang, params=p, scale=0.02, seed=8, end=2024)
        m.run()
        runs.append(m.datacollector.get_model_vars_dataframe())
    same = ["population", "births", "deaths", "in_migrants", "out_migrants", "primacy", "urbanisation"]
    assert runs[0][same].equals(runs[1][same])
    assert (runs[1].higher_education_20_59 < runs[0].higher_education_20_59 - 0.05).all()


def test_talent_programme_raises_the_working_age_attainment(pingyang, params):
    from workflow.runner import simulate

    diffs = []
    for seed in (1, 2):  # paired seeds
        base = simulate(PINGYANG, "baseline", end=2035, scale=0.02, seed=seed, region=pingyang, params=params).county
        talent = simulate(PINGYANG, "talent", end=2035, scale=0.02, seed=seed, region=pingyang, params=params).county
        diffs.append(talent.higher_education_20_59.iloc[-1] - base.higher_education_20_59.iloc[-1])
    # 3,000 additional graduates a year from 2022, in about 550,000 residents aged 20-59: several points by 2035
    assert min(diffs) > 0.02, diffs
