"""The housing account: occupied ≤ stock in every township part, bounded prices, urbanisation as two processes."""

from __future__ import annotations

import numpy as np
import pytest

from sim import housing as hs
from sim.model import MigrationModel
from sim.params import Housing
from sim.population import DORM
from toy import edit_csv, write_scenario
from workflow.runner import simulate

# a county where housing binds: no construction, no room for it
TIGHT = {"housing.shortage_construction": 0.0, "housing.construction_response": 0.0, "housing.urban_capacity_factor": 1.0}


def fill_towns(toy) -> None:
    """The toy's towns start with no vacant dwelling (the model raises the stock to the households living there)."""
    edit_csv(toy / "economy.csv", lambda df: df.assign(housing_urban="1"))


def test_admit_lets_in_at_most_the_vacant_dwellings():
    rng = np.random.default_rng(0)
    place = rng.integers(0, 6, 1000)
    free = np.array([0, 3, 500, 10, 1, 0])
    ok = hs.admit(place, free, rng.random(1000))
    got = np.bincount(place[ok], minlength=6)
    assert (got <= free).all()
    assert (got == np.minimum(np.bincount(place, minlength=6), free)).all()  # nobody turned away while one is vacant


def test_prices_and_construction_stay_within_their_bounds():
    p = Housing()
    price = np.ones((4, 2))
    for vac in (np.full((4, 2), -0.5), np.full((4, 2), 0.9)):
        for _ in range(30):
            price = hs.update_prices(price, vac, np.full((4, 2), 0.1), p)
            assert (price >= p.price_min - 1e-12).all() and (price <= p.price_max + 1e-12).all()
    stock = np.full((4, 2), 100.0)
    built = hs.construction(stock, np.full((4, 2), 2.0), np.zeros((4, 2)), np.full((4, 2), 0.1), np.full((4, 2), 103.0), p)
    assert (built <= 3.0 + 1e-12).all() and (built > 0).all()  # capacity caps the yearly maximum


# half of each part's start vacancy held empty off the market (Pingyang's setting)
HELD = {"housing.held_vacant_share": 0.5}


@pytest.mark.parametrize("parameters", [{}, TIGHT, HELD], ids=["default", "tight", "held"])
def test_occupied_dwellings_never_exceed_the_stock(toy, parameters):
    if parameters is TIGHT:
        fill_towns(toy)
    m = MigrationModel(toy, scale=1.0, seed=5, end=2032, parameters=parameters)
    bounds = m.params.housing
    blocked = 0.0
    while m.running:
        m.step()
        pop = m.population
        occ = hs.occupied(pop, m.n)
        assert (occ <= m.market.housing + 1e-9).all(), f"{m.year}: occupied above stock"
        assert (m.market.housing <= m.housing_capacity + 1e-9).all()
        assert ((m.market.price >= bounds.price_min - 1e-12) & (m.market.price <= bounds.price_max + 1e-12)).all()
        size = pop.household_size()
        assert (size[pop.h_alive] >= 1).all() and pop.n_persons >= pop.n_households
        # every household's members: a head of 15 or more; children younger than the head
        assert (pop.head_age()[pop.h_alive] >= 15).all()
        blocked += m.current["turned_away"] + m.current["moves_blocked"]
        assert m.current["vacancy_rate"] >= 0
    if parameters is TIGHT:
        assert blocked > 0  # where housing binds, arrivals or moves are turned away, and counted


def test_township_table_reports_dwellings_vacancy_and_prices_per_part(toy):
    r = simulate(toy, "baseline", end=2024, seed=2, scale=1.0)
    t = r.townships
    assert (t.vacancy_urban >= 0).all() and (t.vacancy_rural >= 0).all()
    assert (t.dwellings_urban + t.dwellings_rural - t.housing_units).abs().max() < 1e-6
    start = t[t.year == 2020]
    assert (start.price_urban == 1.0).all() and (start.price_rural == 1.0).all()


def test_dormitory_households_are_outside_the_stock(toy):
    m = MigrationModel(toy, scale=1.0, seed=2, end=2021)
    pop = m.population
    dorm = pop.h_alive & (pop.h_tenure == DORM)
    assert dorm.any()
    assert hs.occupied(pop, m.n).sum() == (pop.h_alive & ~dorm).sum()


def test_tight_housing_slows_urbanisation_and_growth(toy):
    fill_towns(toy)
    loose = [simulate(toy, "baseline", end=2030, seed=s).county.set_index("year") for s in (1, 2)]
    tight = [simulate(toy, "baseline", end=2030, seed=s, overrides=TIGHT).county.set_index("year") for s in (1, 2)]
    assert sum(c.to_town.sum() for c in tight) < sum(c.to_town.sum() for c in loose)
    assert sum(c.urbanisation.loc[2030] for c in tight) < sum(c.urbanisation.loc[2030] for c in loose)
    assert sum(c.dwellings_built.sum() for c in tight) == 0 < sum(c.dwellings_built.sum() for c in loose)


