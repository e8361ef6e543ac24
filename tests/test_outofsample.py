"""Out-of-sample check against published statistics (observed.csv) and its benchmarks."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from geo.region import RegionDataError, load_region
from workflow.outofsample import out_of_sample, scores


def add_observed(toy, rows: str) -> None:
    cfg = yaml.safe_load((toy / "region.yaml").read_text(encoding="utf-8"))
    cfg["files"]["observed"] = "observed.csv"
    (toy / "region.yaml").write_text(yaml.safe_dump(cfg, allow_unicode=True, sort_keys=False), encoding="utf-8")
    (toy / "observed.csv").write_text("year,indicator,value,use,source\n" + rows, encoding="utf-8")


def test_observed_statistics_are_checked(toy):
    add_observed(toy, "2022,population,10600,held_out,toy\n2022,jobs,5,held_out,toy\n")
    with pytest.raises(RegionDataError) as e:
        load_region(toy, polygons=False)
    assert "observed.csv" in str(e.value) and "line 3" in str(e.value) and "indicator" in str(e.value)
    add_observed(toy, "2022,population,10600,held_out,\n")
    with pytest.raises(RegionDataError, match="source"):
        load_region(toy, polygons=False)


@pytest.mark.parametrize("row, needle", [
    ("2022,urbanisation,63.8", "63.8 looks like a percentage (write 0.638)"),
    ("2022,aged60_share,250", "aged60_share is a share from 0 to 1, got 250"),
    ("2023,birth_rate,5010", "per 1,000 residents (at most 1,000)"),
    ("2023,death_rate,-7.4", "greater than or equal to 0"),
    ("2022,population,1e12", "more than 1,000,000,000 persons"),
    ("3022,population,10600", "less than or equal to 2100"),
], ids=["percent", "share", "rate", "negative", "population", "year"])
def test_an_observed_figure_outside_its_unit_is_refused(toy, row, needle):
    """Found by fuzzing observed.csv: any number was taken, so a bulletin's 城镇化率63.8% copied as printed would have
    scored every run against an urbanisation of 63.8."""
    add_observed(toy, f"2022,population,10600,held_out,toy\n{row},held_out,toy\n")
    with pytest.raises(RegionDataError) as e:
        load_region(toy, polygons=False)
    assert "observed.csv" in str(e.value) and "line 3" in str(e.value) and needle in str(e.value), str(e.value)


def test_model_and_benchmarks_are_scored_on_held_out_figures(toy):
    add_observed(toy, "2022,population,10600,held_out,toy\n2022,urbanisation,0.5,fit,toy\n2030,population,1,held_out,toy\n")
    region = load_region(toy, polygons=False)
    runs = pd.DataFrame({"seed": [1, 2], "year": [2022, 2022], "population": [10500.0, 10700.0],
                         "urbanisation": [0.52, 0.54], "births": [0.0, 0.0], "deaths": [0.0, 0.0]})
    t = out_of_sample(runs, region.observed, region, 2020).set_index("indicator")
    assert len(t) == 2  # 2030 is outside the runs
    pop = t.loc["population"]
    assert pop.model == 10600 and pop.error_model == 0
    # no change: the 2020 census (10,500); trend: 2010-2020 growth (10,000 -> 10,500) continued two years
    assert pop.no_change == 10500 and pop.trend == pytest.approx(10500 * 1.05 ** 0.2)
    s = scores(t.reset_index())
    assert list(s.index) == ["population"]  # the urbanisation figure was used in a fit: not scored
    assert s.loc["population", "model"] == 0 and s.loc["population", "no_change"] == 100


def test_pingyang_statistics_have_sources_and_uses(pingyang):
    assert len(pingyang.observed) >= 6
    assert {o.use for o in pingyang.observed} == {"fit", "held_out"}
    assert all("统计公报" in o.source for o in pingyang.observed)
