"""docs/region-format.md documents every key the validating models accept, and a new region can start from the
new-region scaffold in any census year, without params.yaml."""

from __future__ import annotations

import re
from pathlib import Path

import geopandas as gpd
import pytest
from shapely.geometry import box

import run
from geo import region as R
from geo.region import RegionDataError, load_region
from sim.params import Params
from viz import controls as C

DOC = Path(__file__).resolve().parents[1] / "docs" / "region-format.md"

SECTIONS = {  # model -> heading of the section that documents its fields
    R.RegionConfig: "### Top level (RegionConfig)", R.Sourced: "### Sourced", R.CRSConfig: "### crs",
    R.FilesConfig: "### files", R.GroupConfig: "### groups (GroupConfig)", R.ExternalZone: "### external_zones (ExternalZone)",
    R.Target: "### targets (Target)", R.Projection: "### projection (Projection)", R.RoutingConfig: "### routing (RoutingConfig)",
    R.TransitConfig: "### routing.transit (TransitConfig)", R.TimeCircle: "### time_circles (TimeCircle, CircleTarget)",
    R.CircleTarget: "### time_circles (TimeCircle, CircleTarget)", R.Township: "## The townships table (Township)",
    R.Economy: "## The economy table (Economy)", R.Node: "### nodes (Node)", R.Edge: "### edges (Edge)",
    R.ProjectLink: "### projects (ProjectLink)", C.ServerConfig: "## server.yaml (ServerConfig)",
    C.Toggle: "## server.yaml (ServerConfig)", C.JobsControl: "## server.yaml (ServerConfig)",
    C.Platform: "## server.yaml (ServerConfig)", C.HukouControl: "## server.yaml (ServerConfig)",
}


def section(text: str, heading: str) -> str:
    start = text.index(heading + "\n") if heading + "\n" in text else text.index(heading)
    level = heading.split(" ")[0]
    rest = text[start + len(heading):]
    ends = [m.start() for m in re.finditer(r"^#{2,3} ", rest, flags=re.M)
            if len(rest[m.start():].split(" ")[0]) <= len(level)]
    return rest[: ends[0]] if ends else rest


def documented(text: str, name: str) -> bool:
    return re.search(r"`" + re.escape(name) + r"\b", text) is not None


def undocumented(text: str, sections: dict) -> list[str]:
    """Fields of the models in ``sections`` (model -> heading) and parameters of params.yaml not named in ``text``."""
    missing = []
    for model, heading in sections.items():
        assert heading in text, f"docs/region-format.md has no section {heading!r}"
        body = section(text, heading)
        own = set(model.model_fields) - (set(R.Edge.model_fields) if issubclass(model, R.Edge) and model is not R.Edge else set())
        for name in own:
            key = model.model_fields[name].alias or name
            if not documented(body, key):
                missing.append(f"{model.__name__}.{key} (section {heading})")
    params = section(text, "## params.yaml")
    for sec, info in Params.model_fields.items():
        for name in info.annotation.model_fields:
            if not documented(params, f"{sec}.{name}"):
                missing.append(f"params.yaml {sec}.{name}")
    return sorted(missing)


def test_every_field_of_every_region_model_is_documented():
    text = DOC.read_text(encoding="utf-8")
    assert documented(section(text, SECTIONS[R.Township]), "pop_YYYY")
    missing = undocumented(text, SECTIONS)
    assert not missing, "not documented in docs/region-format.md: " + ", ".join(missing)


def test_the_check_fails_for_an_undocumented_field():
    """A model with one more field is reported: the check above would catch a field added without its documentation."""
    from pydantic import create_model

    extended = create_model("ExternalZoneX", __base__=R.ExternalZone, commuter_share=(float, 0.0))
    missing = undocumented(DOC.read_text(encoding="utf-8"), {extended: SECTIONS[R.ExternalZone]})
    assert missing == ["ExternalZoneX.commuter_share (section ### external_zones (ExternalZone))"]


def test_new_region_scaffold_runs_in_another_census_year_without_params(tmp_path, capsys):
    outline = tmp_path / "units.geojson"
    gpd.GeoDataFrame({"name": ["东城区", "西城区", "南山镇"]},
                     geometry=[box(119.9, 30.0, 120.0, 30.1), box(120.0, 30.0, 120.1, 30.1), box(119.9, 29.9, 120.1, 30.0)],
                     crs="EPSG:4326").to_file(outline, driver="GeoJSON")
    folder = tmp_path / "city"
    assert run.main(["new-region", str(folder), "--outline", str(outline), "--year", "2015"]) == 0
    assert not (folder / "params.yaml").exists()
    region = load_region(folder)
    assert region.census_years == [2015] and len(region.townships) == 3 and not region.approximate_polygons
    assert region.find_township("东城") == region.find_township("东城区") == region.codes[0]
    capsys.readouterr()
    assert run.main(["check-config", str(folder), "--years", "2015"]) == 0
    out = capsys.readouterr().out
    assert "taken from the model's defaults" in out and "demography.tfr" in out and "labour.separation_rate" in out
    out_dir = tmp_path / "run"
    assert run.main(["run", "--region", str(folder), "--start", "2015", "--end", "2018", "--scale", "1.0", "--out", str(out_dir)]) == 0
    import pandas as pd

    county = pd.read_csv(out_dir / "county.csv")
    assert county.year.tolist() == [2015, 2016, 2017, 2018] and county.population.iloc[0] == 30000
    # a start year without census columns is a clear error
    assert run.main(["run", "--region", str(folder), "--start", "2020", "--end", "2021", "--out", str(tmp_path / "x")]) == 2


def test_new_region_refuses_a_folder_in_use_and_bad_outlines(tmp_path):
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "x.txt").write_text("x")
    with pytest.raises(RegionDataError, match="not empty"):
        from workflow.newregion import scaffold_region
        scaffold_region(tmp_path / "used", tmp_path / "none.geojson")
    from workflow.newregion import scaffold_region
    with pytest.raises(RegionDataError, match="file not found"):
        scaffold_region(tmp_path / "new", tmp_path / "none.geojson")
    assert not (tmp_path / "new").exists()
