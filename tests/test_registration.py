"""The registered (hukou) population: local-hukou residents plus the stock registered here and living elsewhere."""

from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from sim import registration
from sim.model import MigrationModel
from workflow.io import load_params

ROOT = Path(__file__).resolve().parents[1]
PINGYANG = ROOT / "configs" / "pingyang"


@pytest.fixture(scope="module")
def params():
    return load_params(PINGYANG)


def test_start_is_the_census(pingyang, params):
    m = MigrationModel(pingyang, params=params, scale=0.05, seed=1, end=2021)
    assert m.current["registered_population"] == pytest.approx(pingyang.config.census[2020]["hukou_population"].value)
    assert m.current["registered_population"] > m.current["hukou_population"]


def test_registered_is_local_residents_plus_those_away(pingyang, params):
    m = MigrationModel(pingyang, params=params, scale=0.02, seed=2, end=2026)
    for _ in range(6):
        m.step()
        assert m.current["registered_population"] == pytest.approx(m.current["hukou_population"] + m.registered_away / m.scale)


def test_a_local_household_leaving_stays_registered(pingyang, params):
    """Leaving moves persons from the local-hukou residents to the stock away: the registered count does not change."""
    m = MigrationModel(pingyang, params=params, scale=0.02, seed=3, end=2022)
    pop = m.population
    m._year_flows = defaultdict(float)
    local = np.flatnonzero(pop.h_alive & pop.h_local)[:50]
    migrant = np.flatnonzero(pop.h_alive & ~pop.h_local)[:20]
    rows = np.concatenate([local, migrant])
    before = float(pop.h_size @ pop.h_local)
    sizes = pop.h_size[rows].astype(float)
    m._leave(rows, pop.h_township[rows].astype(np.int64), sizes)
    left = before - float(pop.h_size @ pop.h_local)
    assert m._year_flows["local_leavers"] == pytest.approx(left) == pytest.approx(sizes[:50].sum())
    away = registration.next_away(100.0, 0.0, 0.0, m._year_flows["local_leavers"], 0.0)
    assert away - 100.0 == pytest.approx(left)


def test_stored_transfer_rate_reproduces_the_2020_census(pingyang, params):
    """params.yaml says the rate was fitted on the 2010-2020 hindcast: the hindcast reaches the 2020 registered count."""
    target = pingyang.config.census[2020]["hukou_population"].value
    start = pingyang.config.census[2010]["hukou_population"].value
    for seed in (1, 3):
        m = MigrationModel(pingyang, params=params, scale=0.05, seed=seed, start=2010, end=2020)
        assert m.current["registered_population"] == pytest.approx(start)
        m.run()
        # seeds fit 0.0006-0.0016: 0.0013 misses a seed's own fit by at most 0.0007 x 230,000 x 10 years
        assert m.current["registered_population"] == pytest.approx(target, rel=0.003)


def test_no_census_registered_count_gives_no_column_value(toy_template):
    from geo.region import load_region

    region = load_region(toy_template)
    m = MigrationModel(region, scale=0.5, seed=1, end=2022)
    assert "hukou_population" not in region.config.census[m.start]
    m.run()
    assert np.isnan(m.current["registered_population"])
