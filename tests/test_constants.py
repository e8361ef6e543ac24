"""Alternative-specific constants of the move choice: the balancing recovers known constants, and the region file."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from geo.region import RegionDataError, load_region
from sim import labour as lab
from sim.choice import balance_constants, cell_weights, expected_flows
from sim.model import MigrationModel


def start_model(toy):
    m = MigrationModel(toy, scale=1.0, seed=1, end=2020)
    pop = m.population
    w = cell_weights(pop, lab.household_anchor(pop, none=m.n_places), lab.household_jobless(pop), m.context.anchors, m.moves, m.n)
    return m, w


def test_balancing_recovers_known_constants_and_removes_drift(toy):
    m, w = start_model(toy)
    truth = np.array([[0.5, -0.3], [0.2, 0.0], [-0.4, 0.0]])
    truth -= truth.mean()
    inflow, _ = expected_flows(replace(m.context, constants=truth), m.moves, w)
    recovered = balance_constants(m.context, m.moves, w, target_inflow=inflow)
    assert recovered == pytest.approx(truth, abs=1e-3)
    c = balance_constants(m.context, m.moves, w)  # no drift: every part gains as many movers as it loses
    i, o = expected_flows(replace(m.context, constants=c), m.moves, w)
    before_i, before_o = expected_flows(m.context, m.moves, w)
    assert np.abs(i - o).max() < 1e-3 < np.abs(before_i - before_o).max()


def test_constants_file_is_checked_and_used(toy):
    import yaml

    cfg = yaml.safe_load((toy / "region.yaml").read_text(encoding="utf-8"))
    cfg["files"]["constants"] = "constants.csv"
    (toy / "region.yaml").write_text(yaml.safe_dump(cfg, allow_unicode=True, sort_keys=False), encoding="utf-8")
    (toy / "constants.csv").write_text("code,urban,rural,source\nA,0.5,0.1,test\nB,0,0,test\nX,0,0,test\n", encoding="utf-8")
    with pytest.raises(RegionDataError) as e:
        load_region(toy, polygons=False)
    assert "constants.csv" in str(e.value) and "line 4" in str(e.value) and "'X'" in str(e.value)
    (toy / "constants.csv").write_text("code,urban,rural,source\nA,0.5,0.1,test\nB,0,0,test\nC,-0.5,0,test\n", encoding="utf-8")
    m = MigrationModel(toy, scale=0.5, seed=1, end=2021)
    assert m.context.constants[0].tolist() == [0.5, 0.1]
    off = MigrationModel(toy, scale=0.5, seed=1, end=2021, parameters={"moves.constants_weight": 0.0})
    assert not off.context.constants.any()


def test_constants_command_writes_the_region_file(toy):
    import run
    from cli.commands import console

    with console.capture() as cap:
        rc = run.main(["constants", "--region", str(toy), "--scale", "0.5", "--criterion", "no-drift", "--write", "--allow-dirty"])
    assert rc == 0 and "equilibrium" in cap.get()
    region = load_region(toy, polygons=False)
    assert set(region.constants) == {"A", "B", "C"} and "no-drift" in region.constants["A"].source


def test_constants_command_rejects_a_year_without_census(toy):
    import run
    from cli.commands import console

    with console.capture() as cap:
        rc = run.main(["constants", "--region", str(toy), "--start", "2015"])
    assert rc == 2 and "no census for 2015" in cap.get()


def test_constants_switched_on_in_a_scenario_shift_staying_and_leaving_alike(toy):
    """Equal constants for every part change no choice, also when a scenario switches them on after the start: the
    leaving alternative is valued against the place with its constant (a reference without them made a switched-on
    set of large constants empty or fill the county)."""
    import yaml

    from sim.model import Interventions

    cfg = yaml.safe_load((toy / "region.yaml").read_text(encoding="utf-8"))
    cfg["files"]["constants"] = "constants.csv"
    (toy / "region.yaml").write_text(yaml.safe_dump(cfg, allow_unicode=True, sort_keys=False), encoding="utf-8")
    (toy / "constants.csv").write_text("code,urban,rural,source\nA,2,2,test\nB,2,2,test\nC,2,2,test\n", encoding="utf-8")
    region = load_region(toy)
    runs = {}
    for name, iv in (("off", Interventions()), ("on", Interventions(parameters={2021: {"moves.constants_weight": 1.0}}))):
        m = MigrationModel(region, scale=1.0, seed=3, end=2025, interventions=iv, parameters={"moves.constants_weight": 0.0})
        for _ in range(5):
            m.step()
        runs[name] = m.datacollector.get_model_vars_dataframe().set_index("year")
    out = {k: r.out_migrants.loc[2021:].sum() for k, r in runs.items()}
    assert out["off"] > 0
    assert out["on"] == pytest.approx(out["off"], rel=0.1)
