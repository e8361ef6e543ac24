"""Demography: mortality along its path, births along the TFR path, partnerships and households."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import PINGYANG
from sim import demography as demo
from sim.model import MigrationModel
from workflow.runner import simulate


def check_households(pop) -> None:
    """Partners are symmetric, alive, of the other sex, adult and in the same household; every household has an adult."""
    alive = np.flatnonzero(pop.p_alive)
    partnered = alive[pop.p_partner[alive] >= 0]
    other = pop.p_partner[partnered]
    assert (pop.p_partner[other] == partnered).all()
    assert pop.p_alive[other].all()
    assert (pop.p_female[other] != pop.p_female[partnered]).all()
    assert (pop.p_hh[other] == pop.p_hh[partnered]).all()
    assert (pop.p_age[partnered] >= 16).all()
    assert (pop.head_age()[pop.h_alive] >= 16).all()


def test_a_synthesised_population_starts_with_its_kept_household_counts_right(toy):
    """synthesise hands Population each household's size, adults and oldest age read off its block of members; they
    equal a recount over the scattered rows, with the dtypes Population's own counts have."""
    pop = MigrationModel(toy, scale=1.0, seed=3).population
    alive = np.flatnonzero(pop.p_alive)
    n_h = len(pop.h_alive)
    assert pop.h_size.tolist() == np.bincount(pop.p_hh[alive], minlength=n_h).tolist()
    adults = alive[pop.p_age[alive] >= 16]
    assert pop.h_adults.tolist() == np.bincount(pop.p_hh[adults], minlength=n_h).tolist()
    oldest = np.full(n_h, -1, np.int16)
    np.maximum.at(oldest, pop.p_hh[alive], pop.p_age[alive])
    assert pop.h_head.tolist() == oldest.tolist()
    assert (pop.h_size.dtype, pop.h_adults.dtype, pop.h_head.dtype) == (np.intp, np.intp, np.int16)


def test_partners_and_households_stay_consistent(toy):
    m = MigrationModel(toy, scale=1.0, seed=8, end=2030)
    check_households(m.population)
    start_share = m.current["partnered_share"]
    assert 0.4 < start_share < 0.8
    formed = separated = 0.0
    while m.running:
        m.step()
        check_households(m.population)
        formed += m.current["partnerships"]
        separated += m.current["separations"]
    assert formed > separated > 0  # couples form and split, and more form


def test_births_keep_the_tfr_whoever_is_partnered():
    rng = np.random.default_rng(1)
    asfr = demo.fertility_schedule(1.3, 29, 5.5)
    share = rng.uniform(0.2, 0.9, len(asfr))  # (where a share is near 0 or 1 a rate reaches its cap of 1)
    women = rng.integers(0, 1000, len(asfr))
    p, u = demo.birth_rates(asfr, share, 0.95)
    expected = (women * (share * p + (1 - share) * u)).sum()
    assert expected == pytest.approx((women * asfr).sum(), rel=1e-9)
    partnered = (women * share * p).sum() / expected
    assert partnered == pytest.approx(0.95, abs=1e-9)


def test_life_expectancy_and_tfr_follow_their_paths(toy):
    over = {"demography.life_expectancy": 80.0}
    m = MigrationModel(toy, scale=0.2, seed=1, end=2030, parameters=over)
    m.params = m.params.model_copy(update={"demography": m.params.demography.model_copy(update={
        "life_expectancy_path": ((2020, 80.0), (2025, 82.0)), "life_expectancy_gain": 0.1,
        "tfr_path": ((2020, 1.3), (2025, 2.0))})})
    seen = {}
    while m.running:
        m.step()
        seen[m.year] = (m.life_expectancy, m.tfr, demo.life_expectancy(m.qx_male), demo.life_expectancy(m.qx_female))
    assert seen[2023][0] == pytest.approx(81.2) and seen[2025][0] == pytest.approx(82.0) and seen[2030][0] == pytest.approx(82.5)
    assert seen[2021][1] == pytest.approx(1.3 + 0.7 * 0.2) and seen[2030][1] == pytest.approx(2.0)
    e0, _, male, female = seen[2030]
    assert female - male == pytest.approx(5.51, abs=0.01) and male < e0 < female


