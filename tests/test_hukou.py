"""Hukou conversion (落户): who becomes local, and how the reform lever changes it."""

import numpy as np

from sim.hukou import conversion_probability, convert
from sim.model import MigrationModel
from sim.params import Hukou
from sim.population import OWNER, RENTER


def test_only_long_resident_migrants_convert_and_owners_more_often():
    p = Hukou(conversion_rate=0.02, min_years=5, owner_factor=3.0, openness_gain=4.0)
    years = np.array([0, 4, 5, 12, 12])
    tenure = np.array([RENTER, RENTER, RENTER, RENTER, OWNER])
    prob = conversion_probability(years, tenure, 0.0, p)
    assert np.allclose(prob, [0.0, 0.0, 0.02, 0.02, 0.06])
    assert np.allclose(conversion_probability(years, tenure, 1.0, p), [0.0, 0.0, 0.1, 0.1, 0.3])


def test_conversions_happen_in_the_model_and_years_of_residence_count_up(pingyang):
    m = MigrationModel(pingyang, scale=0.01, seed=2, end=2023)
    pop = m.population
    migrants_before = int((~pop.h_local & pop.h_alive).sum())
    years_before = pop.h_years.copy()
    m.step()
    assert m.current["hukou_conversions"] > 0
    rows = convert(m.population, 0.0, Hukou(conversion_rate=1.0, min_years=0), np.zeros(len(m.population.h_alive)))
    assert len(rows) > 0 and not (~m.population.h_local & m.population.h_alive).any()
    assert migrants_before > 0 and years_before.max() <= 30
