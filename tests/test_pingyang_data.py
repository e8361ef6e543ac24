"""The shipped Pingyang region holds the facts the plans state, with a source for every number."""

import pandas as pd
import numpy as np
import pytest

from conftest import PINGYANG
from geo.network import Transport


def test_census_totals_and_shares(pingyang):
    assert len(pingyang.townships) == 16
    assert pingyang.total_population(2020) == 863088
    assert pingyang.total_population(2010) == 761664
    p20, p10 = 863088, 761664
    share = lambda g, y, tot: sum(pingyang.township(c).population(y) for c in pingyang.group_members(g)) / tot
    assert share("main_centre", 2020, p20) == pytest.approx(0.4531, abs=5e-5)
    assert share("main_centre", 2010, p10) == pytest.approx(0.3293, abs=1.5e-4)
    assert share("shuitou", 2020, p20) == pytest.approx(0.1525, abs=5e-5)
    assert share("shuitou", 2010, p10) == pytest.approx(0.0961, abs=5e-5)
    urban20 = sum(t.urban_pop_2020 for t in pingyang.townships) / p20
    assert urban20 == pytest.approx(0.6168, abs=5e-5)
    anchors = {"Kunyang": 157800, "Aojiang": 233300, "Shuitou": 131600}
    for t in pingyang.townships:
        if t.name_en in anchors:
            assert t.pop_2020 == anchors[t.name_en]


@pytest.mark.parametrize("file", ["townships.csv", "economy.csv", "network/nodes.csv", "network/edges.csv", "network/projects.csv",
                                  "township_lineage.csv"])
def test_every_row_has_a_source(file):
    df = pd.read_csv(PINGYANG / file, dtype=str, keep_default_na=False)
    source_cols = [c for c in df.columns if c.startswith("source")]
    assert source_cols, f"{file} has no source column"
    for c in source_cols:
        assert (df[c].str.strip() != "").all(), f"{file}: empty {c}"


def test_township_lineage_says_for_every_township_whether_2010_is_on_its_boundaries(pingyang):
    """Issue 21 item 1: a 2010 population on today's boundaries, or why there is none, for each township."""
    lin = pd.read_csv(PINGYANG / "township_lineage.csv", dtype=str, keep_default_na=False)
    assert sorted(lin["code"]) == sorted(str(t.code) for t in pingyang.townships)
    assert set(lin["status"]) <= {"reconstructed", "figure_on_other_boundaries", "changed_no_figure", "history_unknown"}
    rebuilt = lin["status"] == "reconstructed"
    # a reconstructed row carries its figure; every other row says why it has none
    assert (lin.loc[rebuilt, "pop_2010_on_2020_boundaries"] != "").all()
    assert (lin.loc[~rebuilt, "pop_2010_on_2020_boundaries"] == "").all()
    assert (lin.loc[~rebuilt, "why_not"].str.len() > 20).all()


def test_plan_targets_and_projection(pingyang):
    t = pingyang.config.targets
    assert t["primacy"].by_year[2025] == 0.53 and t["primacy"].by_year[2035] == 0.55
    assert t["urbanisation"].by_year[2035] == 0.75
    assert t["aged60_share"].met(0.22, 2025) and not t["aged60_share"].met(0.24, 2025)
    proj = pingyang.config.projection.resident
    assert proj[2035] == (881900, 967100, 1061500)


def test_projects_change_travel_times_in_their_years(pingyang):
    tr = Transport.from_region(pingyang)
    i = {t.name_en: k for k, t in enumerate(pingyang.townships)}
    ky = i["Kunyang"]
    # G104 west bypass with its 13.29 km Shuitou connector opens 2021
    assert tr.township_minutes(2021)[i["Shuitou"], ky] < tr.township_minutes(2020)[i["Shuitou"], ky] - 10
    # 瑞平苍高速 is a planned project (scenario `roads`); opened in 2024 it gives Fengwo an interchange
    rpc = tr.with_edges([e.opened(2024) for e in pingyang.projects if e.key == "rpc"])
    assert rpc.township_minutes(2024)[i["Fengwo"], ky] < tr.township_minutes(2024)[i["Fengwo"], ky] - 5
    assert np.array_equal(rpc.township_minutes(2023), tr.township_minutes(2023))
    # the baseline has no high-speed rail: the line and its station are levers
    assert not [e for e in pingyang.edges if e.mode == "hsr"]
    assert {"wfh", "hsr_hub", "s3p2"} <= {e.key for e in pingyang.projects}


def test_network_agrees_with_the_drive_times_the_sources_give(pingyang):
    """Published drive times are checks on the estimated local links: the 海西镇 page (the source of 海西's area and
    2020 population in townships.csv) puts the 鳌江 railway station (平阳站) within 20 minutes of the town."""
    tr = Transport.from_region(pingyang)
    haixi = pingyang.seat_node(next(t.code for t in pingyang.townships if t.name_en == "Haixi"))
    assert tr.minutes(2020, [haixi], ["PY_RAIL"])[0, 0] <= 20