def test_a_fertility_lever_replaces_the_tfr_path(toy):
    from toy import write_scenario

    write_scenario(toy, "tfr", [{"type": "fertility", "tfr": 0.5, "year": 2022}])
    low = simulate(toy, "tfr", end=2026, seed=2, overrides={}).county.set_index("year")
    base = simulate(toy, "baseline", end=2026, seed=2).county.set_index("year")
    assert low.births.loc[2023:].sum() < 0.6 * base.births.loc[2023:].sum()


def test_no_death_spike_in_the_first_year():
    deaths = np.array([simulate(PINGYANG, "baseline", end=2024, scale=0.05, seed=s).county.deaths.to_numpy()[1:]
                       for s in (1, 2)]).sum(axis=0)
    assert deaths[0] == pytest.approx(deaths[1:].mean(), rel=0.10)


def test_warm_start_out_migration_has_no_first_year_dip():
    """The start population is in its turnover: out-migration in the first year is within 20% of its mean over the
    next five years (issue 14, item 6), summed over seeds at a small scale."""
    out = np.array([simulate(PINGYANG, "baseline", end=2026, scale=0.05, seed=s).county.out_migrants.to_numpy()[1:]
                    for s in range(1, 7)]).sum(axis=0)
    assert out[0] == pytest.approx(out[1:].mean(), rel=0.20)


def test_a_tfr_given_as_a_parameter_replaces_the_path(toy):
    from sim.params import Params

    params = Params().with_overrides({}).model_copy(update={"demography": Params().demography.model_copy(update={
        "tfr_path": ((2020, 1.3), (2023, 0.7))})})
    on_path = MigrationModel(toy, params=params, scale=0.2, seed=1, end=2024)
    fixed = MigrationModel(toy, params=params, parameters={"demography.tfr": 2.0}, scale=0.2, seed=1, end=2024)
    on_path.run()
    fixed.run()
    assert on_path.tfr == pytest.approx(0.7) and fixed.tfr == pytest.approx(2.0)


def test_appended_rows_never_change_rows_or_arrays_held_before():
    """Population columns grow into room kept at their end (Population._append): rows appended later must not show
    through an array taken before, and a compacted column must not keep writing into the old room."""
    from sim.population import Population

    def pop_of(n):
        z = lambda dt, v=0: np.full(n, v, dt)
        return Population(p_age=np.arange(n, dtype=np.int16), p_female=z(bool), p_hh=np.arange(n), p_skill=z(np.int8),
                          p_employed=z(bool), p_sector=z(np.int8, -1), p_work=z(np.int16, -1), p_unemployed=z(bool),
                          p_alive=z(bool, True), p_wage_factor=z(np.float32, 1.0), p_income=z(np.float32),
                          h_township=z(np.int16), h_urban=z(bool), h_local=z(bool), h_tenure=z(np.int8), h_alive=z(bool, True))

    pop = pop_of(8)
    add = lambda ages: pop.add_persons(np.array(ages), np.zeros(len(ages), bool), np.zeros(len(ages), np.intp),
                                       np.zeros(len(ages)), np.zeros(len(ages), bool), np.full(len(ages), -1))
    add([50, 51])
    held = pop.p_age                       # 10 rows, with room behind them
    add([60, 61, 62])
    assert held.tolist() == list(range(8)) + [50, 51]
    assert pop.p_age.tolist() == list(range(8)) + [50, 51, 60, 61, 62]
    copy = pop.copy()
    held = pop.p_age
    add([70])                              # within the room (13 rows of 16)
    assert held.tolist() == list(range(8)) + [50, 51, 60, 61, 62]
    assert len(copy.p_age) == 13 and len(pop.p_age) == 14 and pop.p_partner[-1] == -1 and np.isnan(pop.p_wage_factor[-1])
    pop.remove_persons(np.array([1, 2]))
    pop.compact()
    before = pop.p_age.copy()
    add([80])                              # the compacted column is a new array: the old room must not be reused
    assert pop.p_age[: len(before)].tolist() == before.tolist() and pop.p_age[-1] == 80
    before = pop.p_age.copy()
    add([81] * 50)                         # more than the room left: a new array, the old rows copied over
    assert pop.p_age[: len(before)].tolist() == before.tolist() and pop.p_age[len(before):].tolist() == [81] * 50
    rows = pop.add_households([1, 2], [True, False], [True, True], [0, 1])
    assert rows.tolist() == [6, 7] and pop.h_township[-2:].tolist() == [1, 2] and pop.h_years[-2:].tolist() == [0, 0]
    assert all(len(getattr(pop, c)) == len(pop.p_age) for c in ("p_female", "p_hh", "p_skill", "p_employed", "p_sector",
                                                                 "p_work", "p_unemployed", "p_alive", "p_wage_factor",
                                                                 "p_income", "p_partner"))