def test_reclassification_turns_villages_urban_where_they_stand(toy):
    write_scenario(toy, "recl", [{"type": "reclassify", "township": "B", "share": 0.5, "year": 2022}])
    base = simulate(toy, "baseline", end=2023, seed=4)
    recl = simulate(toy, "recl", end=2023, seed=4)
    tb = base.townships.set_index(["year", "township"])
    tr = recl.townships.set_index(["year", "township"])
    # same people in the same township in 2022 (reclassification moves nobody), more of them urban
    assert tr.loc[(2021, "B"), "population"] == tb.loc[(2021, "B"), "population"]
    rural_before = tb.loc[(2022, "B"), "population"] - tb.loc[(2022, "B"), "urban_population"]
    gained = tr.loc[(2022, "B"), "urban_population"] - tb.loc[(2022, "B"), "urban_population"]
    assert 0.35 * rural_before < gained < 0.65 * rural_before
    assert recl.county.set_index("year").reclassified.loc[2022] > 0
    assert recl.county.set_index("year").urbanisation.loc[2022] > base.county.set_index("year").urbanisation.loc[2022]


def test_reclassify_lever_is_checked(toy):
    from geo.region import RegionDataError

    write_scenario(toy, "bad", [{"type": "reclassify", "township": "B", "share": 1.5, "year": 2022}])
    with pytest.raises(RegionDataError, match="share"):
        simulate(toy, "bad", end=2023, seed=1)



def test_held_vacancy_is_never_let(toy):
    """Dwellings held empty off the market (``housing.held_vacant_share``) are not let: the dwellings on offer are the
    vacant ones beyond those held, and holding nearly all the start vacancy lets fewer households into the towns over
    the first years than holding none (same seed), while prices and utilities still see every empty dwelling."""
    def run(share: float):
        m = MigrationModel(toy, scale=1.0, seed=3, end=2023, parameters={"housing.held_vacant_share": share})
        stock, occ = m.market.housing, hs.occupied(m.population, m.n)
        held = hs.held_vacant(stock, m.start_vacancy, m.params.housing)
        assert (m._free_dwellings() == np.maximum(np.floor(stock - held - occ + 1e-9), 0)).all()
        to_town = []
        while m.running:
            m.step()
            to_town.append(m.current["to_town"])
        return held, sum(to_town), m

    held0, town0, _ = run(0.0)
    held, town, m = run(0.95)
    assert (held0 == 0).all() and (held > 0).all()
    assert town < town0
    assert m.context.vacancy.max() > 0.05  # the vacancy the movers see counts the held dwellings too


def test_a_housing_table_short_of_households_is_said_and_recorded(toy, tmp_path):
    """Where economy.csv has fewer dwellings than the households living in a township, the model adds the missing
    ones at the start (households <= dwellings from the first year); the run says so and run.json records where."""
    import json

    import pandas as pd

    import run
    from cli.commands import console

    e = pd.read_csv(toy / "economy.csv", dtype={"code": str})
    short = e.code[1]
    e.loc[1, ["housing_urban", "housing_rural"]] = 0
    e.to_csv(toy / "economy.csv", index=False)
    with console.capture() as cap:
        assert run.main(["run", "--region", str(toy), "--end", "2021", "--scale", "1.0", "--out", str(tmp_path / "r")]) == 0
    meta = json.loads((tmp_path / "r" / "run.json").read_text())
    added = meta["start_housing_added_by_township"]
    assert added[short] > 0 and meta["start_housing_added"] >= added[short]
    text = " ".join(cap.get().split())
    assert f"({short}) +{added[short]:,.0f}" in text and "economy.csv has fewer dwellings than households" in text
    towns = pd.read_csv(tmp_path / "r" / "townships.csv", dtype={"township": str})
    first = towns[(towns.township == short) & (towns.year == 2020)].iloc[0]
    assert first.housing_units > 0 and first.vacancy >= 0  # dormitory households live outside the stock


def test_check_config_says_where_the_housing_table_is_short_before_any_run(toy):
    """check-config builds the start population and says what `run` would: where the model must add dwellings."""
    import pandas as pd

    import run
    from cli.commands import console

    with console.capture() as cap:
        assert run.main(["check-config", str(toy)]) == 0
    assert "housing: every township part has a dwelling for each of its 2020 households" in cap.get()
    e = pd.read_csv(toy / "economy.csv", dtype={"code": str})
    e.loc[1, ["housing_urban", "housing_rural"]] = 0
    e.to_csv(toy / "economy.csv", index=False)
    with console.capture() as cap:
        assert run.main(["check-config", str(toy)]) == 0
    text = " ".join(cap.get().split())
    assert f"economy.csv has fewer dwellings than households in Beta Beta ({e.code[1]}) +" in text, text