def test_kept_household_sizes_follow_moves_deaths_and_departures_and_refuse_the_dead():
    """Population.h_size and h_adults are kept by the methods that change membership (and h_adults by ageing); a dead
    person cannot be moved or removed again (the counts would lose a member twice)."""
    from sim.population import Population

    z = lambda n, dt, v=0: np.full(n, v, dt)
    pop = Population(p_age=np.array([40, 38, 10, 70], np.int16), p_female=np.array([0, 1, 0, 1], bool),
                     p_hh=np.array([0, 0, 0, 1], np.intp), p_skill=z(4, np.int8), p_employed=z(4, bool),
                     p_sector=z(4, np.int8, -1), p_work=z(4, np.int16, -1), p_unemployed=z(4, bool), p_alive=z(4, bool, True),
                     p_wage_factor=z(4, np.float32, 1.0), p_income=z(4, np.float32), h_township=z(2, np.int16),
                     h_urban=z(2, bool), h_local=z(2, bool), h_tenure=z(2, np.int8), h_alive=z(2, bool, True))
    recount = lambda: np.bincount(pop.p_hh[pop.p_alive], minlength=len(pop.h_alive)).tolist()
    adults = lambda: np.bincount(pop.p_hh[pop.p_alive & (pop.p_age >= 16)], minlength=len(pop.h_alive)).tolist()
    ages = lambda: pop.age_counts().tolist() == np.bincount(pop.p_age[pop.p_alive], minlength=111).tolist()
    assert pop.h_size.tolist() == [3, 1] and pop.h_adults.tolist() == [2, 1]
    new = pop.add_households([0], [True], [True], [1])
    pop.move_members(np.array([2]), new)                  # the child leaves home
    pop.add_persons(np.array([0]), np.array([True]), np.array([0]), np.zeros(1), np.zeros(1, bool), np.full(1, -1))
    pop.remove_persons(np.array([3]))                     # the old woman dies
    assert pop.h_size.tolist() == recount() == [3, 0, 1] and pop.h_adults.tolist() == adults() == [2, 0, 0] and ages()
    for _ in range(6):                                    # the child, 10, comes of age at 16
        pop.grow_older()
    assert pop.h_adults.tolist() == adults() == [2, 0, 1] and ages()
    pop.remove_households(np.array([0]))                  # the couple and their baby leave the region
    assert pop.h_size.tolist() == recount() == [0, 0, 1] and pop.h_adults.tolist() == adults() == [0, 0, 1] and ages()
    assert pop.household_size() is not pop.h_size         # a copy: callers may change it
    with pytest.raises(ValueError, match="not alive"):
        pop.remove_persons(np.array([3]))
    with pytest.raises(ValueError, match="not alive"):
        pop.move_members(np.array([0]), np.array([2]))


def test_kept_workers_per_job_follow_hires_quits_deaths_arrivals_and_departures():
    """Population.workers_by_cell is kept by start_work, stop_work, add_persons, remove_persons and
    remove_households; the dead cannot lose a job again, and a worker cannot take a second job."""
    from sim.population import Population

    z = lambda n, dt, v=0: np.full(n, v, dt)
    pop = Population(p_age=np.array([40, 38, 20, 30], np.int16), p_female=np.array([0, 1, 0, 1], bool),
                     p_hh=np.array([0, 0, 0, 1], np.intp), p_skill=z(4, np.int8), p_employed=np.array([1, 0, 0, 0], bool),
                     p_sector=np.array([1, -1, -1, -1], np.int8), p_work=np.array([2, -1, -1, -1], np.int16),
                     p_unemployed=z(4, bool), p_alive=z(4, bool, True), p_wage_factor=z(4, np.float32, 1.0),
                     p_income=z(4, np.float32), h_township=z(2, np.int16), h_urban=z(2, bool), h_local=z(2, bool),
                     h_tenure=z(2, np.int8), h_alive=z(2, bool, True))

    def recount(n_places=4):
        w = pop.p_alive & (pop.p_work >= 0)
        cells = pop.p_work[w].astype(np.intp) * 3 + pop.p_sector[w]
        return np.bincount(cells, minlength=n_places * 3).reshape(n_places, 3).tolist()

    assert pop.workers_by_cell(4).tolist() == recount() and pop.workers_by_cell(4)[2, 1] == 1
    pop.start_work(np.array([1, 2, 3]), np.array([0, 3, 0], np.int16), np.array([2, 2, 2], np.int8))  # 3: a zone
    assert pop.workers_by_cell(4).tolist() == recount() and pop.workers_by_cell(4).sum() == 4
    assert pop.workers_by_cell(2).tolist() == recount()[:2]   # the first workplaces only (townships, not zones)
    pop.stop_work(np.array([0]))                              # the man retires
    pop.remove_persons(np.array([1]))                         # the woman dies at work
    pop.add_persons(np.array([25]), np.array([False]), np.array([1]), np.zeros(1), np.ones(1, bool),
                    np.array([0]), work=np.array([1]))        # a recruit arrives with a job
    assert pop.workers_by_cell(4).tolist() == recount() and pop.workers_by_cell(4).sum() == 3
    pop.remove_households(np.array([0]))                      # the household leaves: its worker in the zone goes
    assert pop.workers_by_cell(4).tolist() == recount() and pop.workers_by_cell(4).sum() == 2
    with pytest.raises(ValueError, match="not alive"):
        pop.stop_work(np.array([1]))
    with pytest.raises(ValueError, match="already work"):
        pop.start_work(np.array([3]), np.array([1], np.int16), np.array([0], np.int8))
    assert pop.workers_by_cell(4).tolist() == recount()


def test_kept_counts_by_place_follow_new_moved_dissolved_departed_and_compacted_households():
    """Population.counts_by_place (residents, households and occupied dwellings per township part) is kept by
    add_persons, remove_persons, add_households, relocate, dissolve_households, remove_households and compact, and
    equals a fresh count."""
    from sim import housing as hs
    from sim.markets import counts_by_part
    from sim.population import DORM, RENTER, Population

    z = lambda n, dt, v=0: np.full(n, v, dt)
    pop = Population(p_age=z(3, np.int16, 40), p_female=z(3, bool), p_hh=np.array([0, 1, 2], np.intp),
                     p_skill=z(3, np.int8), p_employed=z(3, bool), p_sector=z(3, np.int8, -1), p_work=z(3, np.int16, -1),
                     p_unemployed=z(3, bool), p_alive=z(3, bool, True), p_wage_factor=z(3, np.float32, 1.0),
                     p_income=z(3, np.float32), h_township=np.array([0, 1, 1], np.int16),
                     h_urban=np.array([True, False, True]), h_local=z(3, bool, True),
                     h_tenure=np.array([0, 1, DORM], np.int8), h_alive=z(3, bool, True))
    def same():
        fresh = counts_by_part(pop, 3, np.bincount(pop.p_hh[pop.p_alive], minlength=len(pop.h_alive)))
        return (pop.occupied_dwellings(3).tolist() == hs.occupied(pop, 3).tolist()
                and all((kept == f).all() for kept, f in zip(pop.counts_by_place(3), fresh)))
    assert same() and pop.occupied_dwellings(3).tolist() == [[1, 0], [0, 1], [0, 0]]  # the dormitory holds none
    new = pop.add_households([2, 2], [False, True], [True, True], [RENTER, RENTER])  # two new, one stays empty
    pop.add_persons(np.array([25]), np.array([True]), new[:1], np.zeros(1), np.zeros(1, bool), np.full(1, -1))
    assert same() and pop.occupied_dwellings(3)[2].tolist() == [1, 1]
    pop.move_members(np.array([1]), new[:1])            # a villager joins the new household in township 2
    assert same() and pop.counts_by_place(3)[0].tolist() == [[1, 0], [1, 0], [0, 2]]
    pop.relocate(np.array([2]), np.array([0]), np.array([False]), np.array([RENTER]))  # the dormitory household rents
    pop.relocate(np.array([1]), urban=True)                                            # the village becomes a town
    assert same() and pop.occupied_dwellings(3).tolist() == [[1, 1], [1, 0], [1, 1]]
    pop.remove_persons(np.array([0]))
    pop.dissolve_households(np.array([0]))
    pop.remove_households(np.array([1]))
    assert same() and pop.occupied_dwellings(3).tolist() == [[0, 1], [0, 0], [1, 1]]
    pop.compact()                                      # drops the household added without members
    assert same() and pop.occupied_dwellings(3).tolist() == [[0, 1], [0, 0], [0, 1]]
    with pytest.raises(ValueError, match="living members"):
        pop.dissolve_households(np.array([0]))
    pop.remove_households(np.array([0]))
    with pytest.raises(ValueError, match="not alive"):
        pop.relocate(np.array([0]), urban=True)


def test_kept_ages_stop_at_the_last_age_of_the_life_table():
    """Population.age_counts follows grow_older, where the oldest stay at MAX_AGE, and the per-agent birthday."""
    from sim.population import MAX_AGE, Population

    z = lambda n, dt, v=0: np.full(n, v, dt)
    pop = Population(p_age=np.array([MAX_AGE - 1, MAX_AGE, 15], np.int16), p_female=z(3, bool), p_hh=z(3, np.intp),
                     p_skill=z(3, np.int8), p_employed=z(3, bool), p_sector=z(3, np.int8, -1), p_work=z(3, np.int16, -1),
                     p_unemployed=z(3, bool), p_alive=z(3, bool, True), p_wage_factor=z(3, np.float32, 1.0),
                     p_income=z(3, np.float32), h_township=z(1, np.int16), h_urban=z(1, bool), h_local=z(1, bool),
                     h_tenure=z(1, np.int8), h_alive=z(1, bool, True))
    fresh = lambda: np.bincount(pop.p_age[pop.p_alive], minlength=MAX_AGE + 1).tolist()
    pop.grow_older()
    assert pop.p_age.tolist() == [MAX_AGE, MAX_AGE, 16] and pop.age_counts().tolist() == fresh()
    assert pop.age_counts()[MAX_AGE] == 2 and pop.h_adults.tolist() == [3]
    for person in range(3):
        pop.birthday(person)
    assert pop.p_age.tolist() == [MAX_AGE, MAX_AGE, 17] and pop.age_counts().tolist() == fresh()


def test_kept_oldest_member_follows_deaths_moves_ageing_compaction_and_copies():
    """Population.head_age is kept: raised by joiners and births, a year older with grow_older, looked up again
    only where the oldest died or moved out, and right after a compaction renumbers the households or a copy."""
    from sim.population import Population

    z = lambda n, dt, v=0: np.full(n, v, dt)
    pop = Population(p_age=np.array([8, 70, 40, 12, 30], np.int16), p_female=z(5, bool),
                     p_hh=np.array([0, 1, 1, 1, 2], np.intp), p_skill=z(5, np.int8), p_employed=z(5, bool),
                     p_sector=z(5, np.int8, -1), p_work=z(5, np.int16, -1), p_unemployed=z(5, bool),
                     p_alive=z(5, bool, True), p_wage_factor=z(5, np.float32, 1.0), p_income=z(5, np.float32),
                     h_township=z(3, np.int16), h_urban=z(3, bool), h_local=z(3, bool), h_tenure=z(3, np.int8),
                     h_alive=z(3, bool, True))

    def fresh():
        out = np.full(len(pop.h_alive), -1, np.int16)
        np.maximum.at(out, pop.p_hh[pop.p_alive], pop.p_age[pop.p_alive])
        return out.tolist()

    assert pop.head_age().tolist() == fresh() == [8, 70, 30]
    pop.remove_persons(np.array([1]))                   # the grandmother dies: the father is the oldest now
    pop.move_members(np.array([0]), np.array([2]))      # the child of 8 joins household 2; household 0 is empty
    pop.grow_older()
    assert pop.head_age().tolist() == fresh() == [-1, 41, 31]
    pop.remove_persons(np.array([2]))                   # household 1 is left with the 13-year-old
    pop.remove_households(np.array([0]))
    pop.compact()                                       # households renumbered: old 1 -> 0, old 2 -> 1
    assert pop.head_age().tolist() == fresh() == [13, 31]
    pop.move_members(np.array([2]), np.array([0]))      # the 31-year-old (row 2 now) joins the teenager
    twin = pop.copy()
    assert twin.head_age().tolist() == pop.head_age().tolist() == fresh() == [31, 9]
    assert pop.head_age() is not pop.h_head             # a copy: callers may change it


def test_compaction_renumbers_partners_and_leaves_room_for_the_next_rows():
    """compact() drops the dead and renumbers partners (no partner stays no partner: -1 is read as the map's last
    entry, which must not become row 0); the columns it gathers keep room, so the next append does not copy them."""
    from sim.population import Population

    n = 6
    z = lambda dt, v=0: np.full(n, v, dt)
    pop = Population(p_age=np.array([30, 31, 60, 62, 5, 40], np.int16), p_female=np.array([0, 1, 0, 1, 0, 1], bool),
                     p_hh=np.array([0, 0, 1, 1, 0, 2]), p_skill=z(np.int8), p_employed=z(bool), p_sector=z(np.int8, -1),
                     p_work=z(np.int16, -1), p_unemployed=z(bool), p_alive=z(bool, True),
                     p_wage_factor=z(np.float32, 1.0), p_income=z(np.float32), h_township=np.zeros(3, np.int16),
                     h_urban=np.zeros(3, bool), h_local=np.ones(3, bool), h_tenure=np.zeros(3, np.int8),
                     h_alive=np.ones(3, bool), p_partner=np.array([1, 0, 3, 2, -1, -1], np.int32))
    pop.remove_persons(np.array([2]))   # a widower: his partner 3 keeps pointing at him until compaction
    pop.p_partner[3] = -1
    pop.compact()
    assert pop.p_age.tolist() == [30, 31, 62, 5, 40]
    assert pop.p_partner.tolist() == [1, 0, -1, -1, -1]
    assert pop.p_hh.tolist() == [0, 0, 1, 0, 2]
    held = {c: getattr(pop, c) for c in ("p_age", "p_partner", "p_hh", "h_township")}
    pop.add_persons(np.array([0]), np.array([True]), np.array([0]), np.zeros(1), np.zeros(1, bool), np.full(1, -1))
    for c in ("p_age", "p_hh"):  # appended into the room: the same memory, one row longer
        assert np.shares_memory(getattr(pop, c), held[c]) and len(getattr(pop, c)) == len(held[c]) + 1, c
    assert pop.p_partner[-1] == -1 and held["p_age"].tolist() == [30, 31, 62, 5, 40]


def test_a_fertility_of_zero_runs_with_no_births(toy):
    """TFR 0 (an extreme a sensitivity or scenario may ask for) is a valid parameter: no births, and no crash in the
    engine or in the per-agent reference."""
    from sim import reference

    m = MigrationModel(toy, scale=1.0, seed=3, end=2024, parameters={"demography.tfr": 0.0})
    while m.running:
        m.step()
        assert m.current["births"] == 0
    assert m.current["population"] > 0
    asfr = np.zeros(101)
    rng = np.random.default_rng(0)
    assert len(demo.birth_mothers(m.population, asfr, rng)) == 0 == len(reference.birth_mothers(m.population, asfr, rng))
